"""Trends with their noise test, the seed datasets' dashboards (every figure equal to its
JSON endpoint), and the events calendar feed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from math import comb
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

RUTLAND = ZoneInfo("America/New_York")


def _two_sided_binomial(k: int, n: int) -> float:
    """Exact two-sided p for k of n at ½: the chance of an outcome no likelier than k."""
    probs = [comb(n, i) / 2**n for i in range(n + 1)]
    return min(1.0, sum(q for q in probs if q <= probs[k] * (1 + 1e-7)))


@pytest.fixture(scope="module")
def client(sample_app: FastAPI) -> TestClient:
    return TestClient(sample_app)


def test_year_on_year_changes_and_their_noise_test(client: TestClient) -> None:
    data = client.get("/api/analysis/v1/e2x9-2kgt/trend.json", params={"period": "year"}).json()
    per_year = client.get(
        "/resource/e2x9-2kgt.json",
        params={
            "$select": "date_trunc_y(occurred_date) AS y, count(DISTINCT case_number) AS n",
            "$group": "y",
            "$order": "y",
        },
    ).json()
    assert [int(r["n"]) for r in per_year] == [p["count"] for p in data["periods"]]
    for before, after in zip(data["periods"], data["periods"][1:], strict=False):
        assert after["change"] == after["count"] - before["count"]
        p = _two_sided_binomial(after["count"], after["count"] + before["count"])
        assert after["p_value"] == pytest.approx(p, rel=1e-6)
        assert ("within noise" in after["note"]) == (p >= 0.05)
    quarters = client.get("/api/analysis/v1/e2x9-2kgt/trend.json", params={"period": "quarter"})
    assert sum(p["count"] for p in quarters.json()["periods"]) == 103  # incidents, by default
    rows = client.get(
        "/api/analysis/v1/e2x9-2kgt/trend.json", params={"period": "quarter", "unit": "rows"}
    )
    assert sum(p["count"] for p in rows.json()["periods"]) == 221
    assert len(quarters.json()["periods"]) == 12  # every quarter the dataset covers
    assert client.get("/api/analysis/v1/e2x9-2kgt/trend.json?period=week").status_code == 400


@pytest.mark.parametrize("dataset_id", ["e2x9-2kgt", "tkpk-rrst", "rtcm-ngmt"])
def test_each_seed_dashboard_shows_figures_equal_to_their_json(
    client: TestClient, dataset_id: str
) -> None:
    page = client.get(f"/dashboards/{dataset_id}")
    assert page.status_code == 200
    links = re.findall(r'As JSON: <a href="([^"]+)">', page.text)
    assert len(links) >= 3
    for link in links:
        url = link.replace("&amp;", "&")
        if "/counts.json" in url:
            data = client.get(url).json()
            figure = page.text.split(f'href="{link}"', 1)[0].rsplit("<figure", 1)[1]
            table = dict(
                re.findall(r'<tr><th scope="row">([^<]*)</th><td class="num">([\d,]+)</td>', figure)
            )
            for value in data["values"][:12]:
                assert int(table[value["label"]].replace(",", "")) == round(value["n"])
            continue
        if "/resource/" not in url:
            assert client.get(url).status_code == 200
            continue
        rows = client.get(url).json()
        field = next((k for row in rows for k in row if k != "n"), "")
        figure = page.text.split(f'href="{link}"', 1)[0].rsplit("<figure", 1)[1]
        table = dict(
            re.findall(r'<tr><th scope="row">([^<]*)</th><td class="num">([\d,]+)</td>', figure)
        )
        matched = 0
        for row in rows[:12]:
            label = row.get(field, "(not recorded)")
            if re.match(r"\d{4}-\d{2}-01T00:00:00", label):
                label = label[:7]  # a month, as the chart's table names it
            if label in table:
                assert int(table[label].replace(",", "")) == round(float(row["n"]))
                matched += 1
        assert matched >= min(len(rows), 2), (url, table)
    if dataset_id == "e2x9-2kgt":
        assert "Against the population" in page.text and "withheld" in page.text
    if dataset_id == "rtcm-ngmt":
        assert "Generated sample data" in page.text
        hours = client.get(
            "/resource/rtcm-ngmt.json",
            params={"$select": "sum(officer_hours) AS h"},
        ).json()[0]["h"]
        assert f"{float(hours):,.0f} staff hours with a known" in page.text
        assert 'href="/datasets/rtcm-ngmt/events.ics"' in page.text


def test_the_events_feed_is_icalendar_of_events_from_a_date(client: TestClient) -> None:
    since = (datetime.now(RUTLAND) - timedelta(days=60)).replace(tzinfo=None)
    feed = client.get("/datasets/rtcm-ngmt/events.ics", params={"from": f"{since:%Y-%m-%d}"})
    assert feed.headers["content-type"].startswith("text/calendar")
    text = feed.text
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and text.endswith(
        "END:VCALENDAR\r\n"
    )
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    expected = client.get(
        "/resource/rtcm-ngmt.json",
        params={
            "$select": "starts_at",
            "$where": f"starts_at >= '{since:%Y-%m-%d}T00:00:00'",
            "$order": "starts_at",
        },
    ).json()
    assert text.count("BEGIN:VEVENT") == len(expected) > 0
    # Local Rutland times, given in UTC: every calendar shows them in its reader's zone.
    starts = re.findall(r"\r\nDTSTART:(\d{8}T\d{6}Z)\r\n", text)
    utc = [
        datetime.fromisoformat(r["starts_at"]).replace(tzinfo=RUTLAND).astimezone(UTC)
        for r in expected
    ]
    assert starts == [f"{t:%Y%m%dT%H%M%SZ}" for t in utc]
    assert "DTSTART:" not in text.replace("DTSTART:2", "")  # no floating or other forms
    upcoming = client.get("/datasets/rtcm-ngmt/events.ics").text
    assert upcoming.count("BEGIN:VEVENT") > 0  # the demo's events run three months ahead
    first = re.search(r"DTSTART:(\d{8}T\d{6})Z", upcoming)
    assert first is not None and first.group(1) >= f"{datetime.now(UTC):%Y%m%dT%H%M%S}"
    assert client.get("/datasets/e2x9-2kgt/events.ics").status_code == 404


def test_no_rate_per_activity_between_datasets_of_different_scopes(client: TestClient) -> None:
    # All arrests against an extract of traffic dispatches would divide unlike things.
    answer = client.get("/api/analysis/v1/tkpk-rrst/activity.json")
    assert answer.status_code == 400
    assert "traffic dispatches" in answer.json()["message"]
    page = client.get("/dashboards/tkpk-rrst").text
    assert "per 1,000 calls for service, by year" not in page
    assert "No rate per activity is shown" in page and "traffic dispatches" in page


def test_trend_rates_per_1000_residents_use_the_benchmark_total(client: TestClient) -> None:
    data = client.get("/api/analysis/v1/e2x9-2kgt/trend.json").json()
    assert data["residents"] == 16495  # the 2010 Census total the benchmark names
    for p in data["periods"]:  # whole years: the count is already per year
        assert p["rate"] == pytest.approx(p["count"] / 16495 * 1000)
        assert p["rate_interval"]["low"] < p["rate"] < p["rate_interval"]["high"]
    page = client.get("/dashboards/e2x9-2kgt").text
    assert "Per 1,000 residents per year (95% interval)" in page
    assert f"{data['periods'][0]['rate']:.2f} (" in page
    months = client.get("/api/analysis/v1/e2x9-2kgt/trend.json?period=month").json()
    for p in months["periods"]:  # a month's count, annualised
        if p["rate"] is not None:
            assert p["rate"] == pytest.approx(p["count"] * 12 / 16495 * 1000)
    arrests = client.get("/api/analysis/v1/tkpk-rrst/trend.json").json()
    assert arrests["residents"] == 17672  # the ACS total, not a sum of overlapping groups


def test_the_engagement_dashboard_lists_upcoming_and_recent_events(client: TestClient) -> None:
    page = client.get("/dashboards/rtcm-ngmt").text
    section = page.split('id="events-heading"', 1)[1].split("</section>", 1)[0]
    upcoming_part, recent_part = section.split("<h3>Most recent</h3>", 1)
    moment = f"{datetime.now(RUTLAND):%Y-%m-%dT%H:%M:%S}"
    for part, where, order in (
        (upcoming_part, f"starts_at >= '{moment}'", "ASC"),
        (recent_part, f"starts_at < '{moment}'", "DESC"),
    ):
        rows = client.get(
            "/resource/rtcm-ngmt.json",
            params={
                "$select": "starts_at",
                "$where": where,
                "$order": f"starts_at {order}",
                "$limit": "10",
            },
        ).json()
        listed = re.findall(r"<li><strong>([^<]+)</strong>", part)
        assert listed == [r["starts_at"][:16].replace("T", " ") for r in rows] and listed


def test_hotspots_come_with_the_kernel_density_surface(client: TestClient) -> None:
    page = client.get("/datasets/tkpk-clls", params={"chart.hotspots": "500"}).text
    assert '<svg role="img" aria-label="Kernel density of' in page
    features = client.get(
        "/api/analysis/v1/tkpk-clls/hotspots.geojson", params={"cell": "500"}
    ).json()["features"]
    densities = [f["properties"]["density"] for f in features]
    assert max(densities) == pytest.approx(1.0) and min(densities) >= 0


def test_staff_hours_by_month_on_the_engagement_dashboard(client: TestClient) -> None:
    page = client.get("/dashboards/rtcm-ngmt").text
    figure = page.split(">Staff hours by month</strong>", 1)[1].split("</figure>", 1)[0]
    rows = re.findall(
        r'<tr><th scope="row">(\d{4}-\d{2})</th><td class="num">([\d,]+)</td>', figure
    )
    monthly = client.get(
        "/resource/rtcm-ngmt.json",
        params={
            "$select": "date_trunc_ym(starts_at) AS m, sum(officer_hours) AS h",
            "$group": "m",
            "$order": "m",
        },
    ).json()
    hours = {m["m"][:7]: round(float(m["h"])) for m in monthly}
    assert len(hours) > 12
    assert rows[0][0] == min(hours) and rows[-1][0] == max(hours)
    # Every month of the range, one after another (a month without events shows zero).
    months = [int(m[:4]) * 12 + int(m[5:]) - 1 for m, _ in rows]
    assert months == list(range(months[0], months[0] + len(months)))
    for month, shown in rows:
        assert int(shown.replace(",", "")) == hours.get(month, 0)


def test_the_traffic_stops_dashboard_counts_reasons_outcomes_race_and_residence(
    client: TestClient,
) -> None:
    page = client.get("/dashboards/tkpk-stps")
    assert page.status_code == 200
    for title in (
        "Traffic stops by reason",
        "Traffic stops by outcome",
        "Traffic stops by race",
        "Traffic stops by residence",
    ):
        assert f">{title}</strong>" in page.text
    outcome = page.text.split(">Traffic stops by outcome</strong>", 1)[1].split("</figure>", 1)[0]
    assert '<th scope="row">citation</th><td class="num">11,066</td>' in outcome
    assert "Against the population" in page.text  # rates by race, with the method card
    assert "How these figures are made" in page.text
    rates = client.get("/api/analysis/v1/tkpk-stps/rates.json").json()
    black = next(g for g in rates["groups"] if g["group"] == "black")
    assert black["count"] == 10568 and black["population"] == 5823
    years = client.get("/api/analysis/v1/tkpk-stps/trend.json").json()["periods"]
    assert [p["count"] for p in years] == [8074, 4465, 3288, 2881, 2091, 1593]
    assert '<th scope="row">2015</th><td class="num">8,074</td>' in page.text
    assert client.get("/datasets/tkpk-stps").status_code == 200
