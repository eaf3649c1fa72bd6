"""PostgreSQL stopped, restarted and crowded under a live `blotter serve`: no request gets an
error it could have been spared, an outage is a quick 503 with Retry-After, the pool gives
its connections back, and the command line says what happened in one line.

Each test runs against a private cluster (``tests/pgcluster.py``) it may stop and restart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from blotter.store.pg_cache import LISTENER_NAME
from tests.conftest import free_port
from tests.pgcluster import Cluster, private_cluster

WAIT_S = 2  # BLOTTER_DATABASE_WAIT_S of the server under test
BUSY_WAIT_S = 6  # BLOTTER_DATABASE_BUSY_WAIT_S
POOL_MAX = 3
SERVER_ENV = {
    "BLOTTER_DATABASE_WAIT_S": str(WAIT_S),
    "BLOTTER_DATABASE_BUSY_WAIT_S": str(BUSY_WAIT_S),
    "BLOTTER_DATABASE_POOL_MIN": "1",
    "BLOTTER_DATABASE_POOL_MAX": str(POOL_MAX),
    "BLOTTER_DATABASE_POOL_IDLE_S": "1",
    "BLOTTER_THROTTLE_ANONYMOUS_PER_MINUTE": "0",
    "BLOTTER_PRELOAD_STATISTICS": "false",
}


@dataclass
class Served:
    cluster: Cluster
    url: str
    dataset: str
    log: Path


def _env(cluster: Cluster) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLOTTER_")}
    return {**env, **SERVER_ENV, "BLOTTER_DATABASE_URL": cluster.url}


def _cli(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "blotter.cli", *args],
        env=_env(cluster),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A private cluster holding one small dataset, and a server on it."""
    root = tmp_path_factory.mktemp("faults")
    with private_cluster(root) as cluster:
        rows = root / "stops.csv"
        rows.write_text("Stop,Age\n" + "".join(f"S{i},{20 + i % 50}\n" for i in range(200)))
        loaded = _cli(cluster, "load", str(rows), "--new", "--name", "Stops")
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        port = free_port()
        log = root / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "blotter.cli", "serve", "--port", str(port)],
                env=_env(cluster),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log.read_text()
                try:
                    views = httpx.get(f"{url}/api/views.json", timeout=5)
                    if views.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
            yield Served(cluster, url, views.json()[0]["id"], log)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        assert "Exception in ASGI application" not in log.read_text(), log.read_text()


@pytest.fixture
def up(served: Served) -> Served:
    """The served portal with its database running (a test before may have stopped it)."""
    if not served.cluster.running():
        served.cluster.start()
    return served


def _paths(dataset: str) -> list[str]:
    return [
        f"/resource/{dataset}.json?$limit=5",
        f"/api/views/{dataset}.json",
        f"/resource/{dataset}.json?$select=count(*)",
        "/",
    ]


def _connections(cluster: Cluster) -> int:
    """Client connections to the portal's database, not counting this one nor the one each
    process listens for dataset changes on (outside the pool: ``store/pg_cache.py``)."""
    with psycopg.connect(cluster.url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'blotter' "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
            "AND application_name <> %s",
            [LISTENER_NAME],
        ).fetchone()
    return int(row[0]) if row else 0


def _burst(url: str, paths: list[str], clients: int) -> list[int]:
    statuses: list[int] = []

    def one(path: str) -> None:
        statuses.append(httpx.get(url + path, timeout=30).status_code)

    threads = [threading.Thread(target=one, args=(paths[i % len(paths)],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_a_restart_costs_the_next_requests_no_error(up: Served) -> None:
    paths = _paths(up.dataset)
    assert set(_burst(up.url, paths, 8)) == {200}  # the pool now holds several connections
    up.cluster.restart()  # every one of them is now dead
    statuses = [
        httpx.get(up.url + paths[i % len(paths)], timeout=30).status_code for i in range(12)
    ]
    assert statuses == [200] * 12


@dataclass
class Call:
    started: float
    ended: float
    status: int  # 0: no HTTP answer at all
    path: str


def test_a_restart_under_load_answers_no_500_and_503_only_while_down(up: Served) -> None:
    paths = _paths(up.dataset)
    calls: list[Call] = []
    stop = threading.Event()

    def client(offset: int) -> None:
        with httpx.Client(timeout=30) as http:
            i = offset
            while not stop.is_set():
                path = paths[i % len(paths)]
                i += 1
                started = time.monotonic()
                try:
                    status = http.get(up.url + path).status_code
                except httpx.TransportError:
                    status = 0
                calls.append(Call(started, time.monotonic(), status, path))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        down = time.monotonic()
        up.cluster.restart()
        back = time.monotonic()
        time.sleep(WAIT_S + 3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    statuses = {c.status for c in calls}
    assert statuses <= {200, 503}, sorted(statuses)
    unavailable = [c for c in calls if c.status == 503]
    # A 503 only for a request in flight while the database was down, or started before
    # the pool had had its wait to reconnect.
    assert all(c.ended >= down and c.started <= back + WAIT_S for c in unavailable), [
        (round(c.started - down, 2), round(c.ended - down, 2)) for c in unavailable
    ]
    assert len(unavailable) < len(calls) / 2
    after = [c for c in calls if c.started > back + WAIT_S]
    assert after and {c.status for c in after} == {200}
    assert [c for c in calls if c.ended < down and c.status == 200]


def test_a_stopped_database_answers_503_soon_and_readiness_returns(up: Served) -> None:
    data = f"{up.url}/resource/{up.dataset}.json?$limit=5"
    assert httpx.get(f"{up.url}/readyz").json()["status"] == "ready"
    up.cluster.stop()
    started = time.monotonic()
    answer = httpx.get(data, timeout=30)
    took = time.monotonic() - started
    assert answer.status_code == 503
    assert answer.json()["code"] == "store.unavailable"
    assert int(answer.headers["Retry-After"]) >= 1
    assert took < WAIT_S + 8  # the configured wait, not the pool's 30-second default
    # An account's app token is looked up before any route runs (by the throttle): the same.
    token = httpx.get(data, headers={"X-App-Token": "blt_0123456789ab_" + "x" * 43}, timeout=30)
    assert token.status_code == 503 and token.json()["code"] == "store.unavailable"
    page = httpx.get(f"{up.url}/datasets/{up.dataset}", timeout=30)
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "database is not reachable" in page.text
    assert "Retry-After" in page.headers
    assert httpx.get(f"{up.url}/healthz").status_code == 200  # the process is fine
    ready = httpx.get(f"{up.url}/readyz", timeout=30)
    assert ready.status_code == 503
    assert ready.json()["code"] == "store.unavailable"
    assert "Retry-After" in ready.headers

    up.cluster.start()
    deadline = time.monotonic() + 30
    while httpx.get(f"{up.url}/readyz", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the server never became ready again"
        time.sleep(0.5)
    assert httpx.get(data, timeout=30).status_code == 200


def test_the_command_line_reports_an_unreachable_database_in_one_line(up: Served) -> None:
    up.cluster.stop()
    for args in (["datasets"], ["user", "list"], ["serve", "--port", str(free_port())]):
        done = _cli(up.cluster, *args)
        assert done.returncode == 1, args
        assert "Traceback" not in done.stderr + done.stdout
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Cannot reach PostgreSQL" in lines[0], done.stderr


def test_a_load_cut_by_a_restart_ends_in_one_line_and_publishes_nothing_half(
    up: Served, tmp_path: Path
) -> None:
    big = tmp_path / "big.csv"
    with big.open("w") as out:
        out.write("Case,Note\n")
        out.writelines(f"C{i},{'x' * 40}\n" for i in range(600_000))
    before = httpx.get(f"{up.url}/api/views.json").json()
    proc = subprocess.Popen(
        [sys.executable, "-m", "blotter.cli", "load", str(big), "--new", "--name", "Big"],
        env=_env(up.cluster),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Restart once the load is writing: its transaction is then open on the server.
    deadline = time.monotonic() + 60
    while _connections(up.cluster) < 1 or not _copying(up.cluster):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the load never started writing"
        time.sleep(0.05)
    up.cluster.restart()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "database" in lines[0].lower(), err
    # Nothing of the cut load is served: the catalog is as before.
    after = httpx.get(f"{up.url}/api/views.json", timeout=30).json()
    assert [v["id"] for v in after] == [v["id"] for v in before]


def _copying(cluster: Cluster) -> bool:
    with psycopg.connect(cluster.url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'blotter' "
            "AND query LIKE 'COPY %' AND state = 'active'"
        ).fetchone()
    return bool(row and row[0])


def test_a_burst_takes_at_most_the_pool_and_gives_it_back(up: Served) -> None:
    paths = _paths(up.dataset)
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(_connections(up.cluster))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        statuses = _burst(up.url, paths, 32)
    finally:
        done.set()
        watcher.join()
    assert set(statuses) == {200}
    assert max(seen) <= POOL_MAX
    # Idle connections beyond the minimum are closed, one per idle period.
    deadline = time.monotonic() + 30
    while _connections(up.cluster) > 1:
        assert time.monotonic() < deadline, "the pool kept its idle connections"
        time.sleep(0.5)


@contextmanager
def _versions_locked(cluster: Cluster) -> Iterator[None]:
    """Every version table locked by another session: each read queues on the lock while it
    holds its pool connection, as slow questions would."""
    with psycopg.connect(cluster.url, connect_timeout=5) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'blotter' "
            "AND tablename LIKE 'ds\\_%'"
        ).fetchall()
        assert tables
        with conn.transaction():
            for (table,) in tables:
                conn.execute(f'LOCK TABLE blotter."{table}" IN ACCESS EXCLUSIVE MODE')
            yield


def _reads_while_locked(up: Served, held_s: float, first: int) -> list[httpx.Response]:
    """POOL_MAX + 2 reads sent while the versions are locked for ``held_s``: the first
    POOL_MAX hold every connection, the others queue for one. Each asks a question no test
    asked before (ages above ``first`` on), so none is answered from the server's kept
    answers."""
    answers: list[httpx.Response] = []
    path = f"/resource/{up.dataset}.json?$limit=5&$where=age>{{}}"

    def one(i: int) -> None:
        answers.append(httpx.get(up.url + path.format(i), timeout=60))

    threads = [threading.Thread(target=one, args=(first + i,)) for i in range(POOL_MAX + 2)]
    with _versions_locked(up.cluster):
        for thread in threads:
            thread.start()
            time.sleep(0.1)
        time.sleep(held_s)
    for thread in threads:
        thread.join()
    return answers


def test_a_full_pool_queues_requests_past_the_outage_wait(up: Served) -> None:
    """Every connection busy for longer than BLOTTER_DATABASE_WAIT_S is no outage: the
    queued requests are answered once a connection is free, not 503."""
    answers = _reads_while_locked(up, WAIT_S + 2, first=100)
    assert [a.status_code for a in answers] == [200] * len(answers), [a.text for a in answers]


def test_a_pool_busy_past_its_wait_answers_503_store_busy(up: Served) -> None:
    """Past BLOTTER_DATABASE_BUSY_WAIT_S the queued requests get 503 store.busy with
    Retry-After (not store.unavailable: the database answers), and the log says the pool was
    full; the requests that held the connections are answered once the lock goes."""
    answers = _reads_while_locked(up, BUSY_WAIT_S + 3, first=200)
    busy = [a for a in answers if a.status_code == 503]
    assert busy, [a.status_code for a in answers]
    assert len([a for a in answers if a.status_code == 200]) >= POOL_MAX - 1
    assert {a.json()["code"] for a in busy} == {"store.busy"}
    assert all(int(a.headers["Retry-After"]) >= 1 for a in busy)
    assert "connections was busy" in up.log.read_text()
