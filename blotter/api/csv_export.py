"""CSV answers written by the engine: a large export formatted in SQL, not value by value.

The query takes the one read path up to its compiled form (``queries.prepare_query`` or
``prepare_parsed``); the store then runs it once, with every field already written as CSV
text (``Store.execute_csv``). When the engine cannot write some column exactly, the rows go
through the Python serializer as before.
"""

from __future__ import annotations

from collections.abc import Iterator

from blotter.api.serialize import csv_cells, stream_csv, stream_csv_lines
from blotter.portal import Portal
from blotter.queries import PreparedQuery, run


def csv_body(portal: Portal, prepared: PreparedQuery) -> Iterator[bytes]:
    """Run the query and return its CSV body (the query has run, so errors are raised here,
    before any byte is sent)."""
    cells = csv_cells(prepared.outputs)
    if cells is not None:
        pieces = portal.store.execute_csv(
            prepared.dataset,
            prepared.compiled.select,
            cells,
            timeout_s=prepared.remaining_s(portal.settings),
        )
        if pieces is not None:
            return stream_csv_lines(prepared.outputs, pieces)
    result = run(portal.store, prepared, portal.settings)
    return stream_csv(result.outputs, result.rows)
