"""PostgreSQL versions get a B-tree for each column the dataset file says people filter,
group or sort by (followed by the main timestamp, carrying the others), built in the publish's
transaction (PostgreSQL only: DuckDB skips blocks by
their min/max instead)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import psycopg.conninfo
import pyarrow as pa
import pytest
from psycopg import sql

from blotter.model import Column, ColumnType, CountUnit, DatasetMeta
from blotter.queries import parse_request
from blotter.schema import version_table
from blotter.soql.compiler import compile_query
from blotter.store import open_store
from blotter.store.pg_indexes import declared_fields
from blotter.store.postgres import PostgresStore
from tests.engines import TEST_DATABASE_URL, engine_settings

COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="race", name="Race", type=ColumnType.TEXT),
    Column(field_name="force", name="Force", type=ColumnType.TEXT),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
    Column(field_name="occurred", name="Occurred", type=ColumnType.FLOATING_TIMESTAMP),
    Column(field_name="reported", name="Reported", type=ColumnType.FLOATING_TIMESTAMP),
    Column(field_name="where", name="Where", type=ColumnType.POINT),
]
META = DatasetMeta(
    name="Force",
    row_identifier="case_no",
    highlights=["race", "force", "where"],
    dashboard=["force", "age"],
    units=[CountUnit(name="incidents", key="case_no")],
)


@pytest.mark.parametrize(
    ("meta", "want"),
    [
        (META, ["race", "force", "age", "occurred"]),  # once each; no point; identifier apart
        (DatasetMeta(name="Bare"), ["occurred"]),
        (DatasetMeta(name="Gone", highlights=["nope"]), ["occurred"]),
    ],
)
def test_declared_fields(meta: DatasetMeta, want: list[str]) -> None:
    assert declared_fields(meta, COLUMNS) == want


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PostgresStore]:
    for settings in engine_settings("postgres", tmp_path):
        opened = open_store(settings)
        assert isinstance(opened, PostgresStore)
        yield opened
        opened.close()


def test_a_publish_indexes_the_declared_columns(store: PostgresStore) -> None:
    """Each declared field with the main timestamp after it, carrying the others, and the
    timestamp carrying them all; a question of one field's rows over a period is read from
    its index alone right after the publish (its visibility map set by the publish)."""
    ds = store.create_dataset(META, COLUMNS)
    batch = pa.record_batch(
        {
            "case_no": ["a", "b", "c"],
            "race": ["x", "y", "x"],
            "force": ["f", "g", "g"],
            "age": [1.0, 2.0, 3.0],
            # Out of time order: put in order by INSERT … SELECT, not the frozen COPY.
            "occurred": pa.array([3 * 10**15, 10**15, 2 * 10**15], pa.timestamp("us")),
            "reported": pa.array([None, None, None], pa.timestamp("us")),
            "_where_lon": [None, None, None],
            "_where_lat": [None, None, None],
        }
    )
    store.publish(ds.id, COLUMNS, [batch])
    table = version_table(ds.id, 1)
    with psycopg.connect(TEST_DATABASE_URL) as conn:
        found = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
            [store.schema, table],
        ).fetchall()
        conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(store.schema)))
        conn.execute("SET enable_seqscan = off")  # three rows: else no index is worth it
        plan = conn.execute(
            sql.SQL(
                "EXPLAIN (ANALYZE, COSTS OFF) SELECT force, count(*) FROM {} WHERE race = 'x' "
                "AND occurred >= '2001-01-01' GROUP BY force"
            ).format(sql.Identifier(table))
        ).fetchall()
    keys = sorted(d.split(" USING btree ", 1)[1] for (d,) in found)
    assert keys == [
        "(_id)",
        "(age, occurred) INCLUDE (race, force)",
        "(case_no)",
        "(force, occurred) INCLUDE (race, age)",
        "(occurred) INCLUDE (race, force, age)",
        "(race, occurred) INCLUDE (force, age)",
    ]
    lines = "\n".join(line for (line,) in plan)
    assert "Index Only Scan" in lines and "Heap Fetches: 0" in lines, lines


@pytest.fixture
def database_without_create_rights() -> Iterator[tuple[str, str]]:
    """A fresh database and a role that may create in it (the portal's schema) until the
    SQL the test is given revokes it (``pg_trgm`` is trusted: CREATE on the database is
    all it takes)."""
    suffix = uuid.uuid4().hex[:10]
    database, role = f"h_notrgm_{suffix}", f"h_nocreate_{suffix}"
    admin_url = TEST_DATABASE_URL
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        admin.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.Identifier(role)
            )
        )
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=database)
    revoke = sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(
        sql.Identifier(database), sql.Identifier(role)
    )
    try:
        yield psycopg.conninfo.make_conninfo(url, user=role), revoke.as_string()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_without_pg_trgm_search_reads_the_dictionary_and_answers_the_same(
    database_without_create_rights: tuple[str, str],
) -> None:
    url, revoke = database_without_create_rights
    store = PostgresStore(url)
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as admin:
        admin.execute(revoke)  # type: ignore[arg-type]
    try:
        columns = [Column(field_name="narrative", name="Narrative", type=ColumnType.TEXT)]
        ds = store.create_dataset(DatasetMeta(name="Calls"), columns)
        texts = ["Report taken", "Suspect at AITKEN dr", None, "aitken again\tlater"]
        store.publish(ds.id, columns, [pa.record_batch({"narrative": texts})])
        dataset = store.get_dataset(ds.id)
        with psycopg.connect(url) as conn:
            found = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
            assert found.fetchone() == (0,)
        query, _ = parse_request({"$q": "aitken", "$select": ":id"})
        select = compile_query(query, dataset).select
        assert "_id IN (" in store.engine_sql(dataset, select)[0]
        assert [int(r[0]) for r in store.execute(dataset, select)] == [2, 4]
    finally:
        store.close()


def test_the_word_index_ids_are_compressed_with_lz4_and_the_rows_as_configured(
    store: PostgresStore,
) -> None:
    columns = [Column(field_name="narrative", name="Narrative", type=ColumnType.TEXT)]
    ds = store.create_dataset(DatasetMeta(name="Long"), columns)
    # One term in every row: its ids (16 KB) are compressed; so is each long narrative.
    texts = [f"same {'abc ' * 1000}{i}" for i in range(2000)]
    store.publish(ds.id, columns, [pa.record_batch({"narrative": texts})])
    table = version_table(ds.id, 1)
    with psycopg.connect(TEST_DATABASE_URL) as conn:
        conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(store.schema)))
        lz4 = conn.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).fetchone()
        default = conn.execute("SHOW default_toast_compression").fetchone()
        ids = conn.execute(
            sql.SQL(
                "SELECT DISTINCT pg_column_compression(ids) FROM {} WHERE term = 'same'"
            ).format(sql.Identifier(f"{table}__words"))
        ).fetchall()
        rows = conn.execute(
            sql.SQL("SELECT DISTINCT pg_column_compression(narrative) FROM {}").format(
                sql.Identifier(table)
            )
        ).fetchall()
    assert ids == [("lz4" if lz4 and lz4[0] else default[0] if default else None,)]
    assert rows == [(default[0] if default else None,)]
