"""When rows happen: hour of day × weekday and a period against the same days a year before,
checked against counts made in plain Python from the rows, on both engines; and as the page
and the JSON endpoints show them."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from scipy.stats import binomtest

from blotter.analysis.timing import hour_by_weekday, year_on_year
from blotter.analysis.units import unit_of
from blotter.errors import InvalidRequest
from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file
from blotter.samples import HERE as SAMPLES
from blotter.settings import Settings
from blotter.store import Store


@pytest.fixture
def calls(engine_store: Store) -> tuple[Store, list[datetime]]:
    """The real Takoma Park calls on each engine, and their times read straight from the rows."""
    spec = load_spec_file(SAMPLES / "calls_for_service.yaml")
    source = spec.source_path()
    assert source is not None
    load_file(engine_store, source, spec=spec)
    from blotter.queries import run_query

    dataset = engine_store.get_dataset("tkpk-clls")
    rows = run_query(
        engine_store, dataset, {"$select": "event_number, received_at"}, Settings(), unlimited=True
    ).rows
    # The file repeats a call once per responding officer: a call is counted once, at its time.
    calls = {event: at for event, at in rows if at is not None}
    return engine_store, list(calls.values())


def test_hour_by_weekday_counts_every_call_as_python_does(
    calls: tuple[Store, list[datetime]],
) -> None:
    store, times = calls
    dataset = store.get_dataset("tkpk-clls")
    data = hour_by_weekday(store, dataset, Settings())
    expected = Counter((t.isoweekday() % 7, t.hour) for t in times)
    assert data.total == len(times) == 11551 and data.timed
    responses = hour_by_weekday(store, dataset, Settings(), unit=unit_of(dataset, "rows"))
    assert responses.total == 11735
    for day in range(7):
        assert data.counts[day] == [expected[(day, h)] for h in range(24)]


def test_year_on_year_counts_and_noise_test_as_python_does(
    calls: tuple[Store, list[datetime]],
) -> None:
    store, times = calls
    dataset = store.get_dataset("tkpk-clls")
    result = year_on_year(store, dataset, Settings(), end="2020-06-30", days=120)
    stop = date(2020, 7, 1)
    start = stop - timedelta(days=120)
    now = sum(start <= t.date() < stop for t in times)
    before = sum(start - timedelta(364) <= t.date() < stop - timedelta(364) for t in times)
    assert (result.start, result.end) == ("2020-03-03", "2020-06-30")
    assert (result.before_start, result.before_end) == ("2019-03-05", "2019-07-02")
    assert (result.count, result.before) == (now, before) and now != before
    p = binomtest(now, now + before, 0.5).pvalue
    assert result.p_value == pytest.approx(p)
    assert result.beyond_noise == (p < 0.05) and result.covered
    words = "more than noise" if p < 0.05 else "within noise"
    assert words in result.statement and f"{now:,} calls for service" in result.statement
    # The data begin in 2018: a 2018 period has no year before to compare with.
    early = year_on_year(store, dataset, Settings(), end="2018-03-31", days=30)
    assert not early.covered and not early.beyond_noise
    assert "cannot be compared" in early.statement
    filtered = year_on_year(
        store, dataset, Settings(), where="call_type = 'Traffic Stop'", end="2020-06-30", days=120
    )
    assert 0 < filtered.count < result.count
    for days in ("0", "365", "ten"):
        with pytest.raises(InvalidRequest, match="days"):
            year_on_year(store, dataset, Settings(), days=days)
    with pytest.raises(InvalidRequest, match="date like"):
        year_on_year(store, dataset, Settings(), end="June")


@pytest.fixture(scope="module")
def client(sample_app: FastAPI) -> TestClient:
    return TestClient(sample_app)


def test_the_analyst_page_and_its_json_agree(client: TestClient) -> None:
    hours = client.get("/api/analysis/v1/tkpk-clls/hours.json").json()
    assert hours["total"] == 11551 and hours["unit"] == "calls" and hours["times_recorded"]
    rows = client.get("/api/analysis/v1/tkpk-clls/hours.json", params={"unit": "rows"}).json()
    assert rows["total"] == 11735
    page = client.get("/datasets/tkpk-clls/when")
    assert page.status_code == 200
    figure = page.text.split('id="hour-by-weekday"', 1)[1].split("</figure>", 1)[0]
    assert '<svg role="img" aria-label="Calls for service by hour of day and day of week"' in (
        figure
    )
    monday = re.search(r'<th scope="row">Monday</th>((?:<td class="num">[\d,]+</td>)+)', figure)
    assert monday is not None
    cells = [int(v.replace(",", "")) for v in re.findall(r">([\d,]+)<", monday.group(1))]
    assert cells[:24] == hours["counts"][1]["hours"] and cells[24] == sum(cells[:24])
    assert 'href="/api/analysis/v1/tkpk-clls/hours.json"' in figure
    compare = client.get(
        "/api/analysis/v1/tkpk-clls/year-on-year.json", params={"days": "90"}
    ).json()
    assert compare["end"] == "2020-12-31" and compare["days"] == 90
    assert compare["statement"].replace("<", "&lt;") in page.text


def test_the_analyst_page_follows_the_dataset_filters(client: TestClient) -> None:
    dataset_page = client.get("/datasets/tkpk-clls", params={"call_type": "Traffic Stop"}).text
    assert 'href="/datasets/tkpk-clls/when?call_type=Traffic+Stop"' in dataset_page
    page = client.get(
        "/datasets/tkpk-clls/when",
        params={"call_type": "Traffic Stop", "chart.end": "2020-06-30", "chart.days": "60"},
    ).text
    expected = client.get(
        "/api/analysis/v1/tkpk-clls/year-on-year.json",
        params={"$where": "`call_type` = 'Traffic Stop'", "end": "2020-06-30", "days": "60"},
    ).json()
    assert expected["statement"].replace("<", "&lt;") in page
    assert "the 60 days from 2020-05-02 to 2020-06-30" in page
    stops = client.get("/datasets/tkpk-stps/when").text
    assert "recorded at midnight: the data give dates, not times of day" in stops
    bad = client.get("/datasets/tkpk-clls/when", params={"chart.days": "400"})
    assert bad.status_code == 400 and "would overlap" in bad.text
    assert client.get("/datasets/tkpk-pppl/when").status_code == 404  # no date column
    assert client.get("/api/analysis/v1/tkpk-clls/year-on-year.json?days=0").status_code == 400
