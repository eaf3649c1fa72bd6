"""PostgreSQL versions get a B-tree for each column the dataset file says people filter,
group or sort by, built in the publish's transaction (PostgreSQL only: DuckDB skips blocks by
their min/max instead)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from blotter.model import Column, ColumnType, CountUnit, DatasetMeta
from blotter.schema import version_table
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
    ds = store.create_dataset(META, COLUMNS)
    batch = pa.record_batch(
        {
            "case_no": ["a", "b"],
            "race": ["x", "y"],
            "force": ["f", "g"],
            "age": [1.0, 2.0],
            "occurred": pa.array([None, None], pa.timestamp("us")),
            "reported": pa.array([None, None], pa.timestamp("us")),
            "_where_lon": [None, None],
            "_where_lat": [None, None],
        }
    )
    store.publish(ds.id, COLUMNS, [batch])
    table = version_table(ds.id, 1)
    with psycopg.connect(TEST_DATABASE_URL) as conn:
        rows = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
            "WHERE c.relname = %s AND n.nspname = %s",
            [table, store.schema],
        ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(
        ["_id", "case_no", "race", "force", "age", "occurred"]
    )
