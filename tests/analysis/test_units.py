"""Counting the right thing: every figure of the Rutland use-of-force data counted by
incident (case number), checked against an independent computation from the raw sample
file with plain Python and SciPy, never with Blotter's code; calls counted by event, arrest
rates per year over the population's total."""

from __future__ import annotations

import csv
import html
import re
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from scipy.stats import beta, binomtest, chi2

from blotter.analysis.trends import p_text

DATA = Path(__file__).parents[2] / "blotter" / "samples" / "data"


def _raw(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def client(sample_app: FastAPI) -> TestClient:
    return TestClient(sample_app)


@pytest.fixture(scope="module")
def force() -> list[dict[str, str]]:
    return _raw("rutland_use_of_force_2015_2017.csv")


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _chart_rows(page: str, chart_id: str) -> list[tuple[str, int]]:
    figure = page.split(f'id="{chart_id}"', 1)[1].split("</figure>", 1)[0]
    rows = re.findall(r'<tr><th scope="row">([^<]*)</th><td class="num">([\d,]+)</td>', figure)
    return [(html.unescape(label), int(n.replace(",", ""))) for label, n in rows]


def test_use_of_force_counts_incidents_not_officer_subject_rows(
    client: TestClient, force: list[dict[str, str]]
) -> None:
    cases = {r["CASE #"].strip() for r in force}
    assert (len(force), len(cases)) == (221, 103)
    for url in ("/datasets/e2x9-2kgt", "/dashboards/e2x9-2kgt"):
        lede = _text(client.get(url).text)
        assert "103 incidents by Rutland City Police Department (VT)" in lede
        assert "(221 officer–subject pairs: incidents are counted once each)" in lede
    rows = _text(client.get("/dashboards/e2x9-2kgt?unit=rows").text)
    assert "221 officer–subject pairs by Rutland" in rows
    bad = client.get("/api/analysis/v1/e2x9-2kgt/rates.json?unit=subjects")
    assert bad.status_code == 400 and "incidents, rows" in bad.json()["message"]


def test_race_is_counted_by_incident_on_the_page_and_dashboard(
    client: TestClient, force: list[dict[str, str]]
) -> None:
    by_race: dict[str, set[str]] = defaultdict(set)
    for r in force:
        by_race[r["Subject Race"].strip().lower()].add(r["CASE #"].strip())
    expected = {race.capitalize(): len(cases) for race, cases in by_race.items()}
    assert expected["Black"] == 11  # 25 rows
    dashboard = client.get("/dashboards/e2x9-2kgt").text
    assert dict(_chart_rows(dashboard, "by-subject_race")) == expected
    page = client.get("/datasets/e2x9-2kgt", params={"chart.by": "subject_race"}).text
    assert dict(_chart_rows(page, "by-subject_race")) == expected


def test_rates_and_intervals_match_an_independent_computation_by_case(
    client: TestClient, force: list[dict[str, str]]
) -> None:
    population = {
        r["category"]: int(r["count"])
        for r in _raw("rutland_city_vt_population_2010.csv")
        if r["vintage"] == "2010 Decennial Census"
    }
    residents = {
        "white": population["White alone"],
        "black": population["Black or African American alone"],
    }
    cases: dict[str, set[str]] = defaultdict(set)
    for r in force:
        cases[r["Subject Race"].strip().lower()].add(r["CASE #"].strip())
    years = 3  # 2015, 2016, 2017
    data = client.get("/api/analysis/v1/e2x9-2kgt/rates.json").json()
    assert data["unit"] == "incidents" and data["rate"] == "per 1,000 residents per year"
    groups = {g["group"]: g for g in data["groups"]}
    for race in ("white", "black"):
        k, n = len(cases[race]), residents[race]
        person_years = n * years
        got = groups[race]
        assert got["count"] == k
        assert got["rate"] == pytest.approx(k / person_years * 1000)
        low, high = chi2.ppf(0.025, 2 * k) / 2, chi2.ppf(0.975, 2 * k + 2) / 2
        assert got["rate_interval"]["low"] == pytest.approx(low / person_years * 1000)
        assert got["rate_interval"]["high"] == pytest.approx(high / person_years * 1000)
    k1, n1 = len(cases["black"]), residents["black"]
    k0, n0 = len(cases["white"]), residents["white"]
    black = groups["black"]
    assert black["ratio"] == pytest.approx((k1 / n1) / (k0 / n0))
    p_low = beta.ppf(0.025, k1, k0 + 1)
    p_high = beta.ppf(0.975, k1 + 1, k0)
    assert black["ratio_interval"]["low"] == pytest.approx(p_low / (1 - p_low) * n0 / n1)
    assert black["ratio_interval"]["high"] == pytest.approx(p_high / (1 - p_high) * n0 / n1)
    assert black["rate"] == pytest.approx(11 / 3 / 132 * 1000)  # 27.8, not 189.4
    section = client.get("/datasets/e2x9-2kgt").text.split('id="rates-heading"', 1)[1]
    assert "incidents from January 1, 2015 to December 31, 2017 (3.00 years)" in _text(section)


def test_year_on_year_tests_use_incidents(client: TestClient, force: list[dict[str, str]]) -> None:
    first_date: dict[str, date] = {}
    for r in force:
        day = date.fromisoformat(r["Date"].strip())
        case = r["CASE #"].strip()
        first_date[case] = min(day, first_date.get(case, day))
    per_year: dict[int, set[str]] = defaultdict(set)
    for r in force:
        per_year[date.fromisoformat(r["Date"].strip()).year].add(r["CASE #"].strip())
    counts = [len(per_year[y]) for y in (2015, 2016, 2017)]
    assert counts == [43, 36, 24]
    data = client.get("/api/analysis/v1/e2x9-2kgt/trend.json").json()
    assert [p["count"] for p in data["periods"]] == counts
    assert not any(p["partial"] for p in data["periods"])  # the declared period is whole years
    dashboard = _text(client.get("/dashboards/e2x9-2kgt").text)
    for before, after, got in zip(counts, counts[1:], data["periods"][1:], strict=False):
        p = binomtest(after, after + before, 0.5).pvalue
        assert got["p_value"] == pytest.approx(p)
        assert p >= 0.05 and got["note"] == "within noise (could be chance)"
    assert "more than noise" not in dashboard.split("Year by year", 1)[1].split("Breakdowns")[0]


def test_the_monthly_chart_has_every_month_of_the_period(
    client: TestClient, force: list[dict[str, str]]
) -> None:
    per_month: dict[str, set[str]] = defaultdict(set)
    for r in force:
        per_month[r["Date"].strip()[:7]].add(r["CASE #"].strip())
    page = client.get("/datasets/e2x9-2kgt").text
    rows = _chart_rows(page, "time-occurred_date")
    months = [f"{y}-{m:02d}" for y in (2015, 2016, 2017) for m in range(1, 13)]
    assert [label for label, _ in rows] == months  # 36 points, none skipped
    assert dict(rows) == {m: len(per_month.get(m, ())) for m in months}
    assert sum(1 for _, n in rows if n == 0) == 36 - len(per_month) > 0


def test_the_force_chart_and_the_includes_filter_agree(
    client: TestClient, force: list[dict[str, str]]
) -> None:
    words = ("firearm", "fiream", "friearm", "fa disp")  # the source's spellings
    with_firearm = {
        r["CASE #"].strip() for r in force if any(w in r["Force Utilized"].lower() for w in words)
    }
    page = client.get("/datasets/e2x9-2kgt", params={"chart.by": "force_category"}).text
    bars = dict(_chart_rows(page, "by-force_category"))
    assert bars["Firearm"] == len(with_firearm)
    assert not any(";" in label for label in bars)  # one bar per value, never per combination
    filtered = client.get("/datasets/e2x9-2kgt", params={"force_category__has": "firearm"}).text
    assert f"{len(with_firearm)} incidents by Rutland" in _text(filtered)
    assert "Force category includes Firearm" in _text(filtered)
    api = client.get(
        "/resource/e2x9-2kgt.json",
        params={
            "$select": "count(DISTINCT case_number) AS n",
            "$where": "force_category like '%firearm%'",
        },
    ).json()
    assert int(api[0]["n"]) == len(with_firearm)
    counts = client.get(
        "/api/analysis/v1/e2x9-2kgt/counts.json", params={"by": "force_category"}
    ).json()
    assert counts["list"] is True
    assert {v["value"]: v["n"] for v in counts["values"]}["firearm"] == len(with_firearm)


def test_labels_on_pages_codes_in_the_api(client: TestClient) -> None:
    page = client.get(
        "/datasets/e2x9-2kgt", params={"force_type__has": "cew_display", "chart.by": "force_type"}
    ).text
    assert "CEW (Taser) displayed" in page and "Force used includes CEW (Taser) displayed" in _text(
        page
    )
    rows = client.get(
        "/resource/e2x9-2kgt.json",
        params={"$where": "force_type like '%cew_display%'", "$limit": "1"},
    ).json()
    assert "cew_display" in rows[0]["force_type"]
    lede = _text(client.get("/datasets/e2x9-2kgt").text)
    assert re.search(
        r"Of the \d+ incidents that record subject injured, \d+ \(\d+%\) record Minor injury; "
        r"\d+ do not record it\.",
        lede,
    )


def test_p_values_below_a_thousandth_are_printed_as_such() -> None:
    assert p_text(0.0000101) == "p < 0.001"
    assert p_text(0.0256) == "p = 0.026"


def test_calls_are_counted_by_event_not_by_responding_officer(client: TestClient) -> None:
    trend = client.get("/api/analysis/v1/tkpk-clls/trend.json").json()["periods"]
    change = trend[1]["change"]
    assert abs(change) >= 1000  # large changes are printed with separators
    assert f"{change:+,}" in client.get("/dashboards/tkpk-clls").text
    raw = _raw("tp_cad_data.csv")
    assert (len(raw), len({r["event.no."] for r in raw})) == (11735, 11551)
    lede = _text(client.get("/datasets/tkpk-clls").text)
    assert "11,551 calls for service" in lede and "11,735 officer responses" in lede
    rows = _text(client.get("/datasets/tkpk-clls", params={"chart.unit": "rows"}).text)
    assert "11,735 officer responses" in rows


def test_arrest_rates_are_per_year_over_the_acs_total(client: TestClient) -> None:
    arrests = _raw("tp_all_arrests_final.csv")
    white = sum(1 for r in arrests if r["a.race"].strip().lower() == "white")
    data = client.get("/api/analysis/v1/tkpk-rrst/rates.json").json()
    groups = {g["group"]: g for g in data["groups"]}
    assert groups["white"]["rate"] == pytest.approx(white / 6 / 8188 * 1000)
    trend = client.get("/api/analysis/v1/tkpk-rrst/trend.json").json()
    assert trend["residents"] == 17672
    per_year: dict[str, int] = defaultdict(int)
    for r in arrests:
        per_year[r["date"][:4]] += 1
    for p in trend["periods"]:
        assert p["rate"] == pytest.approx(per_year[p["period"]] / 17672 * 1000)
    page = _text(client.get("/datasets/tkpk-rrst").text)
    assert "Rates per 1,000 residents per year by race, arrests from January 1, 2015 to" in page


def test_unknown_values_are_shown_apart_from_the_shares(client: TestClient) -> None:
    data = client.get(
        "/api/analysis/v1/tkpk-rrst/counts.json", params={"by": "residence_city"}
    ).json()
    values = {v["value"]: v for v in data["values"]}
    assert values["UNK"]["unknown"] is True and values["UNK"]["share"] is None
    assert data["known"] == 1911 - values["UNK"]["n"]
    assert sum(v["share"] for v in data["values"] if v["share"] is not None) == pytest.approx(1)
    # The City's figure: 17.8% of those arrested with a known city live in Takoma Park.
    assert round(100 * values["Takoma Park"]["share"], 1) == 17.8


def test_coverage_and_freshness_are_stated_apart_and_old_data_is_marked(
    client: TestClient,
) -> None:
    page = _text(client.get("/datasets/e2x9-2kgt").text)
    assert "Covers January 1, 2015 to December 31, 2017" in page
    assert "Period covered January 1, 2015 to December 31, 2017" in page
    assert "Counted in incidents / officer–subject pairs" in page
    fields = client.get("/api/views/e2x9-2kgt.json").json()["metadata"]["custom_fields"]
    assert (fields["Update"]["Period Start"], fields["Update"]["Period End"]) == (
        "2015-01-01",
        "2017-12-31",
    )
    assert "its newest record is" in page  # annual updates promised, the data end in 2017
    home = client.get("/").text
    card = home.split('<h3><a href="/datasets/e2x9-2kgt"', 1)[1].split("</li>", 1)[0]
    assert "Late:" in card


def test_quarters_count_each_incident_once(client: TestClient) -> None:
    page = client.get("/datasets/e2x9-2kgt", params={"chart.period": "quarter"}).text
    rows = _chart_rows(page, "time-occurred_date")
    trend = client.get("/api/analysis/v1/e2x9-2kgt/trend.json?period=quarter").json()
    assert [label for label, _ in rows] == [p["period"] for p in trend["periods"]]
    assert [n for _, n in rows] == [p["count"] for p in trend["periods"]]
    assert len(rows) == 12 and sum(n for _, n in rows) == 103
