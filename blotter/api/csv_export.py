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

import os
from collections.abc import Iterator

from fastapi import Response

from blotter.api.filesend import OpenFileResponse
from blotter.exports.files import export_body, open_export
from blotter.exports.stream import csv_body as _csv_body
from blotter.model import Dataset
from blotter.portal import Portal
from blotter.queries import PreparedQuery

BOM = "\ufeff".encode()


def csv_body(portal: Portal, prepared: PreparedQuery) -> Iterator[bytes]:
    """Run the query and return its CSV body (the query has run, so errors are raised here,
    before any byte is sent)."""
    return _csv_body(portal.store, portal.settings, prepared)


def whole_export(
    portal: Portal, dataset: Dataset, media_type: str, headers: dict[str, str], *, bom: bool
) -> Response | Iterator[bytes]:
    """Every row of ``dataset``'s version in its columns, from its export file; before the
    file exists (or once a clean-up removed it), the body to stream while it is written
    (``exports.files.export_body``). The file is opened here, before the answer starts, so
    a clean-up between now and its last byte cannot take it away. ``headers`` keep the
    answer's own ETag and Last-Modified, the same either way."""
    source = open_export(portal.settings, dataset)
    if source is None:
        return export_body(portal.store, portal.settings, dataset)
    size = os.fstat(source.fileno()).st_size
    # Socrata's $$bom: three bytes before the file; sent whole, without ranges.
    prefix = BOM if bom else b""
    return OpenFileResponse(source, size, headers=headers, media_type=media_type, prefix=prefix)
