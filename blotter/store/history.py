"""Reading the history of a dataset, written once for every SQL engine: any version as it
was served, and what changed between two versions."""

from __future__ import annotations

import json
from abc import abstractmethod
from typing import Any

from blotter.errors import VersionGone, VersionNotFound
from blotter.model import Column, Dataset, DiffRow, FieldChange, VersionDiff
from blotter.store.catalog import SqlCatalog
from blotter.store.changes import quote
from blotter.store.common import DATASET_QUERY, dataset_from_row
from blotter.store.history_sql import (
    Compared,
    Run,
    compared_fields,
    counts_sql,
    diff_page_sql,
    version_counts,
)

# The dataset joined to one version of its choosing instead of the current one.
_DATASET_AT_QUERY = DATASET_QUERY.replace("v.number = d.current_version", "v.number = ?")
assert _DATASET_AT_QUERY != DATASET_QUERY


class SqlHistory(SqlCatalog):
    """Versions read back: :meth:`dataset_at` and :meth:`version_diff`."""

    @abstractmethod
    def _read_sql(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of one statement without parameters, written once for every engine."""

    def _relation(self, table: str) -> str:
        """What a query reads a version's rows from, given its registered table."""
        return quote(table)

    def _version_row(self, dataset_id: str, number: int) -> tuple[str, list[Column]]:
        """(table, frozen columns) of a readable version; VersionNotFound, VersionGone."""
        rows = self._query(
            "SELECT table_name, columns, pruned FROM blotter_versions "
            "WHERE dataset_id = ? AND number = ?",
            [dataset_id, number],
        )
        if not rows:
            raise VersionNotFound(dataset_id, number, self.get_dataset(dataset_id).version)
        table, columns, pruned = rows[0]
        if pruned:
            kept = self._query(
                "SELECT number FROM blotter_versions WHERE dataset_id = ? AND NOT pruned "
                "ORDER BY number",
                [dataset_id],
            )
            raise VersionGone(dataset_id, number, _kept_words([int(k) for (k,) in kept]))
        loaded = json.loads(columns) if isinstance(columns, str) else columns
        return str(table), [Column.model_validate(c) for c in loaded]

    def dataset_at(self, dataset_id: str, number: int) -> Dataset:
        current = self.get_dataset(dataset_id)
        if number == current.version and number:
            return current
        self._version_row(dataset_id, number)
        rows = self._query(_DATASET_AT_QUERY + " WHERE d.id = ?", [number, dataset_id])
        dataset = dataset_from_row(rows[0])
        return dataset.model_copy(update={"version": number})

    def version_diff(
        self, dataset: Dataset, from_number: int, to_number: int, *, limit: int, offset: int
    ) -> VersionDiff:
        before_table, before_cols = self._version_row(dataset.id, from_number)
        after_table, after_cols = self._version_row(dataset.id, to_number)
        fields = _visible_fields(self.get_dataset(dataset.id), dataset, before_cols, after_cols)
        compared = compared_fields(before_cols, after_cols, fields)
        before, after = self._relation(before_table), self._relation(after_table)
        counts = self._read_sql(counts_sql(before, after, compared))[0]
        page = self._read_sql(diff_page_sql(before, after, compared, limit, offset))
        return VersionDiff(
            dataset_id=dataset.id,
            from_version=from_number,
            to_version=to_number,
            added=int(counts[0]),
            changed=int(counts[1]),
            removed=int(counts[2]),
            fields=[c.field for c in compared],
            rows=[_diff_row(row, compared) for row in page],
            limit=limit,
            offset=offset,
        )

    def _fill_counts(self, run: Run) -> list[tuple[str, int, tuple[int, int, int]]]:
        """Counts of versions written before they were kept, from their tables: (dataset,
        number, counts) for the caller to store."""
        missing = self._query(
            "SELECT dataset_id, number FROM blotter_versions WHERE rows_added IS NULL "
            "ORDER BY dataset_id, number",
            [],
        )
        filled = []
        for dataset_id, number in missing:
            table, columns = self._version_row(dataset_id, number)
            count = run(f"SELECT count(*) FROM {quote(table)}")[0][0]  # noqa: S608 - ours
            before = None
            if number > 1:
                old_table, old_columns = self._version_row(dataset_id, number - 1)
                before = (quote(old_table), old_columns)
            counts = version_counts(run, before, (quote(table), columns), int(count))
            filled.append((dataset_id, int(number), counts))
        return filled


def _kept_words(kept: list[int]) -> str:
    if not kept:
        return "no versions of this dataset"
    if len(kept) == 1:
        return f"version {kept[0]} only"
    return "versions " + ", ".join(map(str, kept[:-1])) + f" and {kept[-1]}"


def _visible_fields(
    whole: Dataset, seen: Dataset, before: list[Column], after: list[Column]
) -> list[str]:
    """The fields a diff compares: those of ``seen`` (the dataset as the reader may see it),
    then those neither version's reader could know of today (fields no longer in the data
    dictionary) unless the version that had them marked them internal."""
    fields = [c.field_name for c in seen.columns]
    known = {c.field_name for c in whole.columns}
    for col in [*after, *before]:
        if col.field_name not in known and not col.internal and col.field_name not in fields:
            fields.append(col.field_name)
    return fields


def _diff_row(row: tuple[Any, ...], compared: list[Compared]) -> DiffRow:
    row_id, added, removed = int(row[0]), bool(row[1]), bool(row[2])
    flags = row[3 : 3 + len(compared)]
    values = list(row[3 + len(compared) :])
    widths = [len(c.before or c.after or []) for c in compared]
    half = sum(widths)
    olds, news = values[:half], values[half:]
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    at = 0
    for c, width in zip(compared, widths, strict=True):
        before[c.field] = _value(olds[at : at + width]) if c.before is not None else None
        after[c.field] = _value(news[at : at + width]) if c.after is not None else None
        at += width
    if added:
        return DiffRow(kind="added", row_id=row_id, values=after)
    if removed:
        return DiffRow(kind="removed", row_id=row_id, values=before)
    changes = [
        FieldChange(field_name=c.field, before=before[c.field], after=after[c.field])
        for c, flag in zip(compared, flags, strict=True)
        if flag
    ]
    return DiffRow(kind="changed", row_id=row_id, changes=changes)


def _value(parts: list[Any]) -> Any:
    """A field's value from its physical columns: a point is (lon, lat), or None."""
    if len(parts) == 1:
        return parts[0]
    if all(p is None for p in parts):
        return None
    return tuple(parts)
