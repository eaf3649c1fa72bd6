"""Datasets' catalog rows and versions' registration, written once for every SQL engine over
the primitives of :class:`SqlRecords`."""

from __future__ import annotations

import json
from abc import abstractmethod
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from blotter.errors import Conflict, DatasetNotFound
from blotter.model import Column, Dataset, DatasetMeta, Version, check_dataset_id, new_dataset_id
from blotter.store.common import (
    DATASET_QUERY,
    VERSIONS_QUERY,
    check_dictionary,
    columns_json,
    dataset_from_row,
    now,
    versions_from_rows,
)
from blotter.store.records import SqlRecords, Statements


@dataclass(frozen=True)
class VersionRecord:
    """A written version table, as registered: what readers are switched to."""

    dataset_id: str
    number: int
    table: str
    columns: list[Column]
    row_count: int
    created_at: datetime
    source: str
    next_row_id: int  # the dataset's next fresh row id once this version is served
    data_as_of: datetime
    counts: tuple[int, int, int] = (0, 0, 0)  # rows added, changed, removed
    note: str = ""
    segment: str | None = None  # the history table keeping its rows

    def version(self, agency: str = "") -> Version:
        added, changed, removed = self.counts
        return Version(
            dataset_id=self.dataset_id,
            number=self.number,
            row_count=self.row_count,
            created_at=self.created_at,
            source=self.source,
            rows_added=added,
            rows_changed=changed,
            rows_removed=removed,
            note=self.note,
            agency=agency,
        )


def register_version(tx: Statements, record: VersionRecord) -> Version:
    """Register a written version table and make it the one served (inside ``tx``, so both
    happen at once). The version records the dataset's agency as it is now."""
    record = replace(record, columns=_still_hidden(tx, record))
    columns = columns_json(record.columns)
    meta = tx.rows("SELECT meta FROM blotter_datasets WHERE id = ?", [record.dataset_id])
    agency = _agency(meta[0][0]) if meta else ""
    tx.run(
        "INSERT INTO blotter_versions (dataset_id, number, table_name, columns, row_count, "
        "created_at, source, rows_added, rows_changed, rows_removed, note, agency, pruned, "
        "segment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, false, ?)",
        [
            record.dataset_id,
            record.number,
            record.table,
            columns,
            record.row_count,
            record.created_at,
            record.source,
            *record.counts,
            record.note,
            agency,
            record.segment,
        ],
    )
    _keep_hidden(tx, record)
    tx.run(
        "UPDATE blotter_datasets SET current_version = ?, next_row_id = ?, "
        "columns = ?, updated_at = ?, data_as_of = ? WHERE id = ?",
        [
            record.number,
            record.next_row_id,
            columns,
            record.created_at,
            record.data_as_of,
            record.dataset_id,
        ],
    )
    return record.version(agency)


def _keep_hidden(tx: Statements, record: VersionRecord) -> None:
    """Mark internal, in the versions that hold it, each field the data dictionary hides
    that the new version drops (or retypes): the dictionary is replaced by the new
    version's fields, so the old versions' own flags (as they were published) would
    otherwise decide, and a field staff hid after it was published would be shown again
    in those versions' rows, exports and diffs. A field once internal stays internal."""
    found = tx.rows("SELECT columns FROM blotter_datasets WHERE id = ?", [record.dataset_id])
    if not found:
        return
    kept = {(c.field_name, str(c.type)) for c in record.columns}
    hidden = {
        str(c["field_name"])
        for c in _loaded(found[0][0]) or []
        if c.get("internal") and (c["field_name"], c["type"]) not in kept
    }
    if not hidden:
        return
    for number, stored in tx.rows(
        "SELECT number, columns FROM blotter_versions WHERE dataset_id = ?", [record.dataset_id]
    ):
        columns = _loaded(stored)
        shown = [c for c in columns if c["field_name"] in hidden and not c.get("internal")]
        if shown:
            for column in shown:
                column["internal"] = True
            tx.run(
                "UPDATE blotter_versions SET columns = ? WHERE dataset_id = ? AND number = ?",
                [json.dumps(columns), record.dataset_id, number],
            )


def _still_hidden(tx: Statements, record: VersionRecord) -> list[Column]:
    """The new version's columns, with each field the data dictionary no longer names that
    an earlier version keeps internal (staff hid it, then a version left it out:
    ``_keep_hidden``) internal again. The dictionary forgets a field a version drops, so a
    file bringing it back would otherwise open it, and with it every earlier version's
    values of it, read with today's dictionary."""
    found = tx.rows("SELECT columns FROM blotter_datasets WHERE id = ?", [record.dataset_id])
    named = {str(c["field_name"]) for c in (_loaded(found[0][0]) if found else None) or []}
    back = {c.field_name for c in record.columns if not c.internal} - named
    if not back:
        return record.columns
    hidden: set[str] = set()
    for (stored,) in tx.rows(
        "SELECT columns FROM blotter_versions WHERE dataset_id = ?", [record.dataset_id]
    ):
        hidden |= {str(c["field_name"]) for c in _loaded(stored) or [] if c.get("internal")}
    return [
        c.model_copy(update={"internal": True}) if c.field_name in back & hidden else c
        for c in record.columns
    ]


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _agency(meta: Any) -> str:
    loaded = json.loads(meta) if isinstance(meta, str) else meta
    return str(loaded.get("agency") or "") if isinstance(loaded, dict) else ""


def next_numbers(tx: Statements, dataset_id: str) -> tuple[int, int]:
    """The next row id and version number of a dataset; DatasetNotFound if there is none."""
    row = tx.rows("SELECT next_row_id FROM blotter_datasets WHERE id = ?", [dataset_id])
    if not row:
        raise DatasetNotFound(dataset_id)
    last = tx.rows(
        "SELECT coalesce(max(number), 0) FROM blotter_versions WHERE dataset_id = ?",
        [dataset_id],
    )
    return int(row[0][0]), int(last[0][0] if last else 0) + 1


class SqlCatalog(SqlRecords):
    """Creating datasets, editing their metadata and data dictionary, listing versions."""

    @abstractmethod
    def get_dataset(self, dataset_id: str) -> Dataset:
        """One dataset as served now; raises DatasetNotFound."""

    @abstractmethod
    def _written_dataset(self, dataset_id: str) -> Dataset:
        """A dataset read back after a write (from the primary when there is a replica)."""

    def create_dataset(
        self, meta: DatasetMeta, columns: list[Column], dataset_id: str | None = None
    ) -> Dataset:
        dataset_id = check_dataset_id(dataset_id) if dataset_id else new_dataset_id()
        stamp = now()
        with self._transaction() as tx:
            inserted = tx.rows(
                "INSERT INTO blotter_datasets (id, meta, columns, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
                [dataset_id, meta.model_dump_json(), columns_json(columns), stamp, stamp],
            )
        if not inserted:
            raise Conflict(f"Dataset '{dataset_id}' already exists.", dataset_id=dataset_id)
        return self._written_dataset(dataset_id)

    def update_metadata(self, dataset_id: str, meta: DatasetMeta) -> Dataset:
        with self._transaction() as tx:
            changed = tx.rows(
                "UPDATE blotter_datasets SET meta = ?, updated_at = ? WHERE id = ? RETURNING id",
                [meta.model_dump_json(), now(), dataset_id],
            )
        if not changed:
            raise DatasetNotFound(dataset_id)
        return self._written_dataset(dataset_id)

    def update_columns(self, dataset_id: str, columns: list[Column]) -> Dataset:
        with self._transaction() as tx:
            rows = tx.rows(DATASET_QUERY + " WHERE d.id = ?", [dataset_id])
            if not rows:
                raise DatasetNotFound(dataset_id)
            check_dictionary(dataset_from_row(rows[0]), columns)
            tx.run(
                "UPDATE blotter_datasets SET columns = ?, updated_at = ? WHERE id = ?",
                [columns_json(columns), now(), dataset_id],
            )
        return self._written_dataset(dataset_id)

    def versions(self, dataset_id: str) -> list[Version]:
        self.get_dataset(dataset_id)
        rows = self._query(VERSIONS_QUERY + " ORDER BY number DESC", [dataset_id])
        return versions_from_rows(dataset_id, rows)
