"""Maps and hotspots count what the page counts: a use-of-force file has one row per
officer–subject pair, and a case with three officers at one address is one incident on the
map, in a hotspot cell and in the hotspots' JSON, on both engines."""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from blotter.analysis.hotspots import MIN_POINTS, hotspots_of, located_points, snap_step
from blotter.analysis.units import located_units, place_once, unit_of
from blotter.app import create_app
from blotter.errors import InvalidRequest
from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file
from blotter.model import Dataset
from blotter.settings import Settings
from blotter.store import Store

SPEC = (
    "name: Use of force\n"
    "row_noun: officer–subject pairs\n"
    "units:\n"
    "  - {name: incidents, key: case_number, noun: incidents}\n"
    "columns:\n"
    "  - {field: case_number, source: CASE}\n"
    "  - {field: officer, source: OFFICER}\n"
    "  - {field: location, type: point, latitude: LAT, longitude: LON}\n"
)
CASES = 40  # C00…C39 on a grid about 330 m apart; C00…C09 had three officers each
TRIPLED = 10


def _place(i: int) -> tuple[float, float]:
    return (-72.97 + (i % 8) * 0.004, 43.60 + (i // 8) * 0.003)


def _rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(CASES):
        lon, lat = _place(i)
        for officer in range(3 if i < TRIPLED else 1):
            rows.append({"CASE": f"C{i:02}", "OFFICER": f"O{officer}", "LAT": lat, "LON": lon})
    # C40: two officers at one address, a third recorded about 700 m away.
    for officer, (lon, lat) in enumerate([_place(0), _place(0), _place(18)]):
        rows.append({"CASE": "C40", "OFFICER": f"O{officer}", "LAT": lat, "LON": lon})
    # A row without a location, and one without a case number: neither is placed.
    rows.append({"CASE": "C41", "OFFICER": "O0", "LAT": "", "LON": ""})
    rows.append({"CASE": "", "OFFICER": "O0", "LAT": 43.6, "LON": -72.97})
    return rows


ROWS_LOCATED = TRIPLED * 3 + (CASES - TRIPLED) + 3 + 1  # 64, the caseless row too
INCIDENTS_LOCATED = CASES + 1  # 41: C40 once; the caseless row is no incident


@pytest.fixture
def force(engine_store: Store, tmp_path: Path) -> Dataset:
    data = tmp_path / "force.csv"
    with data.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["CASE", "OFFICER", "LAT", "LON"])
        writer.writeheader()
        writer.writerows(_rows())
    spec = tmp_path / "force.yaml"
    spec.write_text(SPEC)
    result = load_file(engine_store, data, spec=load_spec_file(spec))
    return engine_store.get_dataset(result.dataset_id)


def test_three_officers_at_one_place_are_one_incident_on_the_map(
    engine_store: Store, force: Dataset
) -> None:
    """The brief's shape: three rows of C00 at one place, one row of C39 elsewhere."""
    where = "case_number IN ('C00', 'C39')"
    incidents = unit_of(force, None)
    rows = unit_of(force, "rows")
    assert incidents.name == "incidents"
    for step in (None, snap_step(250)):  # the dot map's own places; the hotspot lattice
        placed = located_units(engine_store, force, Settings(), incidents, where, step)
        assert sorted(n for *_, n in placed.spots) == [1, 1]
        assert (placed.total, placed.spread) == (2, 0)
        counted = located_units(engine_store, force, Settings(), rows, where, step)
        assert sorted(n for *_, n in counted.spots) == [1, 3]


def test_a_case_at_two_places_counts_once_where_most_of_its_rows_are(
    engine_store: Store, force: Dataset
) -> None:
    placed = located_units(
        engine_store, force, Settings(), unit_of(force, None), "case_number = 'C40'"
    )
    ((lon, lat, n),) = placed.spots
    assert (lon, lat) == pytest.approx(_place(0)) and n == 1
    assert (placed.total, placed.spread) == (1, 1)
    assert placed.spread_note.startswith("1 of the 1 incidents has rows at more than one place")


def test_place_once_breaks_ties_to_the_south_then_west() -> None:
    spots, spread = place_once([(2.0, 1.0, "a", 1), (1.0, 2.0, "a", 1), (5.0, 5.0, "b", 2)])
    assert spots == [(2.0, 1.0, 1), (5.0, 5.0, 1)] and spread == 1


def test_hotspots_count_incidents_and_keep_units_apart(engine_store: Store, force: Dataset) -> None:
    """Asked in rows first and kept with the version's answers, the hotspots in incidents
    are still counted in incidents: the kept answers never mix units."""
    settings = Settings()
    by_rows = hotspots_of(engine_store, force, settings, None, 250, unit_of(force, "rows"))
    by_incident = hotspots_of(engine_store, force, settings, None, 250)
    assert (by_rows.points, by_rows.noun) == (ROWS_LOCATED, "officer–subject pairs")
    assert (by_incident.points, by_incident.unit) == (INCIDENTS_LOCATED, "incidents")
    assert sum(c.count for c in by_incident.cells) == INCIDENTS_LOCATED
    assert sum(c.count for c in by_rows.cells) == ROWS_LOCATED
    assert by_incident.spread == 1 and "Incidents counted on a square grid, each once" in (
        by_incident.method
    )
    # The cell of C00 holds C00 and C40 (two incidents), against six rows (with the
    # caseless one).
    lon, lat = _place(0)
    here = [
        c
        for c in by_incident.cells
        if c.bounds[0] <= lon < c.bounds[2] and c.bounds[1] <= lat < c.bounds[3]
    ]
    there = [
        c
        for c in by_rows.cells
        if c.bounds[0] <= lon < c.bounds[2] and c.bounds[1] <= lat < c.bounds[3]
    ]
    assert [c.count for c in here] == [2] and [c.count for c in there] == [6]
    assert located_points(engine_store, force, settings, None).total == INCIDENTS_LOCATED


def test_too_few_located_incidents_is_said_in_incidents(
    engine_store: Store, force: Dataset
) -> None:
    """Thirty-five rows but fifteen incidents: the rule counts incidents."""
    where = "case_number < 'C15'"
    rows = hotspots_of(engine_store, force, Settings(), where, 250, unit_of(force, "rows"))
    assert rows.points >= MIN_POINTS
    with pytest.raises(InvalidRequest, match="at least 30 located incidents; .* leave 15"):
        hotspots_of(engine_store, force, Settings(), where, 250)


def test_the_page_and_the_json_say_the_same_number_of_incidents(
    engine_config: Settings, engine_store: Store, force: Dataset
) -> None:
    client = TestClient(create_app(engine_config, store=engine_store))
    page = client.get(f"/datasets/{force.id}", params={"chart.hotspots": "250"}).text
    words = re.sub(r"\s+", " ", page)
    assert f'aria-label="Map of {INCIDENTS_LOCATED} located incidents"' in page
    assert (
        f"{INCIDENTS_LOCATED} of the 42 matching incidents have a location; the map shows "
        "every one, each once, at the place most of its rows give." in words
    )
    assert "1 of the 41 incidents has rows at more than one place" in words
    assert f'aria-label="Hotspots of {INCIDENTS_LOCATED} located incidents' in page
    assert "Incidents in cell" in page and "Hot means significantly more incidents" in words
    geo = client.get(f"/api/analysis/v1/{force.id}/hotspots.geojson", params={"cell": "250"})
    props = geo.json()["properties"]
    assert (props["points"], props["unit"], props["counted"]) == (41, "incidents", "incidents")
    assert sum(f["properties"]["count"] for f in geo.json()["features"]) == INCIDENTS_LOCATED
    in_rows = client.get(
        f"/api/analysis/v1/{force.id}/hotspots.geojson", params={"cell": "250", "unit": "rows"}
    ).json()["properties"]
    assert (in_rows["points"], in_rows["unit"]) == (ROWS_LOCATED, "rows")
    rows_page = client.get(f"/datasets/{force.id}", params={"chart.unit": "rows"}).text
    assert f'aria-label="Map of {ROWS_LOCATED} located officer–subject pairs"' in rows_page
    live = re.search(r'data-points="([^"]+)"', page)
    assert live is not None
    features = client.get(html.unescape(live.group(1))).json()["features"]
    # The interactive map counts each incident at each place it has rows: C40 twice.
    assert sum(int(f["properties"]["n"]) for f in features) == INCIDENTS_LOCATED + 1
