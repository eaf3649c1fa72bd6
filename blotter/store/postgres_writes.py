"""PostgreSQL's write primitives: the dataset's row lock, statements on a connection, the
tables a publish creates, indexes and registers, an upsert's staged rows, the replaced
versions' tables dropped and the new one's visibility map set after a write."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from blotter.model import STORED, Column, ColumnType, DatasetMeta, Version
from blotter.schema import CREATED_AT, ROW_ID, UPDATED_AT
from blotter.store import rollup_tables as rollups
from blotter.store.catalog import VersionRecord, next_numbers, register_version
from blotter.store.changes import STAGED
from blotter.store.common import lookup_field
from blotter.store.pg_indexes import drop_words, index_declared, index_words
from blotter.store.pg_session import local_settings
from blotter.store.pgsql import postgres_sql
from blotter.store.segments import keep_history, replaced_version

log = logging.getLogger(__name__)

# Text sorts by code point ("C"), as on DuckDB, whatever the database's locale.
PHYSICAL_TYPE = {
    ColumnType.TEXT: 'TEXT COLLATE "C"',
    ColumnType.NUMBER: "DOUBLE PRECISION",
    ColumnType.CHECKBOX: "BOOLEAN",
    ColumnType.FLOATING_TIMESTAMP: "TIMESTAMP",
    ColumnType.POINT: "DOUBLE PRECISION",
}


def claim_next_version(conn: psycopg.Connection[Any], dataset_id: str) -> tuple[int, int]:
    """The next row id and version number of a dataset, holding its row lock until the
    transaction ends, so concurrent writes of one dataset (from any host) take turns."""
    conn.execute("SELECT 1 FROM blotter_datasets WHERE id = %s FOR UPDATE", [dataset_id])
    return next_numbers(ConnStatements(conn), dataset_id)


class ConnStatements:
    """ConnStatements on one connection (see ``records.ConnStatements``), each written for
    PostgreSQL by sqlglot."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def rows(self, sql_text: str, params: list[Any]) -> list[tuple[Any, ...]]:
        # A constant statement, written for PostgreSQL by sqlglot.
        return self._conn.execute(postgres_sql(sql_text), params).fetchall()

    def run(self, sql_text: str, params: list[Any]) -> None:
        self._conn.execute(postgres_sql(sql_text), params)  # constant, written by sqlglot


def runner(conn: psycopg.Connection[Any]) -> Callable[[str], list[tuple[Any, ...]]]:
    # Without parameters psycopg sends the text as written ('%' needs no doubling).
    return lambda text: conn.execute(text).fetchall()


def create_table(
    conn: psycopg.Connection[Any],
    table: str,
    physical: list[tuple[str, str]],
    *,
    temporary: bool = False,
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
    kind = sql.SQL("TEMP TABLE" if temporary else "TABLE")
    tail = sql.SQL(" ON COMMIT DROP" if temporary else "")
    conn.execute(
        sql.SQL("CREATE {} {} ({}){}").format(kind, sql.Identifier(table), definition, tail)
    )


def register(
    conn: psycopg.Connection[Any],
    record: VersionRecord,
    served: int,
    old: str | None,
    old_columns: list[Column],
    *,
    rollup: bool = True,
) -> Version:
    """Index the version table, build its rollup (when ``rollup``), keep its rows in the
    history table, then register it and switch readers to it (inside the write's
    transaction)."""
    meta = _meta(conn, record.dataset_id)
    index_words(conn, record.table, record.columns)
    index_declared(conn, meta, record.table, record.columns)
    index_lookups(conn, record.dataset_id, record.table, record.columns)
    if rollup:  # after ANALYZE, whose statistics size it
        _build_rollup(conn, meta, record)
    tx = ConnStatements(conn)
    replaced = replaced_version(tx, record.dataset_id, served, old, old_columns) if old else None
    segment = keep_history(
        tx,
        conn.execute,
        PHYSICAL_TYPE,
        record.dataset_id,
        record.number,
        record.table,
        record.columns,
        replaced,
    )
    return register_version(tx, replace(record, segment=segment))


# For the rollup's one statement: its counts fit in memory (the planner, guessing a group
# per row, would spill them), and compiling it (JIT) cost more than it saved (measured at 1M
# rows: 0.6 s of 1.9).
_ROLLUP_SETTINGS = {"work_mem": "64MB", "jit": "off"}


def _build_rollup(conn: psycopg.Connection[Any], meta: DatasetMeta, record: VersionRecord) -> None:
    """The new version's rollup (``rollup_tables.py``), with the transaction's settings
    changed for its statement alone."""
    values = rollups.postgres_values(runner(conn), record.table)
    with local_settings(conn, _ROLLUP_SETTINGS):
        built = rollups.build(conn.execute, record.table, meta, record.columns, "postgres", values)
    if built:
        rolled = rollups.rollup_table(record.table)
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(rolled)))


def _meta(conn: psycopg.Connection[Any], dataset_id: str) -> DatasetMeta:
    row = conn.execute("SELECT meta FROM blotter_datasets WHERE id = %s", [dataset_id]).fetchone()
    meta = row[0] if row else {}
    text = meta if isinstance(meta, str) else json.dumps(meta)
    return DatasetMeta.model_validate_json(text, context=STORED)


def index_lookups(
    conn: psycopg.Connection[Any], dataset_id: str, table: str, columns: list[Column]
) -> None:
    """Index a new version's row identifier, which SODA lookups (``?case_no=…``), upserts and
    deletes name rows by, and gather the planner's statistics: a lookup in ten million rows
    is then a B-tree probe, not a scan."""
    row = conn.execute(
        "SELECT meta->>'row_identifier' FROM blotter_datasets WHERE id = %s", [dataset_id]
    ).fetchone()
    field = lookup_field(str(row[0]) if row and row[0] else None, columns)
    if field:
        conn.execute(
            sql.SQL("CREATE INDEX ON {} ({})").format(sql.Identifier(table), sql.Identifier(field))
        )
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


def stage_changes(
    conn: psycopg.Connection[Any], staged: pa.Table, physical: list[tuple[str, str]], key: str
) -> None:
    """An upsert's staged rows (``changes.STAGED``) copied into a temporary table dropped at
    the commit, its key typed as the key column (``_id``: a BIGINT)."""
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


def drop_replaced(conn: psycopg.Connection[Any], dataset_id: str) -> None:
    """Drop the tables of the dataset's versions that are no longer current (their rows
    are in the history table), each waiting at most a moment for its lock: one a long
    read still holds is left to the next write."""
    stale = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = "
        "current_schema() AND table_name IN (SELECT v.table_name FROM blotter_versions v "
        "JOIN blotter_datasets d ON d.id = v.dataset_id WHERE v.dataset_id = %s "
        "AND v.number <> d.current_version AND v.segment IS NOT NULL)",
        [dataset_id],
    ).fetchall()
    for (table,) in stale:
        try:
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '200ms'")
                drop_words(conn, table)
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        except psycopg.errors.LockNotAvailable:
            continue


def vacuum_new(conn: psycopg.Connection[Any], table: str) -> None:
    """Set a new version's visibility map, once its write has committed (VACUUM cannot run
    in a transaction). Rows put in time order, or written by a change, go in by INSERT …
    SELECT, not a frozen COPY, so until autovacuum came round a question its declared
    indexes answer alone (``pg_indexes.index_declared``) read each row's page as well: a
    district's count over a period, 59 ms at 1M rows, 12 once set, for 0.45 s of VACUUM.
    The version is published either way: a failure is logged, not raised."""
    try:
        conn.execute(sql.SQL("VACUUM {}").format(sql.Identifier(table)))
    except psycopg.Error as err:
        log.warning("VACUUM of %s failed (%s); autovacuum will set its visibility map", table, err)
