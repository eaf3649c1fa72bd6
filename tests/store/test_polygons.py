"""The compiler marks ``within_polygon`` and the stores write the mark (store/polygons.py):
every query holding one must run, to the character, the SQL of the same query with the
test spelt out in its tree, and give the same rows, on both engines: in ``$where``,
``$select``, ``$group`` and ``$having``, with holes, several polygons, a union of questions,
an old version read from its history table, and the columns an anonymous caller sees."""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import pyarrow as pa
import pytest

import blotter.queries.compiled as compiled
import blotter.store.polygons as polygons
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.queries import CompiledCache, prepare_query, run_together
from blotter.schema import PolygonTest
from blotter.settings import Settings
from blotter.store import Store
from blotter.store.pgsql import Psycopg
from blotter.store.polygons import DuckDBWithPolygons, expanded
from tests.polygons import multipolygon_wkt, wobbly_ring

COLUMNS = [
    Column(field_name="at", name="At", type=ColumnType.POINT),
    Column(field_name="kind", name="Kind", type=ColumnType.TEXT),
    Column(field_name="beat", name="Beat", type=ColumnType.TEXT),
    Column(field_name="officer", name="Officer", type=ColumnType.TEXT, internal=True),
]


OUTER = wobbly_ring(-122.2, 37.8, 0.1, 64, phase=2)
HOLE = wobbly_ring(-122.2, 37.8, 0.03, 24, phase=2)[::-1]
BOX = [(-122.45, 37.62), (-122.35, 37.62), (-122.35, 37.7), (-122.45, 37.7), (-122.45, 37.62)]
AREA = multipolygon_wkt([[OUTER]])
HOLED = multipolygon_wkt([[OUTER, HOLE], [BOX]])
SMALL = "POLYGON ((" + ", ".join(f"{x} {y}" for x, y in BOX) + "))"
GRID = 1440  # the first points: a grid over the shapes


def _points() -> list[tuple[float | None, float | None]]:
    """A grid over the shapes, every vertex, points on and beside each edge, nulls, NaN."""
    points: list[tuple[float | None, float | None]] = [
        (-122.5 + i * 0.0101, 37.6 + j * 0.0093) for i in range(40) for j in range(GRID // 40)
    ]
    for ring in (OUTER, HOLE, BOX):
        for (x1, y1), (x2, y2) in pairwise(ring):
            points += [(x1, y1), ((x1 + x2) / 2, (y1 + y2) / 2), (x1 - 1e-9, y1), (x1, y1 + 1e-12)]
    return [*points, (None, None), (-122.2, None), (math.nan, 37.8)]


def _batch(points: list[tuple[float | None, float | None]]) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "_at_lon": pa.array([p[0] for p in points], pa.float64()),
            "_at_lat": pa.array([p[1] for p in points], pa.float64()),
            "kind": pa.array([f"k{i % 5}" for i in range(len(points))], pa.string()),
            "beat": pa.array([f"b{i % 7}" for i in range(len(points))], pa.string()),
            "officer": pa.array([f"o{i % 3}" for i in range(len(points))], pa.string()),
        }
    )


@pytest.fixture
def versions(engine_store: Store) -> list[Dataset]:
    """Version 1 read from its history table, version 2 as served, and version 2 as an
    anonymous caller sees it (no internal column)."""
    ds = engine_store.create_dataset(DatasetMeta(name="Areas"), COLUMNS, dataset_id="area-mark")
    points = _points()
    engine_store.publish(ds.id, COLUMNS, [_batch(points)])
    engine_store.publish(ds.id, COLUMNS, [_batch(points[::2])])
    served = engine_store.get_dataset(ds.id)
    old = engine_store.dataset_at(ds.id, 1)
    assert old.history_table and not served.history_table
    public = served.model_copy(update={"columns": [c for c in COLUMNS if not c.internal]})
    return [old, served, public]


def _inside(rings: list[list[tuple[float, float]]], lon: float | None, lat: float | None) -> bool:
    """Even-odd ray casting, as the SQL writes it, edge by edge in Python."""
    if lon is None or lat is None or math.isnan(lon) or math.isnan(lat):
        return False
    crossings = 0
    for ring in rings:
        for (x1, y1), (x2, y2) in pairwise(ring):
            if y1 != y2 and (y1 > lat) != (y2 > lat):
                crossings += lon < (x2 - x1) / (y2 - y1) * (lat - y1) + x1
    return crossings % 2 == 1


QUESTIONS = {
    "where": {"$select": ":id, kind", "$where": f"within_polygon(at, '{AREA}')", "$order": ":id"},
    "select": {
        "$select": f":id, at, within_polygon(at, '{HOLED}') AS inside",
        "$order": ":id",
        "$limit": "5000",
    },
    "group and having": {
        "$select": "kind, count(*) AS n",
        "$where": f"within_polygon(at, '{HOLED}') OR within_polygon(at, '{SMALL}')",
        "$group": "kind",
        "$having": f"sum(case(within_polygon(at, '{AREA}'), 1, true, 0)) >= 1",
        "$order": "kind",
    },
    "with a text filter": {
        "$select": "count(*)",
        "$where": f"kind = 'k2' AND intersects(at, '{AREA}')",
    },
}


@pytest.mark.parametrize("name", list(QUESTIONS))
def test_the_mark_runs_the_sql_of_the_test_spelt_out(
    engine_store: Store,
    engine_config: Settings,
    versions: list[Dataset],
    name: str,
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(compiled, "_COMPILED", CompiledCache())
    for dataset in versions:
        select = prepare_query(engine_store, dataset, QUESTIONS[name], engine_config)
        marked = select.compiled.select
        plain = expanded(marked)
        assert marked.find(PolygonTest) is not None and plain.find(PolygonTest) is None
        assert engine_store.engine_sql(dataset, marked) == engine_store.engine_sql(dataset, plain)
        got = list(engine_store.execute(dataset, marked))
        # repr: a NaN point is equal to itself only as text
        assert repr(got) == repr(list(engine_store.execute(dataset, plain))) and got


def test_the_rows_inside_are_those_ray_casting_finds(
    engine_store: Store, engine_config: Settings, versions: list[Dataset]
) -> None:
    """The grid's points: in the ring, in its hole, in the second polygon, outside all."""
    rings = [OUTER, HOLE, BOX]
    grid = set(_points()[:GRID])
    for dataset in versions:
        select = prepare_query(engine_store, dataset, QUESTIONS["select"], engine_config)
        rows = list(engine_store.execute(dataset, select.compiled.select))
        assert len(rows) == len(_points()[:: dataset.version])
        on_grid = [(r[1], r[2], r[3]) for r in rows if (r[1], r[2]) in grid]
        assert len(on_grid) == (GRID if dataset.version == 1 else GRID // 2)
        inside = [r[2] for r in on_grid]
        assert inside == [_inside(rings, lon, lat) for lon, lat, _ in on_grid]
        assert 50 < sum(inside) < len(inside) - 50


def test_a_union_of_questions_answers_as_each_spelt_out(
    engine_store: Store, engine_config: Settings, versions: list[Dataset], monkeypatch: Any
) -> None:
    """The filter form's counts share the area's ``$where``: one union, the same rows."""
    monkeypatch.setattr(compiled, "_COMPILED", CompiledCache())
    where = f"within_polygon(at, '{HOLED}')"
    questions = [
        {
            "$select": f"{c} AS value, count(*) AS n",
            "$where": where,
            "$group": c,
            "$order": "n DESC, value",
        }
        for c in ("kind", "beat")
    ]
    for dataset in versions:
        together = run_together(engine_store, dataset, questions, engine_config)
        alone = [
            list(
                engine_store.execute(
                    dataset,
                    expanded(
                        prepare_query(engine_store, dataset, q, engine_config).compiled.select
                    ),
                )
            )
            for q in questions
        ]
        assert together == alone and all(together)


def test_each_polygon_is_written_once_as_sqlglot_writes_it(
    engine_store: Store, engine_config: Settings, versions: list[Dataset], monkeypatch: Any
) -> None:
    """The store's dialect writes the mark as sqlglot's own dialect writes the test spelt
    out, and keeps the text: the next query of the same area does not write it again."""
    monkeypatch.setattr(polygons, "_written", {})
    duckdb = engine_store.engine == "duckdb"
    dialect, stock = (DuckDBWithPolygons, "duckdb") if duckdb else (Psycopg, Psycopg)
    marked = prepare_query(engine_store, versions[1], QUESTIONS["group and having"], engine_config)
    select = marked.compiled.select
    assert select.sql(dialect=dialect) == expanded(select).sql(dialect=stock)
    assert len(polygons._written) == 3  # three polygons, each written once
    assert select.sql(dialect=dialect) == expanded(select).sql(dialect=stock)
    assert len(polygons._written) == 3
    with pytest.raises(ValueError, match="PolygonTest"):
        select.sql(dialect="postgres")  # a dialect that cannot write the mark says so
