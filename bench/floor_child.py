"""The floors measured in processes of their own (``bench/floors.py`` starts them): each
prints its figures as one line of JSON. Only the standard library is imported before the
measured work, and nothing of Blotter's or of the benchmark's, so a process's memory is
what that work and its libraries hold.

``python -m bench.floor_child duckdb CSV DB MEMORY_MB FTS_FILE COLUMNS_JSON``: DuckDB loads
the file in time order, indexes ``id``, builds its own word index, keeps the file.
``export DB MEMORY_MB DISTRICT``: DuckDB's own CSV writer over it, whole then one district.
``memory LIBRARIES STATISTICS EXTENSION_FILES...``: resident memory after each step.
``drawing SPEC``: vl-convert once it has drawn ``SPEC``.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1]) / 1024
    return 0.0


def timed(con: Any, *statements: str) -> float:
    """Seconds ``con`` takes to run ``statements`` in turn."""
    start = time.perf_counter()
    for statement in statements:
        con.execute(statement)
    return time.perf_counter() - start


def duckdb_load(
    csv_path: Path, db_path: Path, memory_mb: int, fts: str, columns: dict[str, str]
) -> dict[str, Any]:
    """The file into a table in the main timestamp's order (as Blotter writes a version),
    ``id`` indexed, then DuckDB's own word index over the text columns: seconds of each."""
    duckdb = importlib.import_module("duckdb")
    for stale in (db_path, db_path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    con = duckdb.connect(str(db_path))
    con.execute(f"SET memory_limit = '{memory_mb}MB'")
    types = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
    source = str(csv_path).replace("'", "''")
    load_s = timed(
        con,
        "CREATE TABLE incidents AS SELECT * FROM read_csv("  # noqa: S608 - our own path
        f"'{source}', header = true, columns = {{{types}}}) ORDER BY received_at",
        "CHECKPOINT",
    )
    index_s = timed(con, "CREATE INDEX incidents_id ON incidents (id)")
    con.execute(f"LOAD '{fts}'")
    texts = ", ".join(f"'{name}'" for name, kind in columns.items() if kind == "VARCHAR")
    word_s = timed(con, f"PRAGMA create_fts_index('incidents', 'id', {texts})", "CHECKPOINT")
    con.execute("DROP SCHEMA fts_main_incidents CASCADE")  # the stack floor's file stays small
    con.close()
    return {"load_s": load_s, "id_index_s": index_s, "word_index_s": word_s}


def duckdb_exports(db_path: Path, memory_mb: int, district: str) -> dict[str, Any]:
    """DuckDB's own CSV writer over the table, whole then one district, in a process that
    does nothing else: its peak memory, DuckDB's cache included, is the export's."""
    duckdb = importlib.import_module("duckdb")
    con = duckdb.connect(str(db_path), read_only=True)
    con.execute(f"SET memory_limit = '{memory_mb}MB'")
    exports = {}
    for kind, where in (("whole", ""), ("filtered", f"WHERE district = '{district}'")):
        target = db_path.with_name(f"floor-{kind}.csv")
        seconds = timed(con, f"COPY (SELECT * FROM incidents {where}) TO '{target}' (HEADER)")  # noqa: S608
        size = target.stat().st_size
        target.unlink()
        exports[kind] = {
            "seconds": seconds,
            "bytes": size,
            "mb_per_s": size / 1e6 / seconds,
            "peak_rss_mb": _status_mb("VmHWM"),
        }
    con.close()
    return exports


def memory(libraries: list[str], statistics: list[str], extensions: list[str]) -> dict[str, Any]:
    """Resident memory after importing ``libraries``, then ``statistics``, then with DuckDB's
    ``extensions`` loaded."""
    for module in libraries:
        importlib.import_module(module)
    figures = {"server_libraries_mb": _status_mb("VmRSS")}
    for module in statistics:
        importlib.import_module(module)
    figures["with_statistics_mb"] = _status_mb("VmRSS")
    con = importlib.import_module("duckdb").connect()
    for path in extensions:
        con.execute(f"LOAD '{path}'")
    figures["with_duckdb_extensions_mb"] = _status_mb("VmRSS")
    return figures


def drawing(spec: dict[str, Any]) -> dict[str, Any]:
    """vl-convert as the server's drawing process holds it once started, its warm-up drawn
    (``blotter.web.drawing_worker``); a chart with text on its axes adds about 80 MB more."""
    importlib.import_module("vl_convert").vegalite_to_svg(spec)
    return {"drawing_process_mb": _status_mb("VmRSS")}


def main(argv: list[str]) -> None:
    kind, *rest = argv
    if kind == "duckdb":
        csv_path, db, memory_mb, fts, columns = rest
        figures = duckdb_load(Path(csv_path), Path(db), int(memory_mb), fts, json.loads(columns))
    elif kind == "export":
        db, memory_mb, district = rest
        figures = {"export": duckdb_exports(Path(db), int(memory_mb), district)}
    elif kind == "memory":
        libraries, statistics, *extensions = rest
        figures = memory(libraries.split(","), statistics.split(","), extensions)
    else:
        figures = drawing(json.loads(rest[0]))
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
