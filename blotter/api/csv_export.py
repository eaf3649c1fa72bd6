"""CSV answers written by the engine: a large export formatted in SQL, not value by value.

The query takes the one read path (``queries.run_query`` or ``run_parsed``), but a stand-in
store records the compiled query instead of running it; the real store then runs it once,
with every field already written as CSV text (``Store.execute_csv``). When the engine
cannot write some column exactly, the rows go through the Python serializer as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, cast

from sqlglot import exp

from blotter.api.serialize import csv_cells, stream_csv, stream_csv_lines
from blotter.model import Dataset
from blotter.portal import Portal
from blotter.queries import QueryResult
from blotter.store.base import RowStream, Store


@dataclasses.dataclass
class _Recorded:
    dataset: Dataset
    select: exp.Select
    timeout_s: float | None


class _QueryRecorder:
    """The portal's store, except that ``execute`` only records the query it is given."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.recorded: _Recorded | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def execute(
        self, dataset: Dataset, select: exp.Select, *, timeout_s: float | None = None
    ) -> RowStream:
        self.recorded = _Recorded(dataset, select, timeout_s)
        return RowStream(iter(()))


def csv_answer(
    portal: Portal, dataset: Dataset, run: Callable[[Portal, Dataset], QueryResult]
) -> tuple[QueryResult, Iterator[bytes]]:
    """Run the query and return its result with the CSV body (the query has run, so errors
    are raised here, before any byte is sent)."""
    recorder = _QueryRecorder(portal.store)
    result = run(dataclasses.replace(portal, store=cast(Store, recorder)), dataset)
    query = recorder.recorded
    if query is None:  # nothing to run (the runner answered without the store)
        return result, stream_csv(result.outputs, result.rows)
    cells = csv_cells(result.outputs)
    pieces = None
    if cells is not None:
        pieces = portal.store.execute_csv(
            query.dataset, query.select, cells, timeout_s=query.timeout_s
        )
    if pieces is not None:
        return result, stream_csv_lines(result.outputs, pieces)
    rows = portal.store.execute(query.dataset, query.select, timeout_s=query.timeout_s)
    return dataclasses.replace(result, rows=rows), stream_csv(result.outputs, rows)
