"""The embedded engine: every dataset, version and bit of metadata in one DuckDB file.

A version is a table of its own, written and registered in a single transaction, so a
failed or killed load leaves nothing behind: DuckDB discards uncommitted work when the
file is next opened. Old version tables are kept for history.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from blotter.errors import (
    DatasetNotFound,
    StoreBusy,
)
from blotter.model import (
    ChangeCounts,
    Column,
    ColumnType,
    Dataset,
    Version,
)
from blotter.schema import (
    CREATED_AT,
    ROW_ID,
    UPDATED_AT,
    version_table,
)
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
from blotter.store.duckdb_csv import csv_lines
from blotter.store.duckdb_feed import Feed
from blotter.store.duckdb_watchdog import run_watched
from blotter.store.extensions import load_extensions
from blotter.store.migrations import DUCKDB, migrations
from blotter.store.records import Statements
from blotter.store.search_index import (
    candidates,
    candidates_statement,
    index_statements,
    narrowed,
    search_words,
    words_table,
)

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


class DuckDBStore(SqlCatalog, Store):
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
        self._word_indexes: dict[str, bool] = {}  # version table → whether it has one
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
                _drop_version(cur, table)
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
            next_row_id, number = next_numbers(_Statements(cur), dataset_id)
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
                _index_words(cur, table, columns)
                record = VersionRecord(
                    dataset_id=dataset_id,
                    number=number,
                    table=table,
                    columns=columns,
                    row_count=feed.count,
                    created_at=stamp,
                    source=source,
                    next_row_id=feed.next_row_id,
                    data_as_of=data_as_of or stamp,
                )
                with _transaction_on(cur) as tx:
                    register_version(tx, record)
            except BaseException:
                _drop_version(cur, table)
                raise
        return record.version()

    def _apply_changes(
        self, dataset_id: str, key: str, staged: pa.Table, *, source: str = ""
    ) -> tuple[Version, ChangeCounts]:
        with self._write_lock:
            cur = self._cursor()
            dataset = self.get_dataset(dataset_id)
            physical = physical_layout(dataset.columns, _PHYSICAL_TYPE)
            names = [name for name, _ in physical]
            check_batch(staged, [*STAGED_HEAD, *names])
            next_id, number = next_numbers(_Statements(cur), dataset_id)
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
                _index_words(cur, table, dataset.columns)
                total = (cur.execute(f"SELECT count(*) FROM {_ident(table)}").fetchone() or (0,))[0]  # noqa: S608 - a version table's name
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
                with _transaction_on(cur) as tx:
                    register_version(tx, record)
            except BaseException:
                _drop_version(cur, table)
                raise
            finally:
                cur.unregister(STAGED)
        return record.version(), counts

    def _drop_unregistered_tables(self) -> None:
        """Version tables that no version row names: left by a load that was killed."""
        cur = self._cursor()
        orphans = cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_name LIKE 'ds\\_%' ESCAPE '\\' AND table_name NOT IN "
            "(SELECT table_name FROM blotter_versions UNION ALL "
            "SELECT table_name || '__words' FROM blotter_versions)"
        ).fetchall()
        for (name,) in orphans:
            cur.execute(f"DROP TABLE IF EXISTS {_ident(name)}")

    def _query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return self._cursor().execute(sql, params).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[Statements]:
        with self._write_lock, _transaction_on(self._cursor()) as tx:
            yield tx

    def _written_dataset(self, dataset_id: str) -> Dataset:
        return self.get_dataset(dataset_id)

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
            dataset,
            select,
            lambda: engine_sql(
                dataset, _without_id_sort(self._narrowed(dataset, select)), "duckdb"
            ),
        )

    def _narrowed(self, dataset: Dataset, select: exp.Select) -> exp.Select:
        """``$q``'s words narrowed by the version's word index (``store/search_index.py``)."""
        words = search_words(select)
        table = version_table(dataset.id, dataset.version)
        if not words or not self._has_word_index(table):
            return narrowed(select, None)
        cur = self._cursor()
        statement = candidates_statement(table, "duckdb")

        def fetch(word: str, most: int) -> list[int]:
            return [row[0] for row in cur.execute(statement, [word, most]).fetchall()]

        return narrowed(select, candidates(words, fetch))

    def _has_word_index(self, table: str) -> bool:
        # Versions are immutable and every new one gets its index before it is registered.
        known = self._word_indexes.get(table)
        if known is None:
            known = self._word_indexes[table] = bool(
                self._cursor()
                .execute(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_schema = 'main' AND table_name = ?",
                    [words_table(table)],
                )
                .fetchone()[0]  # type: ignore[index]
            )
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
        return csv_lines(self._cursor(), inner, params, cells, timeout_s)


class _Statements:
    """Statements on one cursor (see ``records.Statements``)."""

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self._cur = cur

    def rows(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return self._cur.execute(sql, params).fetchall()

    def run(self, sql: str, params: list[Any]) -> None:
        self._cur.execute(sql, params)


@contextmanager
def _transaction_on(cur: duckdb.DuckDBPyConnection) -> Iterator[_Statements]:
    """One transaction on ``cur``, committed when the block ends, rolled back if it raises."""
    cur.execute("BEGIN TRANSACTION")
    try:
        yield _Statements(cur)
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise


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


def _index_words(cur: duckdb.DuckDBPyConnection, table: str, columns: list[Column]) -> None:
    """Build the new version's word index for ``$q`` (before it is registered)."""
    text = [c.field_name for c in columns if c.type is ColumnType.TEXT]
    for statement in index_statements(table, text, "duckdb"):
        cur.execute(statement)


def _drop_version(cur: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop a version table and its word index."""
    cur.execute(f"DROP TABLE IF EXISTS {_ident(words_table(table))}")
    cur.execute(f"DROP TABLE IF EXISTS {_ident(table)}")


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
