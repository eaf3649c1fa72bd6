"""Fresh rows numbered in the order of the dataset's main timestamp.

A version table's rows stay in ``_id`` order (readers stream DuckDB's unsorted scans in
insertion order), so time order comes from the ids: the rows a publish gives fresh ids are
numbered by (main timestamp, file order), nulls last. Then the newest rows are the table's
last, and DuckDB's per-row-group minimum and maximum let a top-N by time or a date range skip
the row groups that cannot hold an answer.
"""

# Every name below is a quoted identifier of ours (checked field names, version tables).
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from blotter.model import Column, main_date_column
from blotter.schema import CREATED_AT, ROW_ID, UPDATED_AT, physical_names
from blotter.store.changes import quote


def order_column(columns: list[Column], main_date: str | None) -> str | None:
    """The physical column fresh rows are numbered by (None: the version has no timestamp
    the public sees). Never an internal one: ``:id`` and the rows' default order are public,
    and ids numbered by a hidden timestamp would tell anyone its order, row by row."""
    column = main_date_column([c for c in columns if not c.internal], main_date)
    return physical_names(column)[0] if column is not None else None


class OrderWatch:
    """Batches passed through unchanged, noting whether their ``name`` column is already in
    (time, nulls last) order across every batch, so an ordered file is not rewritten."""

    def __init__(self, batches: Iterable[pa.RecordBatch], name: str) -> None:
        self._batches = batches
        self._name = name
        self.in_order = True
        self._last: pa.Scalar | None = None
        self._seen_null = False

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for batch in self._batches:
            index = batch.schema.get_field_index(self._name)
            if self.in_order and batch.num_rows and index >= 0:  # a missing column fails later
                self._check(batch.column(index))
            yield batch

    def _check(self, values: pa.Array) -> None:
        nulls = values.null_count
        if nulls:
            # Nulls come last: once one is seen, no value may follow it.
            valid = pc.is_valid(values)
            if self._seen_null and nulls < len(values):
                self.in_order = False
                return
            first_null = pc.index(valid, False).as_py()
            if pc.any(valid.slice(first_null)).as_py():
                self.in_order = False
                return
            values = values.slice(0, first_null)
            self._seen_null = True
        elif self._seen_null:
            self.in_order = False
            return
        if len(values) == 0:
            return
        if self._last is not None and pc.less(values[0], self._last).as_py():
            self.in_order = False
            return
        later, earlier = values.slice(1), values.slice(0, len(values) - 1)
        if len(values) > 1 and pc.any(pc.less(later, earlier)).as_py():
            self.in_order = False
            return
        self._last = values[len(values) - 1]


def sorted_insert_sql(
    source: str, target: str, columns: list[Column], order: str, first_id: int
) -> str:
    """Write ``target`` straight from ``source``, a publish's staged batches (``__row_id``
    numbering them in file order from ``first_id``), with ids renumbered by (``order``, file
    order), nulls last, in id order: what ``renumber_sql`` writes from a loaded table,
    without the loaded table (rows staged in memory, then read again). ``$now`` stamps them."""
    return _renumbered(source, target, columns, order, first_id, "__row_id", ("$now", "$now"))


def renumber_sql(loaded: str, target: str, columns: list[Column], order: str, first_id: int) -> str:
    """Write ``target`` from ``loaded`` (a publish's fresh rows, ids from ``first_id`` in file
    order) with the same ids renumbered by (``order``, file order), nulls last, in id order."""
    return _renumbered(loaded, target, columns, order, first_id, ROW_ID, (CREATED_AT, UPDATED_AT))


def _renumbered(
    source: str,
    target: str,
    columns: list[Column],
    order: str,
    first_id: int,
    file_order: str,
    stamps: tuple[str, str],
) -> str:
    """The rows of ``source`` into ``target``, ids from ``first_id`` by (``order``,
    ``file_order``), nulls last, written in id order, created and updated at ``stamps``."""
    names = ", ".join(quote(n) for c in columns for n in physical_names(c))
    return (
        f"INSERT INTO {quote(target)} ({ROW_ID}, {CREATED_AT}, {UPDATED_AT}, {names}) "
        f"SELECT {int(first_id) - 1} + row_number() OVER "
        f"(ORDER BY {quote(order)} ASC NULLS LAST, {file_order}) AS __id, "
        f"{stamps[0]}, {stamps[1]}, {names} FROM {quote(source)} ORDER BY __id"
    )
