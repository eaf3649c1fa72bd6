"""Rates, intervals and small-number rules, against published values and first principles."""

from __future__ import annotations

import html
import math
from datetime import datetime

import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from blotter.analysis.rates import (
    FLAG_BELOW,
    WITHHOLD_BELOW,
    clopper_pearson,
    disparities,
    poisson_interval,
    rate_ratio_interval,
)
from blotter.model import Column, ColumnType, DatasetMeta
from tests.portal import AGENCY_A, PASSWORD, Portal


@pytest.mark.parametrize(
    ("count", "low", "high"),
    # Exact Poisson 95% limits as tabulated (e.g. Ulm 1990; Garwood 1936).
    [(0, 0.0, 3.689), (1, 0.0253, 5.572), (10, 4.795, 18.390), (25, 16.179, 36.905)],
)
def test_poisson_interval_matches_the_tables(count: int, low: float, high: float) -> None:
    got = poisson_interval(count)
    assert got.low == pytest.approx(low, abs=1e-3) and got.high == pytest.approx(high, abs=1e-3)


def test_clopper_pearson_matches_its_definition() -> None:
    # The limits are where the binomial tail probabilities equal 2.5%.
    got = clopper_pearson(5, 20)

    def tail_at_least(k: int, n: int, p: float) -> float:
        return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))

    assert tail_at_least(5, 20, got.low) == pytest.approx(0.025, abs=1e-6)
    assert 1 - tail_at_least(6, 20, got.high) == pytest.approx(0.025, abs=1e-6)


def test_rate_ratio_interval_holds_its_estimate_and_is_symmetric_on_the_log_scale_swap() -> None:
    ratio = (25 / 132) / (195 / 15819)
    got = rate_ratio_interval(25, 132, 195, 15819)
    assert got is not None and got.low < ratio < got.high
    swapped = rate_ratio_interval(195, 15819, 25, 132)
    assert swapped is not None
    # Swapping the groups inverts the ratio and its limits exactly.
    assert swapped.low == pytest.approx(1 / got.high) and swapped.high == pytest.approx(1 / got.low)


def test_small_numbers_are_withheld_or_flagged_with_the_reason() -> None:
    rows = {
        r.group: r
        for r in disparities(
            {"a": 400, "b": WITHHOLD_BELOW - 1, "c": FLAG_BELOW - 1},
            {"a": 10_000, "b": 500, "c": 800},
            reference="a",
        )
    }
    assert rows["a"].rate == pytest.approx(40.0) and rows["a"].ratio is None
    assert rows["b"].rate is None and rows["b"].ratio is None
    assert "Withheld" in rows["b"].note and str(WITHHOLD_BELOW) in rows["b"].note
    assert rows["c"].rate == pytest.approx((FLAG_BELOW - 1) / 800 * 1000)
    assert rows["c"].ratio is not None and "read with care" in rows["c"].note


def test_the_rutland_page_shows_race_against_population_as_its_json_does(
    sample_app: FastAPI,
) -> None:
    client = TestClient(sample_app)
    data = client.get("/api/analysis/v1/e2x9-2kgt/rates.json").json()
    groups = {g["group"]: g for g in data["groups"]}
    races = client.get(
        "/resource/e2x9-2kgt.json",
        params={
            "$select": "subject_race, count(DISTINCT case_number) AS n",
            "$group": "subject_race",
        },
    ).json()
    for race in races:
        if "subject_race" in race and race["subject_race"] in groups:
            assert groups[race["subject_race"]]["count"] == int(race["n"])
    black = groups["black"]
    assert black["population"] == 132  # 0.8% of 16,495, as the census file says
    assert data["period"]["years"] == 3.0  # 2015 to 2017, as the dataset file declares
    assert black["rate"] == pytest.approx(black["count"] / 3 / 132 * 1000)
    assert groups["asian"]["rate"] is None and "Withheld" in groups["asian"]["note"]
    assert any("approximate" in limit for limit in data["method"]["limits"])
    assert any("Residents are not the same" in limit for limit in data["method"]["limits"])
    page = client.get("/datasets/e2x9-2kgt").text
    section = page.split('id="rates-heading"', 1)[1].split("</section>", 1)[0]
    rate = black["rate_interval"]
    assert f"{black['rate']:.2f} ({rate['low']:.2f}–{rate['high']:.2f})" in section
    assert "per 1,000 residents per year" in section.lower()
    assert f"{black['ratio']:.2f}" in section and "withheld" in section
    assert "/api/analysis/v1/e2x9-2kgt/rates.json" in section
    filtered = client.get(
        "/api/analysis/v1/e2x9-2kgt/rates.json", params={"$where": "arrested = true"}
    ).json()
    assert sum(g["count"] for g in filtered["groups"]) < sum(g["count"] for g in data["groups"])


def test_takoma_park_arrests_against_acs_estimates(sample_app: FastAPI) -> None:
    client = TestClient(sample_app)
    data = client.get("/api/analysis/v1/tkpk-rrst/rates.json").json()
    groups = {g["group"]: g for g in data["groups"]}
    assert set(groups) == {"white", "black", "asian", "hispanic"}  # groups mapped, others not
    assert groups["white"]["population"] == 8188  # non-Hispanic white, as the arrests separate
    assert groups["black"]["ratio"] > 1 and groups["black"]["ratio_interval"]["low"] > 1
    assert any("margin of error" in limit for limit in data["method"]["limits"])


def test_takoma_park_rates_are_per_year_and_can_count_residents_only(
    sample_app: FastAPI,
) -> None:
    client = TestClient(sample_app)
    everyone = client.get("/api/analysis/v1/tkpk-rrst/rates.json").json()
    residents = client.get("/api/analysis/v1/tkpk-rrst/rates.json?residents=true").json()
    assert everyone["rate"] == "per 1,000 residents per year"
    assert everyone["period"] == {"start": "2015-01-01", "end": "2020-12-31", "years": 6.0}
    # 316 arrests of Takoma Park residents, 1,464 of people living elsewhere, 131 unknown.
    assert residents["total"] == 1911
    assert (residents["non_residents"], residents["residence_unknown"]) == (1464, 131)
    counted = {g["group"]: g["count"] for g in residents["groups"]}
    assert sum(counted.values()) + residents["left_out"] == 316
    ratios = {g["group"]: g["ratio"] for g in residents["groups"]}
    # On the residents basis, the City's own report gives 3.91 (Black) and 4.61 (Hispanic).
    assert round(ratios["black"], 2) == 3.91 and round(ratios["hispanic"], 2) == 4.61
    limits = " ".join(residents["method"]["limits"])
    assert (
        "1,464 of the 1,911 arrests (77%) involve people who live outside the city; 131" in limits
    )
    assert client.get("/api/analysis/v1/e2x9-2kgt/rates.json?residents=true").status_code == 400
    assert client.get("/api/analysis/v1/tkpk-rrst/rates.json?residents=maybe").status_code == 400
    page = client.get("/datasets/tkpk-rrst", params={"chart.residents": "true"}).text
    section = page.split('id="rates-heading"', 1)[1].split("</section>", 1)[0]
    assert "residents only" in section and "Show the rates for everyone arrested" in section


def _ruled_by_hidden_columns(portal: Portal, hidden: str) -> str:
    """A population of two groups and events counted against it, residents told by a
    ``home`` column; ``hidden`` is the column staff marked internal."""
    group = [
        Column(field_name="group", name="Group", type=ColumnType.TEXT),
        Column(field_name="n", name="People", type=ColumnType.NUMBER),
    ]
    portal.store.create_dataset(DatasetMeta(name="People"), group, dataset_id="popl-0010")
    people = {"group": ["white", "black", "total"], "n": [800.0, 200.0, 1000.0]}
    portal.store.publish("popl-0010", group, [pa.record_batch(people)])
    columns = [
        Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
        Column(field_name="race", name="Race", type=ColumnType.TEXT),
        Column(field_name="home", name="Home town", type=ColumnType.TEXT),
        Column(field_name="kind", name="Kind", type=ColumnType.TEXT),
        Column(field_name="occurred", name="Occurred", type=ColumnType.FLOATING_TIMESTAMP),
    ]
    columns = [c.model_copy(update={"internal": c.field_name == hidden}) for c in columns]
    meta = DatasetMeta.model_validate(
        {
            "name": "Stops",
            "agency": AGENCY_A,
            "dashboard": ["kind"],
            "benchmark": {
                "dataset": "popl-0010",
                "column": "race",
                "group_field": "group",
                "count_field": "n",
                "total_group": "total",
                "residents_where": "home = 'Testville'",
                "residence_unknown_where": "home IS NULL",
            },
        }
    )
    portal.store.create_dataset(meta, columns, dataset_id="stop-0011")
    rows = {
        "case_no": [f"c{i}" for i in range(8)],
        "race": ["white", "black"] * 4,
        "home": ["Testville", "Otherton", None, "Testville"] * 2,
        "kind": ["a", "b"] * 4,
        "occurred": pa.array([datetime(2020, m, 1) for m in range(1, 9)], pa.timestamp("us")),
    }
    portal.store.publish("stop-0011", columns, [pa.record_batch(rows)])
    return "stop-0011"


@pytest.mark.parametrize("hidden", ["race", "home"])
def test_rates_counted_by_a_hidden_column_are_left_out_without_naming_it(
    portal: Portal, hidden: str
) -> None:
    """Staff hid the column the rates are counted by (or the one telling residents): the
    public's dataset page and dashboard were refused (400) with an error naming the hidden
    column; they are shown without the rates, and the rates' JSON refuses without naming it."""
    dataset_id = _ruled_by_hidden_columns(portal, hidden)
    client = portal.client
    for path in (f"/datasets/{dataset_id}", f"/dashboards/{dataset_id}"):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        shown = html.unescape(page.text)
        assert "rates-heading" not in shown and f"'{hidden}'" not in shown, path
        staff = client.get(path, auth=("ana", PASSWORD))
        assert staff.status_code == 200 and "rates-heading" in staff.text, path
    refused = client.get(f"/api/analysis/v1/{dataset_id}/rates.json")
    assert refused.status_code == 400
    assert hidden not in refused.json()["message"]
    assert client.get(f"/api/analysis/v1/{dataset_id}/rates.json", auth=("ana", PASSWORD)).json()[
        "groups"
    ]
