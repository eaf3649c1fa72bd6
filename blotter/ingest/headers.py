"""A data file's headers matched to the dataset file's columns, and the error that names
every header a file lacks."""

from __future__ import annotations

from pathlib import Path

from blotter.errors import IngestError
from blotter.ingest.readers import Table
from blotter.ingest.spec import ColumnSpec


def locate_header(table: Table, header: str) -> int | None:
    """The position of ``header`` in the file: exact after trimming, else ignoring case."""
    wanted = header.strip()
    for i, found in enumerate(table.headers):
        if found == wanted:
            return i
    folded = [h.casefold() for h in table.headers]
    if wanted.casefold() in folded:
        return folded.index(wanted.casefold())
    return None


def missing_headers(
    missing: list[tuple[ColumnSpec, str]], table: Table, label: str, spec_file: Path | None
) -> IngestError:
    """One error naming every column whose header the file lacks, and the file's headers."""
    where = f"Dataset file {spec_file.name}: " if spec_file else ""
    wanted = ", ".join(f"'{h}' (for column '{s.field}')" for s, h in missing)
    return IngestError(
        f"{where}{label} does not fit its columns: it has no header {wanted}. "
        f"Its headers are: {', '.join(repr(h) for h in table.headers)}.",
        file=label,
        data_file=label,
        column=missing[0][0].field,
        header=missing[0][1],
        columns=[s.field for s, _ in missing],
        headers=[h for _, h in missing],
    )
