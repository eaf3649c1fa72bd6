"""DuckDB's extensions are loaded when a statement needs one, not at start: a fresh process
answers point filters, ``within_circle``, ``within_polygon`` and GeoJSON without them, and a
statement calling a spatial function loads ``spatial`` first."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from blotter.model import Column, ColumnType, DatasetMeta
from blotter.store.duckdb import DuckDBStore
from blotter.store.extensions import needed
from tests.fresh_python import fresh_python

COLUMNS = [
    Column(field_name="kind", name="Kind", type=ColumnType.TEXT),
    Column(field_name="at", name="At", type=ColumnType.POINT),
]
# Three points: two inside the box around (-122.27, 37.80), one far away.
POINTS = [(-122.271, 37.801), (-122.269, 37.799), (-121.0, 38.5)]
BOX = "POLYGON((-122.28 37.79, -122.26 37.79, -122.26 37.81, -122.28 37.81, -122.28 37.79))"


def _publish(path: Path) -> str:
    store = DuckDBStore(path)
    try:
        ds = store.create_dataset(DatasetMeta(name="Places"), COLUMNS, dataset_id="plcs-0001")
        batch = pa.record_batch(
            {
                "kind": pa.array(["theft", "theft", "fraud"]),
                "_at_lon": pa.array([p[0] for p in POINTS], pa.float64()),
                "_at_lat": pa.array([p[1] for p in POINTS], pa.float64()),
            }
        )
        store.publish(ds.id, COLUMNS, [batch])
        assert store.extensions.loaded == frozenset()  # a publish needs none either
        return ds.id
    finally:
        store.close()


@pytest.mark.parametrize(
    ("sql", "want"),
    [
        ("SELECT ST_AsText(ST_Point(1, 2))", ["spatial"]),
        ("select st_distance (a, b) from t", ["spatial"]),
        ("SELECT fts_main_t.match_bm25(id, 'x') FROM t", ["fts"]),
        ('SELECT "first_name", lower(x) FROM t WHERE sqrt(y) > 1', []),
        ("SELECT st_name FROM t", []),  # a column, not a call
    ],
)
def test_what_a_statement_needs(sql: str, want: list[str]) -> None:
    assert list(needed(sql)) == want


def test_a_fresh_process_answers_spatial_questions_first(tmp_path: Path) -> None:
    dataset_id = _publish(tmp_path / "blotter.duckdb")
    script = textwrap.dedent(
        f"""
        import json
        from blotter.queries import parse_request
        from blotter.soql.compiler import compile_query
        from blotter.store.duckdb import DuckDBStore

        store = DuckDBStore({str(tmp_path / "blotter.duckdb")!r})
        dataset = store.get_dataset({dataset_id!r})
        answers = {{}}
        for name, params in (
            ("polygon", {{"$select": ":id", "$where": "within_polygon(at, '{BOX}')"}}),
            ("circle", {{"$select": ":id", "$where": "within_circle(at, 37.80, -122.27, 500)"}}),
            ("point", {{"$select": "at", "$where": "at IS NOT NULL", "$order": ":id"}}),
        ):
            query, filters = parse_request(params)
            select = compile_query(query, dataset, filters=filters).select
            answers[name] = [list(r) for r in store.execute(dataset, select)]
        answers["loaded"] = sorted(store.extensions.loaded)
        print(json.dumps(answers, default=str))
        """
    )
    answers = json.loads(fresh_python(script))
    assert [int(r[0]) for r in answers["polygon"]] == [1, 2]
    assert [int(r[0]) for r in answers["circle"]] == [1, 2]
    assert len(answers["point"]) == 3
    assert answers["loaded"] == []  # none of them needed an extension


def test_a_statement_calling_a_spatial_function_loads_spatial(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "blotter.duckdb")
    try:
        assert store.extensions.loaded == frozenset()
        assert store._read_sql("SELECT ST_AsText(ST_Point(1, 2))") == [("POINT (1 2)",)]
        assert store.extensions.loaded == frozenset({"spatial"})
    finally:
        store.close()
