"""A rate table's residence figures, on both engines, against the real Takoma Park arrests
counted here in Python from the published file: by arrest (rows) and by report (a unit
several arrests share), the share that involves people living outside the city is counted
as such, not as what is left once residents and unknowns are taken away."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from blotter.analysis.benchmarks import rate_table
from blotter.analysis.units import unit_of
from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file
from blotter.samples import HERE
from blotter.settings import Settings
from blotter.store import Store
from tests.samples import publish_samples

CITY = "Takoma Park"


def _expected(key: str) -> tuple[int, int, int]:
    """(units, units involving someone living outside the city, units involving someone
    whose residence is unknown), from the file: ``key`` groups rows into units."""
    with (HERE / "data" / "tp_all_arrests_final.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    units: dict[str, list[str]] = {}
    for i, row in enumerate(rows):
        units.setdefault(row[key] if key else str(i), []).append(row["a.city"])
    outside = sum(any(c not in (CITY, "UNK") for c in cities) for cities in units.values())
    unknown = sum("UNK" in cities for cities in units.values())
    return len(units), outside, unknown


@pytest.fixture
def arrests(engine_store: Store, tmp_path: Path) -> Store:
    publish_samples(engine_store, ("takoma_park_population.yaml",))
    spec = (HERE / "arrests.yaml").read_text()
    spec = spec.replace("source: data/", f"source: {HERE / 'data'}/")
    spec += "units:\n  - {name: reports, key: report_number, noun: reports}\n"
    (tmp_path / "arrests.yaml").write_text(spec)
    loaded = load_spec_file(tmp_path / "arrests.yaml")
    source = loaded.source_path()
    assert source is not None
    load_file(engine_store, source, spec=loaded)
    return engine_store


@pytest.mark.parametrize(("unit", "key"), [("rows", ""), ("reports", "report.")])
def test_people_living_elsewhere_are_counted_in_every_unit(
    arrests: Store, engine_config: Settings, unit: str, key: str
) -> None:
    dataset = arrests.get_dataset("tkpk-rrst")
    population = arrests.get_dataset("tkpk-pppl")
    table = rate_table(arrests, dataset, population, engine_config, unit=unit_of(dataset, unit))
    total, outside, unknown = _expected(key)
    assert (table.total, table.non_residents, table.residence_unknown) == (total, outside, unknown)
    assert table.residence_text.startswith(f"{outside:,} of the {total:,} ")
