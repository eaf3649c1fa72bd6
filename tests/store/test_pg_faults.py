"""An error PostgreSQL raises about a request's own work is told as what it was, not as an
outage: psycopg classes a full disk, a deadlock and a lock not granted as "operational", as it
does a lost connection. Met for real, over HTTP, through a login role whose sessions have
PostgreSQL's own small limits: a read with no room to sort answers 503
``store.short-of-resources``, a write that waits too long for a lock held elsewhere 503
``store.conflict``; both with ``Retry-After``, and neither loses what was published."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pyarrow as pa
import pytest
import requests
from psycopg import errors, sql

from blotter.accounts import add_user
from blotter.app import create_app
from blotter.model import Column, ColumnType, DatasetMeta, Role
from blotter.settings import Settings
from blotter.store import open_store
from blotter.store.pgpool import fault, lost
from tests.conftest import LiveServer, serve_in_thread
from tests.engines import TEST_DATABASE_URL, engine_settings, require_postgres

COLUMNS = [
    Column(field_name="n", name="N", type=ColumnType.NUMBER),
    Column(field_name="word", name="Word", type=ColumnType.TEXT),
]
ROWS = 20_000  # about a megabyte to sort by word: far past the role's 64 kB
DATASET = "wrds-0001"
PASSWORD = "a long enough passphrase"
# Sorts get 64 kB of memory and 64 kB of temporary files.
NO_ROOM = {"work_mem": "64kB", "temp_file_limit": "64kB"}
IMPATIENT = {"lock_timeout": "200ms"}  # a lock is waited for 200 ms


@pytest.fixture
def role_url() -> Iterator[Callable[[dict[str, str]], str]]:
    """The test database's URL as a login role of this test's own, whose sessions have the
    settings given (each role dropped afterwards)."""
    require_postgres()
    made: list[str] = []

    def make(settings: dict[str, str]) -> str:
        role = f"blotter_limited_{uuid.uuid4().hex[:8]}"
        name = sql.Identifier(role)
        with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(name))
            made.append(role)
            for setting, value in settings.items():
                conn.execute(
                    sql.SQL("ALTER ROLE {} SET {} = {}").format(
                        name, sql.Identifier(setting), sql.Literal(value)
                    )
                )
        parts = urlsplit(TEST_DATABASE_URL)
        return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))

    yield make
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        for role in made:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [role],
            )
            name = sql.Identifier(role)
            # What it published belongs to the test's schema, dropped with it.
            conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(name))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(name))
            conn.execute(sql.SQL("DROP ROLE {}").format(name))


@pytest.fixture
def published(tmp_path: Path) -> Iterator[Settings]:
    """A PostgreSQL portal holding one dataset of ``ROWS`` rows and a publisher of its
    agency, made through the test server's own role."""
    for settings in engine_settings("postgres", tmp_path):
        store = open_store(settings)
        try:
            meta = DatasetMeta(name="Words", agency="Testville")
            store.create_dataset(meta, COLUMNS, DATASET)
            batch = pa.record_batch(
                {
                    "n": [float(i) for i in range(ROWS)],
                    "word": [f"{(i * 7919) % ROWS:06d} {'x' * 40}" for i in range(ROWS)],
                }
            )
            store.publish(DATASET, COLUMNS, [batch])
            add_user(store, "pub", Role.PUBLISHER, PASSWORD, agency="Testville")
        finally:
            store.close()
        yield settings


def _served(settings: Settings) -> Iterator[LiveServer]:
    yield from serve_in_thread(create_app(settings))


def test_a_read_with_no_room_to_sort_answers_503_short_of_resources(
    published: Settings, role_url: Callable[[dict[str, str]], str]
) -> None:
    reads_limited = published.model_copy(update={"database_read_url": role_url(NO_ROOM)})
    for live in _served(reads_limited):
        resource = f"{live.url}/resource/{DATASET}"
        for path, params in (
            (".json", {"$order": "word", "$limit": "50000"}),  # a page, read whole
            (".csv", {"$order": "word"}),  # an export, streamed
        ):
            refused = requests.get(resource + path, params=params, timeout=60)
            assert refused.status_code == 503, (path, refused.text)
            body = refused.json()
            assert body["code"] == "store.short-of-resources", body
            assert "ran short of memory, disk space or connections" in body["message"]
            assert "not reachable" not in body["message"]
            assert refused.headers["Retry-After"] == "60"
        # What needs no room is still answered, from the same pool: nothing was lost.
        first = requests.get(resource + ".json", params={"$order": "n", "$limit": "3"}, timeout=60)
        assert first.status_code == 200, first.text
        assert [row["n"] for row in first.json()] == ["0", "1", "2"]
        count = requests.get(resource + ".json", params={"$select": "count(*)"}, timeout=60)
        assert count.json() == [{"count": str(ROWS)}]


def test_a_write_kept_waiting_by_a_lock_answers_503_conflict_and_changes_nothing(
    published: Settings, role_url: Callable[[dict[str, str]], str]
) -> None:
    limited = published.model_copy(update={"database_url": role_url(IMPATIENT)})
    new_row = json.dumps([{"n": ROWS, "word": "added"}])
    for live in _served(limited):
        resource = f"{live.url}/resource/{DATASET}.json"
        versions = f"{live.url}/api/views/{DATASET}/versions.json"
        # Another session holds the versions table against writers (readers still pass).
        with psycopg.connect(TEST_DATABASE_URL) as holder:
            table = sql.Identifier(published.database_schema, "blotter_versions")
            holder.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))
            refused = requests.post(resource, data=new_row, auth=("pub", PASSWORD), timeout=60)
            assert refused.status_code == 503, refused.text
            body = refused.json()
            assert body["code"] == "store.conflict", body
            assert "rolled back and nothing changed" in body["message"]
            assert refused.headers["Retry-After"] == "1"
        assert requests.get(versions, timeout=60).json()["newest"] == 1
        count = requests.get(resource, params={"$select": "count(*)"}, timeout=60)
        assert count.json() == [{"count": str(ROWS)}]
        # Sent again once the lock is gone, it is published.
        again = requests.post(resource, data=new_row, auth=("pub", PASSWORD), timeout=60)
        assert again.status_code == 200, again.text
        assert requests.get(versions, timeout=60).json()["newest"] == 2


@pytest.mark.parametrize(
    ("error", "is_lost", "code"),
    [
        (errors.AdminShutdown, True, "store.unavailable"),  # a restart ends the session
        (errors.ConnectionFailure, True, "store.unavailable"),
        (errors.CannotConnectNow, True, "store.unavailable"),
        (errors.DiskFull, False, "store.short-of-resources"),
        (errors.OutOfMemory, False, "store.short-of-resources"),
        (errors.ConfigurationLimitExceeded, False, "store.short-of-resources"),
        (errors.DeadlockDetected, False, "store.conflict"),
        (errors.SerializationFailure, False, "store.conflict"),
        (errors.LockNotAvailable, False, "store.conflict"),
        (errors.QueryCanceled, False, None),  # the read's time limit says why
        (errors.IoError, False, None),  # not known here: reported as the bug it may be
    ],
)
def test_each_class_of_operational_error_is_told_as_what_it_is(
    error: type[psycopg.OperationalError], is_lost: bool, code: str | None
) -> None:
    err = error("as PostgreSQL would say it")
    assert lost(err) is is_lost
    told = fault(err, wait_s=5)
    assert (told.code if told else None) == code


def test_an_error_psycopg_raises_itself_is_a_lost_link() -> None:
    """A closed socket carries no SQLSTATE: the link is gone."""
    assert lost(psycopg.OperationalError("server closed the connection unexpectedly"))
