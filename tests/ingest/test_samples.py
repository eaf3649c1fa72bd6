"""The sample datasets: the real files load cleanly through their dataset files."""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from blotter.errors import ValidationFailed
from blotter.ingest.spec import DatasetSpec, load_spec_file
from blotter.samples import SPECS, sample_specs
from blotter.samples.engagement import _inside, city_ring, event_span, generate
from tests.ingest.conftest import published
from tests.paths import SAMPLES

FORCE_TYPES = {
    "firearm_display",
    "firearm_pointed",
    "cew_display",
    "cew_deployed",
    "oc_spray",
    "impact_weapon",
    "personal_impact_strike",
    "takedown",
    "empty_hand_control",
    "restraint_device",
}
RESISTANCE = [
    "compliant",
    "psychological_intimidation",
    "verbal_noncompliance",
    "passive",
    "active",
    "assaultive",
    "deadly_force",
]
# Every normalized column of the Rutland file and the only values it may hold.
VOCABULARY: dict[str, set[str]] = {
    "officer_rank": {"officer", "corporal", "sergeant", "commander"},
    "officer_race": {"white", "asian", "hispanic"},
    "officer_sex": {"male", "female"},
    "officer_role": {"primary", "assisting"},
    "subject_race": {"white", "black", "asian"},
    "subject_sex": {"male", "female"},
    "subject_injured": {"minor", "self_inflicted", "yes_unspecified"},
    "officer_injured": {"minor", "yes_unspecified", "exposure_no_injury"},
    "force_type": FORCE_TYPES,
    "force_category": {"verbal", "physical", "chemical", "impact", "electronic", "firearm"},
    "weapon": {"firearm", "edged", "blunt", "other", "unknown_type"},
    "resistance_level": {*RESISTANCE, "other"},
    "reason": {
        "effect_arrest",
        "officer_safety",
        "defend_self",
        "defend_other",
        "investigative_detention",
        "prevent_escape",
        "subject_safety",
        "assist_other_agency",
    },
    "review_outcome": {"within_policy"},
}


def raw_rows(spec: DatasetSpec) -> list[dict[str, str]]:
    with spec.source_path().open(encoding="utf-8-sig", newline="") as handle:  # type: ignore[union-attr]
        return list(csv.DictReader(handle))


def tokens(table: pa.Table, field: str) -> list[str]:
    return [t for cell in table.column(field).to_pylist() if cell for t in cell.split("; ")]


def test_the_four_samples_in_order() -> None:
    assert [p.name for p in sample_specs()] == list(SPECS)
    assert all(p.exists() for p in sample_specs())


def test_the_dirty_rutland_file_loads_all_221_rows(rutland: tuple[DatasetSpec, pa.Table]) -> None:
    spec, table = rutland
    assert spec.id == "e2x9-2kgt"
    assert table.num_rows == 221
    assert len(set(table.column("case_number").to_pylist())) == 103
    dates = table.column("occurred_date").to_pylist()
    assert (min(dates), max(dates)) == (datetime(2015, 1, 11), datetime(2017, 12, 17))


@pytest.mark.parametrize("field", sorted(VOCABULARY))
def test_every_normalized_rutland_value_is_in_its_vocabulary(
    rutland: tuple[DatasetSpec, pa.Table], field: str
) -> None:
    _, table = rutland
    assert set(tokens(table, field)) <= VOCABULARY[field]


def test_trailing_spaces_no_longer_make_two_categories(
    rutland: tuple[DatasetSpec, pa.Table],
) -> None:
    spec, table = rutland
    raw = raw_rows(spec)
    # "White" and "White " were two races in the source.
    assert Counter(r["Subject Race"] for r in raw) == {
        "White": 185,
        "Black": 25,
        "White ": 10,
        "Asian": 1,
    }
    assert Counter(table.column("subject_race").to_pylist()) == {
        "white": 195,
        "black": 25,
        "asian": 1,
    }
    assert Counter(table.column("officer_sex").to_pylist()) == {"male": 205, "female": 16}
    for field in table.column_names:
        if table.schema.field(field).type == pa.string() and not field.endswith("_raw"):
            text = [v for v in table.column(field).to_pylist() if v is not None]
            assert all(v == " ".join(v.split()) for v in text), field


def test_no_misspelling_survives_normalization(rutland: tuple[DatasetSpec, pa.Table]) -> None:
    _, table = rutland
    normalized = [f for f in VOCABULARY if f in table.column_names]
    seen = " ".join(t for f in normalized for t in tokens(table, f)).casefold()
    for typo in (
        "restistance",
        "reststance",
        "friearms",
        "fiream",
        "hadn",
        "stirke",
        "intimination",
    ):
        assert typo not in seen


def test_raw_values_are_kept_beside_the_normalized_ones(
    rutland: tuple[DatasetSpec, pa.Table],
) -> None:
    spec, table = rutland
    raw = raw_rows(spec)
    pairs = {
        "subject_race_raw": "Subject Race",
        "officer_race_raw": "Officer Race",
        "force_type_raw": "Force Utilized",
        "resistance_raw": "Level of Resistance",
        "arrest_charges_raw": "Arrested",
    }
    for field, header in pairs.items():
        assert table.column(field).to_pylist() == [r[header] or None for r in raw], field
    row = next(i for i, r in enumerate(raw) if r["Force Utilized"].startswith("Friearms"))
    assert table.column("force_type")[row].as_py() == "firearm_display; empty_hand_control"
    assert table.column("force_category")[row].as_py() == "firearm; physical"
    row = next(i for i, r in enumerate(raw) if "Hadn" in r["Force Utilized"])
    assert table.column("force_type")[row].as_py() == "empty_hand_control; personal_impact_strike"
    row = next(i for i, r in enumerate(raw) if r["Level of Resistance"] == "Active Restistance")
    assert table.column("resistance_level")[row].as_py() == "active"


def test_free_text_yes_no_fields_become_canonical_values(
    rutland: tuple[DatasetSpec, pa.Table],
) -> None:
    spec, table = rutland
    raw = raw_rows(spec)
    by_raw = dict(
        zip([r["Arrested"] for r in raw], table.column("arrested").to_pylist(), strict=True)
    )
    assert by_raw["N/A-Investigation Revealed Weapon was a Pellett Gun "] is False
    assert by_raw["Disorderly Conduct"] is True
    assert by_raw[""] is None
    assert Counter(table.column("arrested").to_pylist()) == {True: 178, False: 20, None: 23}
    injured = dict(
        zip(
            [r["Subject  Injured"] for r in raw],
            table.column("subject_injured").to_pylist(),
            strict=True,
        )
    )
    assert injured["Yes-Self Inflicted "] == "self_inflicted"
    assert injured["Multiple Abrasions/Bloody Nose/Cut Lip"] == "minor"


def test_resistance_rank_orders_the_levels(rutland: tuple[DatasetSpec, pa.Table]) -> None:
    _, table = rutland
    for level, rank in zip(
        table.column("resistance_level").to_pylist(),
        table.column("resistance_rank").to_pylist(),
        strict=True,
    ):
        assert rank == (RESISTANCE.index(level) if level in RESISTANCE else None)


def test_no_age_under_18_is_published(rutland: tuple[DatasetSpec, pa.Table]) -> None:
    _, table = rutland
    ages = table.column("subject_age").to_pylist()
    assert all(a is None or a >= 18 for a in ages)


def test_a_value_the_department_never_used_stops_the_load(tmp_path: Path) -> None:
    spec = load_spec_file(SAMPLES / "use_of_force.yaml")
    text = spec.source_path().read_text(encoding="utf-8")  # type: ignore[union-attr]
    moved = tmp_path / "data" / "rutland_use_of_force_2015_2017.csv"
    moved.parent.mkdir()
    moved.write_text(text.replace("Taser display/empty hand controls", "Taser Dispaly", 1))
    spec.base_dir = tmp_path
    with pytest.raises(ValidationFailed) as caught:
        published(moved, spec)
    (problem,) = caught.value.problems
    assert (problem["column"], problem["value"]) == ("Force Utilized", "Taser Dispaly")
    assert problem["reason"].startswith("'Taser Dispaly' is not a known value")


def test_takoma_park_arrests_load_every_real_row() -> None:
    spec = load_spec_file(SAMPLES / "arrests.yaml")
    table = published(spec.source_path(), spec)  # type: ignore[arg-type]
    assert table.num_rows == 1911
    assert "" not in [c.source for c in spec.columns]  # the unnamed index column is left out
    assert sum(a is None for a in table.column("age").to_pylist()) == 118  # juveniles withheld
    assert set(table.column("race").to_pylist()) == {"black", "white", "asian", "hispanic"}
    assert "Hispanic" in next(c.description for c in spec.columns if c.field == "race")


def test_takoma_park_calls_load_every_real_row_with_a_location() -> None:
    spec = load_spec_file(SAMPLES / "calls_for_service.yaml")
    table = published(spec.source_path(), spec)  # type: ignore[arg-type]
    assert table.num_rows == 11735
    assert table.column("_location_lat").null_count == 0
    lats, lons = (
        table.column("_location_lat").to_pylist(),
        table.column("_location_lon").to_pylist(),
    )
    assert 38.9 < min(lats) <= max(lats) < 39.1
    assert -77.1 < min(lons) <= max(lons) < -76.9


def test_takoma_park_calls_publish_no_exact_point() -> None:
    """The City's file has exact coordinates; the sample publishes each call at the centre
    of the 150 m grid cell holding it (a department copying the file copies the rule)."""
    spec = load_spec_file(SAMPLES / "calls_for_service.yaml")
    assert [(p.column, p.grid_m) for p in spec.privacy.points] == [("location", 150)]
    table = published(spec.source_path(), spec)  # type: ignore[arg-type]
    with spec.source_path().open(newline="", encoding="utf-8") as f:  # type: ignore[union-attr]
        exact = [(float(r["latitude"]), float(r["longitude"])) for r in csv.DictReader(f)]
    shown = zip(
        table.column("_location_lat").to_pylist(),
        table.column("_location_lon").to_pylist(),
        strict=True,
    )
    step_lat = 150 / 111_320  # degrees of latitude in 150 m
    for (lat, lon), (shown_lat, shown_lon) in zip(exact, shown, strict=True):
        assert (shown_lat, shown_lon) != (lat, lon)
        step_lon = step_lat / math.cos(math.radians(shown_lat))  # the cell stays 150 m wide
        # The cell's centre (to the 6 decimals published), and the cell the call was in.
        assert abs((shown_lat / step_lat - 0.5) - round(shown_lat / step_lat - 0.5)) < 1e-3
        assert abs((shown_lon / step_lon - 0.5) - round(shown_lon / step_lon - 0.5)) < 1e-3
        assert abs(shown_lat - lat) <= step_lat / 2 + 1e-6
        assert abs(shown_lon - lon) <= step_lon / 2 + 1e-6
    assert len(set(zip(*exact, strict=True))) > len(set(shown)) * 10  # 2,695 places, 258 cells


def test_generated_engagement_is_deterministic_and_inside_the_city(tmp_path: Path) -> None:
    loaded_on = date(2026, 11, 30)
    one = generate(tmp_path / "a.csv", today=loaded_on).read_bytes()
    assert generate(tmp_path / "b.csv", today=loaded_on).read_bytes() == one
    assert generate(tmp_path / "c.csv", seed=7, today=loaded_on).read_bytes() != one
    assert generate(tmp_path / "d.csv", today=date(2027, 3, 1)).read_bytes() != one
    rows = list(csv.DictReader((tmp_path / "a.csv").open(encoding="utf-8")))
    assert len(rows) == 300
    ring = city_ring()
    assert all(_inside(float(r["latitude"]), float(r["longitude"]), ring) for r in rows)
    assert all("Generated sample record" in r["description"] for r in rows)
    days = sorted(date.fromisoformat(r["starts_at"][:10]) for r in rows)
    # Three years back to three months ahead of the day the demo was loaded.
    assert date(2023, 11, 30) <= days[0] < date(2024, 1, 15)
    assert date(2027, 2, 1) < days[-1] <= date(2027, 3, 2)
    upcoming = [d for d in days if d > loaded_on]
    assert 10 < len(upcoming) < 50
    assert event_span(date(2028, 2, 29)) == (date(2025, 2, 28), date(2028, 5, 31))


def test_the_boundary_test_is_right_about_known_places() -> None:
    ring = city_ring()
    assert _inside(43.6066, -72.9792, ring)  # the police station, 108 Wales St
    assert not _inside(43.65, -72.90, ring)  # Rutland Town, north-east of the city
    shape = json.loads((SAMPLES / "data" / "rutland_city_boundary.geojson").read_text())
    assert shape["features"][0]["properties"]["town"]


def test_generated_engagement_loads_through_its_labelled_dataset_file(tmp_path: Path) -> None:
    spec = load_spec_file(SAMPLES / "community_engagement.yaml")
    assert spec.sample and "(generated sample)" in spec.name
    assert "GENERATED SAMPLE DATA" in spec.description
    shutil.copy(generate(tmp_path / str(spec.source)), tmp_path / "copy.csv")
    spec.base_dir = tmp_path
    table = published(spec.source_path(), spec)  # type: ignore[arg-type]
    assert table.num_rows == 300
    assert table.column("_location_lat").null_count == 0
    assert min(table.column("attendees").to_pylist()) >= 3


def test_takoma_park_traffic_stops_load_every_real_row() -> None:
    """The City's 22,392 stops; counts checked against the copied file read plainly."""
    spec = load_spec_file(SAMPLES / "traffic_stops.yaml")
    assert spec.id == "tkpk-stps" and spec.benchmark is not None
    source = spec.source_path()
    assert source is not None and source.parent == SAMPLES / "data"
    raw = list(csv.DictReader(source.open(encoding="utf-8")))
    table = published(source, spec)
    assert table.num_rows == len(raw) == 22392
    outcomes = Counter(table.column("outcome").to_pylist())
    assert outcomes == {"citation": 11066, "warning": 7344, "repair_order": 3982}
    races = Counter(table.column("race").to_pylist())
    assert races == Counter(r["race"].lower().replace(" ", "_") or None for r in raw)
    residence = Counter(table.column("residence").to_pylist())
    assert residence["montgomery_county"] == 11193 and residence["outside_maryland"] == 3866
    assert sum(residence.values()) == 22392 and None not in residence
    years = Counter(d.year for d in table.column("stop_date").to_pylist())
    assert years == {2015: 8074, 2016: 4465, 2017: 3288, 2018: 2881, 2019: 2091, 2020: 1593}
    ages = [a for a in table.column("age").to_pylist() if a is not None]
    assert min(ages) >= 18  # juveniles' exact ages withheld; the band stays
