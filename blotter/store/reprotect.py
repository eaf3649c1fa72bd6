"""The served rows of a dataset staged again under tightened privacy rules.

When a dataset's rules are made stricter after rows were published, the served version's
rows are read back (internal fields and "(as recorded)" copies included, as the store holds
them), passed through the same rules every write applies (``protect.protect_again``), and
each row a rule changed becomes a row-level change keyed by ``:id``: only the fields that
changed are sent, so the row keeps its identity and the fields no rule touched, and a row a
rule now leaves out becomes a delete. :meth:`Store.protect_published` writes them as a new
version through the engine's row-level write.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from blotter.model import Column, ColumnType, Dataset
from blotter.privacy import PrivacyRules
from blotter.schema import DATASET_TABLE, ROW_ID, physical_names
from blotter.store.changes import STAGED_HEAD
from blotter.store.protect import protect_again

_CHUNK = 20_000
_ARROW = {
    ColumnType.TEXT: pa.string(),
    ColumnType.NUMBER: pa.float64(),
    ColumnType.CHECKBOX: pa.bool_(),
    ColumnType.FLOATING_TIMESTAMP: pa.timestamp("us"),
    ColumnType.POINT: pa.float64(),
}

Execute = Callable[[Dataset, exp.Select], Iterable[tuple[Any, ...]]]


def staged_again(
    execute: Execute,
    dataset: Dataset,
    old: PrivacyRules,
    new: PrivacyRules,
    counts: Counter[str],
) -> pa.Table:
    """The changes that write ``dataset``'s served rows (published under ``old``) under
    ``new``: ``__key`` is the row's ``:id``, ``__given`` marks the fields that changed."""
    names = [n for c in dataset.columns for n in physical_names(c)]
    types = [_ARROW[c.type] for c in dataset.columns for _ in physical_names(c)]
    select = exp.select(*(exp.column(n, quoted=True) for n in [ROW_ID, *names]))
    rows = iter(execute(dataset, select.from_(DATASET_TABLE).order_by(ROW_ID)))
    parts = [
        _changes(chunk, names, types, dataset.columns, old, new, counts, start)
        for start, chunk in _chunks(rows)
    ]
    empty = pa.schema(
        [
            ("__seq", pa.int64()),
            ("__delete", pa.bool_()),
            ("__key", pa.int64()),
            ("__given", pa.string()),
            *zip(names, types, strict=True),
        ]
    )
    return pa.concat_tables([empty.empty_table(), *parts]) if parts else empty.empty_table()


def _chunks(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, list[tuple[Any, ...]]]]:
    start = 0
    while chunk := list(islice(rows, _CHUNK)):
        yield start, chunk
        start += len(chunk)


def _changes(
    chunk: list[tuple[Any, ...]],
    names: list[str],
    types: list[pa.DataType],
    columns: list[Column],
    old: PrivacyRules,
    new: PrivacyRules,
    counts: Counter[str],
    start: int,
) -> pa.Table:
    values = list(zip(*chunk, strict=True))
    ids = pa.array(values[0], pa.int64())
    batch = pa.record_batch(
        [pa.array(v, t) for v, t in zip(values[1:], types, strict=True)], names=names
    )
    out, drop = protect_again(old, new, columns, batch, counts)
    changed = np.column_stack([_differs(batch.column(i), out.column(i)) for i in range(len(names))])
    dropped = np.asarray(drop.to_numpy(zero_copy_only=False), dtype=bool)
    changed[dropped] = False
    keep = changed.any(axis=1) | dropped
    given = ["".join("1" if bit else "0" for bit in row) for row in changed[keep]]
    positions = pa.array(np.flatnonzero(keep))
    head = [
        pa.array(np.flatnonzero(keep) + start + 1, pa.int64()),
        pa.array(dropped[keep]),
        ids.take(positions),
        pa.array(given, pa.string()),
    ]
    return pa.Table.from_arrays(
        [*head, *(out.column(i).take(positions) for i in range(len(names)))],
        names=[*STAGED_HEAD, *names],
    )


def _differs(before: pa.Array, after: pa.Array) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Per row, whether a value changed (an emptied value included)."""
    unequal = pc.fill_null(pc.not_equal(before, after), False)
    emptied = pc.xor(pc.is_null(before), pc.is_null(after))
    return np.asarray(pc.or_(unequal, emptied).to_numpy(zero_copy_only=False), dtype=bool)


__all__ = ["staged_again"]
