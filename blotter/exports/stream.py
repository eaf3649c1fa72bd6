"""A query's CSV body: the engine writes the lines (``Store.execute_csv``) where it can write
them exactly as the Python serializer does; otherwise the rows go through the serializer."""

from __future__ import annotations

from collections.abc import Iterator

from blotter import rollups
from blotter.errors import QueryTimeout
from blotter.exports.csvtext import csv_cells, stream_csv, stream_csv_lines
from blotter.queries import PreparedQuery, run
from blotter.settings import Settings
from blotter.store.base import Store
from blotter.store.common import timeout_error
from blotter.store.rollup_tables import RollupGone


def csv_body(
    store: Store, settings: Settings, prepared: PreparedQuery, *, timed: bool = True
) -> Iterator[bytes]:
    """Run the query and return its CSV body (the query has run, so errors are raised here,
    before any byte is sent). ``timed=False`` lifts the query time limit: a whole version
    written once to its export file (``exports.files``), bounded by the version's size."""
    cells = csv_cells(prepared.outputs)
    if cells is not None:
        select = prepared.compiled.select
        chosen = rollups.select_for(store, prepared.dataset, select, settings)
        # Writing the engine's SQL (kept per compiled query) counts against the limit too.
        store.engine_sql(prepared.dataset, chosen)
        try:
            try:
                pieces = store.execute_csv(
                    prepared.dataset,
                    chosen,
                    cells,
                    timeout_s=prepared.remaining_s(settings) if timed else None,
                )
            except RollupGone:  # replaced meanwhile: its rollup went with its table
                pieces = store.execute_csv(
                    prepared.dataset,
                    select,
                    cells,
                    timeout_s=prepared.remaining_s(settings) if timed else None,
                )
        except QueryTimeout:
            # The engine had what was left of the limit; the client is told the limit itself.
            raise timeout_error(settings.query_timeout_s) from None
        if pieces is not None:
            return stream_csv_lines(prepared.outputs, pieces)
    if not timed:
        settings = settings.model_copy(update={"query_timeout_s": 1e9})
    result = run(store, prepared, settings)
    return stream_csv(result.outputs, result.rows)
