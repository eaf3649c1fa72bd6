"""What a row-level write reports and registers, counted the same way on every engine: each
engine runs the statements of ``changes.py`` and hands its runner here."""

from __future__ import annotations

from datetime import datetime

from blotter.model import ChangeCounts, Dataset
from blotter.schema import version_table
from blotter.store.catalog import VersionRecord
from blotter.store.changes import quote
from blotter.store.history_sql import Run, version_counts


def _count(run: Run, query: str) -> int:
    rows = run(query)
    return int(rows[0][0]) if rows else 0


def change_counts(run: Run, queries: dict[str, str]) -> ChangeCounts:
    """Rows created, updated and deleted, from the count queries of ``change_statements``
    (run before its writes)."""
    return ChangeCounts(**{what: _count(run, query) for what, query in queries.items()})


def change_record(
    run: Run,
    dataset: Dataset,
    number: int,
    old: str | None,
    next_row_id: int,
    stamp: datetime,
    *,
    source: str,
    note: str,
) -> VersionRecord:
    """The new version's record once its table is written: its rows counted, and what
    changed against the version before (``old``, None for a first one) over every field."""
    table = version_table(dataset.id, number)
    total = _count(run, f"SELECT count(*) FROM {quote(table)}")  # noqa: S608 - a version table's name
    before = (quote(old), dataset.columns) if old else None
    return VersionRecord(
        dataset_id=dataset.id,
        number=number,
        table=table,
        columns=dataset.columns,
        row_count=total,
        created_at=stamp,
        source=source,
        next_row_id=next_row_id,
        data_as_of=stamp,
        counts=version_counts(run, before, (quote(table), dataset.columns), total),
        note=note,
    )
