"""Fixtures shared by the whole suite: real DuckDB files, the real app, a live server."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from blotter.app import create_app
from blotter.settings import Settings
from blotter.store import Store
from tests.engines import ENGINES, engine_settings
from tests.portal import built_duckdb_portal, portal  # noqa: F401 - fixtures for every module

RAM_DISK = Path("/dev/shm")
_MADE_BASETEMP = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Test files (``tmp_path``: the DuckDB files, data dirs) on a RAM disk where the machine
    has one, in a directory of this run's own, removed when it ends (``--basetemp DIR`` keeps
    them where you say). DuckDB syncs the disk at each commit, and a portal's setup commits a
    few hundred times: on a RAM disk the same commits cost a third of the time. Before the
    temporary-path plugin reads the option (tryfirst); the xdist workers are given their
    directories inside it by the controller. And xdist is told to hand out the files in the
    order collected (``pytest_collection_modifyitems``), not by its count of their tests."""
    # Servers and commands the suite starts skip importing the hotspot statistics at start
    # (about 3 s of CPU each; the setting's own test is tests/analysis/test_preload.py).
    os.environ.setdefault("BLOTTER_PRELOAD_STATISTICS", "false")
    if hasattr(config.option, "loadscopereorder"):  # xdist: keep the order collected
        config.option.loadscopereorder = False
    if config.option.basetemp or hasattr(config, "workerinput"):
        return
    if RAM_DISK.is_dir() and shutil.disk_usage(RAM_DISK).free > 4 * 2**30:
        made = tempfile.mkdtemp(prefix="blotter-tests-", dir=RAM_DISK)
        config.option.basetemp = made
        config.stash[_MADE_BASETEMP] = made


# Files holding one long test or one long setup (10-50 s each in a full run): sent to the
# xdist workers first, so that neither is left at the end running one while the other idles.
LONG_FIRST = (
    "tests/bench/test_bench.py",
    "tests/test_multihost.py",
    "tests/test_cli.py",
    "tests/test_database_faults.py",
    "tests/web/test_chart_specs.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files in the order ``--dist loadfile`` hands them out: LONG_FIRST, then the files with
    the most tests (xdist's own order, which it is told to keep rather than make again)."""
    counts = Counter(item.nodeid.split("::")[0] for item in items)

    def rank(item: pytest.Item) -> tuple[int, int]:
        path = item.nodeid.split("::")[0]
        first = LONG_FIRST.index(path) if path in LONG_FIRST else len(LONG_FIRST)
        return first, -counts[path]

    items.sort(key=rank)  # stable: each file's tests keep their order


def pytest_unconfigure(config: pytest.Config) -> None:
    made = config.stash.get(_MADE_BASETEMP, None)
    if made:
        shutil.rmtree(made, ignore_errors=True)


# Argon2 at its lowest cost for the accounts this process makes and checks: a test signs in
# many times, and each hash at the portal's cost (accounts.HASHING) is a quarter of a second
# of CPU. The code run is the same; a server or command started as its own process keeps the
# real cost, which tests/test_multihost.py checks on an account `blotter user add` made.
TEST_HASHING = dict(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashes() -> Iterator[None]:
    from argon2 import PasswordHasher

    from blotter import accounts

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts, "_hasher", PasswordHasher(**TEST_HASHING))
        yield


@dataclass
class LiveServer:
    url: str
    app: FastAPI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_in_thread(
    app: FastAPI, tls: tuple[Path, Path] | None = None, port: int | None = None
) -> Iterator[LiveServer]:
    """Run ``app`` under uvicorn on ``port`` (a free loopback port by default) until the
    generator is closed; ``tls`` is (certificate, key) for clients that only speak HTTPS."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(url=f"{'https' if tls else 'http'}://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(params=ENGINES)
def engine_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings of a fresh, empty portal on each engine in turn."""
    yield from engine_settings(request.param, tmp_path)


@pytest.fixture
def engine_store(engine_config: Settings) -> Iterator[Store]:
    """An open store of a fresh portal on each engine in turn."""
    from blotter.store import open_store

    store = open_store(engine_config)
    yield store
    store.close()


def with_samples(data_dir: Path) -> Path:
    """``data_dir`` with the sample datasets loaded into its database (the generated events
    around today, so some are always upcoming)."""
    from blotter.samples import load_samples
    from blotter.store import open_store

    store = open_store(Settings(data_dir=data_dir))
    try:
        load_samples(store)
    finally:
        store.close()
    return data_dir


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the sample datasets, loaded once per test process."""
    return with_samples(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="session")
def sample_app(sample_data_dir: Path) -> Iterator[FastAPI]:
    """The real app over the sample datasets, shared by a test process: tests only read."""
    from blotter.store import open_store

    # The port it will be served on is chosen now, as `blotter serve --port` does, so the
    # portal's absolute addresses (examples, embeds, Open Graph) name the live server.
    settings = Settings(data_dir=sample_data_dir, port=free_port())
    store = open_store(settings)
    yield create_app(settings, store=store)
    store.close()


@pytest.fixture(scope="session")
def sample_server(sample_app: FastAPI) -> Iterator[LiveServer]:
    """A live server on loopback over the sample datasets, for real clients and browsers."""
    yield from serve_in_thread(sample_app, port=sample_app.state.portal.settings.port)
