"""CSV answers written by the engine: a large export formatted in SQL, not value by value.

The query takes the one read path up to its compiled form (``queries.prepare_query`` or
``prepare_parsed``); the store then runs it once, with every field already written as CSV
text (``Store.execute_csv``). When the engine cannot write some column exactly, the rows go
through the Python serializer as before.
"""

from __future__ import annotations

from collections.abc import Iterator

from blotter.api.serialize import csv_cells, stream_csv, stream_csv_lines
from blotter.errors import QueryTimeout
from blotter.portal import Portal
from blotter.queries import PreparedQuery, run
from blotter.store.common import timeout_error


def csv_body(portal: Portal, prepared: PreparedQuery) -> Iterator[bytes]:
    """Run the query and return its CSV body (the query has run, so errors are raised here,
    before any byte is sent)."""
    cells = csv_cells(prepared.outputs)
    if cells is not None:
        # Writing the engine's SQL (kept per compiled query) counts against the limit too.
        portal.store.engine_sql(prepared.dataset, prepared.compiled.select)
        try:
            pieces = portal.store.execute_csv(
                prepared.dataset,
                prepared.compiled.select,
                cells,
                timeout_s=prepared.remaining_s(portal.settings),
            )
        except QueryTimeout:
            # The engine had what was left of the limit; the client is told the limit itself.
            raise timeout_error(portal.settings.query_timeout_s) from None
        if pieces is not None:
            return stream_csv_lines(prepared.outputs, pieces)
    result = run(portal.store, prepared, portal.settings)
    return stream_csv(result.outputs, result.rows)
