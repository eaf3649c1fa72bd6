"""The iCalendar feed on both engines: whatever a value holds (CR, LF, line separators,
other control characters), it stays one property of one event."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import icalendar
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from blotter.app import create_app
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.settings import Settings
from blotter.store import open_store
from tests.portal import PASSWORD, Portal

MEETINGS = "mtgs-0001"
COLUMNS = [
    Column(field_name="starts", name="Starts", type=ColumnType.FLOATING_TIMESTAMP),
    Column(field_name="title", name="Title", type=ColumnType.TEXT),
    Column(field_name="place", name="Place", type=ColumnType.TEXT),
]
TITLES = [
    "Coffee\rEND:VEVENT\rBEGIN:VEVENT\rSUMMARY:Injected by CR",
    "Walk\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:Injected by CRLF",
    "Talk\nATTACH:https://evil.example/x",
    "Vote\u2028END:VEVENT\x0bBEGIN:VEVENT\x0cX\x1cY\x85Z\x01\x7f",
    "Plain; with, commas\\ and a backslash",
]
# Unfolded content lines a calendar may hold; anything else means a value broke out.
LINE = re.compile(r"^[A-Z-]+(;[^:]*)?:.*$")


@pytest.fixture
def client(engine_config: Settings) -> Iterator[TestClient]:
    settings = engine_config.model_copy(update={"public_url": "https://data.testville.gov"})
    store = open_store(settings)
    try:
        meta = DatasetMeta(
            name="Meetings\rEND:VCALENDAR",
            calendar={"start": "starts", "title": "title", "location": "place"},
        )
        store.create_dataset(meta, COLUMNS, dataset_id=MEETINGS)
        batch = pa.record_batch(
            {
                "starts": pa.array(
                    [datetime(2030, 1, i + 1, 18) for i in range(len(TITLES))], pa.timestamp("us")
                ),
                "title": pa.array(TITLES, pa.string()),
                "place": pa.array(["Hall\r\nDTSTART:19990101T000000"] * len(TITLES), pa.string()),
            }
        )
        store.publish(MEETINGS, COLUMNS, [batch])
        with TestClient(create_app(settings, store=store)) as client:
            yield client
    finally:
        store.close()


def test_no_value_can_start_a_new_line_or_event(client: TestClient) -> None:
    answer = client.get(f"/datasets/{MEETINGS}/events.ics", params={"from": "2029-12-31"})
    assert answer.status_code == 200
    raw = answer.content.decode("utf-8")
    assert raw.endswith("\r\n")
    # Every line ends in CRLF: no bare CR or LF, and no other control character but tab.
    assert "\r" not in raw.replace("\r\n", "") and "\n" not in raw.replace("\r\n", "")
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]", raw.replace("\r\n", ""))
    lines = re.sub(r"\r\n[ \t]", "", raw).split("\r\n")[:-1]  # unfolded
    assert all(LINE.match(line) for line in lines), [x for x in lines if not LINE.match(x)]
    assert lines.count("BEGIN:VEVENT") == lines.count("END:VEVENT") == len(TITLES)
    assert lines.count("END:VCALENDAR") == 1 and lines[-1] == "END:VCALENDAR"
    assert [x for x in lines if x.startswith("DTSTART")] == [
        f"DTSTART:203001{i + 1:02d}T180000" for i in range(len(TITLES))
    ]
    summaries = [x.removeprefix("SUMMARY:") for x in lines if x.startswith("SUMMARY:")]
    assert summaries[0] == "Coffee\\nEND:VEVENT\\nBEGIN:VEVENT\\nSUMMARY:Injected by CR"
    assert summaries[1] == "Walk\\nEND:VEVENT\\nBEGIN:VEVENT\\nSUMMARY:Injected by CRLF"
    assert summaries[4] == "Plain\\; with\\, commas\\\\ and a backslash"
    assert not any(x.startswith("ATTACH") for x in lines)
    uids = [x for x in lines if x.startswith("UID:")]
    assert all(u.endswith("@data.testville.gov") for u in uids)


def test_a_real_icalendar_parser_reads_the_same_events(client: TestClient) -> None:
    raw = client.get(f"/datasets/{MEETINGS}/events.ics", params={"from": "2029-12-31"}).content
    calendar = icalendar.Calendar.from_ical(raw)
    events = calendar.walk("VEVENT")
    assert len(events) == len(TITLES)
    assert str(events[0]["SUMMARY"]) == "Coffee\nEND:VEVENT\nBEGIN:VEVENT\nSUMMARY:Injected by CR"
    assert str(events[4]["SUMMARY"]) == "Plain; with, commas\\ and a backslash"
    assert all(str(e["LOCATION"]) == "Hall\nDTSTART:19990101T000000" for e in events)


@pytest.mark.parametrize("hidden", ["place", "title"])
def test_event_pages_leave_out_a_hidden_field_without_naming_it(
    portal: Portal, hidden: str
) -> None:
    """Staff hid the events' place (a home) or their titles: the feed, the month, the
    dashboard and the dataset page were refused (400) with an error naming the hidden
    column. The place is left out; with no title the dataset is no calendar for the public."""
    columns = [c.model_copy(update={"internal": c.field_name == hidden}) for c in COLUMNS]
    meta = DatasetMeta(
        name="Meetings",
        calendar={"start": "starts", "title": "title", "location": "place"},
        dashboard=["title"],
    )
    portal.store.create_dataset(meta, columns, dataset_id="mtgs-0002")
    rows = {
        "starts": pa.array(
            [datetime(2030, 1, 5, 18), datetime(2020, 1, 5, 18)], pa.timestamp("us")
        ),
        "title": ["Coffee with a cop", "Walk"],
        "place": ["12 Secret Lane", "12 Secret Lane"],
    }
    portal.store.publish("mtgs-0002", columns, [pa.record_batch(rows)])
    paths = [
        "/datasets/mtgs-0002",
        "/dashboards/mtgs-0002",
        "/datasets/mtgs-0002/events.ics",
        "/datasets/mtgs-0002/calendar?month=2030-01",
    ]
    secret = {"place": "Secret Lane", "title": "Coffee with a cop"}[hidden]
    for path in paths:
        answer = portal.client.get(path)
        calendar = path.endswith(("events.ics", "2030-01"))
        expected = 404 if calendar and hidden == "title" else 200
        assert answer.status_code == expected, (path, answer.text[:300])
        assert secret not in answer.text and "No column" not in answer.text, path
        if expected == 200 and calendar:
            assert "Coffee with a cop" in answer.text, path
        staff = portal.client.get(path, auth=("ana", PASSWORD))
        assert staff.status_code == 200 and secret in staff.text, path


def test_an_event_length_no_event_can_have_gives_no_end_not_an_error(
    engine_config: Settings,
) -> None:
    """A publisher's typo in the minutes column (huge, negative, not finite) leaves that
    event without an end; the feed still answers, and a sane length still gives one."""
    columns = [*COLUMNS, Column(field_name="minutes", name="Minutes", type=ColumnType.NUMBER)]
    lengths = [90.0, 1e15, -30.0, None, float("nan"), float("inf")]
    store = open_store(engine_config)
    try:
        meta = DatasetMeta(
            name="Talks", calendar={"start": "starts", "title": "title", "minutes": "minutes"}
        )
        store.create_dataset(meta, columns, dataset_id=MEETINGS)
        batch = pa.record_batch(
            {
                "starts": pa.array(
                    [datetime(2030, 2, i + 1, 18) for i in range(len(lengths))], pa.timestamp("us")
                ),
                "title": pa.array([f"Talk {i}" for i in range(len(lengths))], pa.string()),
                "place": pa.array(["Hall"] * len(lengths), pa.string()),
                "minutes": pa.array(lengths, pa.float64()),
            }
        )
        store.publish(MEETINGS, columns, [batch])
        with TestClient(create_app(engine_config, store=store)) as client:
            answer = client.get(f"/datasets/{MEETINGS}/events.ics", params={"from": "2030-01-01"})
    finally:
        store.close()
    assert answer.status_code == 200, answer.text
    events = icalendar.Calendar.from_ical(answer.content).walk("VEVENT")
    assert len(events) == len(lengths)
    ends = {str(e["SUMMARY"]): e.get("DTEND") for e in events}
    assert ends["Talk 0"] is not None
    assert ends["Talk 0"].dt == datetime(2030, 2, 1, 19, 30)
    assert [title for title, end in ends.items() if end is not None] == ["Talk 0"]
