"""The summary's one query also counts the units with a location, and keeps that count as
the answer to the map's own question: it must be the count the map's question gets from
the engine, for rows and for a declared unit, unfiltered and filtered, on both engines."""

from __future__ import annotations

import pyarrow as pa
import pytest

from blotter.analysis.summary import dataset_facts
from blotter.analysis.units import units_of
from blotter.model import Column, ColumnType, CountUnit, DatasetMeta
from blotter.queries import answers, prepare_query, run
from blotter.settings import Settings
from blotter.store import Store

COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="kind", name="Kind", type=ColumnType.TEXT),
    Column(field_name="at", name="At", type=ColumnType.POINT),
]
# Cases of one to three rows; some rows, and some whole cases, without a location.
ROWS = [
    ("c1", "theft", -122.27, 37.80),
    ("c1", "theft", None, None),
    ("c2", "fraud", None, None),
    ("c3", "theft", -122.25, 37.81),
    ("c3", "fraud", -122.25, 37.81),
    ("c3", "theft", None, None),
    ("c4", "theft", None, None),
    ("c5", "fraud", -122.20, 37.70),
]


@pytest.mark.parametrize("where", [None, "kind = 'theft'", "kind = 'fraud' AND case_no != 'c5'"])
def test_the_kept_located_count_is_the_engines(
    engine_store: Store, engine_config: Settings, where: str | None
) -> None:
    meta = DatasetMeta(name="Cases", units=[CountUnit(name="cases", key="case_no")])
    dataset = engine_store.create_dataset(meta, COLUMNS, dataset_id="case-0001")
    batch = pa.record_batch(
        {
            "case_no": pa.array([r[0] for r in ROWS]),
            "kind": pa.array([r[1] for r in ROWS]),
            "_at_lon": pa.array([r[2] for r in ROWS], pa.float64()),
            "_at_lat": pa.array([r[3] for r in ROWS], pa.float64()),
        }
    )
    engine_store.publish(dataset.id, COLUMNS, [batch])
    dataset = engine_store.get_dataset(dataset.id)
    located = "`at` IS NOT NULL"
    asked_where = f"({where}) AND {located}" if where else located
    units = units_of(dataset)
    assert [u.key for u in units] == ["case_no", None]
    for unit in units:
        dataset_facts(engine_store, dataset, engine_config, where, unit)
        asked = {"$select": unit.count, "$where": asked_where}
        prepared = prepare_query(engine_store, dataset, asked, engine_config)
        cache = answers(engine_store, engine_config)
        hits = cache.hits
        kept = list(run(engine_store, prepared, engine_config).rows)
        assert cache.hits == hits + 1, unit.name  # kept: the map runs no query for it
        counted = list(run(engine_store, prepared, engine_config, keep=False).rows)
        assert kept == counted and counted[0][0] > 0, unit.name
