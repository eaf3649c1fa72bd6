"""A polygon of many edges is tested band by band (each point tests only the edges that may
straddle its latitude): every point must get exactly the answer the test over all edges
gives, on both engines, including points on vertices and edges, nulls and NaN."""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import pyarrow as pa
import pytest

import blotter.queries as queries
import blotter.queries.compiled as compiled
import blotter.store.polygons as polygons
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.settings import Settings
from blotter.store import Store
from tests.polygons import multipolygon_wkt, wobbly_ring

COLUMNS = [Column(field_name="at", name="At", type=ColumnType.POINT)]


def _star(cx: float, cy: float, r: float, points: int) -> list[tuple[float, float]]:
    """Spikes: edges that span many bands, and vertices sharing latitudes."""
    ring = []
    for k in range(2 * points):
        radius = r if k % 2 == 0 else r / 3
        angle = math.pi * k / points
        ring.append(
            (round(cx + radius * math.cos(angle), 6), round(cy + radius * math.sin(angle), 6))
        )
    return [*ring, ring[0]]


OUTER = wobbly_ring(-122.2, 37.8, 0.1, 64)
HOLE = wobbly_ring(-122.2, 37.8, 0.03, 24)[::-1]
STAR = _star(-122.5, 37.6, 0.08, 17)
POLYGONS = {
    "wobbly": multipolygon_wkt([[OUTER]]),
    "with a hole, and a star": multipolygon_wkt([[OUTER, HOLE], [STAR]]),
}


def _points() -> list[tuple[float | None, float | None]]:
    """A grid over both shapes, every vertex, points on and beside each edge, nulls, NaN."""
    points: list[tuple[float | None, float | None]] = []
    for i in range(61):
        for j in range(41):
            points.append((-122.62 + i * 0.0085, 37.5 + j * 0.0105))
    for ring in (OUTER, HOLE, STAR):
        for (x1, y1), (x2, y2) in pairwise(ring):
            points += [(x1, y1), ((x1 + x2) / 2, (y1 + y2) / 2)]
            points += [(x1 - 1e-9, y1), (x1 + 1e-9, y1), (x1, y1 + 1e-12), (x1, y1 - 1e-12)]
            points += [(x1 - 0.5, y1), (x1 + 0.005, y2)]  # a vertex's latitude, elsewhere
    points += [(None, None), (-122.2, None), (None, 37.8), (math.nan, 37.8), (-122.2, math.nan)]
    return points


@pytest.fixture
def places(engine_store: Store) -> Any:
    ds = engine_store.create_dataset(DatasetMeta(name="Places"), COLUMNS, dataset_id="plcs-band")
    points = _points()
    batch = pa.record_batch(
        {
            "_at_lon": pa.array([p[0] for p in points], pa.float64()),
            "_at_lat": pa.array([p[1] for p in points], pa.float64()),
        }
    )
    engine_store.publish(ds.id, COLUMNS, [batch])
    return engine_store.get_dataset(ds.id)


def _answers(
    store: Store, dataset: Any, wkt: str, settings: Settings, banded_past: int
) -> tuple[list[tuple[Any, ...]], str]:
    """Each point's answer, and the SQL, with the bands used past ``banded_past`` edges;
    compiled afresh and never answered from kept answers."""
    compiled._COMPILED = queries.CompiledCache()
    polygons.BANDED_EDGES = banded_past
    polygons._written.clear()  # each polygon is written once: write it afresh
    params = {
        "$select": f":id, within_polygon(at, '{wkt}') AS inside",
        "$order": ":id",
        "$limit": "50000",
    }
    prepared = queries.prepare_query(store, dataset, params, settings)
    rows = list(queries.run(store, prepared, settings, keep=False).rows)
    return rows, store.engine_sql(dataset, prepared.compiled.select)[0]


@pytest.mark.parametrize("name", list(POLYGONS))
def test_bands_answer_as_every_edge(
    places: Any, engine_store: Store, engine_config: Settings, name: str, monkeypatch: Any
) -> None:
    monkeypatch.setattr(compiled, "_COMPILED", compiled._COMPILED)
    monkeypatch.setattr(polygons, "BANDED_EDGES", polygons.BANDED_EDGES)
    monkeypatch.setattr(polygons, "_written", {})
    wkt = POLYGONS[name]
    every, every_sql = _answers(engine_store, places, wkt, engine_config, 10**9)
    banded, banded_sql = _answers(engine_store, places, wkt, engine_config, 16)
    assert every_sql != banded_sql  # the bands were written
    assert "CASE WHEN" in banded_sql
    inside = [r for r in every if r[1] is True]
    outside = [r for r in every if r[1] is False]
    assert len(inside) > 100 and len(outside) > 100
    assert banded == every
