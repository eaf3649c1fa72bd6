"""``/healthz`` and ``/readyz`` on both engines: the process, then the database and its schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from blotter.app import create_app
from blotter.settings import Settings
from blotter.store import Store, open_store


@pytest.fixture
def client(engine_config: Settings) -> Iterator[tuple[TestClient, Store]]:
    store = open_store(engine_config)
    with TestClient(create_app(engine_config, store)) as http:
        yield http, store
    store.close()


def test_healthz_answers_without_the_database(client: tuple[TestClient, Store]) -> None:
    http, _ = client
    answer = http.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert answer.headers["cache-control"] == "no-store"
    assert http.head("/healthz").status_code == 200


def test_readyz_reports_the_engine_and_current_schema(client: tuple[TestClient, Store]) -> None:
    http, store = client
    from blotter.store.migrations import DUCKDB, migrations

    answer = http.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ready",
        "engine": store.engine,
        "schema_version": len(migrations(DUCKDB)),
    }
    assert http.head("/readyz").status_code == 200


def test_readyz_is_503_while_the_schema_is_not_this_servers(
    client: tuple[TestClient, Store],
) -> None:
    """A newer server migrated the database (a rolling upgrade): this one is not ready."""
    http, store = client
    applied, expected = store.schema_status()
    assert applied == expected
    store._commands([("INSERT INTO blotter_schema VALUES (?)", [expected + 1])])  # type: ignore[attr-defined]
    answer = http.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["code"] == "store.schema-mismatch"
    assert body["data"]["schema_version"] == expected + 1
    assert body["data"]["expected_schema_version"] == expected
    assert answer.headers["retry-after"] == "5"


def test_health_checks_are_never_throttled(engine_config: Settings) -> None:
    settings = engine_config.model_copy(update={"throttle_anonymous_per_minute": 1})
    store = open_store(settings)
    try:
        with TestClient(create_app(settings, store)) as http:
            assert {http.get("/readyz").status_code for _ in range(5)} == {200}
            assert {http.get("/healthz").status_code for _ in range(5)} == {200}
    finally:
        store.close()
