"""The systems under test: Blotter on each engine, Datasette, and the raw engines.

Each server runs as its own process on loopback, started as its users would start it, so
its memory can be read from /proc and nothing of the benchmark's process is counted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
SPEC = HERE / "incidents.yaml"
DATASET_ID = "bnch-incd"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running server process and where it answers."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def rss_mb(self) -> float:
        return _status_kb(self.process.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return _status_kb(self.process.pid, "VmHWM") / 1024

    def reset_peak(self) -> None:
        """Start a new peak: Linux resets VmHWM when 5 is written to clear_refs."""
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _status_kb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return 0.0


@contextlib.contextmanager
def running(
    name: str, argv: list[str], port: int, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """Start ``argv`` and wait until it answers on ``port``; stop it afterwards."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        server = Server(name, process, f"http://127.0.0.1:{port}", log)
        try:
            _wait_until_up(server)
            yield server
        finally:
            server.stop()


def _wait_until_up(server: Server, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited: see {server.log}")
        try:
            httpx.get(server.base_url + "/", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer within {timeout_s} s: see {server.log}")


# --- Blotter ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BlotterTarget:
    """Where one Blotter portal keeps its data: a DuckDB folder or a PostgreSQL database."""

    engine: str  # "duckdb" or "postgres"
    data_dir: Path
    database_url: str = ""

    @property
    def label(self) -> str:
        return "Blotter·DuckDB" if self.engine == "duckdb" else "Blotter·PostgreSQL"

    def location_args(self) -> list[str]:
        args = ["--data-dir", str(self.data_dir)]
        return args + (["--database-url", self.database_url] if self.database_url else [])


def load_blotter(target: BlotterTarget, csv_path: Path) -> float:
    """Publish the CSV as a new dataset through ``blotter load``; seconds taken."""
    start = time.perf_counter()
    subprocess.run(
        [
            str(BIN / "blotter"),
            "load",
            str(csv_path),
            "--new",
            "--spec",
            str(SPEC),
            *target.location_args(),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


@contextlib.contextmanager
def serve_blotter(target: BlotterTarget, log_dir: Path) -> Iterator[Server]:
    port = free_port()
    # The benchmark's clients all come from 127.0.0.1; the per-address API throttle would
    # count 64 clients as one caller, so it is off (as behind a proxy that throttles). The
    # query time limit is Datasette's here (600 s): under 64 clients at 10M rows, queued
    # queries pass Blotter's default 30 s, and a limit only one side has is not a comparison.
    env = {
        "BLOTTER_THROTTLE_ANONYMOUS_PER_MINUTE": "0",
        "BLOTTER_QUERY_TIMEOUT_S": str(DATASETTE_TIME_LIMIT_MS / 1000),
    }
    argv = [str(BIN / "blotter"), "serve", "--port", str(port), *target.location_args()]
    with running(target.label, argv, port, log_dir / f"{target.engine}.log", env) as server:
        yield server


def blotter_url(server: Server, question_soql: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    return f"{server.base_url}/resource/{DATASET_ID}.json", dict(question_soql)


def blotter_export_url(server: Server) -> str:
    return f"{server.base_url}/api/views/{DATASET_ID}/rows.csv"


# --- the raw engine -----------------------------------------------------------------------


class RawEngine:
    """Blotter's own compiled SQL, run straight on the engine with no HTTP and no Blotter."""

    def __init__(self, target: BlotterTarget) -> None:
        self.target = target
        # Any: either engine's store, reached into (DuckDB's connection, PostgreSQL's schema),
        # and either driver's connection, whose execute() each types its own way.
        self._store: Any = None
        self._con: Any = None

    def __enter__(self) -> RawEngine:
        from blotter.settings import Settings
        from blotter.store import open_store

        settings = Settings(data_dir=self.target.data_dir, database_url=self.target.database_url)
        self._settings = settings
        self._store = open_store(settings)
        self._dataset = self._store.get_dataset(DATASET_ID)
        if self.target.engine == "duckdb":
            self._con = self._store._con.cursor()
        else:
            import psycopg

            # The store keeps its tables in its own schema.
            self._con = psycopg.connect(
                self.target.database_url,
                autocommit=True,
                options=f"-c search_path={self._store.schema}",
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.close()
        self._store.close()

    def sql(self, soql: Mapping[str, str]) -> tuple[str, Any, list[tuple[str, int]]]:
        """The SQL and parameters Blotter's store would run for these SoQL parameters, and
        the output fields with how many physical values each takes (a point takes two)."""
        from blotter.queries import parse_request
        from blotter.soql.compiler import compile_query

        query, filters = parse_request(soql)
        compiled = compile_query(
            query,
            self._dataset,
            filters=filters,
            default_limit=self._settings.default_limit,
            max_limit=self._settings.max_limit,
        )
        sql, params = self._store.engine_sql(self._dataset, compiled.select)
        return sql, params, [(out.name, out.width) for out in compiled.outputs]

    @staticmethod
    def as_record(names: list[tuple[str, int]], row: tuple[Any, ...]) -> dict[str, Any]:
        record: dict[str, Any] = {}
        i = 0
        for name, width in names:
            record[name] = row[i] if width == 1 else row[i : i + width]
            i += width
        return record

    def run(self, sql: str, params: Any) -> list[tuple[Any, ...]]:
        cur = self._con.execute(sql, params)
        return list(cur.fetchall())


# --- Datasette ----------------------------------------------------------------------------

DATASETTE_DB = "bench"
DATASETTE_TIME_LIMIT_MS = 600_000
FTS_COLUMNS = ("call_type", "description", "address", "narrative")
# The columns the questions filter, sort or group on: SQLite gets an index on each (and
# `id` is the primary key), so Datasette is measured at its best.
SQLITE_INDEXES = ("received_at", "district", "call_type", "status", "latitude")


def load_datasette(csv_path: Path, db_path: Path) -> dict[str, float]:
    """Load the CSV the way Datasette's users do, with sqlite-utils; seconds per step."""
    db_path.unlink(missing_ok=True)
    tool = str(BIN / "sqlite-utils")
    steps: dict[str, float] = {}
    start = time.perf_counter()
    subprocess.run(
        [
            tool,
            "insert",
            str(db_path),
            "incidents",
            str(csv_path),
            "--csv",
            "--pk",
            "id",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    steps["insert"] = time.perf_counter() - start
    start = time.perf_counter()
    for column in SQLITE_INDEXES:
        subprocess.run([tool, "create-index", str(db_path), "incidents", column], check=True)
    steps["indexes"] = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(
        [tool, "enable-fts", str(db_path), "incidents", *FTS_COLUMNS, "--fts5"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    steps["full_text"] = time.perf_counter() - start
    subprocess.run([tool, "analyze", str(db_path)], check=True)
    return steps


@contextlib.contextmanager
def serve_datasette(db_path: Path, log_dir: Path) -> Iterator[Server]:
    port = free_port()
    argv = [
        str(BIN / "datasette"), "serve", "--immutable", str(db_path), "--port", str(port),
        # No time limit and no size cap: every question must finish and the export be whole.
        "--setting", "sql_time_limit_ms", str(DATASETTE_TIME_LIMIT_MS),
        "--setting", "max_csv_mb", "0",
        "--setting", "max_returned_rows", "10000",
    ]  # fmt: skip
    with running("Datasette", argv, port, log_dir / "datasette.log") as server:
        yield server


def datasette_url(server: Server, sql: str) -> tuple[str, dict[str, str]]:
    return f"{server.base_url}/{DATASETTE_DB}.json", {"sql": sql, "_shape": "array"}
