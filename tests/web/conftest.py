"""A small portal built through the store, with values chosen so every answer is known."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright

from blotter.app import create_app
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.settings import Settings
from blotter.store import open_store
from tests.conftest import LiveServer, serve_in_thread

STOPS = "test-0001"
EVENTS = "smpl-0002"
ROWS = 60
STREETS = ["O'Brien St", "Main St", "Elm St"]

STOP_COLUMNS = [
    Column(field_name="case_number", name="Case number", type=ColumnType.TEXT),
    Column(
        field_name="street",
        name="Street",
        type=ColumnType.TEXT,
        description="Where the stop happened, as the officer wrote it.",
    ),
    Column(field_name="age", name="Driver age", type=ColumnType.NUMBER),
    Column(field_name="occurred", name="Occurred", type=ColumnType.FLOATING_TIMESTAMP),
    Column(field_name="searched", name="Searched", type=ColumnType.CHECKBOX),
    Column(field_name="location", name="Location", type=ColumnType.POINT),
]
STOP_META = DatasetMeta(
    name="Traffic stops, Testville",
    description="Every traffic stop in Testville during 2020. One row per stop.",
    agency="Testville Police",
    category="Public Safety",
    tags=["traffic", "stops"],
    license="CC BY 4.0",
    license_url="https://creativecommons.org/licenses/by/4.0/",
    attribution="Testville Police Records Unit",
    attribution_url="https://testville.example/records",
    source_url="https://testville.example/stops.csv",
    contact_name="Records Unit",
    contact_email="records@testville.example",
    notes="Ages are as written on the ticket.",
)


def stop_row(i: int) -> dict[str, object]:
    """The i-th stop (0-based): the answer key the tests count against."""
    return {
        "case_number": f"C{i:03d}",
        "street": STREETS[i % 3],
        "age": 20 + i,
        "occurred": datetime(2020, 1, 1, 8, 30) + timedelta(days=i),
        "searched": i % 2 == 0,
        "location": (-73.0 + i / 1000, 43.5 + i / 1000),
    }


def _stops() -> pa.RecordBatch:
    rows = [stop_row(i) for i in range(ROWS)]
    return pa.record_batch(
        {
            "case_number": pa.array([r["case_number"] for r in rows], pa.string()),
            "street": pa.array([r["street"] for r in rows], pa.string()),
            "age": pa.array([float(r["age"]) for r in rows], pa.float64()),  # type: ignore[arg-type]
            "occurred": pa.array([r["occurred"] for r in rows], pa.timestamp("us")),
            "searched": pa.array([r["searched"] for r in rows], pa.bool_()),
            "_location_lon": pa.array([r["location"][0] for r in rows], pa.float64()),  # type: ignore[index]
            "_location_lat": pa.array([r["location"][1] for r in rows], pa.float64()),  # type: ignore[index]
        }
    )


EVENT_COLUMNS = [
    Column(field_name="title", name="Title", type=ColumnType.TEXT),
    Column(
        field_name="attendees",
        name="Attendees",
        type=ColumnType.NUMBER,
        description="Headcount of neighbours who came along.",
    ),
]
EVENT_META = DatasetMeta(
    name="Community meetings",
    agency="Otherton Sheriff",
    category="Community",
    tags=["outreach"],
    sample=True,
)


def build_portal(data_dir: Path) -> Settings:
    """A DuckDB portal holding the stops (real-looking) and the meetings (generated)."""
    settings = Settings(data_dir=data_dir)
    store = open_store(settings)
    try:
        store.create_dataset(STOP_META, STOP_COLUMNS, dataset_id=STOPS)
        store.publish(STOPS, STOP_COLUMNS, [_stops()], source="built in tests")
        store.create_dataset(EVENT_META, EVENT_COLUMNS, dataset_id=EVENTS)
        events = pa.record_batch(
            {
                "title": pa.array(["Coffee with a cop", "Park walk"], pa.string()),
                "attendees": pa.array([12.0, 30.0], pa.float64()),
            }
        )
        store.publish(EVENTS, EVENT_COLUMNS, [events], source="generated")
    finally:
        store.close()
    return settings


@pytest.fixture(scope="module")
def small_portal(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_portal(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def web(small_portal: Settings) -> Iterator[TestClient]:
    """The real app over the small portal, in process."""
    with TestClient(create_app(small_portal)) as client:
        yield client


@pytest.fixture(scope="module")
def small_server(small_portal: Settings) -> Iterator[LiveServer]:
    """The small portal on a live loopback server, for the browser."""
    yield from serve_in_thread(create_app(small_portal))


# --- a real browser: Debian's Chromium driven by Playwright ---------------------------

CHROMIUM = os.environ.get("BLOTTER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Without these, Chromium tries to reach Google's hosts, which this network refuses.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not at {CHROMIUM}: run scripts/ensure-chromium (make test does).")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()
