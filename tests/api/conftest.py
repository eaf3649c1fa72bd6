"""A small dataset with every column type, built directly through the store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from blotter.accounts import add_user
from blotter.app import create_app
from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file
from blotter.model import Column, ColumnType, DatasetMeta, Role
from blotter.settings import Settings
from blotter.store import Store, open_store
from tests.conftest import LiveServer, serve_in_thread
from tests.engines import ENGINES, engine_settings
from tests.paths import SAMPLES

DATASET_ID = "test-0001"
ROWS = 2500
RACES = ["white", "black", "asian", None]

COLUMNS = [
    Column(field_name="case_number", name="Case number", type=ColumnType.TEXT),
    Column(field_name="subject_race", name="Subject race", type=ColumnType.TEXT),
    Column(field_name="subject_age", name="Subject age", type=ColumnType.NUMBER),
    Column(field_name="occurred", name="Occurred", type=ColumnType.FLOATING_TIMESTAMP),
    Column(field_name="injured", name="Subject injured", type=ColumnType.CHECKBOX),
    Column(field_name="location", name="Location", type=ColumnType.POINT),
]


def expected_row(i: int) -> dict[str, object]:
    """The i-th row (0-based) as plain Python values: the independent answer key."""
    return {
        "case_number": f"15RL{i:05d}",
        "subject_race": RACES[i % 4],
        "subject_age": None if i % 10 == 0 else 18 + (i % 50) + (0.5 if i % 7 == 0 else 0),
        "occurred": datetime(2015, 1, 1) + timedelta(hours=7 * i),
        "injured": i % 3 == 0,
        "location": None
        if i % 5 == 0
        else (round(-72.97 + i / 100000, 5), round(43.60 + i / 100000, 5)),
    }


def _batch() -> pa.RecordBatch:
    rows = [expected_row(i) for i in range(ROWS)]
    return pa.record_batch(
        {
            "case_number": pa.array([r["case_number"] for r in rows], pa.string()),
            "subject_race": pa.array([r["subject_race"] for r in rows], pa.string()),
            "subject_age": pa.array([r["subject_age"] for r in rows], pa.float64()),
            "occurred": pa.array([r["occurred"] for r in rows], pa.timestamp("us")),
            "injured": pa.array([r["injured"] for r in rows], pa.bool_()),
            "_location_lon": pa.array(
                [r["location"][0] if r["location"] else None for r in rows],
                pa.float64(),  # type: ignore[index]
            ),
            "_location_lat": pa.array(
                [r["location"][1] if r["location"] else None for r in rows],
                pa.float64(),  # type: ignore[index]
            ),
        }
    )


@pytest.fixture(scope="module", params=ENGINES)
def settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """A portal holding the test dataset, on each engine in turn."""
    for settings in engine_settings(request.param, tmp_path_factory.mktemp("api")):
        _fill(settings)
        yield settings


def _fill(settings: Settings) -> None:
    store = open_store(settings)
    try:
        store.create_dataset(
            DatasetMeta(name="Test incidents", agency="Test PD", category="Public Safety"),
            COLUMNS,
            dataset_id=DATASET_ID,
        )
        store.publish(DATASET_ID, COLUMNS, [_batch()], source="generated in tests")
    finally:
        store.close()


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def live(settings: Settings) -> Iterator[LiveServer]:
    """A live server on loopback for real clients that need a socket."""
    yield from serve_in_thread(create_app(settings))


ARRESTS = "tkpk-rrst"
AUTH = ("boss", "a long test passphrase")


@pytest.fixture
def arrests_portal(engine_config: Settings) -> Iterator[tuple[Store, TestClient]]:
    """The real Takoma Park arrests on each engine, an administrator, and a client."""
    store = open_store(engine_config)
    try:
        spec = load_spec_file(SAMPLES / "arrests.yaml")
        load_file(store, spec.source_path(), spec=spec)  # type: ignore[arg-type]
        add_user(store, "boss", Role.ADMIN, AUTH[1])
        with TestClient(create_app(engine_config, store=store)) as client:
            yield store, client
    finally:
        store.close()
