"""CSV answers written by the engine: a large export formatted in SQL, not value by value;
a whole version's export served from its file on disk.

The query takes the one read path up to its compiled form (``queries.prepare_query`` or
``prepare_parsed``); the store then runs it once, with every field already written as CSV
text (``Store.execute_csv``, see ``exports.stream``). When the engine cannot write some
column exactly, the rows go through the Python serializer as before.

An unfiltered ``rows.csv`` is the same bytes for every reader of a version with the same
columns, so it is written once (``exports.files``) and sent from the file: with its length,
and byte ranges for resumed downloads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fastapi import Response
from fastapi.responses import FileResponse, StreamingResponse

from blotter.exports.files import existing_export, export_body
from blotter.exports.stream import csv_body as _csv_body
from blotter.model import Dataset
from blotter.portal import Portal
from blotter.queries import PreparedQuery

BOM = "\ufeff".encode()
_READ = 1 << 20


class _ExportFileResponse(FileResponse):
    # Starlette reads the file in chunks of this size when the server cannot send the path
    # itself (uvicorn cannot); its default of 64 KB is a thread hop per 64 KB.
    chunk_size = _READ


def csv_body(portal: Portal, prepared: PreparedQuery) -> Iterator[bytes]:
    """Run the query and return its CSV body (the query has run, so errors are raised here,
    before any byte is sent)."""
    return _csv_body(portal.store, portal.settings, prepared)


def whole_export(
    portal: Portal, dataset: Dataset, media_type: str, headers: dict[str, str], *, bom: bool
) -> Response | Iterator[bytes]:
    """Every row of ``dataset``'s version in its columns, from its export file; before the
    file exists, the body to stream while it is written (``exports.files.export_body``).
    ``headers`` keep the answer's own ETag and Last-Modified, the same either way."""
    found = existing_export(portal.settings, dataset)
    if found is None:
        return export_body(portal.store, portal.settings, dataset)
    if not bom:
        return _ExportFileResponse(
            found.path, headers=headers, media_type=media_type, stat_result=found.stat
        )
    # Socrata's $$bom: three bytes before the file; sent whole, without ranges.
    headers = {**headers, "Content-Length": str(len(BOM) + found.stat.st_size)}
    return StreamingResponse(_with_bom(found.path), media_type=media_type, headers=headers)


def _with_bom(path: Path) -> Iterator[bytes]:
    source = path.open("rb")  # opened before the answer starts: a sweep cannot take it away

    def chunks() -> Iterator[bytes]:
        with source:
            yield BOM
            while chunk := source.read(_READ):
                yield chunk

    return chunks()
