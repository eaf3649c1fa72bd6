"""The embedded engine: every dataset, version and bit of metadata in one DuckDB file.

A version is a table of its own, written and registered in a single transaction, so a
failed or killed load leaves nothing behind: DuckDB discards uncommitted work when the
file is next opened. Old version tables are kept for history.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from blotter.errors import (
    Conflict,
    DatasetNotFound,
    StoreBusy,
)
from blotter.model import (
    ApiToken,
    ChangeCounts,
    Column,
    ColumnType,
    Dataset,
    DatasetMeta,
    User,
    Version,
    check_dataset_id,
    new_dataset_id,
)
from blotter.schema import (
    CREATED_AT,
    ROW_ID,
    UPDATED_AT,
    version_table,
)
from blotter.store.base import CsvCell, CsvPiece, RowStream, Store
from blotter.store.changes import STAGED, STAGED_HEAD, change_statements
from blotter.store.common import (
    DATASET_QUERY,
    SqlMemo,
    check_batch,
    check_dictionary,
    columns_json,
    dataset_from_row,
    engine_sql,
    now,
    physical_layout,
    token_from_row,
    versions_from_rows,
)
from blotter.store.common import (
    TOKEN_FIELDS as _TOKEN_FIELDS,
)
from blotter.store.duckdb_csv import csv_lines
from blotter.store.duckdb_feed import Feed
from blotter.store.duckdb_watchdog import run_watched
from blotter.store.extensions import load_extensions
from blotter.store.migrations import DUCKDB, migrations
from blotter.store.records import SqlRecords

_PHYSICAL_TYPE = {
    ColumnType.TEXT: "VARCHAR",
    ColumnType.NUMBER: "DOUBLE",
    ColumnType.CHECKBOX: "BOOLEAN",
    ColumnType.FLOATING_TIMESTAMP: "TIMESTAMP",
    ColumnType.POINT: "DOUBLE",
}

# Schema migrations, applied in order; the index + 1 is the schema version.
_MIGRATIONS = migrations(DUCKDB)


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


class DuckDBStore(SqlRecords, Store):
    """A store in one DuckDB database file."""

    engine = "duckdb"

    def __init__(self, path: Path | str, *, memory_limit_mb: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # DuckDB caches as much as it may; a cap keeps a big publish from growing the server
        # past it (what does not fit spills to a temporary directory beside the database).
        config: dict[str, str | bool | int | float | list[str]] = {
            "temp_directory": str(self.path.parent / "duckdb.tmp")
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
        load_extensions(self._con)
        self._write_lock = _Writes()
        # Datasets as last read, tagged with the write generation they were read at. DuckDB
        # lets one process write the file, so every change passes through _write_lock here.
        self._datasets: dict[str, tuple[int, Any]] = {}
        self._sql = SqlMemo()
        self._migrate()
        self._drop_unregistered_tables()

    def close(self) -> None:
        self._con.close()

    def schema_status(self) -> tuple[int, int]:
        row = self._cursor().execute("SELECT max(version) FROM blotter_schema").fetchone()
        return (row[0] if row else None) or 0, len(_MIGRATIONS)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        # One cursor per call: DuckDB connections must not be shared across threads.
        return self._con.cursor()

    def _migrate(self) -> None:
        with self._write_lock:
            cur = self._cursor()
            cur.execute("CREATE TABLE IF NOT EXISTS blotter_schema (version INTEGER NOT NULL)")
            row = cur.execute("SELECT max(version) FROM blotter_schema").fetchone()
            current = (row[0] if row else None) or 0
            for number, statements in enumerate(_MIGRATIONS, start=1):
                if number <= current:
                    continue
                cur.execute("BEGIN TRANSACTION")
                for statement in statements:
                    cur.execute(statement)
                cur.execute("INSERT INTO blotter_schema VALUES (?)", [number])
                cur.execute("COMMIT")

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

    def create_dataset(
        self, meta: DatasetMeta, columns: list[Column], dataset_id: str | None = None
    ) -> Dataset:
        dataset_id = check_dataset_id(dataset_id) if dataset_id else new_dataset_id()
        stamp = now()
        with self._write_lock:
            cur = self._cursor()
            exists = cur.execute(
                "SELECT 1 FROM blotter_datasets WHERE id = ?", [dataset_id]
            ).fetchone()
            if exists:
                raise Conflict(f"Dataset '{dataset_id}' already exists.", dataset_id=dataset_id)
            cur.execute(
                "INSERT INTO blotter_datasets (id, meta, columns, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [dataset_id, meta.model_dump_json(), columns_json(columns), stamp, stamp],
            )
        return self.get_dataset(dataset_id)

    def update_metadata(self, dataset_id: str, meta: DatasetMeta) -> Dataset:
        with self._write_lock:
            self.get_dataset(dataset_id)
            self._cursor().execute(
                "UPDATE blotter_datasets SET meta = ?, updated_at = ? WHERE id = ?",
                [meta.model_dump_json(), now(), dataset_id],
            )
        return self.get_dataset(dataset_id)

    def delete_dataset(self, dataset_id: str) -> None:
        with self._write_lock:
            cur = self._cursor()
            tables = cur.execute(
                "SELECT table_name FROM blotter_versions WHERE dataset_id = ?", [dataset_id]
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
                cur.execute(f"DROP TABLE IF EXISTS {_ident(table)}")
            cur.execute("DELETE FROM blotter_versions WHERE dataset_id = ?", [dataset_id])
            cur.execute("DELETE FROM blotter_quality WHERE dataset_id = ?", [dataset_id])
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
    ) -> Version:
        physical = physical_layout(columns, _PHYSICAL_TYPE)
        with self._write_lock:
            cur = self._cursor()
            next_row_id = self._next_row_id(cur, dataset_id)
            number = self._next_version(cur, dataset_id)
            table = version_table(dataset_id, number)
            stamp = now()
            # The rows go into a table no reader knows of, committed chunk by chunk: one
            # transaction holding every row would keep them all in memory. Readers switch to
            # it only when it is registered, in one short transaction below; a table left by
            # a failed or killed load is never registered and is dropped.
            try:
                _create_table(cur, table, physical)
                names = [name for name, _ in physical]
                targets = ", ".join([ROW_ID, CREATED_AT, UPDATED_AT, *map(_ident, names)])
                feed = Feed(batches, names, next_row_id)
                while (chunk := feed.next_chunk()) is not None:
                    cur.register("_staged_rows", chunk)
                    cur.execute(
                        f"INSERT INTO {_ident(table)} ({targets}) "  # noqa: S608 - names are checked identifiers
                        f"SELECT __row_id, $now, $now, {', '.join(map(_ident, names))} "
                        "FROM _staged_rows",
                        {"now": stamp},
                    )
                    cur.unregister("_staged_rows")
                feed.raise_any()
                count, next_row_id = feed.count, feed.next_row_id
                self._switch(
                    cur,
                    dataset_id,
                    number,
                    table,
                    columns,
                    count,
                    stamp,
                    source,
                    next_row_id,
                    data_as_of or stamp,
                )
            except BaseException:
                cur.execute(f"DROP TABLE IF EXISTS {_ident(table)}")
                raise
        return Version(
            dataset_id=dataset_id, number=number, row_count=count, created_at=stamp, source=source
        )

    def _apply_changes(
        self, dataset_id: str, key: str, staged: pa.Table, *, source: str = ""
    ) -> tuple[Version, ChangeCounts]:
        with self._write_lock:
            cur = self._cursor()
            dataset = self.get_dataset(dataset_id)
            physical = physical_layout(dataset.columns, _PHYSICAL_TYPE)
            names = [name for name, _ in physical]
            check_batch(staged, [*STAGED_HEAD, *names])
            next_id = self._next_row_id(cur, dataset_id)
            number = self._next_version(cur, dataset_id)
            table = version_table(dataset_id, number)
            old = version_table(dataset_id, dataset.version) if dataset.version else None
            stamp = now()
            writes, count_queries = change_statements(old, table, names, key, stamp, next_id)
            cur.register(STAGED, staged)
            try:
                counts = ChangeCounts(
                    **{
                        what: (cur.execute(query).fetchone() or (0,))[0]
                        for what, query in count_queries.items()
                    }
                )
                _create_table(cur, table, physical)
                for statement in writes:
                    cur.execute(statement)
                total = (cur.execute(f"SELECT count(*) FROM {_ident(table)}").fetchone() or (0,))[0]  # noqa: S608 - a version table's name
                self._switch(
                    cur,
                    dataset_id,
                    number,
                    table,
                    dataset.columns,
                    total,
                    stamp,
                    source,
                    next_id + counts.created,
                    stamp,
                )
            except BaseException:
                cur.execute(f"DROP TABLE IF EXISTS {_ident(table)}")
                raise
            finally:
                cur.unregister(STAGED)
        version = Version(
            dataset_id=dataset_id, number=number, row_count=total, created_at=stamp, source=source
        )
        return version, counts

    def update_columns(self, dataset_id: str, columns: list[Column]) -> Dataset:
        with self._write_lock:
            check_dictionary(self.get_dataset(dataset_id), columns)
            self._cursor().execute(
                "UPDATE blotter_datasets SET columns = ?, updated_at = ? WHERE id = ?",
                [columns_json(columns), now(), dataset_id],
            )
        return self.get_dataset(dataset_id)

    def _next_row_id(self, cur: duckdb.DuckDBPyConnection, dataset_id: str) -> int:
        row = cur.execute(
            "SELECT next_row_id FROM blotter_datasets WHERE id = ?", [dataset_id]
        ).fetchone()
        if row is None:
            raise DatasetNotFound(dataset_id)
        return int(row[0])

    def _next_version(self, cur: duckdb.DuckDBPyConnection, dataset_id: str) -> int:
        last = cur.execute(
            "SELECT coalesce(max(number), 0) FROM blotter_versions WHERE dataset_id = ?",
            [dataset_id],
        ).fetchone()
        return (last[0] if last else 0) + 1

    def _switch(
        self,
        cur: duckdb.DuckDBPyConnection,
        dataset_id: str,
        number: int,
        table: str,
        columns: list[Column],
        count: int,
        stamp: datetime,
        source: str,
        next_row_id: int,
        data_as_of: datetime,
    ) -> None:
        """Register a written version table and make it the one served, atomically."""
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(
                "INSERT INTO blotter_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                [dataset_id, number, table, columns_json(columns), count, stamp, source],
            )
            cur.execute(
                "UPDATE blotter_datasets SET current_version = ?, next_row_id = ?, "
                "columns = ?, updated_at = ?, data_as_of = ? WHERE id = ?",
                [number, next_row_id, columns_json(columns), stamp, data_as_of, dataset_id],
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def _drop_unregistered_tables(self) -> None:
        """Version tables that no version row names: left by a load that was killed."""
        cur = self._cursor()
        orphans = cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_name LIKE 'ds\\_%' ESCAPE '\\' AND table_name NOT IN "
            "(SELECT table_name FROM blotter_versions)"
        ).fetchall()
        for (name,) in orphans:
            cur.execute(f"DROP TABLE IF EXISTS {_ident(name)}")

    def _query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return self._cursor().execute(sql, params).fetchall()

    def _commands(self, steps: list[tuple[str, list[Any]]]) -> None:
        with self._write_lock:
            cur = self._cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                for sql, params in steps:
                    cur.execute(sql, params)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def versions(self, dataset_id: str) -> list[Version]:
        self.get_dataset(dataset_id)
        rows = (
            self._cursor()
            .execute(
                "SELECT number, row_count, created_at, source FROM blotter_versions "
                "WHERE dataset_id = ? ORDER BY number DESC",
                [dataset_id],
            )
            .fetchall()
        )
        return versions_from_rows(dataset_id, rows)

    # --- accounts --------------------------------------------------------------------

    def add_user(self, user: User, password_hash: str) -> User:
        with self._write_lock:
            cur = self._cursor()
            taken = cur.execute(
                "SELECT 1 FROM blotter_users WHERE name = ?", [user.name]
            ).fetchone()
            if taken:
                raise Conflict(f"The account '{user.name}' already exists.", user=user.name)
            cur.execute(
                "INSERT INTO blotter_users (name, role, agency, password_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [user.name, str(user.role), user.agency, password_hash, user.created_at],
            )
        return user

    # --- API tokens ------------------------------------------------------------------

    def add_token(self, token: ApiToken, secret_hash: str) -> ApiToken:
        with self._write_lock:
            cur = self._cursor()
            cur.execute(
                "INSERT INTO blotter_tokens (id, user_name, label, scopes, secret_hash, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    token.id,
                    token.user_name,
                    token.label,
                    json.dumps(token.scopes),
                    secret_hash,
                    token.created_at,
                ],
            )
        return token

    def token_with_hash(self, token_id: str) -> tuple[ApiToken, str] | None:
        row = (
            self._cursor()
            .execute(
                f"SELECT {_TOKEN_FIELDS}, secret_hash FROM blotter_tokens WHERE id = ?",  # noqa: S608 - constant
                [token_id],
            )
            .fetchone()
        )
        if row is None:
            return None
        return token_from_row(row[:-1]), row[-1]

    def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        rows = (
            self._cursor()
            .execute(
                f"SELECT {_TOKEN_FIELDS} FROM blotter_tokens "  # noqa: S608 - constant
                "ORDER BY created_at",
            )
            .fetchall()
        )
        tokens = [token_from_row(row) for row in rows]
        return [t for t in tokens if user_name is None or t.user_name == user_name]

    def mark_token(
        self, token_id: str, *, used_at: datetime | None = None, revoked_at: datetime | None = None
    ) -> None:
        with self._write_lock:
            cur = self._cursor()
            cur.execute(
                "UPDATE blotter_tokens SET last_used_at = coalesce(?, last_used_at), "
                "revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                [used_at, revoked_at, token_id],
            )

    # --- reads -----------------------------------------------------------------------

    def execute(
        self, dataset: Dataset, select: exp.Select, *, timeout_s: float | None = None
    ) -> RowStream:
        if dataset.version == 0:
            return RowStream(iter(()))
        sql, params = self.engine_sql(dataset, select)
        cur = self._cursor()
        run_watched(cur, sql, params, timeout_s)
        return RowStream(_fetch(cur))

    def engine_sql(self, dataset: Dataset, select: exp.Select) -> tuple[str, Any]:
        return self._sql.sql(
            dataset, select, lambda: engine_sql(dataset, _without_id_sort(select), "duckdb")
        )

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
        return csv_lines(self._cursor(), inner, params, cells, timeout_s)


class _Writes:
    """The store's write lock, counting the writes that released it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generation = 0

    def __enter__(self) -> _Writes:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.generation += 1
        self._lock.release()


def _create_table(
    cur: duckdb.DuckDBPyConnection, table: str, physical: list[tuple[str, str]]
) -> None:
    definition = ", ".join(
        [f"{ROW_ID} BIGINT NOT NULL", f"{CREATED_AT} TIMESTAMP", f"{UPDATED_AT} TIMESTAMP"]
        + [f"{_ident(name)} {sql_type}" for name, sql_type in physical]
    )
    cur.execute(f"CREATE TABLE {_ident(table)} ({definition})")


def _without_id_sort(select: exp.Select) -> exp.Select:
    """Drop an ORDER BY that is only ``_id`` ascending: a version table is written in ``_id``
    order and DuckDB keeps insertion order for unsorted scans (preserve_insertion_order is on
    by default), so the rows come in that order anyway, and streaming instead of sorting keeps
    a full export in constant memory."""
    order = select.args.get("order")
    keys = order.expressions if order is not None else []
    if (
        len(keys) == 1
        and isinstance(keys[0].this, exp.Column)
        and keys[0].this.name == ROW_ID
        and not keys[0].args.get("desc")
        and not select.args.get("group")
    ):
        trimmed = select.copy()
        trimmed.set("order", None)
        return trimmed
    return select


def _fetch(cur: duckdb.DuckDBPyConnection, size: int = 2048) -> Iterator[tuple[Any, ...]]:
    try:
        while chunk := cur.fetchmany(size):
            yield from chunk
    finally:
        cur.close()
