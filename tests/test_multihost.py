"""Two `blotter serve` processes on one PostgreSQL behave as two hosts: a publish made
anywhere is served by both at once, and `--workers` runs several processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from argon2 import extract_parameters

from blotter import accounts
from blotter.settings import Settings
from blotter.store import open_store
from tests.conftest import free_port
from tests.engines import cli_env, engine_settings


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Settings]:
    yield from engine_settings("postgres", tmp_path)


def start(settings: Settings, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, **cli_env(settings)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "blotter.cli", "serve", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            if httpx.get(f"{url}/api/views.json", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.3)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def load(settings: Settings, path: Path, *args: str) -> None:
    env = {**os.environ, **cli_env(settings)}
    done = subprocess.run(
        [sys.executable, "-m", "blotter.cli", "load", str(path), *args],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_publish_is_served_by_every_host_at_once(postgres: Settings, tmp_path: Path) -> None:
    first = tmp_path / "stops.csv"
    first.write_text("Stop,Age\nA,30\n")
    load(postgres, first, "--new", "--name", "Stops")
    one, url_one = start(postgres)
    two, url_two = start(postgres, "--workers", "2")
    try:
        (view,) = httpx.get(f"{url_one}/api/views.json").json()
        dataset = view["id"]
        second = tmp_path / "stops-2.csv"
        second.write_text("Stop,Age\nB,41\nC,52\n")
        load(postgres, second, "--dataset", dataset)
        for url in (url_one, url_two):
            rows = httpx.get(f"{url}/resource/{dataset}.json").json()
            assert [r["stop"] for r in rows] == ["B", "C"], url
            assert httpx.get(f"{url}/api/views/{dataset}.json").json()["blotter"]["version"] == 2
    finally:
        stop(one)
        stop(two)


def test_several_workers_need_postgresql(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "blotter.cli",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--workers",
            "2",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "BLOTTER_DATABASE_URL"},
    )
    assert done.returncode == 2
    assert "several workers need PostgreSQL" in done.stdout + done.stderr


def test_a_name_no_account_has_locks_as_an_account_does_across_hosts(
    postgres: Settings, tmp_path: Path
) -> None:
    """Wrong passwords sent to two hosts in turn: an account and a name no account has are
    both locked after the fifth, whichever host answers, so no host's answers tell whether
    an account exists (each host once counted unknown names alone: twice the tries)."""
    rows = tmp_path / "stops.csv"
    rows.write_text("Stop,Age\nA,30\n")
    load(postgres, rows, "--new", "--name", "Stops")
    env = {**os.environ, **cli_env(postgres)}
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "blotter.cli",
            "user",
            "add",
            "ana",
            "--role",
            "publisher",
            "--agency",
            "Testville",
            "--password-stdin",
        ],
        input="a long enough password\n",
        env=env,
        capture_output=True,
        text=True,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    # A command of its own hashes at the portal's cost (the suite's own process does not).
    with closing(open_store(postgres)) as store:
        found = store.user_credentials("ana")
    assert found is not None and extract_parameters(found[1]) == accounts.HASHING
    one, url_one = start(postgres)
    two, url_two = start(postgres)
    try:
        (view,) = httpx.get(f"{url_one}/api/views.json").json()

        def statuses(name: str) -> list[int]:
            return [
                httpx.get(
                    f"{(url_one, url_two)[i % 2]}/resource/{view['id']}.json",
                    auth=(name, f"guess {i}"),
                    timeout=30,
                ).status_code
                for i in range(7)
            ]

        assert statuses("ana") == statuses("nobody") == [401] * 5 + [429] * 2
    finally:
        stop(one)
        stop(two)
