"""The server engine: the same store on PostgreSQL, for many workers on many hosts.

Everything lives in one schema (``blotter`` by default), so a database can hold several
portals or test runs side by side. Versions are tables written and registered in one
transaction, exactly as on DuckDB; PostgreSQL rolls back whatever a failed or killed
load had written. Bulk loads use COPY; reads stream through server-side cursors.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
import psycopg.conninfo
import pyarrow as pa
from psycopg import sql
from sqlglot import exp

from blotter.errors import (
    DatasetNotFound,
)
from blotter.model import (
    STORED,
    ChangeCounts,
    Column,
    ColumnType,
    Dataset,
    DatasetMeta,
    Version,
)
from blotter.schema import CREATED_AT, ROW_ID, UPDATED_AT, version_table
from blotter.store.base import CsvCell, CsvPiece, RowStream, Store
from blotter.store.catalog import SqlCatalog, VersionRecord, next_numbers, register_version
from blotter.store.changes import STAGED, STAGED_HEAD, change_statements
from blotter.store.common import (
    DATASET_QUERY,
    SqlMemo,
    check_batch,
    dataset_from_row,
    engine_sql,
    now,
    physical_layout,
)
from blotter.store.migrations import POSTGRES, migrations
from blotter.store.pg_cache import DatasetCache, install_trigger
from blotter.store.pg_indexes import drop_words, index_declared, index_words
from blotter.store.pgpool import (
    PoolLimits,
    checkout,
    ensure_database,
    faults_as_unavailable,
    open_pool,
    write_lost,
)
from blotter.store.pgsql import Psycopg, postgres_sql
from blotter.store.postgres_reads import (
    WHOLE_ROWS,
    Lease,
    csv_chunks,
    csv_query,
    end_read,
    ended_on_error,
    limited,
    open_cursor,
    stream,
)
from blotter.store.records import Statements
from blotter.store.search_index import (
    candidates,
    candidates_statement,
    like_pattern,
    narrowed,
    search_words,
    words_table,
)

# Text sorts by code point ("C"), as on DuckDB, whatever the database's locale.
_PHYSICAL_TYPE = {
    ColumnType.TEXT: 'TEXT COLLATE "C"',
    ColumnType.NUMBER: "DOUBLE PRECISION",
    ColumnType.CHECKBOX: "BOOLEAN",
    ColumnType.FLOATING_TIMESTAMP: "TIMESTAMP",
    ColumnType.POINT: "DOUBLE PRECISION",
}

# Schema migrations in order; the index + 1 is the schema version. Several workers may start
# at once: an advisory lock makes one of them apply these while the others wait.
_MIGRATIONS = migrations(POSTGRES)
_MIGRATION_LOCK = 0x0B107_7E4  # any constant shared by every Blotter process


class PostgresStore(SqlCatalog, Store):
    """A store in one schema of a PostgreSQL database."""

    engine = "postgres"

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
        self._sql = SqlMemo()
        self._word_indexes: dict[str, bool] = {}  # version table → whether it has one
        self._datasets: DatasetCache | None = None
        self._migrate()
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
    def _conn(self, *, read: bool = False) -> Iterator[psycopg.Connection[Any]]:
        """A checked connection, committed at the end (rolled back on error) and given back;
        a lost database becomes StoreUnavailable."""
        pool = self._read_pool if read else self._pool
        with faults_as_unavailable(self._limits.wait_s):
            conn = checkout(pool, self._limits.wait_s)
            try:
                with conn:
                    yield conn
            finally:
                pool.putconn(conn)
                if not read and self._datasets is not None:
                    self._datasets.drop()  # this process wrote: nothing kept may be current

    def schema_status(self) -> tuple[int, int]:
        applied = 0
        for read in (False, True) if self._read_pool is not self._pool else (False,):
            with self._conn(read=read) as conn:
                row = conn.execute("SELECT max(version) FROM blotter_schema").fetchone()
            applied = (row[0] if row else None) or 0
        return applied, len(_MIGRATIONS)

    def _migrate(self) -> None:
        with self._conn() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            conn.execute("CREATE TABLE IF NOT EXISTS blotter_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM blotter_schema").fetchone()
            current = (row[0] if row else None) or 0
            for number, statements in enumerate(_MIGRATIONS, start=1):
                if number <= current:
                    continue
                for statement in statements:
                    conn.execute(statement)  # constant DDL
                conn.execute("INSERT INTO blotter_schema VALUES (%s)", [number])
            install_trigger(conn, self.schema)

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
        with self._conn(read=read) as conn:
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
                "SELECT table_name FROM blotter_versions WHERE dataset_id = %s", [dataset_id]
            ).fetchall()
            for (table,) in tables:
                drop_words(conn, table)
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
            conn.execute("DELETE FROM blotter_quality WHERE dataset_id = %s", [dataset_id])
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
    ) -> Version:
        physical = physical_layout(columns, _PHYSICAL_TYPE)
        names = [name for name, _ in physical]
        stamp = now()
        with write_lost(), self._conn() as conn, conn.transaction():
            next_row_id, number = _claim_next_version(conn, dataset_id)
            table = version_table(dataset_id, number)
            _create_table(conn, table, physical)
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table),
                sql.SQL(", ").join(map(sql.Identifier, [ROW_ID, CREATED_AT, UPDATED_AT, *names])),
            )
            count = 0
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for batch in batches:
                    check_batch(batch, names)
                    columns_data = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
                    for offset, values in enumerate(zip(*columns_data, strict=True)):
                        copy.write_row((next_row_id + offset, stamp, stamp, *values))
                    next_row_id += batch.num_rows
                    count += batch.num_rows
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
            )
            _register(conn, record)
        return record.version()

    def _apply_changes(
        self, dataset_id: str, key: str, staged: pa.Table, *, source: str = ""
    ) -> tuple[Version, ChangeCounts]:
        stamp = now()
        with write_lost(), self._conn() as conn, conn.transaction():
            next_id, number = _claim_next_version(conn, dataset_id)
            dataset = self._dataset(dataset_id, read=False)
            physical = physical_layout(dataset.columns, _PHYSICAL_TYPE)
            names = [name for name, _ in physical]
            check_batch(staged, [*STAGED_HEAD, *names])
            table = version_table(dataset_id, number)
            old = version_table(dataset_id, dataset.version) if dataset.version else None
            key_type = "BIGINT" if key == ROW_ID else dict(physical)[key]
            conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {} (__seq BIGINT, __delete BOOLEAN, __key {}, "
                    "__given TEXT, {}) ON COMMIT DROP"
                ).format(
                    sql.Identifier(STAGED),
                    sql.SQL(key_type),
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in physical
                    ),
                )
            )
            with (
                conn.cursor() as cur,
                cur.copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(STAGED))) as copy,
            ):
                data = [staged.column(i).to_pylist() for i in range(staged.num_columns)]
                for values in zip(*data, strict=True):
                    copy.write_row(values)
            # Run without parameters, so psycopg sends them as written ('%' needs no doubling).
            writes, count_queries = change_statements(old, table, names, key, stamp, next_id)
            counts = ChangeCounts(
                **{
                    what: (conn.execute(q).fetchone() or (0,))[0]
                    for what, q in count_queries.items()
                }
            )
            _create_table(conn, table, physical)
            for statement in writes:
                conn.execute(statement)
            total_row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()
            total = total_row[0] if total_row else 0
            record = VersionRecord(
                dataset_id=dataset_id,
                number=number,
                table=table,
                columns=dataset.columns,
                row_count=total,
                created_at=stamp,
                source=source,
                next_row_id=next_id + counts.created,
                data_as_of=stamp,
            )
            _register(conn, record)
        return record.version(), counts

    def _query(self, sql_text: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self._conn(read=True) as conn:
            return conn.execute(postgres_sql(sql_text), params).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[Statements]:
        with self._conn() as conn, conn.transaction():
            yield _Statements(conn)

    def _written_dataset(self, dataset_id: str) -> Dataset:
        return self._dataset(dataset_id, read=False)

    # --- reads -----------------------------------------------------------------------

    def execute(
        self, dataset: Dataset, select: exp.Select, *, timeout_s: float | None = None
    ) -> RowStream:
        if dataset.version == 0:
            return RowStream(iter(()))
        text, params = self.engine_sql(dataset, select)
        conn, context = self._begin_read(timeout_s)
        if limited(select, WHOLE_ROWS):
            # A page of at most WHOLE_ROWS rows is read whole and the connection given back
            # at once. A server-side cursor would also stop PostgreSQL from planning the
            # query in parallel, at half the speed on two cores.
            with ended_on_error(conn, context, timeout_s):
                rows = conn.execute(text, params).fetchall()
            end_read(conn, context)
            return RowStream(iter(rows))
        # The connection is held while the rows stream; it returns to the pool at the end.
        with ended_on_error(conn, context, timeout_s):
            cursor, first = open_cursor(conn, "blotter_read", text, params)
        return RowStream(stream(first, cursor, conn, context))

    def _begin_read(self, timeout_s: float | None) -> tuple[psycopg.Connection[Any], Any]:
        """A checked connection in a read transaction stopped after ``timeout_s``, and what
        gives it back to the pool."""
        pool = self._read_pool
        conn = checkout(pool, self._limits.wait_s)
        context = Lease(pool, conn, self._limits.wait_s, timeout_s)
        with ended_on_error(conn, context, timeout_s):
            conn.autocommit = False
            if timeout_s:
                conn.execute(
                    "SELECT set_config('statement_timeout', %s, true)",
                    [f"{int(timeout_s * 1000)}ms"],
                )
        return conn, context

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
        with self._conn(read=True) as conn:
            if not self._has_word_index(conn, table):
                return narrowed(select, None)
            statement = candidates_statement(table, "postgres")

            def fetch(word: str, most: int) -> list[int]:
                rows = conn.execute(statement, [like_pattern(word), most]).fetchall()
                return [row[0] for row in rows]

            return narrowed(select, candidates(words, fetch))

    def _has_word_index(self, conn: psycopg.Connection[Any], table: str) -> bool:
        # Versions are immutable and every new one gets its index before it is registered.
        known = self._word_indexes.get(table)
        if known is None:
            row = conn.execute("SELECT to_regclass(%s)", [words_table(table)]).fetchone()
            known = self._word_indexes[table] = bool(row and row[0])
        return known

    def execute_csv(
        self,
        dataset: Dataset,
        select: exp.Select,
        cells: Sequence[CsvCell],
        *,
        timeout_s: float | None = None,
    ) -> Iterator[CsvPiece] | None:
        if dataset.version == 0:
            return iter(())
        inner, params = self.engine_sql(dataset, select)
        conn, context = self._begin_read(timeout_s)
        with ended_on_error(conn, context, timeout_s):
            # Shortest round-trip text for doubles, whatever the server's default.
            conn.execute("SET LOCAL extra_float_digits = 1")
            text = csv_query(conn, inner, params, cells)
            if text is not None:
                cursor, first = open_cursor(conn, "blotter_csv", text, params)
        if text is None:
            end_read(conn, context)
            return None
        return csv_chunks(stream(first, cursor, conn, context))


def _claim_next_version(conn: psycopg.Connection[Any], dataset_id: str) -> tuple[int, int]:
    """The next row id and version number of a dataset, holding its row lock until the
    transaction ends, so concurrent writes of one dataset (from any host) take turns."""
    conn.execute("SELECT 1 FROM blotter_datasets WHERE id = %s FOR UPDATE", [dataset_id])
    return next_numbers(_Statements(conn), dataset_id)


class _Statements:
    """Statements on one connection (see ``records.Statements``), each written for
    PostgreSQL by sqlglot."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def rows(self, sql_text: str, params: list[Any]) -> list[tuple[Any, ...]]:
        # A constant statement, written for PostgreSQL by sqlglot.
        return self._conn.execute(postgres_sql(sql_text), params).fetchall()

    def run(self, sql_text: str, params: list[Any]) -> None:
        self._conn.execute(postgres_sql(sql_text), params)  # constant, written by sqlglot


def _create_table(
    conn: psycopg.Connection[Any], table: str, physical: list[tuple[str, str]]
) -> None:
    definition = sql.SQL(", ").join(
        [
            sql.SQL(f"{ROW_ID} BIGINT NOT NULL"),
            sql.SQL(f"{CREATED_AT} TIMESTAMP"),
            sql.SQL(f"{UPDATED_AT} TIMESTAMP"),
        ]
        + [
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(sql_type))
            for name, sql_type in physical
        ]
    )
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), definition))


def _register(conn: psycopg.Connection[Any], record: VersionRecord) -> None:
    """Index the version table, then register it and switch readers to it (inside the
    write's transaction)."""
    index_words(conn, record.table, record.columns)
    index_declared(conn, _meta(conn, record.dataset_id), record.table, record.columns)
    _index_lookups(conn, record.dataset_id, record.table, record.columns)
    register_version(_Statements(conn), record)


def _meta(conn: psycopg.Connection[Any], dataset_id: str) -> DatasetMeta:
    row = conn.execute("SELECT meta FROM blotter_datasets WHERE id = %s", [dataset_id]).fetchone()
    meta = row[0] if row else {}
    text = meta if isinstance(meta, str) else json.dumps(meta)
    return DatasetMeta.model_validate_json(text, context=STORED)


def _index_lookups(
    conn: psycopg.Connection[Any], dataset_id: str, table: str, columns: list[Column]
) -> None:
    """Index a new version's row identifier, which SODA lookups (``?case_no=…``), upserts and
    deletes name rows by, and gather the planner's statistics: a lookup in ten million rows
    is then a B-tree probe, not a scan."""
    row = conn.execute(
        "SELECT meta->>'row_identifier' FROM blotter_datasets WHERE id = %s", [dataset_id]
    ).fetchone()
    field = str(row[0]) if row and row[0] else None
    if field and any(c.field_name == field and c.type is not ColumnType.POINT for c in columns):
        conn.execute(
            sql.SQL("CREATE INDEX ON {} ({})").format(sql.Identifier(table), sql.Identifier(field))
        )
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
