"""The embedded engine: every dataset, version and bit of metadata in one DuckDB file.

A version is a table of its own, written and registered in a single transaction, so a
failed or killed load leaves nothing behind: DuckDB discards uncommitted work when the
file is next opened. Old version tables are kept for history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from blotter.errors import DatasetNotFound, StoreBusy
from blotter.model import ChangeCounts, Column, ColumnType, Dataset, DatasetMeta, Version
from blotter.schema import CREATED_AT, ROW_ID, UPDATED_AT, version_table
from blotter.store import rollup_tables as rollups
from blotter.store.base import CsvCell, CsvPiece, RowStream, Store
from blotter.store.catalog import VersionRecord, next_numbers, register_version
from blotter.store.change_record import change_counts, change_record
from blotter.store.changes import STAGED, STAGED_HEAD, change_statements, quote
from blotter.store.common import (
    DATASET_QUERY,
    SqlMemo,
    check_batch,
    dataset_from_row,
    engine_sql,
    now,
    physical_layout,
)
from blotter.store.duckdb_csv import csv_lines
from blotter.store.duckdb_feed import Feed, write_in_time_order
from blotter.store.duckdb_members import PolygonMembers
from blotter.store.duckdb_reads import (
    NewestSql,
    ReadCursors,
    by_word_index,
    fetch_rows,
    has_word_index,
    newest_first_sql,
    newest_rows,
    sorted_by_id_alone,
)
from blotter.store.duckdb_startup import MIGRATIONS, drop_unregistered_tables, migrate
from blotter.store.duckdb_watchdog import run_watched
from blotter.store.duckdb_writes import (
    CursorStatements,
    Writes,
    create_table,
    drop_version,
    index_version,
    registered_or_dropped,
    room_check,
    runner,
    transaction_on,
)
from blotter.store.extensions import Extensions
from blotter.store.history import SqlHistory
from blotter.store.history_sql import (
    keep_identities_sql,
    replace_key,
    version_counts,
)
from blotter.store.ordering import order_column
from blotter.store.polygons import DuckDBWithPolygons
from blotter.store.records import Statements
from blotter.store.search_index import LATE_MOST, narrowed, search_words
from blotter.store.segments import Execute, keep_history, replaced_version
from blotter.store.tally import count_query

_PHYSICAL_TYPE = {
    ColumnType.TEXT: "VARCHAR",
    ColumnType.NUMBER: "DOUBLE",
    ColumnType.CHECKBOX: "BOOLEAN",
    ColumnType.FLOATING_TIMESTAMP: "TIMESTAMP",
    ColumnType.POINT: "DOUBLE",
}


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


class DuckDBStore(SqlHistory, Store):
    """A store in one DuckDB database file."""

    engine = "duckdb"
    physical_types = _PHYSICAL_TYPE

    def __init__(
        self, path: Path | str, *, memory_limit_mb: int | None = None, min_free_mb: int = 0
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # DuckDB caches as much as it may; a cap keeps a big publish from growing the server
        # past it (what does not fit spills to a temporary directory beside the database).
        config: dict[str, str | bool | int | float | list[str]] = {
            "temp_directory": str(self.path.parent / "duckdb.tmp"),
            # A join whose small side has up to this many values also filters the other
            # side's scan by them (DuckDB's default: 50), so a page fetched by the ids of its
            # rows (search_index.late_rows) decompresses only the parts holding them.
            "dynamic_or_filter_threshold": LATE_MOST,
        }
        if memory_limit_mb:
            config["memory_limit"] = f"{memory_limit_mb}MB"
        try:
            self._con = duckdb.connect(str(self.path), config=config)
        except duckdb.IOException as err:
            if "lock" in str(err).lower():
                raise StoreBusy(
                    f"The database {self.path} is in use by another Blotter process "
                    "(a running server?). Stop it, or publish through that server.",
                    path=str(self.path),
                ) from err
            raise
        self.extensions = Extensions(self._con)  # loaded when a statement needs one
        self._reads = ReadCursors(self._con)
        self._members = PolygonMembers(self._con)  # store/duckdb_members.py
        self._write_lock = Writes()
        # Datasets as last read, tagged with the write generation they were read at. DuckDB
        # lets one process write the file, so every change passes through _write_lock here.
        self._datasets: dict[str, tuple[int, Any]] = {}
        self._sql: SqlMemo[tuple[str, Any]] = SqlMemo()
        self._newest: SqlMemo[NewestSql | None] = SqlMemo()  # store/newest_first.py
        self._word_indexes: dict[str, bool] = {}  # version table → whether it has one
        # (dataset, its creation, version) → the version's rollup, None without one.
        self._rollups: dict[tuple[str, object, int], rollups.Rollup | None] = {}
        with self._write_lock:
            migrate(self._cursor())
        self._build_history()
        drop_unregistered_tables(self._cursor())
        self._write_lock.check = room_check(self.path, min_free_mb)  # from here on, not at start

    def close(self) -> None:
        self._con.close()

    def schema_status(self) -> tuple[int, int]:
        row = self._cursor().execute("SELECT max(version) FROM blotter_schema").fetchone()
        return (row[0] if row else None) or 0, len(MIGRATIONS)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        # One cursor per call: DuckDB connections must not be shared across threads.
        return self._con.cursor()

    # --- catalog ---------------------------------------------------------------------

    def list_datasets(self) -> list[Dataset]:
        def read() -> list[Dataset]:
            rows = self._cursor().execute(DATASET_QUERY + " ORDER BY d.id").fetchall()
            return [dataset_from_row(row) for row in rows]

        return list(self._remembered("", read))

    def get_dataset(self, dataset_id: str) -> Dataset:
        def read() -> Dataset:
            row = self._cursor().execute(DATASET_QUERY + " WHERE d.id = ?", [dataset_id]).fetchone()
            if row is None:
                raise DatasetNotFound(dataset_id)
            return dataset_from_row(row)

        dataset: Dataset = self._remembered(dataset_id, read)
        return dataset

    def _remembered(self, key: str, read: Callable[[], Any]) -> Any:
        """``read()``'s answer, kept until the next write. Every request reads its dataset
        first; reading the catalog tables and validating the JSON cost about a millisecond."""
        generation = self._write_lock.generation
        kept = self._datasets.get(key)
        if kept is not None and kept[0] == generation:
            return kept[1]
        value = read()
        # A write that ended while we read may have been missed: keep nothing then.
        if self._write_lock.generation == generation:
            self._datasets[key] = (generation, value)
        return value

    def delete_dataset(self, dataset_id: str) -> None:
        with self._write_lock:
            cur = self._cursor()
            tables = cur.execute(
                "SELECT table_name FROM blotter_versions WHERE dataset_id = ? UNION "
                "SELECT segment FROM blotter_versions WHERE dataset_id = ? "
                "AND segment IS NOT NULL",
                [dataset_id, dataset_id],
            ).fetchall()
            if (
                not tables
                and not cur.execute(
                    "SELECT 1 FROM blotter_datasets WHERE id = ?", [dataset_id]
                ).fetchone()
            ):
                raise DatasetNotFound(dataset_id)
            cur.execute("BEGIN TRANSACTION")
            for (table,) in tables:
                drop_version(cur, table)
            cur.execute("DELETE FROM blotter_versions WHERE dataset_id = ?", [dataset_id])
            cur.execute("DELETE FROM blotter_quality WHERE dataset_id = ?", [dataset_id])
            cur.execute("DELETE FROM blotter_answers WHERE dataset_id = ?", [dataset_id])
            cur.execute("DELETE FROM blotter_checksums WHERE dataset_id = ?", [dataset_id])
            cur.execute("DELETE FROM blotter_datasets WHERE id = ?", [dataset_id])
            cur.execute("COMMIT")

    # --- versions --------------------------------------------------------------------

    def _publish(
        self,
        dataset_id: str,
        columns: list[Column],
        batches: Iterable[pa.RecordBatch],
        *,
        source: str = "",
        data_as_of: datetime | None = None,
        note: str = "",
        main_date: str | None = None,
    ) -> Version:
        physical = physical_layout(columns, _PHYSICAL_TYPE)
        order = order_column(columns, main_date)
        with self._write_lock:
            cur = self._cursor()
            next_row_id, number = next_numbers(CursorStatements(cur), dataset_id)
            served = self.get_dataset(dataset_id)
            old = version_table(dataset_id, served.version) if served.version else None
            key = replace_key(served.columns, columns, served.meta.row_identifier) if old else None
            table = version_table(dataset_id, number)
            # A replace of served rows is loaded beside the new table first, then written
            # into it keeping the identities of rows that match served ones. Fresh rows with
            # a main timestamp are written straight into it in time order, in one statement.
            loaded = f"{table}_load" if key is not None else table
            stamp = now()
            # The rows go into a table no reader knows of, committed chunk by chunk (one
            # transaction would hold them all in memory), read once registered below; a table
            # left by a failed or killed load is never registered and is dropped.
            with registered_or_dropped(cur, table, old):
                names = [name for name, _ in physical]
                targets = ", ".join([ROW_ID, CREATED_AT, UPDATED_AT, *map(_ident, names)])
                feed = Feed(batches, names, next_row_id)
                if order is not None and key is None:  # fresh rows, all from the file
                    create_table(cur, table, physical)
                    write_in_time_order(cur, feed, table, columns, order, stamp)
                else:  # staged in memory (spilled past DuckDB's limit), never in the file
                    create_table(cur, loaded, physical, temporary=loaded != table)
                while (chunk := feed.next_chunk()) is not None:
                    cur.register("_staged_rows", chunk)
                    cur.execute(
                        f"INSERT INTO {_ident(loaded)} ({targets}) "  # noqa: S608 - names are checked identifiers
                        f"SELECT __row_id, $now, $now, {', '.join(map(_ident, names))} "
                        "FROM _staged_rows",
                        {"now": stamp},
                    )
                    cur.unregister("_staged_rows")
                feed.raise_any()
                next_id = feed.next_row_id
                if key is not None and old is not None:
                    create_table(cur, table, physical)
                    cur.execute(
                        keep_identities_sql(
                            loaded,
                            quote(old),
                            table,
                            served.columns,
                            columns,
                            key,
                            stamp,
                            next_row_id,
                            order,
                        )
                    )
                    cur.execute(f"DROP TABLE {_ident(loaded)}")
                    fresh = cur.execute(
                        f"SELECT count(*) FROM {_ident(table)} WHERE {ROW_ID} >= ?",  # noqa: S608 - ours
                        [next_row_id],
                    ).fetchone()
                    next_id = next_row_id + (fresh[0] if fresh else 0)
                run = runner(cur)
                counts = version_counts(
                    run,
                    (quote(old), served.columns) if old else None,
                    (quote(table), columns),
                    feed.count,
                )
                index_version(cur, table, columns, served.meta.row_identifier)
                self._build_rollup(cur, served.meta, table, columns)
                record = VersionRecord(
                    dataset_id=dataset_id,
                    number=number,
                    table=table,
                    columns=columns,
                    row_count=feed.count,
                    created_at=stamp,
                    source=source,
                    next_row_id=next_id,
                    data_as_of=data_as_of or stamp,
                    counts=counts,
                    note=note,
                )
                version = self._register(cur, record, served.version, old, served.columns)
        return version

    def _register(
        self,
        cur: duckdb.DuckDBPyConnection,
        record: VersionRecord,
        served: int,
        old: str | None,
        old_columns: list[Column],
    ) -> Version:
        """Keep the new version's rows in the history table and register it, in one
        transaction (see ``store/segments.py``)."""
        with transaction_on(cur) as tx:
            replaced = (
                replaced_version(tx, record.dataset_id, served, old, old_columns) if old else None
            )
            segment = keep_history(
                tx,
                cur.execute,
                _PHYSICAL_TYPE,
                record.dataset_id,
                record.number,
                record.table,
                record.columns,
                replaced,
            )
            return register_version(tx, replace(record, segment=segment))

    def _apply_changes(
        self, dataset_id: str, key: str, staged: pa.Table, *, source: str = "", note: str = ""
    ) -> tuple[Version, ChangeCounts]:
        with self._write_lock:
            cur = self._cursor()
            dataset = self.get_dataset(dataset_id)
            physical = physical_layout(dataset.columns, _PHYSICAL_TYPE)
            names = [name for name, _ in physical]
            check_batch(staged, [*STAGED_HEAD, *names])
            next_id, number = next_numbers(CursorStatements(cur), dataset_id)
            table = version_table(dataset_id, number)
            old = version_table(dataset_id, dataset.version) if dataset.version else None
            stamp = now()
            writes, count_queries = change_statements(
                old, table, dataset.columns, key, stamp, next_id
            )
            cur.register(STAGED, staged)
            try:
                with registered_or_dropped(cur, table, old):
                    run = runner(cur)
                    counts = change_counts(run, count_queries)
                    create_table(cur, table, physical)
                    for statement in writes:
                        cur.execute(statement)
                    index_version(cur, table, dataset.columns, dataset.meta.row_identifier)
                    self._build_rollup(cur, dataset.meta, table, dataset.columns)
                    record = change_record(
                        run,
                        dataset,
                        number,
                        old,
                        next_id + counts.created,
                        stamp,
                        source=source,
                        note=note,
                    )
                    version = self._register(cur, record, dataset.version, old, dataset.columns)
            finally:
                cur.unregister(STAGED)
        return version, counts

    @contextmanager
    def _history_transaction(self) -> Iterator[tuple[Statements, Execute]]:
        with self._write_lock:
            cur = self._cursor()
            with transaction_on(cur) as tx:
                yield tx, cur.execute

    def _query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        self.extensions.for_sql(sql)
        return self._cursor().execute(sql, params).fetchall()

    def _read_sql(self, sql: str) -> list[tuple[Any, ...]]:
        self.extensions.for_sql(sql)
        return self._cursor().execute(sql).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[Statements]:
        with self._write_lock, transaction_on(self._cursor()) as tx:
            yield tx

    def _written_dataset(self, dataset_id: str) -> Dataset:
        return self.get_dataset(dataset_id)

    # --- reads -----------------------------------------------------------------------

    def execute(
        self, dataset: Dataset, select: exp.Select, *, timeout_s: float | None = None
    ) -> RowStream:
        count_query()
        if dataset.version == 0:
            return RowStream(iter(()))
        readable = self._readable(dataset)
        if readable.history_table is None:  # a page newest first from the newest rows
            planned = self.newest_first(readable, select)
            if planned is not None:
                self.extensions.for_sql(planned[0])
                page, timeout_s = newest_rows(self._reads, planned, timeout_s)
                if page is not None:
                    return RowStream(iter(page))

        def run(sql: str, params: Any) -> duckdb.DuckDBPyConnection:
            self.extensions.for_sql(sql)
            cur = self._reads.take()
            run_watched(cur, sql, params, timeout_s)
            return cur

        writes = self._written, self.engine_sql  # with the sets, and without
        cur = self._members.start(readable, select, writes, run, timeout_s)
        return RowStream(fetch_rows(cur, self._reads))

    def newest_first(self, dataset: Dataset, select: exp.Select) -> NewestSql | None:
        """What a page newest first of the current version is asked first, and the rows it
        returns when it holds the page (``store/newest_first.py``); None: only the plain query."""
        return self._newest.sql(dataset, select, lambda: self._newest_sql(dataset, select))

    def _newest_sql(self, dataset: Dataset, select: exp.Select) -> NewestSql | None:
        rollup, run = (lambda: self.rollup(dataset)), runner(self._cursor())
        return newest_first_sql(dataset, select, rollup, run, lambda s: self._written(dataset, s))

    def _readable(self, dataset: Dataset) -> Dataset:
        """``dataset`` as it can be read now: a version replaced since it was read as the
        current one is read from its history table (its own table is dropped at once)."""
        if dataset.history_table is None and dataset.version:
            served = self.get_dataset(dataset.id)  # kept until the next write: no query
            if served.version != dataset.version:
                at = self.dataset_at(dataset.id, dataset.version)
                return dataset.model_copy(update={"history_table": at.history_table})
        return dataset

    def engine_sql(self, dataset: Dataset, select: exp.Select) -> tuple[str, Any]:
        if dataset.history_table:
            # A history table's rows are not in _id order, so its ORDER BY stays; its version's
            # word index went with the version's own table.
            return self._sql.sql(
                dataset,
                select,
                lambda: engine_sql(dataset, narrowed(select, None), DuckDBWithPolygons),
            )
        return self._sql.sql(dataset, select, lambda: self._written(dataset, select))

    def _written(self, dataset: Dataset, select: exp.Select) -> tuple[str, Any]:
        tree = self._narrowed(dataset, select)
        return engine_sql(dataset, tree, DuckDBWithPolygons, unsorted=sorted_by_id_alone(tree))

    def _narrowed(self, dataset: Dataset, select: exp.Select) -> exp.Select:
        """``$q``'s words narrowed by the version's word index (``store/search_index.py``)."""
        words = search_words(select)
        table = version_table(dataset.id, dataset.version)
        if not words or not self._has_word_index(table):
            return narrowed(select, None)
        return by_word_index(self._cursor(), table, dataset, select, words, self.get_dataset)

    def _build_rollup(
        self, cur: duckdb.DuckDBPyConnection, meta: DatasetMeta, table: str, columns: list[Column]
    ) -> None:
        if self.build_rollups:
            values = rollups.duckdb_values(runner(cur), table)
            rollups.build(cur.execute, table, meta, columns, "duckdb", values)

    def rollup(self, dataset: Dataset) -> rollups.Rollup | None:
        if dataset.history_table is not None or not dataset.version:
            return None
        if self.get_dataset(dataset.id).version != dataset.version:
            return None  # replaced since it was read: its rollup went with its table
        key = (dataset.id, dataset.created_at, dataset.version)
        if key not in self._rollups:
            self._rollups[key] = rollups.describe(
                runner(self._cursor()), version_table(dataset.id, dataset.version)
            )
        return self._rollups[key]

    def _has_word_index(self, table: str) -> bool:
        # Versions are immutable and every new one gets its index before it is registered.
        known = self._word_indexes.get(table)
        if known is None:
            known = self._word_indexes[table] = has_word_index(self._cursor(), table)
        return known

    def execute_csv(
        self,
        dataset: Dataset,
        select: exp.Select,
        cells: Sequence[CsvCell],
        *,
        timeout_s: float | None = None,
    ) -> Iterator[CsvPiece] | None:
        count_query()
        if dataset.version == 0:
            return iter(())
        inner, params = self.engine_sql(self._readable(dataset), select)
        self.extensions.for_sql(inner)
        return csv_lines(self._cursor(), inner, params, cells, timeout_s)
