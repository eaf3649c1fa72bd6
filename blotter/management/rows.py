"""Rows written from a request's payload: replace every row, or delete one."""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc
from sqlglot import exp

from blotter.errors import NotFound
from blotter.ingest.rows import stage_changes
from blotter.model import Dataset, Version
from blotter.schema import DATASET_TABLE, physical_names
from blotter.store.base import Store


def delete_row(
    store: Store, dataset: Dataset, value: str, *, source: str, note: str = ""
) -> Version:
    """Delete the row that ``value`` names (row identifier, else ``:id``) as a new version;
    NotFound, with nothing written, when no row has it."""
    key = dataset.meta.row_identifier or ":id"
    staged = stage_changes(dataset, [{key: value, ":deleted": True}])
    typed = staged.table.column("__key")[0].as_py()
    column = exp.column(staged.key, quoted=True)
    literal = exp.Literal.string(typed) if isinstance(typed, str) else exp.Literal.number(typed)
    select = exp.select(exp.Count(this=exp.Star())).from_(DATASET_TABLE)
    (found,) = next(
        iter(store.execute(dataset, select.where(exp.EQ(this=column, expression=literal))))
    )
    if not found:
        raise NotFound(f"Dataset {dataset.id} has no row '{value}'.", row=value)
    version, _ = store.apply_changes(dataset.id, staged.key, staged.table, source=source, note=note)
    return version


def publish_records(
    store: Store, dataset: Dataset, records: list[dict[str, Any]], *, source: str, note: str = ""
) -> Version:
    """Replace every row with ``records`` (rows marked deleted are left out)."""
    staged = stage_changes(dataset, records)
    kept = staged.table.filter(pc.invert(staged.table.column("__delete")))
    names = [n for c in dataset.columns for n in physical_names(c)]
    batch = kept.select(names)
    return store.publish(
        dataset.id,
        dataset.columns,
        batch.to_batches() or [],
        source=source,
        first_row=1,
        note=note,
    )
