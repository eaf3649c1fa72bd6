"""The server engine: the same store on PostgreSQL, for many workers on many hosts.

Everything lives in one schema (``blotter`` by default), so a database can hold several
portals or test runs side by side. Versions are tables written and registered in one
transaction, exactly as on DuckDB; PostgreSQL rolls back whatever a failed or killed
load had written. Bulk loads use COPY; reads stream through server-side cursors.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
import psycopg.conninfo
import pyarrow as pa
from psycopg import sql
from sqlglot import exp

from blotter.errors import DatasetNotFound
from blotter.model import ChangeCounts, Column, Dataset, Version
from blotter.schema import ROW_ID, version_table
from blotter.store import rollup_tables as rollups
from blotter.store.base import CsvCell, CsvPiece, RowStream, Store
from blotter.store.catalog import VersionRecord
from blotter.store.change_record import change_counts, change_record
from blotter.store.changes import STAGED_HEAD, change_statements, quote
from blotter.store.common import (
    DATASET_QUERY,
    SqlMemo,
    check_batch,
    dataset_from_row,
    engine_sql,
    now,
    physical_layout,
)
from blotter.store.history import SqlHistory
from blotter.store.history_sql import keep_identities_sql, replace_key, version_counts
from blotter.store.ordering import OrderWatch, order_column, renumber_sql
from blotter.store.pg_cache import DatasetCache
from blotter.store.pg_indexes import drop_words
from blotter.store.pg_startup import MIGRATION_LOCK, MIGRATIONS, migrate
from blotter.store.pgcopy import copy_rows
from blotter.store.pgpool import (
    PoolLimits,
    checkout,
    database_faults,
    ensure_database,
    open_pool,
    write_lost,
)
from blotter.store.pgsql import Psycopg, postgres_sql
from blotter.store.postgres_reads import (
    WHOLE_ROWS,
    Lease,
    by_word_index,
    copied,
    copy_checkable,
    csv_chunks,
    csv_query,
    end_read,
    ended_on_error,
    has_word_index,
    limited,
    open_copy,
    open_cursor,
    read_begin,
    read_errors,
    read_page,
    stream,
    word_candidates,
)
from blotter.store.postgres_writes import (
    PHYSICAL_TYPE,
    ConnStatements,
    claim_next_version,
    create_table,
    drop_replaced,
    register,
    runner,
    stage_changes,
    vacuum_new,
)
from blotter.store.records import Statements
from blotter.store.search_index import exact_for, narrowed, search_words
from blotter.store.segments import Execute
from blotter.store.tally import count_query


class PostgresStore(SqlHistory, Store):
    """A store in one schema of a PostgreSQL database."""

    engine = "postgres"
    physical_types = PHYSICAL_TYPE

    def __init__(
        self,
        url: str,
        *,
        schema: str = "blotter",
        limits: PoolLimits | None = None,
        read_url: str | None = None,
    ) -> None:
        """``read_url`` (a read replica) takes the reads; writes and migrations go to ``url``."""
        self.schema = schema
        self._limits = limits or PoolLimits()
        ensure_database(url, self._limits.wait_s)
        self._pool = open_pool(url, schema, self._limits)
        self._read_pool = open_pool(read_url, schema, self._limits) if read_url else self._pool
        self._sql: SqlMemo[tuple[str, Any]] = SqlMemo()
        self._word_indexes: dict[str, bool] = {}  # version table → whether it has one
        # (dataset, its creation, version) → the version's rollup, None without one.
        self._rollups: dict[tuple[str, object, int], rollups.Rollup | None] = {}
        self._datasets: DatasetCache | None = None
        self._migrate()
        self._build_history()
        # Datasets kept per process (store/pg_cache.py); not with a replica, which may trail
        # the primary's notifications.
        if read_url is None:
            self._datasets = DatasetCache(url, schema)

    def close(self) -> None:
        if self._datasets is not None:
            self._datasets.close()
        self._pool.close()
        if self._read_pool is not self._pool:
            self._read_pool.close()

    @contextmanager
    def _conn(
        self, *, read: bool = False, keeps_datasets: bool = False
    ) -> Iterator[psycopg.Connection[Any]]:
        """A checked connection, committed at the end (rolled back on error) and given back;
        a lost database becomes StoreUnavailable. Work on the primary drops the datasets
        kept by this process unless it ``keeps_datasets``: a read, or a write of records
        only (other processes hear of a dataset's change from the trigger alone)."""
        pool = self._read_pool if read else self._pool
        with database_faults(self._limits.wait_s):
            conn = checkout(pool, self._limits.wait_s)
            try:
                with conn:
                    yield conn
            finally:
                pool.putconn(conn)
                if not (read or keeps_datasets) and self._datasets is not None:
                    self._datasets.drop()  # this process wrote: nothing kept may be current

    def schema_status(self) -> tuple[int, int]:
        applied = 0
        for read in (False, True) if self._read_pool is not self._pool else (False,):
            with self._conn(read=read, keeps_datasets=True) as conn:
                row = conn.execute("SELECT max(version) FROM blotter_schema").fetchone()
            applied = (row[0] if row else None) or 0
        return applied, len(MIGRATIONS)

    def _migrate(self) -> None:
        with self._conn() as conn, conn.transaction():
            migrate(conn, self.schema)

    # --- catalog ---------------------------------------------------------------------

    def list_datasets(self) -> list[Dataset]:
        def read() -> list[Dataset]:
            with self._conn(read=True) as conn:
                rows = conn.execute(DATASET_QUERY + " ORDER BY d.id").fetchall()
            return [dataset_from_row(row) for row in rows]

        if self._datasets is None:
            return read()
        return list(self._datasets.get_list(read))

    def get_dataset(self, dataset_id: str) -> Dataset:
        if self._datasets is None:
            return self._dataset(dataset_id, read=True)
        return self._datasets.get(dataset_id, lambda: self._dataset(dataset_id, read=True))

    def _dataset(self, dataset_id: str, *, read: bool) -> Dataset:
        # After a write, read back from the primary: a replica may not have it yet.
        with self._conn(read=read, keeps_datasets=True) as conn:
            row = conn.execute(DATASET_QUERY + " WHERE d.id = %s", [dataset_id]).fetchone()
        if row is None:
            raise DatasetNotFound(dataset_id)
        return dataset_from_row(row)

    def delete_dataset(self, dataset_id: str) -> None:
        with self._conn() as conn, conn.transaction():
            row = conn.execute(
                "SELECT id FROM blotter_datasets WHERE id = %s FOR UPDATE", [dataset_id]
            ).fetchone()
            if row is None:
                raise DatasetNotFound(dataset_id)
            tables = conn.execute(
                "SELECT table_name FROM blotter_versions WHERE dataset_id = %s UNION "
                "SELECT segment FROM blotter_versions WHERE dataset_id = %s "
                "AND segment IS NOT NULL",
                [dataset_id, dataset_id],
            ).fetchall()
            for (table,) in tables:
                drop_words(conn, table)
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
            conn.execute("DELETE FROM blotter_quality WHERE dataset_id = %s", [dataset_id])
            conn.execute("DELETE FROM blotter_answers WHERE dataset_id = %s", [dataset_id])
            conn.execute("DELETE FROM blotter_checksums WHERE dataset_id = %s", [dataset_id])
            conn.execute("DELETE FROM blotter_datasets WHERE id = %s", [dataset_id])

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
        physical = physical_layout(columns, PHYSICAL_TYPE)
        order = order_column(columns, main_date)
        names = [name for name, _ in physical]
        stamp = now()
        with write_lost(), self._conn() as conn, conn.transaction():
            next_row_id, number = claim_next_version(conn, dataset_id)
            served = self._dataset(dataset_id, read=False)
            old = version_table(dataset_id, served.version) if served.version else None
            key = replace_key(served.columns, columns, served.meta.row_identifier) if old else None
            table = version_table(dataset_id, number)
            # A replace of served rows is loaded beside the new table first, then written
            # into it keeping the identities of rows that match served ones.
            loaded = f"{table}_load" if key is not None else table
            create_table(conn, loaded, physical, temporary=key is not None)
            first_id = next_row_id
            # Fresh rows all from the file: numbered by time once loaded, unless in order.
            watch = OrderWatch(batches, order) if order and key is None else None
            count, next_row_id = copy_rows(
                conn, loaded, names, watch if watch is not None else batches, first_id, stamp
            )
            if watch is not None and order is not None and not watch.in_order:
                moved = f"{table}_load"
                conn.execute(
                    sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                        sql.Identifier(table), sql.Identifier(moved)
                    )
                )
                create_table(conn, table, physical)
                conn.execute(renumber_sql(moved, table, columns, order, first_id))
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(moved)))
            if key is not None and old is not None:
                create_table(conn, table, physical)
                conn.execute(
                    keep_identities_sql(
                        loaded,
                        quote(old),
                        table,
                        served.columns,
                        columns,
                        key,
                        stamp,
                        first_id,
                        order,
                    )
                )
                fresh = conn.execute(
                    sql.SQL("SELECT count(*) FROM {} WHERE {} >= %s").format(
                        sql.Identifier(table), sql.Identifier(ROW_ID)
                    ),
                    [first_id],
                ).fetchone()
                next_row_id = first_id + (fresh[0] if fresh else 0)
            counts = version_counts(
                runner(conn),
                (quote(old), served.columns) if old else None,
                (quote(table), columns),
                count,
            )
            record = VersionRecord(
                dataset_id=dataset_id,
                number=number,
                table=table,
                columns=columns,
                row_count=count,
                created_at=stamp,
                source=source,
                next_row_id=next_row_id,
                data_as_of=data_as_of or stamp,
                counts=counts,
                note=note,
            )
            version = register(
                conn, record, served.version, old, served.columns, rollup=self.build_rollups
            )
        self._after_write(dataset_id, table)
        return version

    def _apply_changes(
        self, dataset_id: str, key: str, staged: pa.Table, *, source: str = "", note: str = ""
    ) -> tuple[Version, ChangeCounts]:
        stamp = now()
        with write_lost(), self._conn() as conn, conn.transaction():
            next_id, number = claim_next_version(conn, dataset_id)
            dataset = self._dataset(dataset_id, read=False)
            physical = physical_layout(dataset.columns, PHYSICAL_TYPE)
            names = [name for name, _ in physical]
            check_batch(staged, [*STAGED_HEAD, *names])
            table = version_table(dataset_id, number)
            old = version_table(dataset_id, dataset.version) if dataset.version else None
            stage_changes(conn, staged, physical, key)
            # Run without parameters, so psycopg sends them as written ('%' needs no doubling).
            writes, count_queries = change_statements(
                old, table, dataset.columns, key, stamp, next_id
            )
            run = runner(conn)
            counts = change_counts(run, count_queries)
            create_table(conn, table, physical)
            for statement in writes:
                conn.execute(statement)
            record = change_record(
                run, dataset, number, old, next_id + counts.created, stamp, source=source, note=note
            )
            version = register(
                conn, record, dataset.version, old, dataset.columns, rollup=self.build_rollups
            )
        self._after_write(dataset_id, table)
        return version, counts

    def _after_write(self, dataset_id: str, table: str) -> None:
        """Drop the tables of the dataset's versions that are no longer current, as far as
        their locks let it (``postgres_writes.drop_replaced``), and set the new version's
        visibility map (``vacuum_new``)."""
        with self._conn() as conn:
            drop_replaced(conn, dataset_id)
            vacuum_new(conn, table)

    @contextmanager
    def _history_transaction(self) -> Iterator[tuple[Statements, Execute]]:
        with self._conn() as conn, conn.transaction():
            # One process at a time moves old versions or prunes (many workers may start).
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
            yield ConnStatements(conn), conn.execute

    def _query(self, sql_text: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self._conn(read=True) as conn:
            return conn.execute(postgres_sql(sql_text), params).fetchall()

    def _read_sql(self, sql_text: str) -> list[tuple[Any, ...]]:
        # Without parameters psycopg sends the text as written ('%' needs no doubling).
        with self._conn(read=True) as conn:
            return conn.execute(sql_text).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[Statements]:
        with self._conn() as conn, conn.transaction():
            yield ConnStatements(conn)

    @contextmanager
    def _records_transaction(self) -> Iterator[Statements]:
        with self._conn(keeps_datasets=True) as conn, conn.transaction():
            yield ConnStatements(conn)

    def _written_dataset(self, dataset_id: str) -> Dataset:
        return self._dataset(dataset_id, read=False)

    # --- reads -----------------------------------------------------------------------

    def execute(
        self, dataset: Dataset, select: exp.Select, *, timeout_s: float | None = None
    ) -> RowStream:
        count_query()
        try:
            return self._execute(dataset, select, timeout_s)
        except psycopg.errors.UndefinedTable:
            return self._execute(self._replaced(dataset), select, timeout_s)

    def _replaced(self, dataset: Dataset) -> Dataset:
        """A dataset read as current whose table is gone: a publish replaced it since, so its
        rows are read from the history table."""
        if dataset.history_table is not None:
            raise
        at = self.dataset_at(dataset.id, dataset.version)
        if at.history_table is None:
            raise
        return dataset.model_copy(update={"history_table": at.history_table})

    def _execute(self, dataset: Dataset, select: exp.Select, timeout_s: float | None) -> RowStream:
        if dataset.version == 0:
            return RowStream(iter(()))
        text, params = self.engine_sql(dataset, select)
        if limited(select, WHOLE_ROWS):
            # A page of at most WHOLE_ROWS rows is read whole and the connection given back
            # at once. A server-side cursor would also stop PostgreSQL from planning the
            # query in parallel, at half the speed on two cores.
            with read_errors(timeout_s, self._limits.wait_s):
                rows = read_page(self._read_pool, self._limits.wait_s, timeout_s, text, params)
            return RowStream(iter(rows))
        conn, context = self._begin_read(timeout_s)
        # The connection is held while the rows stream; it returns to the pool at the end.
        with ended_on_error(conn, context, timeout_s):
            cursor, first = open_cursor(conn, "blotter_read", text, params)
        return RowStream(stream(first, cursor, conn, context))

    def _begin_read(
        self, timeout_s: float | None, *settings: str
    ) -> tuple[psycopg.Connection[Any], Any]:
        """A checked connection in a read transaction stopped after ``timeout_s`` (with
        ``settings``, ``SET LOCAL`` statements of ours), and what gives it back to the pool.
        The transaction starts in the checkout's own round trip: one message holding
        ``BEGIN`` and its settings (the connection stays in autocommit mode, so psycopg
        sends no BEGIN of its own), where a BEGIN, a ``set_config`` and an empty check
        were three round trips before every read."""
        pool = self._read_pool
        begin = read_begin(timeout_s, settings)
        conn = checkout(pool, self._limits.wait_s, begin)
        return conn, Lease(pool, conn, self._limits.wait_s, timeout_s)

    def engine_sql(self, dataset: Dataset, select: exp.Select) -> tuple[str, Any]:
        return self._sql.sql(
            dataset, select, lambda: engine_sql(dataset, self._narrowed(dataset, select), Psycopg)
        )

    def _narrowed(self, dataset: Dataset, select: exp.Select) -> exp.Select:
        """``$q``'s words narrowed by the version's word index (``store/search_index.py``)."""
        words = search_words(select)
        table = version_table(dataset.id, dataset.version)
        if not words:
            return select
        if dataset.history_table:  # a replaced version: its word index went with its table
            return narrowed(select, None)
        with self._conn(read=True) as conn:
            if not self._has_word_index(conn, table):
                return narrowed(select, None)
            ids = word_candidates(conn, table, words)
        return by_word_index(
            select, table, ids, lambda: exact_for(dataset, self.get_dataset(dataset.id))
        )

    def rollup(self, dataset: Dataset) -> rollups.Rollup | None:
        # A version replaced since it was read loses its rollup with its table: the query
        # then meets UndefinedTable, and the read from its history table RollupGone.
        if dataset.history_table is not None or not dataset.version:
            return None
        key = (dataset.id, dataset.created_at, dataset.version)
        if key not in self._rollups:
            table = version_table(dataset.id, dataset.version)
            with self._conn(read=True) as conn:
                self._rollups[key] = rollups.describe(runner(conn), table)
        return self._rollups[key]

    def _has_word_index(self, conn: psycopg.Connection[Any], table: str) -> bool:
        # Versions are immutable and every new one gets its index before it is registered.
        known = self._word_indexes.get(table)
        if known is None:
            known = self._word_indexes[table] = has_word_index(conn, table)
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
        try:
            return self._execute_csv(dataset, select, cells, timeout_s)
        except psycopg.errors.UndefinedTable:
            return self._execute_csv(self._replaced(dataset), select, cells, timeout_s)

    def _execute_csv(
        self,
        dataset: Dataset,
        select: exp.Select,
        cells: Sequence[CsvCell],
        timeout_s: float | None,
    ) -> Iterator[CsvPiece] | None:
        if dataset.version == 0:
            return iter(())
        inner, params = self.engine_sql(dataset, select)
        checkable = copy_checkable(select)
        unordered = None if checkable is None else self.engine_sql(dataset, checkable)
        # Shortest round-trip text for doubles, whatever the server's default.
        conn, context = self._begin_read(timeout_s, "SET LOCAL extra_float_digits = 1")
        with ended_on_error(conn, context, timeout_s):
            query = csv_query(conn, inner, params, cells, unordered)
            if query is None:
                end_read(conn, context)
                return None
            text, is_copy = query
            if is_copy:
                stack, copy, line = open_copy(conn, text, params)
                return copied(stack, copy, line, context)
            cursor, first = open_cursor(conn, "blotter_csv", text, params)
        return csv_chunks(stream(first, cursor, conn, context))
