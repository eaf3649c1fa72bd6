"""Real sample rows in both engines, and the same rows as plain Python for answer keys."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from blotter.ingest.spec import load_spec_file
from blotter.model import ColumnType
from blotter.schema import DATASET_TABLE
from blotter.settings import Settings
from blotter.store import Store, open_store
from blotter.store.polygons import expanded
from blotter.store.search_index import narrowed
from tests.engines import ENGINES, engine_settings
from tests.ingest.conftest import published
from tests.paths import SAMPLES
from tests.samples import publish_samples
from tests.soql import tables

FORCE, CALLS = "e2x9-2kgt", "tkpk-clls"


def python_rows(spec_name: str) -> list[dict[str, Any]]:
    """The published rows as dicts, read by the ingest layer (with the dataset file's
    privacy rules applied as the store applies them), never by the SoQL compiler."""
    spec = load_spec_file(SAMPLES / spec_name)
    assert spec.source_path() is not None
    rows = published(spec.source_path(), spec).to_pylist()  # type: ignore[arg-type]
    # A first publish numbers rows by the main timestamp (the file's `main_date`, else its
    # first timestamp column), nulls last, ties in file order.
    stamps = [c.field for c in spec.columns if c.type is ColumnType.FLOATING_TIMESTAMP]
    main = spec.main_date or next(iter(stamps), None)
    if main is not None:
        order = sorted(
            range(len(rows)), key=lambda i: (rows[i][main] is None, rows[i][main] or 0, i)
        )
        rows = [rows[i] for i in order]
    for i, row in enumerate(rows, start=1):
        row[":id"] = i
        for key in [k for k in row if k.endswith("_lon") and k.startswith("_")]:
            name = key[1:-4]
            lon, lat = row.pop(key), row.pop(f"_{name}_lat")
            row[name] = None if lon is None else (lon, lat)
    return rows


@pytest.fixture(scope="session")
def force_rows() -> list[dict[str, Any]]:
    return python_rows("use_of_force.yaml")


@pytest.fixture(scope="session")
def call_rows() -> list[dict[str, Any]]:
    return python_rows("calls_for_service.yaml")


@pytest.fixture(scope="module", params=ENGINES)
def soql_portal(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, Settings]]:
    for settings in engine_settings(request.param, tmp_path_factory.mktemp("soql")):
        store = open_store(settings)
        publish_samples(store)
        yield store, settings
        store.close()


# --- The SoQL layer alone: hand-built physical tables, no store, no ingest -------------


@dataclass
class SoQLEngine:
    """One engine holding the ``tables`` datasets; runs a compiled select against one."""

    name: str
    execute: Callable[[str], list[tuple[Any, ...]]]
    schemas: dict[str, str]

    def run(self, key: str, select: exp.Select) -> list[tuple[Any, ...]]:
        schema = self.schemas[key]

        def swap(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Table) and node.name == DATASET_TABLE:
                return exp.to_table(DATASET_TABLE, db=schema)
            return node

        # $q's word marks written as their predicates, as a store without a word index does,
        # and the polygon marks spelt out, as the stores' dialects write them.
        plain = expanded(narrowed(select, None))
        return self.execute(plain.transform(swap).sql(dialect=self.name))


@pytest.fixture(scope="session")
def soql_rows() -> dict[str, list[dict[str, Any]]]:
    """The plain-Python rows the expected answers are computed from."""
    return {"force": tables.force_rows(), "calls": tables.calls_rows()}


def _duckdb_engine(path: Path, rows: dict[str, list[dict[str, Any]]]) -> Iterator[SoQLEngine]:
    import duckdb

    con = duckdb.connect(str(path))
    for key, dataset in tables.DATASETS.items():
        table = exp.to_table(DATASET_TABLE, db=key)
        con.execute(exp.Create(this=exp.to_identifier(key), kind="SCHEMA").sql("duckdb"))
        con.execute(tables.create_table(dataset, table, "duckdb"))
        insert = tables.insert_rows(dataset, table, "duckdb")
        con.executemany(insert, [tables.physical_row(dataset, r) for r in rows[key]])

    def execute(sql: str) -> list[tuple[Any, ...]]:
        return con.execute(sql).fetchall()

    yield SoQLEngine("duckdb", execute, {key: key for key in tables.DATASETS})
    con.close()


def _postgres_engine(rows: dict[str, list[dict[str, Any]]]) -> Iterator[SoQLEngine]:
    import psycopg

    from tests.engines import TEST_DATABASE_URL, drop_schema, require_postgres

    require_postgres()
    prefix = f"soql_{uuid.uuid4().hex[:10]}"
    schemas = {key: f"{prefix}_{key}" for key in tables.DATASETS}
    conn = psycopg.connect(TEST_DATABASE_URL, autocommit=True)
    try:
        for key, dataset in tables.DATASETS.items():
            table = exp.to_table(DATASET_TABLE, db=schemas[key])
            create = exp.Create(this=exp.to_identifier(schemas[key]), kind="SCHEMA")
            conn.execute(create.sql("postgres"))
            conn.execute(tables.create_table(dataset, table, "postgres"))
            insert = tables.insert_rows(dataset, table, "postgres")
            with conn.cursor() as cur:
                cur.executemany(insert, [tables.physical_row(dataset, r) for r in rows[key]])

        def execute(sql: str) -> list[tuple[Any, ...]]:
            # Literals are inline here; the store binds them. psycopg reads % as a
            # placeholder only when parameters are passed, so none are.
            with conn.cursor() as cur:
                cur.execute(sql)  # type: ignore[call-overload]
                return cur.fetchall()

        yield SoQLEngine("postgres", execute, schemas)
    finally:
        conn.close()
        for schema in schemas.values():
            drop_schema(schema)


@pytest.fixture(scope="module", params=ENGINES)
def soql_engine(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    soql_rows: dict[str, list[dict[str, Any]]],
) -> Iterator[SoQLEngine]:
    """The two small datasets on each engine in turn: a DuckDB file, a PostgreSQL schema."""
    if request.param == "duckdb":
        yield from _duckdb_engine(tmp_path_factory.mktemp("soql") / "soql.duckdb", soql_rows)
    else:
        yield from _postgres_engine(soql_rows)
