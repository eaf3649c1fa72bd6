"""Reading and keeping the history of a dataset, written once for every SQL engine: any
version as it was served, what changed between two versions, the retention setting's prune,
and moving versions written before history tables into one."""

from __future__ import annotations

import json
from abc import abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar

from blotter.errors import VersionGone, VersionNotFound
from blotter.model import Column, ColumnType, Dataset, DiffRow, FieldChange, VersionDiff
from blotter.schema import physical_names
from blotter.store.catalog import SqlCatalog
from blotter.store.changes import quote
from blotter.store.common import DATASET_QUERY, VERSIONS_QUERY, dataset_from_row, versions_from_rows
from blotter.store.history_sql import (
    Compared,
    compared_fields,
    counts_sql,
    diff_page_sql,
    version_counts,
)
from blotter.store.records import Statements
from blotter.store.retention import Pruned, Retention
from blotter.store.segments import (
    Execute,
    Replaced,
    diff_relations,
    keep_history,
    needed,
    version_relation,
)

# The dataset joined to one version of its choosing instead of the current one.
_DATASET_AT_QUERY = DATASET_QUERY.replace("v.number = d.current_version", "v.number = ?")
assert _DATASET_AT_QUERY != DATASET_QUERY


@dataclass(frozen=True)
class _Row:
    """A readable version as registered."""

    number: int
    table: str
    columns: list[Column]
    segment: str | None
    current: bool

    def relation(self) -> str:
        """What a query reads the version's rows from."""
        if self.current or self.segment is None:
            return quote(self.table)
        names = [n for c in self.columns for n in physical_names(c)]
        return version_relation(self.segment, self.number, names)


class SqlHistory(SqlCatalog):
    """Versions read back, diffed, pruned; the engines supply two primitives."""

    physical_types: ClassVar[dict[ColumnType, str]]

    @abstractmethod
    def list_datasets(self) -> list[Dataset]:
        """Every dataset, as served now."""

    @abstractmethod
    def _read_sql(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of one statement without parameters, written once for every engine."""

    @abstractmethod
    def _history_transaction(self) -> AbstractContextManager[tuple[Statements, Execute]]:
        """One write transaction: catalog statements, and statements written here."""

    def _version_row(self, dataset_id: str, number: int) -> _Row:
        """A readable version; VersionNotFound, VersionGone."""
        rows = self._query(
            "SELECT v.table_name, v.columns, v.pruned, v.segment, d.current_version, "
            "v.pruned_reason FROM blotter_versions v JOIN blotter_datasets d "
            "ON d.id = v.dataset_id WHERE v.dataset_id = ? AND v.number = ?",
            [dataset_id, number],
        )
        if not rows:
            raise VersionNotFound(dataset_id, number, self.get_dataset(dataset_id).version)
        table, columns, pruned, segment, current, reason = rows[0]
        if pruned:
            kept = self._query(
                "SELECT number FROM blotter_versions WHERE dataset_id = ? AND NOT pruned "
                "ORDER BY number",
                [dataset_id],
            )
            kept_words = _kept_words([int(k) for (k,) in kept])
            raise VersionGone(dataset_id, number, kept_words, str(reason or ""))
        return _Row(number, str(table), _columns(columns), segment, number == current)

    def dataset_at(self, dataset_id: str, number: int) -> Dataset:
        current = self.get_dataset(dataset_id)
        if number == current.version and number:
            return current
        row = self._version_row(dataset_id, number)
        if row.current:  # published since ``current`` was read
            return self.get_dataset(dataset_id)
        rows = self._query(_DATASET_AT_QUERY + " WHERE d.id = ?", [number, dataset_id])
        dataset = dataset_from_row(rows[0])
        return dataset.model_copy(update={"version": number, "history_table": row.segment})

    def version_diff(
        self, dataset: Dataset, from_number: int, to_number: int, *, limit: int, offset: int
    ) -> VersionDiff:
        older = self._version_row(dataset.id, from_number)
        newer = self._version_row(dataset.id, to_number)
        fields = _visible_fields(self.get_dataset(dataset.id), dataset, older, newer)
        compared = compared_fields(older.columns, newer.columns, fields)
        if older.segment is not None and older.segment == newer.segment:
            # One history table: only rows that start or end between the two can differ.
            lo, hi = sorted((older, newer), key=lambda r: r.number)
            lo_rel, hi_rel = diff_relations(
                older.segment,
                (lo.number, [n for c in lo.columns for n in physical_names(c)]),
                (hi.number, [n for c in hi.columns for n in physical_names(c)]),
            )
            before, after = (lo_rel, hi_rel) if older is lo else (hi_rel, lo_rel)
        else:
            before, after = older.relation(), newer.relation()
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

    # --- retention -----------------------------------------------------------------

    def prune_versions(
        self,
        retention: Retention,
        *,
        dataset_id: str | None = None,
        dry_run: bool = False,
        reason: str = "",
    ) -> list[Pruned]:
        """Mark the versions ``retention`` does not keep as pruned (with ``reason``, when
        not the retention setting's) and delete the history rows no kept version reads (a
        history table no kept version reads is dropped). Pruned versions stay listed;
        reading them raises VersionGone. The newest version is always kept. On a dry run
        nothing changes; the answer says what would be removed."""
        ids = [dataset_id] if dataset_id else [d.id for d in self.list_datasets()]
        if dataset_id:
            self.get_dataset(dataset_id)
        return [self._prune(one, retention, dry_run, reason) for one in ids]

    def _prune(self, dataset_id: str, retention: Retention, dry_run: bool, reason: str) -> Pruned:
        with self._history_transaction() as (tx, execute):
            versions = versions_from_rows(dataset_id, tx.rows(VERSIONS_QUERY, [dataset_id]))
            kept = set(retention.kept(versions))
            report = Pruned(
                dataset_id,
                kept=sorted(v.number for v in versions if v.number in kept and not v.pruned),
            )
            report.versions = sorted(
                v.number for v in versions if v.number not in kept and not v.pruned
            )
            if not report.versions:
                return report
            by_segment: dict[str, list[int]] = {}
            for number, segment in tx.rows(
                "SELECT number, segment FROM blotter_versions WHERE dataset_id = ? "
                "AND segment IS NOT NULL",
                [dataset_id],
            ):
                by_segment.setdefault(str(segment), [])
                if number in report.kept:
                    by_segment[str(segment)].append(int(number))
            for segment, kept_here in sorted(by_segment.items()):
                if not _exists(tx, segment):
                    continue
                gone = f"WHERE NOT ({needed(kept_here)})"
                count = execute(f"SELECT count(*) FROM {quote(segment)} {gone}").fetchone()  # noqa: S608 - ours
                report.history_rows += int(count[0]) if count else 0
                if not kept_here:
                    report.tables.append(segment)
                    if not dry_run:
                        execute(f"DROP TABLE {quote(segment)}")
                elif not dry_run:
                    execute(f"DELETE FROM {quote(segment)} {gone}")  # noqa: S608 - ours
            if not dry_run:
                for number in report.versions:
                    tx.run(
                        "UPDATE blotter_versions SET pruned = true, pruned_reason = ? "
                        "WHERE dataset_id = ? AND number = ?",
                        [reason, dataset_id, number],
                    )
        return report

    # --- versions written before history tables --------------------------------------

    def _build_history(self) -> None:
        """Move the versions of a database written before history tables into them, version
        by version from their tables (with their counts), then drop the tables of versions
        no longer current. A version whose table is missing is marked pruned."""
        pending = self._query(
            "SELECT DISTINCT dataset_id FROM blotter_versions WHERE segment IS NULL "
            "AND NOT pruned ORDER BY dataset_id",
            [],
        )
        for (dataset_id,) in pending:
            with self._history_transaction() as (tx, execute):
                self._build_one(tx, execute, str(dataset_id))

    def _build_one(self, tx: Statements, execute: Execute, dataset_id: str) -> None:
        rows = tx.rows(
            "SELECT v.number, v.table_name, v.columns, v.segment, "
            "d.current_version FROM blotter_versions v JOIN blotter_datasets d "
            "ON d.id = v.dataset_id WHERE v.dataset_id = ? AND NOT v.pruned ORDER BY v.number",
            [dataset_id],
        )
        previous: Replaced | None = None
        for number, table, columns, segment, current in rows:
            cols = _columns(columns)
            if segment is not None:  # kept already: history goes on from it
                previous = Replaced(int(number), str(table), cols, str(segment))
                continue
            if not _exists(tx, str(table)):
                tx.run(
                    "UPDATE blotter_versions SET pruned = true WHERE dataset_id = ? AND number = ?",
                    [dataset_id, number],
                )
                previous = None
                continue
            total = execute(f"SELECT count(*) FROM {quote(str(table))}").fetchone()  # noqa: S608 - ours
            counts = version_counts(
                lambda q: execute(q).fetchall(),
                (quote(previous.table), previous.columns) if previous else None,
                (quote(str(table)), cols),
                int(total[0]) if total else 0,
            )
            kept_in = keep_history(
                tx,
                execute,
                self.physical_types,
                dataset_id,
                int(number),
                str(table),
                cols,
                previous,
            )
            tx.run(
                "UPDATE blotter_versions SET segment = ?, rows_added = coalesce(rows_added, ?), "
                "rows_changed = coalesce(rows_changed, ?), rows_removed = "
                "coalesce(rows_removed, ?) WHERE dataset_id = ? AND number = ?",
                [kept_in, *counts, dataset_id, number],
            )
            if previous is not None and previous.number != current:
                execute(f"DROP TABLE IF EXISTS {quote(previous.table)}")
            previous = Replaced(int(number), str(table), cols, kept_in)


def _exists(tx: Statements, table: str) -> bool:
    return bool(
        tx.rows(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_name = ?",
            [table],
        )
    )


def _columns(value: Any) -> list[Column]:
    loaded = json.loads(value) if isinstance(value, str) else value
    return [Column.model_validate(c) for c in loaded]


def _kept_words(kept: list[int]) -> str:
    if not kept:
        return "no versions of this dataset"
    if len(kept) == 1:
        return f"version {kept[0]} only"
    return "versions " + ", ".join(map(str, kept[:-1])) + f" and {kept[-1]}"


def _visible_fields(whole: Dataset, seen: Dataset, older: _Row, newer: _Row) -> list[str]:
    """The fields a diff compares: those of ``seen`` (the dataset as the reader may see it),
    then those no longer in the data dictionary unless the version that had them marked
    them internal."""
    fields = [c.field_name for c in seen.columns]
    known = {c.field_name for c in whole.columns}
    for col in [*newer.columns, *older.columns]:
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
