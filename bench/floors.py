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
  ``spatial`` and ``fts`` extensions loaded), and the drawing process's (vl-convert with the
  warm-up drawing it makes when the server starts it).

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

from bench.exports import EXPORT_DISTRICT
from bench.floor_child import timed
from bench.measure import http_json, interleaved
from bench.questions import lookup_id

# The columns of the generated file (bench/generate.py), each engine's types for them.
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


def measure(
    csv_path: Path, rows: int, work: Path, admin_url: str, engines: list[str], lookup_row: int
) -> dict[str, Any]:
    """Every floor at one size (``engines``: which engines' floors)."""
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    if "duckdb" in engines:
        out["duckdb"] = duckdb(csv_path, rows, work / "floor.duckdb")
        out["stack"] = stack(work / "floor.duckdb", work, lookup_row)
    if "postgres" in engines:
        out["postgres"] = postgres(csv_path, rows, admin_url)
    out["memory"] = memory()
    return out


def _child(*argv: str) -> dict[str, Any]:
    """A floor measured in a process of its own (``bench/floor_child.py``), so its memory
    is its work's alone."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.floor_child", *argv],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def duckdb(csv_path: Path, rows: int, db_path: Path) -> dict[str, Any]:
    """DuckDB alone, with Blotter's default memory limit (``BLOTTER_DUCKDB_MEMORY_MB``):
    loaded in one process, exported from a fresh one, so the export's memory is its own."""
    from blotter.settings import Settings
    from blotter.store.extensions import extension_file

    memory_mb = str(Settings().duckdb_memory_mb)
    types = json.dumps({name: duck for name, (duck, _) in COLUMNS.items()})
    load = _child(
        "duckdb", str(csv_path), str(db_path), memory_mb, str(extension_file("fts")), types
    )
    exported = _child("export", str(db_path), memory_mb, EXPORT_DISTRICT)
    return _ingest(rows, load["load_s"], load["id_index_s"], load["word_index_s"]) | exported


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
            index_s = timed(conn, "CREATE INDEX ON incidents (id)")
            document = " || ' ' || ".join(f"coalesce({c}, '')" for c in TEXT_COLUMNS)
            word_s = timed(
                conn, f"CREATE INDEX ON incidents USING gin (to_tsvector('simple', {document}))"
            )
            conn.execute("VACUUM (ANALYZE) incidents")
            exports = {}
            for kind, where in (
                ("whole", ""),
                ("filtered", f"WHERE district = '{EXPORT_DISTRICT}'"),
            ):
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
        latencies = interleaved({"bare": bare, "lookup": lookup}, runs=300, budget_s=10)
    return {name: latency.as_dict() for name, latency in latencies.items()}


def memory() -> dict[str, Any]:
    """Resident memory of processes holding only the libraries the server runs on: one
    process, read after each step (what the server imports, then the statistics libraries,
    then DuckDB's extensions loaded), and the drawing process."""
    from blotter.store.extensions import EXTENSIONS, extension_file
    from blotter.web.drawing_worker import WARM_UP

    # The extensions' files and the drawing are found here: the children import nothing of
    # Blotter's.
    files = [str(extension_file(name)) for name in EXTENSIONS]
    libraries = ",".join(SERVER_LIBRARIES), ",".join(STATISTICS_LIBRARIES)
    return _child("memory", *libraries, *files) | _child("drawing", json.dumps(WARM_UP))


def main(argv: list[str] | None = None) -> int:
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
    options = parser.parse_args(argv)
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
