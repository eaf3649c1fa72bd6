"""Whole loads into both real stores: every problem reported, nothing half-published."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from sqlglot import exp

from blotter.errors import IngestError, ValidationFailed
from blotter.ingest.pipeline import load_file, prepare
from blotter.ingest.spec import DatasetSpec, load_spec_file
from blotter.samples import SPECS, load_samples
from blotter.samples.engagement import _inside, city_ring, generate
from blotter.schema import DATASET_TABLE
from blotter.settings import Settings
from blotter.store import Store

SAMPLES = Path(__file__).parents[2] / "blotter" / "samples"


@pytest.fixture
def settings(engine_config: Settings) -> Settings:
    return engine_config


@pytest.fixture
def store(engine_store: Store) -> Store:
    return engine_store


def table_of(path: Path, spec: DatasetSpec | None = None) -> pa.Table:
    return pa.Table.from_batches(list(prepare(path, spec).batches()))


def values(store: Store, dataset_id: str, field: str) -> list[object]:
    dataset = store.get_dataset(dataset_id)
    select = exp.select(exp.column(field, quoted=True)).from_(DATASET_TABLE).order_by("_id")
    return [row[0] for row in store.execute(dataset, select)]


def test_the_dirty_rutland_file_loads_cleanly_through_its_dataset_file() -> None:
    spec = load_spec_file(SAMPLES / "use_of_force.yaml")
    table = table_of(spec.source_path(), spec)  # type: ignore[arg-type]
    assert table.num_rows == 221
    raw = list(csv.DictReader(spec.source_path().open(encoding="utf-8")))  # type: ignore[union-attr]
    # Trailing spaces made "White" and "White " two races in the source; not any more.
    assert Counter(r["Subject Race"] for r in raw)["White "] == 10
    races = Counter(table.column("subject_race").to_pylist())
    assert races == {"white": 195, "black": 25, "asian": 1}
    # The raw value is kept beside the normalized one.
    assert table.column("subject_race_raw").to_pylist() == [r["Subject Race"] for r in raw]
    force = [v for cell in table.column("force_type").to_pylist() if cell for v in cell.split("; ")]
    vocabulary = {
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
    assert set(force) <= vocabulary
    assert Counter(force)["empty_hand_control"] == 121
    # "Friearms Display/Empty Hand Controls" → two clean values.
    misspelt = [i for i, r in enumerate(raw) if "Friearms" in r["Force Utilized"]]
    assert table.column("force_type")[misspelt[0]].as_py() == "firearm_display; empty_hand_control"
    categories = {
        v for cell in table.column("force_category").to_pylist() if cell for v in cell.split("; ")
    }
    assert categories <= {"verbal", "physical", "chemical", "impact", "electronic", "firearm"}
    levels = set(table.column("resistance_level").to_pylist()) - {None}
    assert levels <= {
        "compliant",
        "psychological_intimidation",
        "verbal_noncompliance",
        "passive",
        "active",
        "assaultive",
        "deadly_force",
        "other",
    }
    # No age under 18 is published.
    assert all(a is None or a >= 18 for a in table.column("subject_age").to_pylist())


def test_arrests_and_calls_load_every_real_row() -> None:
    arrests = load_spec_file(SAMPLES / "arrests.yaml")
    table = table_of(arrests.source_path(), arrests)  # type: ignore[arg-type]
    assert table.num_rows == 1911
    ages = table.column("age").to_pylist()
    assert sum(a is None for a in ages) == 118  # the juveniles' ages are withheld
    calls = load_spec_file(SAMPLES / "calls_for_service.yaml")
    table = table_of(calls.source_path(), calls)  # type: ignore[arg-type]
    assert table.num_rows == 11735
    assert table.column("_location_lat").null_count == 0


def test_generated_engagement_is_deterministic_and_inside_the_city(tmp_path: Path) -> None:
    one = generate(tmp_path / "a.csv").read_text()
    two = generate(tmp_path / "b.csv").read_text()
    assert one == two
    rows = list(csv.DictReader((tmp_path / "a.csv").open()))
    assert len(rows) == 300
    ring = city_ring()
    assert all(_inside(float(r["latitude"]), float(r["longitude"]), ring) for r in rows)
    assert all("Generated sample record" in r["description"] for r in rows)


def test_load_samples_publishes_four_labelled_datasets(store: Store) -> None:
    results = load_samples(store)
    assert [r.row_count for r in results] == [221, 1911, 11735, 300]
    by_id = {d.id: d for d in store.list_datasets()}
    assert len(by_id) == len(SPECS) == 4
    generated = [d for d in by_id.values() if d.meta.sample]
    assert len(generated) == 1 and "generated sample" in generated[0].meta.name
    assert all(d.meta.agency and d.meta.license and d.meta.attribution for d in by_id.values())


def test_every_problem_is_reported_and_nothing_is_published(store: Store, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("case,age,date\nA,30,2015-01-02\nB,41,2015-02-03\n")
    first = load_file(store, good)
    bad = tmp_path / "bad.csv"
    bad.write_text("case,age,date\nC,thirty,2015-01-02\nD,50,not a date\nE,old,2015-03-04\n")
    with pytest.raises(ValidationFailed) as caught:
        load_file(store, bad, dataset_id=first.dataset_id)
    assert caught.value.status == 422
    assert caught.value.problems == [
        {"row": 2, "column": "age", "value": "thirty", "reason": "'thirty' is not a number"},
        {
            "row": 3,
            "column": "date",
            "value": "not a date",
            "reason": "'not a date' is not a date/time (a date like 2015-01-31 or 1/31/2015)",
        },
        {"row": 4, "column": "age", "value": "old", "reason": "'old' is not a number"},
    ]
    assert caught.value.message == "3 problems in bad.csv; nothing was published."
    served = store.get_dataset(first.dataset_id)
    assert served.version == 1 and values(store, first.dataset_id, "case") == ["A", "B"]


def test_a_new_dataset_whose_first_load_fails_leaves_nothing_behind(
    store: Store, tmp_path: Path
) -> None:
    spec_file = tmp_path / "d.yaml"
    spec_file.write_text(
        "name: Stops\nsource: s.csv\ncolumns:\n  - {field: age, type: number, source: Age}\n"
    )
    (tmp_path / "s.csv").write_text("Age\n12\nx\n")
    with pytest.raises(ValidationFailed):
        load_file(store, tmp_path / "s.csv", spec=load_spec_file(spec_file))
    assert store.list_datasets() == []


def test_a_dataset_file_problem_names_the_file_and_the_column(tmp_path: Path) -> None:
    spec_file = tmp_path / "broken.yaml"
    spec_file.write_text(
        "name: Stops\ncolumns:\n  - {field: Age Years, type: number}\n"
        "  - {field: ok, type: colour}\n"
    )
    with pytest.raises(IngestError) as caught:
        load_spec_file(spec_file)
    message = caught.value.message
    assert "broken.yaml" in message and "column 'Age Years'" in message
    assert "column 'ok', key 'type'" in message


def test_a_header_the_file_lacks_is_named_with_the_headers_it_has(tmp_path: Path) -> None:
    spec_file = tmp_path / "d.yaml"
    spec_file.write_text("name: X\ncolumns:\n  - {field: race, source: Race}\n")
    (tmp_path / "x.csv").write_text("Subject Race\nwhite\n")
    with pytest.raises(IngestError, match="header 'Race', which x.csv does not have"):
        prepare(tmp_path / "x.csv", load_spec_file(spec_file))


def test_a_new_version_keeps_the_dataset_types(store: Store, tmp_path: Path) -> None:
    first = tmp_path / "v1.csv"
    first.write_text("Case,Age\nA,30\n")
    loaded = load_file(store, first, name="Stops")
    second = tmp_path / "v2.csv"
    second.write_text("Case,Age\nB,41\nC,\n")
    result = load_file(store, second, dataset_id=loaded.dataset_id)
    assert result.version == 2
    assert values(store, loaded.dataset_id, "age") == [41.0, None]
    assert store.get_dataset(loaded.dataset_id).meta.name == "Stops"
