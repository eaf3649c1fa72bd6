"""What the engines and libraries under Blotter do alone, on the same file and machine: the
floors of the targets Blotter cannot beat by being faster than what it runs on.

Each floor is the engine's own way of doing a target's work, with no Blotter code between:
- **ingest**: DuckDB's ``read_csv`` into a table in the main timestamp's order (as Blotter
  writes a version), PostgreSQL's ``COPY … FROM STDIN``; each then indexes the identifier
  and builds its own full-text index over the text columns that ``$q`` searches (DuckDB's
  ``fts`` extension, PostgreSQL's GIN over ``to_tsvector``): issue #20 asks for both a word
  index built at publish and the ingest rate, and here is what each costs the engine alone;
- **exports**: the engine's own CSV writer (``COPY … TO``) over the same columns, whole and
  filtered to the district the benchmark's filtered export asks for, and on DuckDB the peak
  memory of the process that runs it;
- **the stack**: a FastAPI app served by uvicorn as Blotter is (``bench/floor_app.py``),
  answering a bare request and the point lookup straight from DuckDB, asked by the same
  HTTP client: what a request costs before any of Blotter's own work;
- **memory**: a process that imports the libraries the portal's server runs on (the web
  stack and both drivers; then the statistics libraries of the hotspot map; then DuckDB's
  ``spatial`` and ``fts`` extensions loaded), and the drawing process's (vl-convert, one
  chart drawn).

Run alone (``python -m bench.floors --size 1000000``) or as part of ``python -m bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.measure import http_json, interleaved
from bench.questions import lookup_id

# The columns of the generated file (bench/generate.py), typed as the dataset file types them.
COLUMNS = {
    "id": ("BIGINT", "bigint"),
    "event_number": ("VARCHAR", "text"),
    "received_at": ("TIMESTAMP", "timestamp"),
    "call_type": ("VARCHAR", "text"),
    "description": ("VARCHAR", "text"),
    "beat": ("VARCHAR", "text"),
    "district": ("VARCHAR", "text"),
    "status": ("VARCHAR", "text"),
    "address": ("VARCHAR", "text"),
    "narrative": ("VARCHAR", "text"),
    "latitude": ("DOUBLE", "double precision"),
    "longitude": ("DOUBLE", "double precision"),
}
TEXT_COLUMNS = [name for name, (duck, _) in COLUMNS.items() if duck == "VARCHAR"]
# The filtered export's district (bench/exports.py asks for the same one).
DISTRICT = "3"
# What the portal's server imports to answer (the web stack, both engines' drivers, the
# query tools), then what its hotspot map adds; none of Blotter's own modules.
SERVER_LIBRARIES = [
    "fastapi",
    "uvicorn",
    "httptools",
    "uvloop",
    "jinja2",
    "duckdb",
    "psycopg",
    "psycopg_pool",
    "pyarrow",
    "numpy",
    "sqlglot",
    "lark",
    "pydantic",
]
STATISTICS_LIBRARIES = ["scipy.stats", "scipy.fft", "libpysal.graph", "esda.getisord"]
DRAWING = (
    '{"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "mark": "bar",'
    ' "data": {"values": [{"a": "x", "n": 3}, {"a": "y", "n": 5}]},'
    ' "encoding": {"x": {"field": "a", "type": "nominal"},'
    ' "y": {"field": "n", "type": "quantitative"}}}'
)


def measure(
    csv_path: Path, rows: int, work: Path, admin_url: str, engines: list[str], lookup_row: int
) -> dict[str, Any]:
    """Every floor at one size (``engines``: which engines' floors)."""
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    if "duckdb" in engines:
        db = str(work / "floor.duckdb")
        # Loaded in one process, exported in a fresh one: the export's memory is its own.
        out["duckdb"] = _child("duckdb", str(csv_path), db, str(rows)) | _child("export", db)
        out["stack"] = stack(work / "floor.duckdb", work, lookup_row)
    if "postgres" in engines:
        out["postgres"] = postgres(csv_path, rows, admin_url)
    out["memory"] = memory()
    return out


def _child(*argv: str) -> dict[str, Any]:
    """A floor measured in a process of its own, so its memory is its work's alone."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.floors", "--child", *argv],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024
    return 0.0


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) / 1024
    return 0.0


def _timed(con: Any, *statements: str) -> float:
    """Seconds ``con`` (either engine's connection) takes to run ``statements`` in turn."""
    start = time.perf_counter()
    for statement in statements:
        con.execute(statement)
    return time.perf_counter() - start


def duckdb_floor(csv_path: Path, db_path: Path, rows: int) -> dict[str, Any]:
    """DuckDB alone, with Blotter's default memory limit (``BLOTTER_DUCKDB_MEMORY_MB``)."""
    import duckdb

    from blotter.settings import Settings
    from blotter.store.extensions import extension_file

    for stale in (db_path, db_path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    con = duckdb.connect(str(db_path))
    con.execute(f"SET memory_limit = '{Settings().duckdb_memory_mb}MB'")
    types = ", ".join(f"'{name}': '{duck}'" for name, (duck, _) in COLUMNS.items())
    source = str(csv_path).replace("'", "''")
    load_s = _timed(
        con,
        "CREATE TABLE incidents AS SELECT * FROM read_csv("  # noqa: S608 - our own path
        f"'{source}', header = true, columns = {{{types}}}) ORDER BY received_at",
        "CHECKPOINT",
    )
    index_s = _timed(con, "CREATE INDEX incidents_id ON incidents (id)")
    con.execute(f"LOAD '{extension_file('fts')}'")
    listed = ", ".join(f"'{c}'" for c in TEXT_COLUMNS)
    word_s = _timed(con, f"PRAGMA create_fts_index('incidents', 'id', {listed})", "CHECKPOINT")
    con.execute("DROP SCHEMA fts_main_incidents CASCADE")  # the stack floor's file stays small
    con.close()
    return _ingest(rows, load_s, index_s, word_s)


def duckdb_exports(db_path: Path) -> dict[str, Any]:
    """DuckDB's own CSV writer over the floor's table, whole then one district, in a process
    that does nothing else (its peak memory, DuckDB's cache included, is the export's)."""
    import duckdb

    from blotter.settings import Settings

    con = duckdb.connect(str(db_path), read_only=True)
    con.execute(f"SET memory_limit = '{Settings().duckdb_memory_mb}MB'")
    exports = {}
    for kind, where in (("whole", ""), ("filtered", f"WHERE district = '{DISTRICT}'")):
        target = db_path.with_name(f"floor-{kind}.csv")
        seconds = _timed(con, f"COPY (SELECT * FROM incidents {where}) TO '{target}' (HEADER)")  # noqa: S608
        size = target.stat().st_size
        target.unlink()
        exports[kind] = {
            "seconds": seconds,
            "bytes": size,
            "mb_per_s": size / 1e6 / seconds,
            "peak_rss_mb": _peak_mb(),
        }
    con.close()
    return {"export": exports}


def _ingest(rows: int, load_s: float, index_s: float, word_s: float) -> dict[str, Any]:
    return {
        "ingest": {
            "load_s": load_s,
            "id_index_s": index_s,
            "word_index_s": word_s,
            "rows_per_s": rows / (load_s + index_s),
            "with_word_index_rows_per_s": rows / (load_s + index_s + word_s),
        }
    }


def postgres(csv_path: Path, rows: int, admin_url: str) -> dict[str, Any]:
    """PostgreSQL alone, in a fresh database with the benchmark's settings, dropped after."""
    import psycopg
    from psycopg import sql

    from bench.run import fresh_database

    name = f"blotter_floor_{rows}"
    url = fresh_database(admin_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            typed = ", ".join(f"{n} {pg}" for n, (_, pg) in COLUMNS.items())
            conn.execute(f"CREATE TABLE incidents ({typed})")  # our own names and types

            start = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy("COPY incidents FROM STDIN (FORMAT csv, HEADER true)") as copy,
                csv_path.open("rb") as source,
            ):
                while block := source.read(1 << 20):
                    copy.write(block)
            load_s = time.perf_counter() - start
            index_s = _timed(conn, "CREATE INDEX ON incidents (id)")
            document = " || ' ' || ".join(f"coalesce({c}, '')" for c in TEXT_COLUMNS)
            word_s = _timed(
                conn, f"CREATE INDEX ON incidents USING gin (to_tsvector('simple', {document}))"
            )
            conn.execute("VACUUM (ANALYZE) incidents")
            exports = {}
            for kind, where in (("whole", ""), ("filtered", f"WHERE district = '{DISTRICT}'")):
                statement = f"COPY (SELECT * FROM incidents {where}) TO STDOUT (FORMAT csv, HEADER)"  # noqa: S608
                size = 0
                start = time.perf_counter()
                with conn.cursor() as cur, cur.copy(statement) as copy:
                    for chunk in copy:
                        size += len(chunk)
                seconds = time.perf_counter() - start
                exports[kind] = {
                    "seconds": seconds,
                    "bytes": size,
                    "mb_per_s": size / 1e6 / seconds,
                }
        return _ingest(rows, load_s, index_s, word_s) | {"export": exports}
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def stack(db_path: Path, work: Path, lookup_row: int) -> dict[str, Any]:
    """A bare request and the point lookup through FastAPI and uvicorn alone, timed as the
    benchmark times every system (warm, in passes, the same client)."""
    from bench.systems import free_port, running

    port = free_port()
    argv = [
        str(Path(sys.executable).parent / "uvicorn"),
        "bench.floor_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    env = {"BENCH_FLOOR_DB": str(db_path)}
    log = work / "logs" / "floor_app.log"
    with running("FastAPI alone", argv, port, log, env) as server, httpx.Client() as client:
        bare = http_json(client, f"{server.base_url}/bare", {})
        lookup = http_json(client, f"{server.base_url}/lookup", {"id": str(lookup_row)})
        if len(lookup()) != 1:
            raise RuntimeError(f"the stack floor found no row {lookup_row}")
        timed = interleaved({"bare": bare, "lookup": lookup}, runs=300, budget_s=10)
    return {name: latency.as_dict() for name, latency in timed.items()}


def memory() -> dict[str, Any]:
    """Resident memory of processes holding only the libraries the server runs on: one
    process, read after each step (what the server imports, then the statistics libraries,
    then DuckDB's extensions loaded), and the drawing process."""
    from blotter.store.extensions import EXTENSIONS, extension_file

    # The extensions' files are found here: the child imports nothing of Blotter's.
    files = [str(extension_file(name)) for name in EXTENSIONS]
    return _child("memory", *files) | _child("drawing")


def _memory_child(extension_files: list[str]) -> dict[str, Any]:
    import importlib

    for module in SERVER_LIBRARIES:
        importlib.import_module(module)
    figures = {"server_libraries_mb": _rss_mb()}
    for module in STATISTICS_LIBRARIES:
        importlib.import_module(module)
    figures["with_statistics_mb"] = _rss_mb()
    con = importlib.import_module("duckdb").connect()
    for path in extension_files:
        con.execute(f"LOAD '{path}'")
    figures["with_duckdb_extensions_mb"] = _rss_mb()
    return figures


def _drawing_child() -> dict[str, Any]:
    import vl_convert

    vl_convert.vegalite_to_svg(json.loads(DRAWING))
    return {"drawing_process_mb": _rss_mb()}


def _main_child(argv: list[str]) -> None:
    kind, *rest = argv
    if kind == "duckdb":
        figures = duckdb_floor(Path(rest[0]), Path(rest[1]), int(rest[2]))
    elif kind == "export":
        figures = duckdb_exports(Path(rest[0]))
    elif kind == "memory":
        figures = _memory_child(rest)
    else:
        figures = _drawing_child()
    print(json.dumps(figures))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        _main_child(args[1:])
        return 0
    from bench import run

    parser = argparse.ArgumentParser(prog="python -m bench.floors", description=__doc__)
    parser.add_argument("--size", default="quick", help="as python -m bench's --size")
    parser.add_argument("--engines", default="duckdb,postgres")
    parser.add_argument("--work", type=Path, default=Path("bench/work"))
    parser.add_argument("--out", type=Path, help="JSON (default: WORK/floors-SIZE.json)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    options = parser.parse_args(args)
    sizes = run.SIZES.get(options.size) or [int(n) for n in options.size.split(",")]
    engines = [e for e in options.engines.split(",") if e]
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": run.machine(),
        "sizes": {},
    }
    out = options.out or options.work / f"floors-{options.size}.json"
    for rows in sizes:
        csv_path = run.dataset_csv(options.work, rows, 2026)
        floors = measure(
            csv_path,
            rows,
            options.work / str(rows),
            options.database_url,
            engines,
            lookup_id(rows),
        )
        results["sizes"][str(rows)] = {"rows": rows, "floors": floors}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
    from bench.report import floors_table

    print(floors_table(results))
    print(f"\nFigures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
