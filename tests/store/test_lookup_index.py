"""DuckDB versions get an ART index on the declared row identifier, built before the version
is registered on every write that makes one (a first publish, a publish in time order, a
replace keeping identities, an upsert, a delete), and a SODA lookup by it reads the index; its
answers are those of the same lookup on a copy of the column that has no index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from blotter.ingest.rows import stage_changes
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.queries import parse_request
from blotter.schema import version_table
from blotter.soql.compiler import compile_query
from blotter.store import open_store
from blotter.store.duckdb import DuckDBStore
from tests.engines import engine_settings

COLUMNS = [
    Column(field_name="num", name="Number", type=ColumnType.NUMBER),
    Column(field_name="num_copy", name="Number (no index)", type=ColumnType.NUMBER),
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="case_copy", name="Case (no index)", type=ColumnType.TEXT),
    Column(field_name="occurred", name="Occurred", type=ColumnType.FLOATING_TIMESTAMP),
    Column(field_name="where", name="Where", type=ColumnType.POINT),
]
START = datetime(2024, 1, 1)
# Values a lookup may name: whole, fractional, negative, large, and -0.0 (which 0 finds).
NUMBERS = [-0.0 if i == 0 else float(i) for i in range(-3, 40)] + [0.5, 1e-9, 2.5e9, 1e15]


def _rows(numbers: list[float], shuffled: bool) -> pa.RecordBatch:
    order = list(reversed(range(len(numbers)))) if shuffled else list(range(len(numbers)))
    rows = []
    for i in order:
        n = numbers[i]
        rows.append(
            {
                "num": n,
                "num_copy": n,
                "case_no": f"C-{i:03d}",
                "case_copy": f"C-{i:03d}",
                "occurred": START + timedelta(hours=i),
                "_where_lon": None,
                "_where_lat": None,
            }
        )
    schema = pa.schema(
        [
            ("num", pa.float64()),
            ("num_copy", pa.float64()),
            ("case_no", pa.string()),
            ("case_copy", pa.string()),
            ("occurred", pa.timestamp("us")),
            ("_where_lon", pa.float64()),
            ("_where_lat", pa.float64()),
        ]
    )
    return pa.RecordBatch.from_pylist(rows, schema=schema)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    for settings in engine_settings("duckdb", tmp_path):
        opened = open_store(settings)
        assert isinstance(opened, DuckDBStore)
        yield opened
        opened.close()


def _indexed(store: DuckDBStore, dataset: Dataset) -> list[str]:
    """The columns of the current version table that have an index of their own."""
    rows = store._query(
        "SELECT expressions FROM duckdb_indexes() WHERE table_name = ? ORDER BY index_name",
        [version_table(dataset.id, dataset.version)],
    )
    return [str(r[0]).strip("[]") for r in rows]


def _lookup(store: DuckDBStore, dataset: Dataset, params: dict[str, str]) -> list[Any]:
    query, filters = parse_request(params)
    select = compile_query(query, dataset, filters=filters).select
    return list(store.execute(dataset, select))


def _plan(store: DuckDBStore, dataset: Dataset, params: dict[str, str]) -> str:
    query, filters = parse_request(params)
    sql, bound = store.engine_sql(dataset, compile_query(query, dataset, filters=filters).select)
    return str(store._cursor().execute("EXPLAIN ANALYZE " + sql, bound).fetchall()[0][1])


def _same_answers(store: DuckDBStore, dataset: Dataset, field: str) -> None:
    """Every lookup by ``field`` answers as the same lookup by its copy without an index,
    and reads the index."""
    copy = {"num": "num_copy", "case_no": "case_copy"}[field]
    values = (
        ["0", "-0", "-0.0", "0.5", "1", "1.0", "1e0", "2500000000", "1e15", "7", "99", "-3"]
        if field == "num"
        else ["C-000", "C-007", "c-007", "C-7", "", "C-044", "nope"]
    )
    found = 0
    for value in values:
        by_key = _lookup(store, dataset, {field: value})
        by_copy = _lookup(store, dataset, {copy: value})
        assert by_key == by_copy, value
        found += len(by_key)
        if by_key:  # a value outside the column's min/max is answered by its statistics
            assert "Index Scan" in _plan(store, dataset, {field: value}), value
    assert found > 0  # the comparison is of rows, not of two empty answers
    where = {"$where": f"{field} = {'7' if field == 'num' else repr('C-007')}"}
    assert _lookup(store, dataset, where) == _lookup(
        store, dataset, {"$where": where["$where"].replace(field, copy, 1)}
    )
    assert "Index Scan" in _plan(store, dataset, where)


@pytest.mark.parametrize("field", ["num", "case_no"])
@pytest.mark.parametrize("main_date", [None, "occurred"])
def test_every_write_of_a_version_indexes_the_row_identifier(
    store: DuckDBStore, field: str, main_date: str | None
) -> None:
    ds = store.create_dataset(DatasetMeta(name="Lookups", row_identifier=field), COLUMNS)
    # Rows out of time order: with a main timestamp they are renumbered into a new table.
    store.publish(ds.id, COLUMNS, [_rows(NUMBERS, shuffled=True)], main_date=main_date)
    dataset = store.get_dataset(ds.id)
    assert _indexed(store, dataset) == ["_id", field]
    _same_answers(store, dataset, field)

    # A replace keeps identities by the row identifier (one row fewer, one changed).
    replaced = [*NUMBERS[:-1]]
    replaced[5] = 123.0
    store.publish(ds.id, COLUMNS, [_rows(replaced, shuffled=False)], main_date=main_date)
    dataset = store.get_dataset(ds.id)
    assert dataset.version == 2 and _indexed(store, dataset) == ["_id", field]
    _same_answers(store, dataset, field)

    # An upsert and a delete each write a version of their own.
    key = "1" if field == "num" else "C-004"
    upsert = {field: "777" if field == "num" else "C-777", "num_copy": 777.0}
    upsert["case_copy" if field == "case_no" else "case_no"] = "C-777"
    for records in ([upsert], [{field: key, ":deleted": True}]):
        staged = stage_changes(dataset, records)
        store.apply_changes(ds.id, staged.key, staged.table, source="test")
        dataset = store.get_dataset(ds.id)
        assert _indexed(store, dataset) == ["_id", field]
    assert dataset.version == 4
    assert _lookup(store, dataset, {field: key}) == []
    _same_answers(store, dataset, field)


def test_without_a_row_identifier_only_id_is_indexed(store: DuckDBStore) -> None:
    ds = store.create_dataset(DatasetMeta(name="Plain"), COLUMNS)
    store.publish(ds.id, COLUMNS, [_rows(NUMBERS, shuffled=False)])
    assert _indexed(store, store.get_dataset(ds.id)) == ["_id"]


def test_a_point_identifier_is_not_indexed(store: DuckDBStore) -> None:
    # Not settable through the portal (``check_row_identifier``), but a file may say it.
    ds = store.create_dataset(DatasetMeta(name="Odd", row_identifier="where"), COLUMNS)
    store.publish(ds.id, COLUMNS, [_rows(NUMBERS, shuffled=False)])
    assert _indexed(store, store.get_dataset(ds.id)) == ["_id"]
