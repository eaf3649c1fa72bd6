"""Counting by unit and by list value on both engines: count(DISTINCT key), the list test
(concatenation and LIKE) and the per-year rates give the same figures on DuckDB and
PostgreSQL, equal to a count by case from the raw sample file."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from blotter.analysis.benchmarks import population_total, rate_table
from blotter.analysis.counts import count_values
from blotter.analysis.summary import dataset_facts
from blotter.analysis.trends import trend
from blotter.analysis.units import list_match, unit_of
from blotter.errors import IngestError, InvalidRequest
from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file, parse_spec
from blotter.model import Dataset
from blotter.queries import run_query
from blotter.samples import HERE
from blotter.settings import Settings
from blotter.store.base import Store


def _load(store: Store, name: str) -> Dataset:
    spec = load_spec_file(HERE / name)
    source = spec.source_path()
    assert source is not None
    result = load_file(store, source, spec=spec)
    return store.get_dataset(result.dataset_id)


def _raw_cases() -> dict[str, list[dict[str, str]]]:
    path = HERE / "data" / "rutland_use_of_force_2015_2017.csv"
    with path.open(encoding="utf-8-sig", newline="") as f:
        cases: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in csv.DictReader(f):
            cases[row["CASE #"].strip()].append(row)
    return cases


def test_units_lists_and_rates_on_both_engines(engine_store: Store) -> None:
    settings = Settings()
    force = _load(engine_store, "use_of_force.yaml")
    population = _load(engine_store, "rutland_population.yaml")
    cases = _raw_cases()
    incidents = unit_of(force, None)
    assert (incidents.name, incidents.key) == ("incidents", "case_number")
    facts = dataset_facts(engine_store, force, settings)
    assert (facts.rows, facts.all_rows) == (len(cases), 221) == (103, 221)

    column = force.column("force_category")
    assert column is not None and column.separator == "; "
    counts = {c.value: c.count for c in count_values(engine_store, force, settings, column).values}
    firearm_cases = {
        case
        for case, rows in cases.items()
        if any(
            w in r["Force Utilized"].lower()
            for r in rows
            for w in ("firearm", "fiream", "friearm", "fa disp")
        )
    }
    assert counts["firearm"] == len(firearm_cases)
    # The page's "includes" filter is the very same test.
    filtered = run_query(
        engine_store,
        force,
        {"$select": incidents.count, "$where": list_match(column, "firearm")},
        settings,
    )
    assert int(next(iter(filtered.rows))[0]) == len(firearm_cases)
    # A value never matches inside another one: cew_display is not firearm_display.
    types = force.column("force_type")
    assert types is not None
    shown = run_query(
        engine_store,
        force,
        {"$select": "force_type", "$where": list_match(types, "cew_display"), "$limit": "500"},
        settings,
    )
    assert all("cew_display" in str(cell).split("; ") for (cell,) in shown.rows)

    years = [p.count for p in trend(engine_store, force, settings, "year")]
    by_year: dict[str, set[str]] = defaultdict(set)
    for case, rows in cases.items():
        for r in rows:
            by_year[r["Date"][:4]].add(case)
    assert years == [len(by_year[y]) for y in ("2015", "2016", "2017")] == [43, 36, 24]

    table = rate_table(engine_store, force, population, settings)
    black = next(r for r in table.rows if r.group == "black")
    black_cases = {
        c for c, rows in cases.items() if any(r["Subject Race"].strip() == "Black" for r in rows)
    }
    assert black.count == len(black_cases) == 11
    assert table.years == 3.0
    assert black.rate == pytest.approx(11 / 3 / 132 * 1000)
    assert population_total(engine_store, force, population, settings) == 16495


def test_the_arrests_total_is_the_declared_acs_total_on_both_engines(
    engine_store: Store,
) -> None:
    arrests = _load(engine_store, "arrests.yaml")
    population = _load(engine_store, "takoma_park_population.yaml")
    settings = Settings()
    assert population_total(engine_store, arrests, population, settings) == 17672
    residents = rate_table(engine_store, arrests, population, settings, residents_only=True)
    assert (residents.non_residents, residents.residence_unknown) == (1464, 131)
    assert sum(r.count for r in residents.rows) + residents.unmatched == 316


def test_a_dataset_file_declares_units_lists_labels_and_unknowns(tmp_path: Path) -> None:
    spec = parse_spec(
        "name: t\n"
        "units: [{name: calls, key: event_id, noun: calls}]\n"
        "coverage: {start: 2020-01-01, end: 2020-12-31}\n"
        "columns:\n"
        "  - {field: event_id}\n"
        "  - {field: kinds, separator: '; ', labels: {a: Alpha}}\n"
        "  - {field: city, unknown_values: [UNK]}\n",
        "t.yaml",
    )
    columns = {c.field_name: c for s in spec.columns for c in s.columns()}
    assert columns["kinds"].separator == "; " and columns["kinds"].label("a") == "Alpha"
    assert columns["kinds"].values_of("a; b") == ["a", "b"]
    assert columns["city"].unknown_values == ["UNK"]
    assert spec.meta().units[0].key == "event_id"
    with pytest.raises(IngestError, match="unit 'cases' is keyed by 'case', not a column"):
        parse_spec(
            "name: t\nunits: [{name: cases, key: case}]\ncolumns:\n  - {field: k}\n", "t.yaml"
        )
    with pytest.raises(IngestError, match="joined by"):
        parse_spec("name: t\ncolumns:\n  - {field: k, separator: ','}\n", "t.yaml")
    dataset = Dataset.model_validate(
        {
            "id": "abcd-1234",
            "meta": spec.meta(),
            "columns": list(columns.values()),
            "created_at": "2020-01-01T00:00:00",
            "updated_at": "2020-01-01T00:00:00",
        }
    )
    with pytest.raises(InvalidRequest, match="calls, rows"):
        unit_of(dataset, "officers")
