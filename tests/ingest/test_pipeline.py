"""load_file into both real stores: every problem reported, nothing half-published."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlglot import exp

from blotter.errors import ValidationFailed
from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file
from blotter.samples import SPECS, load_samples
from blotter.schema import DATASET_TABLE
from blotter.settings import Settings
from blotter.store import Store


@pytest.fixture
def settings(engine_config: Settings) -> Settings:
    return engine_config


@pytest.fixture
def store(engine_store: Store) -> Store:
    return engine_store


def values(store: Store, dataset_id: str, field: str) -> list[object]:
    dataset = store.get_dataset(dataset_id)
    select = exp.select(exp.column(field, quoted=True)).from_(DATASET_TABLE).order_by("_id")
    return [row[0] for row in store.execute(dataset, select)]


def test_load_samples_publishes_every_labelled_dataset(store: Store) -> None:
    seen: list[int] = []
    results = load_samples(store, progress=seen.append)
    assert [r.row_count for r in results] == [221, 1911, 11735, 22392, 300, 9, 9]
    assert [r.dataset_id for r in results] == [
        "e2x9-2kgt",
        "tkpk-rrst",
        "tkpk-clls",
        "tkpk-stps",
        "rtcm-ngmt",
        "rtld-pppl",
        "tkpk-pppl",
    ]
    assert seen[-1] == 221 + 1911 + 11735 + 22392 + 300 + 9 + 9 and seen == sorted(seen)
    by_id = {d.id: d for d in store.list_datasets()}
    assert len(by_id) == len(SPECS) == 7
    generated = [d for d in by_id.values() if d.meta.sample]
    assert len(generated) == 1 and "generated sample" in generated[0].meta.name
    assert all(d.meta.agency and d.meta.license and d.meta.attribution for d in by_id.values())
    force = store.get_dataset("e2x9-2kgt")
    assert force.column("force_type_raw") is not None and force.row_count == 221
    races = values(store, "e2x9-2kgt", "subject_race")
    assert (races.count("white"), races.count("black"), races.count("asian")) == (195, 25, 1)


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
