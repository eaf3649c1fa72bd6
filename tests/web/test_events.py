"""Event datasets on the pages: totals of the filtered view, the month calendar (server
drawn, no JavaScript needed), and the iCalendar feed linked from the dataset page."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

ENGAGEMENT = "rtcm-ngmt"


@pytest.fixture(scope="module")
def client(sample_app: FastAPI) -> TestClient:
    return TestClient(sample_app)


def _sums(client: TestClient, where: str | None = None) -> list[float]:
    params = {"$select": "count(*) AS n, sum(officer_hours) AS h, sum(attendees) AS a"}
    if where:
        params["$where"] = where
    row = client.get(f"/resource/{ENGAGEMENT}.json", params=params).json()[0]
    return [float(row["n"]), float(row["h"]), float(row["a"])]


def _totals(html: str) -> list[float]:
    block = html.split('class="totals"', 1)[1].split("</ul>", 1)[0]
    return [float(v.replace(",", "")) for v in re.findall(r"<strong>([\d,]+)</strong>", block)]


def test_the_dataset_page_totals_events_staff_hours_and_attendees_of_the_view(
    client: TestClient,
) -> None:
    page = client.get(f"/datasets/{ENGAGEMENT}").text
    count, hours, attendees = _sums(client)
    assert _totals(page) == [count, round(hours), attendees] and count == 300
    assert "community engagement events" in page and "staff hours" in page
    filtered = client.get(f"/datasets/{ENGAGEMENT}", params={"event_type": "youth_program"}).text
    count, hours, attendees = _sums(client, "event_type = 'youth_program'")
    assert _totals(filtered) == [count, round(hours), attendees] and 0 < count < 300


def test_the_dataset_page_links_the_feed_and_the_calendar(client: TestClient) -> None:
    page = client.get(f"/datasets/{ENGAGEMENT}").text
    assert f'href="/datasets/{ENGAGEMENT}/events.ics"' in page
    assert f'href="/datasets/{ENGAGEMENT}/calendar"' in page
    assert "/events.ics" not in client.get("/datasets/e2x9-2kgt").text


def test_the_month_calendar_lists_the_month_s_events_by_day(client: TestClient) -> None:
    month = datetime.now(ZoneInfo("America/New_York")).strftime("%Y-%m")
    response = client.get(f"/datasets/{ENGAGEMENT}/calendar")
    assert response.status_code == 200
    page = response.text
    assert "Generated sample data." in page
    assert f"{datetime.strptime(month, '%Y-%m'):%B %Y}</caption>" in page
    assert 'aria-current="date"' in page
    rows = client.get(
        f"/resource/{ENGAGEMENT}.json",
        params={
            "$select": "starts_at, title",
            "$where": f"date_trunc_ym(starts_at) = '{month}-01T00:00:00'",
            "$order": "starts_at, :id",
        },
    ).json()
    shown = re.findall(r'<time datetime="([^"]+)">[^<]+</time> ([^<]+)', page)
    assert shown == [(r["starts_at"][:16], r["title"]) for r in rows] and rows
    count, hours, attendees = _sums(client, f"date_trunc_ym(starts_at) = '{month}-01T00:00:00'")
    assert _totals(page) == [count, round(hours), attendees]
    later = client.get(page.split('rel="next"', 1)[0].rsplit('href="', 1)[1].split('"')[0])
    assert later.status_code == 200 and '<table class="month">' in later.text
    assert client.get(f"/datasets/{ENGAGEMENT}/calendar?month=May").status_code == 400
    assert client.get("/datasets/e2x9-2kgt/calendar").status_code == 404
