"""DuckDB's write primitives: statements on a cursor, one transaction, the write lock, the
tables a publish creates and drops, the indexes of a new version."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from blotter.errors import StoreOutOfMemory, StoreShortOfResources
from blotter.model import Column, ColumnType
from blotter.schema import CREATED_AT, ROW_ID, UPDATED_AT
from blotter.store.common import lookup_field
from blotter.store.duckdb_watchdog import out_of_room
from blotter.store.rollup_tables import rollup_table
from blotter.store.search_index import (
    index_statements,
    sampled_terms_statement,
    setting_bytes,
    word_spans,
    words_table,
)
from blotter.store.search_order import (
    order_statement,
    order_table,
    prefix_statements,
    prefix_table,
)

log = logging.getLogger(__name__)


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def drop_version(cur: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop a version table, its word index, its order tables and its rollup."""
    cur.execute(f"DROP TABLE IF EXISTS {_ident(words_table(table))}")
    cur.execute(f"DROP TABLE IF EXISTS {_ident(order_table(table))}")
    cur.execute(f"DROP TABLE IF EXISTS {_ident(prefix_table(table))}")
    cur.execute(f"DROP TABLE IF EXISTS {_ident(rollup_table(table))}")
    cur.execute(f"DROP TABLE IF EXISTS {_ident(table)}")


def drop_replaced(cur: duckdb.DuckDBPyConnection, table: str | None) -> None:
    """Drop the table of the version just replaced: its rows are in the history table. A
    read already streaming it keeps reading (DuckDB's transaction holds it; tested)."""
    if table is not None:
        drop_version(cur, table)


@contextmanager
def registered_or_dropped(
    cur: duckdb.DuckDBPyConnection, table: str, old: str | None
) -> Iterator[None]:
    """How every write of a version ends: if anything fails before it is registered, its
    tables (a replace's ``_load`` table too) are dropped, and no reader ever knew them;
    once it is, the table of the version it replaced (``old``) is dropped."""
    try:
        yield
    except BaseException as failure:
        drop_version(cur, table)
        cur.execute(f"DROP TABLE IF EXISTS {_ident(table + '_load')}")
        if isinstance(failure, duckdb.OutOfMemoryException):
            limit = cur.execute("SELECT current_setting('memory_limit')").fetchone()
            raise StoreOutOfMemory(str(limit[0] if limit else "?")) from failure
        if (no_room := out_of_room(failure)) is not None:
            raise no_room from failure
        raise
    drop_replaced(cur, old)


def runner(cur: duckdb.DuckDBPyConnection) -> Callable[[str], list[tuple[Any, ...]]]:
    return lambda sql: cur.execute(sql).fetchall()


class CursorStatements:
    """CursorStatements on one cursor (see ``records.CursorStatements``)."""

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self._cur = cur

    def rows(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return self._cur.execute(sql, params).fetchall()

    def run(self, sql: str, params: list[Any]) -> None:
        self._cur.execute(sql, params)


@contextmanager
def transaction_on(cur: duckdb.DuckDBPyConnection) -> Iterator[CursorStatements]:
    """One transaction on ``cur``, committed when the block ends, rolled back if it raises."""
    cur.execute("BEGIN TRANSACTION")
    try:
        yield CursorStatements(cur)
        cur.execute("COMMIT")
    except BaseException as failure:
        # A COMMIT that failed has ended the transaction itself: nothing is left to roll back.
        with suppress(duckdb.TransactionException):
            cur.execute("ROLLBACK")
        if (no_room := out_of_room(failure)) is not None:
            raise no_room from failure
        raise


class Writes:
    """The store's write lock, counting the writes that released it; ``check`` runs before
    each write is let in (:func:`room_check`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generation = 0
        self.check: Callable[[], None] = lambda: None

    def __enter__(self) -> Writes:
        self.check()
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.generation += 1
        self._lock.release()


def room_check(path: Path, min_free_mb: int) -> Callable[[], None]:
    """What refuses a write while the disk holding ``path`` has less than ``min_free_mb``
    free: DuckDB 1.5.5 aborts the process when a commit that cannot write its log had
    updated a list column (or the key) of a table with a primary key, as a metadata edit
    does, so a write is better refused before DuckDB is asked. No check at all for 0."""
    if min_free_mb <= 0:
        return lambda: None

    def check() -> None:
        free_mb = shutil.disk_usage(path.parent).free >> 20
        if free_mb < min_free_mb:
            log.warning(
                "Write refused: %s MB free beside %s, under %s MB.", free_mb, path, min_free_mb
            )
            raise StoreShortOfResources(
                f"The disk holding the database has {free_mb:,} MB free, less than the "
                f"{min_free_mb:,} MB it keeps in reserve, so nothing was written; what is "
                "published is as it was. Please try again later; the portal's operator can "
                "free space on that disk (BLOTTER_DUCKDB_MIN_FREE_MB sets the reserve).",
                retry_after_s=60,
            )

    return check


def _word_spans(
    cur: duckdb.DuckDBPyConnection, table: str, text: list[str]
) -> list[tuple[int, int]]:
    """The ranges of ``_id`` the word index is built in, each within the memory limit."""
    found = cur.execute(f"SELECT min({ROW_ID}), max({ROW_ID}), count(*) FROM {_ident(table)}")  # noqa: S608 - ours
    first, last, rows = found.fetchone() or (None, None, 0)
    if not rows:
        return []
    sampled, terms = cur.execute(sampled_terms_statement(table, text)).fetchone() or (0, 0)
    return word_spans(first, last, rows, terms / max(sampled, 1), memory_limit(cur))


def memory_limit(cur: duckdb.DuckDBPyConnection) -> int:
    """The most memory DuckDB may use, in bytes."""
    (limit,) = cur.execute("SELECT current_setting('memory_limit')").fetchone() or ("0",)
    return setting_bytes(str(limit))


def create_table(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    physical: list[tuple[str, str]],
    *,
    temporary: bool = False,
) -> None:
    """A version table (``temporary``: a publish's staging table, kept in memory and never
    written to the database file)."""
    definition = ", ".join(
        [f"{ROW_ID} BIGINT NOT NULL", f"{CREATED_AT} TIMESTAMP", f"{UPDATED_AT} TIMESTAMP"]
        + [f"{_ident(name)} {sql_type}" for name, sql_type in physical]
    )
    kind = "TEMPORARY TABLE" if temporary else "TABLE"
    cur.execute(f"CREATE {kind} {_ident(table)} ({definition})")


def index_version(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    columns: list[Column],
    row_identifier: str | None,
) -> None:
    """Build a new version's indexes before it is registered: the word index of ``$q`` and
    the ART index on ``_id`` (``search_index.index_statements``), and an ART index on the
    declared row identifier, which SODA lookups (``?case_no=…``) name rows by: without it a
    lookup scans every row, as rows are stored in time order and the identifier's min/max per
    row group skip nothing. An index changes no answer (DuckDB's ART keys compare as ``=``
    does: 0.0 and -0.0 are one key; tested against a scan); and the version's ``_id``s in
    the identifier's order, which a ``$q`` page in that order is read by
    (``store/search_order.py``)."""
    text = [c.field_name for c in columns if c.type is ColumnType.TEXT]
    for statement in index_statements(table, text, "duckdb", _word_spans(cur, table, text)):
        cur.execute(statement)
    field = lookup_field(row_identifier, columns)
    if field is not None:
        cur.execute(f"CREATE INDEX {_ident(table + '__key')} ON {_ident(table)} ({_ident(field)})")
        cur.execute(order_statement(table, field))
        for statement in prefix_statements(table, text, field):
            cur.execute(statement)
