"""``python -m bench``: generate, load, ask, measure, compare; print the table, write JSON.

At each size every system is loaded, then all of them are served at once and a run's
*sections* (``SECTIONS``) measure them in turn: the questions (checked equal across systems,
then timed in interleaved passes), the full exports, the load test. A section is a function of
the running systems (``bench.systems.Running``) returning figures per system.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import floors, generate, pages, report
from bench.exports import exports
from bench.measure import concurrent_load, http_json, interleaved
from bench.questions import Question, load_mix, lookup_id, questions
from bench.storage import measure as measure_history_storage
from bench.systems import (
    NO_KEPT_ANSWERS,
    POSTGRES_SETTINGS,
    BlotterTarget,
    Profile,
    RawEngine,
    Running,
    load_blotter,
    load_datasette,
    postgres_setup,
    serve_blotter,
    serve_datasette,
    sqlite_plan,
    sqlite_setup,
)

SIZES = {
    "tiny": [2_000],
    "quick": [100_000],
    "full": [100_000, 1_000_000, 10_000_000],
}
PROFILES = {
    "tiny": Profile(runs=3, budget_s=1, load_s=1, load_warmup_s=0.25),
    "quick": Profile(runs=15, budget_s=3, load_s=10, load_warmup_s=2),
}
# Requests the load test's clients take in turn, each with its own parameters.
LOAD_REQUESTS = 5_000
LOAD_CHECKED = 28  # of them, checked alike on every server first
Section = Callable[[Running], dict[str, dict[str, Any]]]
METHOD = 3  # 2: passes, spread, fair indexes, varied load; 3: the exports timed by kind


@dataclass
class Options:
    sizes: list[int]
    profile: Profile
    work: Path
    engines: list[str]
    datasette: bool
    database_url: str
    out: Path
    seed: int = 2026


def main(argv: list[str] | None = None) -> int:
    options = _options(argv)
    results = run(options)
    print(report.table(results))
    print(f"\nFigures written to {options.out}")
    return 0


def _options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--size",
        default="quick",
        help="tiny (2k rows), quick (100k), full (100k, 1M, 10M) or row counts: 250000,2000000",
    )
    parser.add_argument("--engines", default="duckdb,postgres", help="Blotter engines to run")
    parser.add_argument("--no-datasette", action="store_true", help="skip Datasette")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server where the benchmark may create its own databases",
    )
    parser.add_argument("--work", type=Path, default=Path("bench/work"), help="data and logs")
    parser.add_argument("--out", type=Path, help="JSON results (default: WORK/results-SIZE.json)")
    parser.add_argument("--clients", type=int, help="concurrent clients in the load test (64)")
    parser.add_argument(
        "--profile",
        choices=["tiny", "quick", "full"],
        help="how long to measure (default: as the size says; full for row counts)",
    )
    args = parser.parse_args(argv)
    sizes = SIZES.get(args.size) or [int(n.replace("_", "")) for n in args.size.split(",")]
    profile = PROFILES.get(args.profile or args.size, Profile())
    if args.clients:
        profile = replace(profile, clients=args.clients)
    return Options(
        sizes=sizes,
        profile=profile,
        work=args.work,
        engines=[e for e in args.engines.split(",") if e],
        datasette=not args.no_datasette,
        database_url=args.database_url,
        out=args.out or args.work / f"results-{args.size}.json",
    )


def run(options: Options) -> dict[str, Any]:
    results: dict[str, Any] = {
        "method": METHOD,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "profile": vars(options.profile),
        "sizes": {},
    }
    for rows in options.sizes:
        results["sizes"][str(rows)] = run_size(options, rows)
        # Written after every size: a long run that stops late keeps what it measured.
        results["targets"] = report.targets(results)
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def run_size(options: Options, rows: int) -> dict[str, Any]:
    work = options.work / f"{rows}"
    work.mkdir(parents=True, exist_ok=True)
    csv_path = dataset_csv(options.work, rows, options.seed)
    systems: dict[str, dict[str, Any]] = {}
    size: dict[str, Any] = {"rows": rows, "csv_mb": csv_path.stat().st_size / 1e6}
    targets = {}
    for engine in options.engines:
        target = _target(engine, work, rows, options.database_url)
        pages.write_boundary(target.data_dir)  # named by the dataset file, as a department's
        _say(f"{rows:,} rows: loading {target.label}")
        seconds = load_blotter(target, csv_path)
        ingest = {"seconds": seconds, "rows_per_s": rows / seconds}
        if target.database_url:
            ingest["vacuum_s"] = vacuum(target.database_url)
        systems[f"blotter-{engine}"] = {"ingest": ingest}
        targets[engine] = target
    db_path = work / "bench.db"
    if options.datasette:
        _say(f"{rows:,} rows: loading Datasette (sqlite-utils)")
        steps = load_datasette(csv_path, db_path)
        systems["datasette"] = {
            "ingest": {**steps, "seconds": steps["insert"], "rows_per_s": rows / steps["insert"]},
            "setup": sqlite_setup(db_path),
        }
    with contextlib.ExitStack() as stack:
        running = Running(
            rows=rows,
            asked=questions(rows),
            profile=options.profile,
            work=work,
            csv_path=csv_path,
            seed=options.seed,
            servers={},
            raw={},
            targets=targets,
        )
        for engine, target in targets.items():
            running.raw[f"raw-{engine}"] = stack.enter_context(RawEngine(_raw_copy(target)))
            running.servers[f"blotter-{engine}"] = stack.enter_context(
                serve_blotter(target, work / "logs")
            )
        if options.datasette:
            running.servers["datasette"] = stack.enter_context(
                serve_datasette(db_path, work / "logs")
            )
        _record_setup(running, systems, db_path)
        for name, section in SECTIONS:
            _say(f"{rows:,} rows: {name}")
            for key, figures in section(running).items():
                systems.setdefault(key, {})[name] = figures
    # With the servers stopped (each opens the DuckDB file itself): the pages people open
    # (bench/pages.py, DuckDB: the target), then the history storage, which writes.
    if "duckdb" in targets:
        _say(f"{rows:,} rows: pages on duckdb")
        systems["blotter-duckdb"]["pages"] = pages.measure(targets["duckdb"], work)["pages"]
    for engine, target in targets.items():
        _say(f"{rows:,} rows: history storage on {engine}")
        systems[f"blotter-{engine}"]["history_storage"] = measure_history_storage(target, rows)
    _say(f"{rows:,} rows: what the engines and libraries do alone")
    size["floors"] = floors.measure(
        csv_path, rows, work / "floors", options.database_url, options.engines, lookup_id(rows)
    )
    size["systems"] = systems
    size["checked"] = True
    return size


def _raw_copy(target: BlotterTarget) -> BlotterTarget:
    """Where the raw engine reads: PostgreSQL's own database, or a copy of the DuckDB folder
    (a DuckDB file is held by one process, here the server)."""
    if target.engine != "duckdb":
        return target
    copy = target.data_dir.with_name(target.data_dir.name + "-raw")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(target.data_dir, copy)
    return BlotterTarget(target.engine, copy)


def _record_setup(running: Running, systems: dict[str, dict[str, Any]], db_path: Path) -> None:
    """What each system was given, in the results: SQLite's plans for the questions,
    PostgreSQL's settings and indexes, and each raw engine's plans for Blotter's SQL."""
    if "datasette" in running.servers:
        plans = {}
        for q in running.asked:
            if q.sqlite:
                plan = sqlite_plan(db_path, q.sqlite)
                uses = all(any(u in line for line in plan) for u in q.sqlite_uses)
                plans[q.name] = {"plan": plan, "expected": list(q.sqlite_uses), "uses": uses}
        systems["datasette"]["setup"]["plans"] = plans
    for key in running.servers:
        if key.startswith("blotter-"):
            # Every answer computed anew, as the other systems' are (see NO_KEPT_ANSWERS).
            systems[key]["setup"] = {"server_env": dict(NO_KEPT_ANSWERS)}
    for key, engine in running.raw.items():
        setup: dict[str, Any] = {}
        if engine.target.engine == "postgres":
            setup = postgres_setup(engine.target.database_url, engine.schema)
        asked = [q for q in running.asked if q.kind != "export"]
        setup["plans"] = {q.name: engine.plan(*engine.sql(q.soql)[:2]) for q in asked}
        systems[key] = {"setup": setup}


def ask_questions(running: Running) -> dict[str, dict[str, Any]]:
    """Every question to every system: the answers checked equal first, then timed in
    interleaved passes."""
    out: dict[str, dict[str, Any]] = {k: {} for k in [*running.servers, *running.raw]}
    with httpx.Client(timeout=600) as client:
        for question in running.asked:
            if question.kind == "export":
                continue
            actions: dict[str, Callable[[], Any]] = {}
            for key in running.servers:
                actions[key] = http_json(client, *running.url_of(key, question))
            sqls = {}
            for key, engine in running.raw.items():
                sql, params, names = engine.sql(question.soql)
                sqls[key] = sql
                actions[key] = partial(_raw_records, engine, sql, params, names)
            answers = {key: action() for key, action in actions.items()}
            first, *others = answers
            for key in others:
                check_same(
                    f"{key} against {first}",
                    [question],
                    {question.name: answers[key]},
                    {question.name: answers[first]},
                )
            timed = interleaved(
                actions, runs=running.profile.runs, budget_s=running.profile.budget_s
            )
            for key, latency in timed.items():
                out[key][question.name] = {**latency.as_dict(), "rows": len(_rows(answers[key]))}
                if key in sqls:
                    out[key][question.name]["sql"] = sqls[key]
    return out


def _raw_records(
    engine: RawEngine, sql: str, params: Any, names: list[tuple[str, int]]
) -> list[dict[str, Any]]:
    return [engine.as_record(names, r) for r in engine.run(sql, params)]


def load_test(running: Running) -> dict[str, dict[str, Any]]:
    """Many clients at once, each request with its own parameters (the same sequence for
    every system), over a fixed window."""
    profile = running.profile
    mix = load_mix(running.rows, running.seed, LOAD_REQUESTS)
    _check_sample(running, [q for q in mix[:LOAD_CHECKED] if q.kind != "search"])
    out = {}
    for key in running.servers:
        requests = [running.url_of(key, q) for q in mix]
        load = concurrent_load(
            requests,
            clients=profile.clients,
            window_s=profile.load_s,
            warmup_s=profile.load_warmup_s,
        )
        out[key] = {**load.as_dict(), "peak_rss_mb": running.servers[key].peak_rss_mb()}
    return out


def _check_sample(running: Running, sample: list[Question]) -> None:
    """The first of the load test's varied questions, answered alike by every server (its
    searches are left out: Blotter's $q matches within words, FTS5 whole words, which the
    timed searches' words are chosen to agree on)."""
    with httpx.Client(timeout=600) as client:
        for question in sample:
            answers = {
                key: http_json(client, *running.url_of(key, question))() for key in running.servers
            }
            first, *others = answers
            for key in others:
                check_same(
                    f"{key} against {first} (load test)",
                    [question],
                    {question.name: answers[key]},
                    {question.name: answers[first]},
                )


# The sections of a run at each size, in order: (name in the results, function). A section
# that changes the data (a write) goes last.
SECTIONS: list[tuple[str, Section]] = [
    ("questions", ask_questions),
    ("export", exports),
    ("load", load_test),
]


def check_same(what: str, asked: list[Question], got: dict[str, Any], want: dict[str, Any]) -> None:
    """Two systems' answers to every question agree, or the run stops: a fast wrong answer
    is not a result."""
    for question in asked:
        if question.name not in got or question.name not in want:
            continue
        mine = question.canonical(_rows(got[question.name]))
        theirs = question.canonical(_rows(want[question.name]))
        if question.tolerance and _close_counts(mine, theirs, question.tolerance):
            continue
        if mine != theirs:
            raise AssertionError(
                f"{what}: the answers to '{question.label}' differ: "
                f"{mine[:3]}… ({len(mine)} rows) against {theirs[:3]}… ({len(theirs)} rows)"
            )


def _close_counts(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]], share: float) -> bool:
    if len(a) != 1 or len(b) != 1:
        return False
    x, y = float(a[0][0] or 0), float(b[0][0] or 0)
    return abs(x - y) <= max(1.0, share * max(x, y))


def _rows(answer: Any) -> list[dict[str, Any]]:
    return answer if isinstance(answer, list) else [answer]


def dataset_csv(work: Path, rows: int, seed: int) -> Path:
    """The generated CSV for a size, made once and reused (the generator is deterministic)."""
    path = work / "data" / f"incidents-{rows}-seed{seed}.csv"
    if not path.exists():
        _say(f"{rows:,} rows: generating {path}")
        generate.write_csv(path, rows, seed)
    return path


def _target(engine: str, work: Path, rows: int, admin_url: str) -> BlotterTarget:
    data_dir = work / engine
    shutil.rmtree(data_dir, ignore_errors=True)
    if engine == "duckdb":
        return BlotterTarget("duckdb", data_dir)
    if engine == "postgres":
        return BlotterTarget(
            "postgres", data_dir, fresh_database(admin_url, f"blotter_bench_{rows}")
        )
    raise SystemExit(f"Unknown engine '{engine}': use duckdb or postgres.")


def fresh_database(admin_url: str, name: str) -> str:
    """An empty database for one run, on the server ``admin_url`` points at."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        for setting, value in POSTGRES_SETTINGS.items():
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(name), sql.Identifier(setting), sql.Literal(value)
                )
            )
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def vacuum(database_url: str) -> float:
    """VACUUM (ANALYZE) the freshly loaded database, as autovacuum would soon after a load:
    the state a server is in for most of its life, and no autovacuum during the timings.
    Seconds taken (not counted as ingest)."""
    import psycopg

    start = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - start


def machine() -> dict[str, Any]:
    import sqlite3

    import duckdb

    cpu = ""
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal"):
                memory_kb = int(line.split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "sqlite": sqlite3.sqlite_version,
        "datasette": _version("datasette"),
        "sqlite_utils": _version("sqlite-utils"),
        "postgresql": _postgres_version(),
    }


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _postgres_version() -> str:
    try:
        import psycopg

        url = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else ""
    except Exception as err:  # the report says why rather than failing the run
        return f"unavailable ({type(err).__name__})"


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)
