"""The systems under test: Blotter on each engine, Datasette, and the raw engines.

Each server runs as its own process on loopback, started as its users would start it, so
its memory can be read from /proc and nothing of the benchmark's process is counted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.questions import Question

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

    # A server's memory is its process and every process it started (a worker, a drawing
    # process): work moved to a child is still the server's memory.
    def rss_mb(self) -> float:
        return sum(_status_kb(pid, "VmRSS") for pid in process_tree(self.process.pid)) / 1024

    def peak_rss_mb(self) -> float:
        """The sum of each process's own peak: an upper bound when they peak apart."""
        return sum(_status_kb(pid, "VmHWM") for pid in process_tree(self.process.pid)) / 1024

    def reset_peak(self) -> None:
        """Start a new peak: Linux resets VmHWM when 5 is written to clear_refs."""
        for pid in process_tree(self.process.pid):
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants alive now, from each process's parent in /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name may hold spaces and parentheses: the fields follow the last ')'.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _status_kb(pid: int, key: str) -> float:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:  # the process ended since the tree was read
        return 0.0
    for line in lines:
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


# Blotter keeps each answer of a version it has computed (versions never change); Datasette
# and the raw engines keep none. The questions, exports and load test therefore run with the
# kept answers off, so every figure is an answer computed anew; the pages section
# (bench/pages.py) times first and repeated answers with them on, and says which is which.
NO_KEPT_ANSWERS = {"BLOTTER_ANSWER_CACHE_ENTRIES": "0", "BLOTTER_ANSWER_CACHE_MB": "0"}


@contextlib.contextmanager
def serve_blotter(
    target: BlotterTarget, log_dir: Path, *, kept_answers: bool = False
) -> Iterator[Server]:
    port = free_port()
    # The benchmark's clients all come from 127.0.0.1; the per-address API throttle would
    # count 64 clients as one caller, so it is off (as behind a proxy that throttles). The
    # query time limit is Datasette's here (600 s): under 64 clients at 10M rows, queued
    # queries pass Blotter's default 30 s, and a limit only one side has is not a comparison.
    env = {
        "BLOTTER_THROTTLE_ANONYMOUS_PER_MINUTE": "0",
        "BLOTTER_QUERY_TIMEOUT_S": str(DATASETTE_TIME_LIMIT_MS / 1000),
        **({} if kept_answers else NO_KEPT_ANSWERS),
    }
    argv = [str(BIN / "blotter"), "serve", "--port", str(port), *target.location_args()]
    with running(target.label, argv, port, log_dir / f"{target.engine}.log", env) as server:
        yield server


def blotter_url(server: Server, question_soql: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    return f"{server.base_url}/resource/{DATASET_ID}.json", dict(question_soql)


def blotter_export_url(server: Server) -> str:
    return f"{server.base_url}/api/views/{DATASET_ID}/rows.csv"


@dataclass(frozen=True)
class Profile:
    """How hard to measure: passes per question, a time budget per question and system, the
    load test's clients, measured window and warm-up before it."""

    runs: int = 30
    budget_s: float = 10.0
    clients: int = 64
    load_s: float = 20.0
    load_warmup_s: float = 3.0


# --- a size's running systems, for the sections of a run --------------------------------


@dataclass
class Running:
    """Everything a section of a run may use at one size: the servers (``blotter-duckdb``,
    ``blotter-postgres``, ``datasette``) and raw engines (``raw-duckdb``, ``raw-postgres``)
    that are up, the timed questions, how hard to measure, and where to write. A section is a
    function ``section(running) -> {system key: figures}``; its figures land in the results
    at ``sizes[rows].systems[key][section name]``."""

    rows: int
    asked: list[Question]
    profile: Profile
    work: Path
    csv_path: Path
    seed: int
    servers: dict[str, Server]
    raw: dict[str, RawEngine]
    targets: dict[str, BlotterTarget]

    def url_of(self, key: str, question: Question) -> tuple[str, dict[str, str]]:
        """Where system ``key`` is asked ``question``."""
        server = self.servers[key]
        if key == "datasette":
            return datasette_url(server, question.sqlite)
        return blotter_url(server, question.soql)

    def export_url(self, key: str) -> str:
        server = self.servers[key]
        if key == "datasette":
            return server.base_url + "/bench/incidents.csv?_stream=on&_size=max"
        return blotter_export_url(server)


# --- the raw engine -----------------------------------------------------------------------


class RawEngine:
    """The SQL Blotter runs for a question (read from the version's rollup when one answers
    it, as the portal does), run straight on the engine with no HTTP and no Blotter."""

    def __init__(self, target: BlotterTarget) -> None:
        self.target = target
        # Any: either engine's store, reached into (DuckDB's connection, PostgreSQL's schema),
        # and either driver's connection, whose execute() each types its own way.
        self._store: Any = None
        self._con: Any = None
        # Plain SQL → what the store asks first for it (DuckDB's page newest first).
        self._first: dict[str, tuple[str, Any, int]] = {}

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
        from blotter.rollups import select_for
        from blotter.soql.compiler import compile_query

        query, filters = parse_request(soql)
        compiled = compile_query(
            query,
            self._dataset,
            filters=filters,
            default_limit=self._settings.default_limit,
            max_limit=self._settings.max_limit,
        )
        # What Blotter runs: a count its version's rollup answers is read from the rollup.
        chosen = select_for(self._store, self._dataset, compiled.select, self._settings)
        sql, params = self._store.engine_sql(self._dataset, chosen)
        # A page newest first is asked of the newest rows first, as the store does.
        newest_first = getattr(self._store, "newest_first", None)
        first = newest_first(self._dataset, chosen) if newest_first else None
        if first is not None:
            self._first[sql] = first
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
        first = self._first.get(sql)
        if first is not None:  # the newest rows' page when it is full, else the plain query
            page = list(self._con.execute(first[0], first[1]).fetchall())
            if len(page) == first[2]:
                return page
        cur = self._con.execute(sql, params)
        return list(cur.fetchall())

    def plan(self, sql: str, params: Any) -> list[str]:
        """The engine's plan for Blotter's SQL (EXPLAIN, not run), one line per step."""
        rows = self.run("EXPLAIN " + sql, params)
        return [line for row in rows for line in str(row[-1]).splitlines() if line.strip()]

    @property
    def schema(self) -> str:
        return str(getattr(self._store, "schema", ""))


# --- Datasette ----------------------------------------------------------------------------

DATASETTE_DB = "bench"
DATASETTE_TIME_LIMIT_MS = 600_000
FTS_COLUMNS = ("call_type", "description", "address", "narrative")
# What a careful user gives SQLite for these questions: an index on every column they filter,
# sort or group on (`id` is the primary key), a composite index for the cross-tab, an R*Tree
# for distances (``RTREE_SQL``), FTS5 over the text columns, ANALYZE, and a larger cache.
SQLITE_INDEXES = (
    ("received_at",),
    ("district",),
    ("call_type",),
    ("status",),
    ("district", "status"),
)
RTREE_SQL = (
    "CREATE VIRTUAL TABLE incidents_rtree USING rtree(id, min_lat, max_lat, min_lon, max_lon)",
    "INSERT INTO incidents_rtree SELECT id, latitude, latitude, longitude, longitude "
    "FROM incidents WHERE latitude IS NOT NULL AND longitude IS NOT NULL",
)
# SQLite's page cache per connection (its default is 2 MB). Datasette opens a connection per
# SQL thread (3 by default): 3 × 300 MB, about the 1 GB Blotter·DuckDB may cache by default.
DATASETTE_CACHE_KB = 300_000


def load_datasette(csv_path: Path, db_path: Path) -> dict[str, float]:
    """Load the CSV the way Datasette's users do, with sqlite-utils (its command line, which
    detects the columns' types), then index it with sqlite-utils' Python API (the same
    library, without a process start per index); seconds per step."""
    import sqlite_utils

    db_path.unlink(missing_ok=True)
    tool = str(BIN / "sqlite-utils")
    steps: dict[str, float] = {}
    start = time.perf_counter()
    subprocess.run(
        [tool, "insert", str(db_path), "incidents", str(csv_path), "--csv", "--pk", "id"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    steps["insert"] = time.perf_counter() - start
    db = sqlite_utils.Database(db_path)
    try:
        table = db.table("incidents")
        start = time.perf_counter()
        for columns in SQLITE_INDEXES:
            table.create_index(list(columns))
        steps["indexes"] = time.perf_counter() - start
        start = time.perf_counter()
        with db.conn:
            for statement in RTREE_SQL:
                db.conn.execute(statement)
        steps["rtree"] = time.perf_counter() - start
        start = time.perf_counter()
        table.enable_fts(list(FTS_COLUMNS), fts_version="FTS5")
        steps["full_text"] = time.perf_counter() - start
        start = time.perf_counter()
        db.analyze()
        steps["analyze"] = time.perf_counter() - start
    finally:
        db.close()
    return steps


def sqlite_plan(db_path: Path, sql_text: str) -> list[str]:
    """EXPLAIN QUERY PLAN of one question, as Datasette's SQLite would run it."""
    uri = f"file:{db_path}?immutable=1"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql_text).fetchall()
    return [str(row[-1]) for row in rows]


def sqlite_setup(db_path: Path) -> dict[str, Any]:
    """The indexes the database holds, and the cache Datasette's own connections get with
    ``cache_size_kb`` (read back with PRAGMA cache_size through Datasette itself)."""
    import asyncio

    from datasette.app import Datasette

    uri = f"file:{db_path}?immutable=1"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        schema = [
            str(row[0])
            for row in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type IN ('index', 'table') "
                "AND sql IS NOT NULL AND name NOT LIKE 'incidents_fts_%' "
                "AND name NOT LIKE 'incidents_rtree_%' ORDER BY name"
            )
        ]
    app = Datasette(immutables=[str(db_path)], settings={"cache_size_kb": DATASETTE_CACHE_KB})

    async def cache_pages() -> int:
        db = app.get_database(DATASETTE_DB)
        return int(await db.execute_fn(lambda c: c.execute("PRAGMA cache_size").fetchone()[0]))

    cache = asyncio.run(cache_pages())
    return {"schema": schema, "cache_size_kb": DATASETTE_CACHE_KB, "pragma_cache_size": cache}


@contextlib.contextmanager
def serve_datasette(db_path: Path, log_dir: Path) -> Iterator[Server]:
    port = free_port()
    argv = [
        str(BIN / "datasette"), "serve", "--immutable", str(db_path), "--port", str(port),
        # No time limit and no size cap: every question must finish and the export be whole.
        "--setting", "sql_time_limit_ms", str(DATASETTE_TIME_LIMIT_MS),
        "--setting", "max_csv_mb", "0",
        "--setting", "max_returned_rows", "10000",
        "--setting", "cache_size_kb", str(DATASETTE_CACHE_KB),
    ]  # fmt: skip
    with running("Datasette", argv, port, log_dir / "datasette.log") as server:
        settings = httpx.get(server.base_url + "/-/settings.json", timeout=10).json()
        if settings.get("cache_size_kb") != DATASETTE_CACHE_KB:
            raise RuntimeError(f"Datasette did not take cache_size_kb: {settings}")
        yield server


def datasette_url(server: Server, sql: str) -> tuple[str, dict[str, str]]:
    return f"{server.base_url}/{DATASETTE_DB}.json", {"sql": sql, "_shape": "array"}


# --- PostgreSQL ---------------------------------------------------------------------------

# Set on each benchmark database (ALTER DATABASE … SET), so every connection of Blotter's
# server, of `blotter load` and of the raw engine gets them; the server-wide ones
# (shared_buffers) are the server's own and are recorded in the results.
POSTGRES_SETTINGS = {
    "work_mem": "64MB",
    "effective_cache_size": "8GB",
    "random_page_cost": "1.1",
    "jit": "off",
}
POSTGRES_SHOWN = (*POSTGRES_SETTINGS, "shared_buffers", "max_parallel_workers_per_gather")


def postgres_setup(database_url: str, schema: str) -> dict[str, Any]:
    """The settings the benchmark's connections run with, and every index of the store's
    schema (what Blotter itself created for the dataset)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        shown = {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in POSTGRES_SHOWN}  # type: ignore[index]
        indexes = [
            str(row[0])
            for row in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename LIKE 'ds_%%' "
                "ORDER BY indexname",
                [schema],
            )
        ]
    return {"settings": shown, "indexes": indexes}
