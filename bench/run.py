"""``python -m bench``: generate, load, ask, measure, compare; print the table, write JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import generate, pages, report
from bench.measure import RssSampler, concurrent_load, http_json, repeat, stream_download
from bench.questions import Question, questions
from bench.systems import (
    BlotterTarget,
    RawEngine,
    Server,
    blotter_export_url,
    blotter_url,
    datasette_url,
    load_blotter,
    load_datasette,
    serve_blotter,
    serve_datasette,
)

SIZES = {
    "tiny": [2_000],
    "quick": [100_000],
    "full": [100_000, 1_000_000, 10_000_000],
}


@dataclass(frozen=True)
class Profile:
    """How hard to measure: repeated runs, a time budget per question, the load test."""

    runs: int = 30
    budget_s: float = 10.0
    clients: int = 64
    load_s: float = 20.0


PROFILES = {"tiny": Profile(runs=3, budget_s=1, load_s=2), "quick": Profile(load_s=10)}


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
        profile = Profile(profile.runs, profile.budget_s, args.clients, profile.load_s)
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
    asked = questions(rows)
    size: dict[str, Any] = {
        "rows": rows,
        "csv_mb": csv_path.stat().st_size / 1e6,
        "systems": {},
    }
    answers: dict[str, dict[str, Any]] = {}
    for engine in options.engines:
        target = _target(engine, work, rows, options.database_url)
        _say(f"{rows:,} rows: loading {target.label}")
        seconds = load_blotter(target, csv_path)
        raw, raw_answers = measure_raw(target, asked, options.profile)
        size["systems"][f"raw-{engine}"] = raw
        with serve_blotter(target, work / "logs") as server:
            measured, got = measure_server(
                server,
                asked,
                options.profile,
                rows,
                lambda s, q: blotter_url(s, q.soql),
                blotter_export_url(server),
            )
        measured["ingest"] = {"seconds": seconds, "rows_per_s": rows / seconds}
        measured["pages"] = pages.measure(target, work)  # bench/pages.py: the pages people open
        size["systems"][f"blotter-{engine}"] = measured
        check_same(f"Blotter·{engine} against its raw engine", asked, got, raw_answers)
        answers[engine] = got
    if options.datasette:
        db_path = work / "bench.db"
        _say(f"{rows:,} rows: loading Datasette (sqlite-utils)")
        steps = load_datasette(csv_path, db_path)
        with serve_datasette(db_path, work / "logs") as server:
            measured, got = measure_server(
                server,
                asked,
                options.profile,
                rows,
                lambda s, q: datasette_url(s, q.sqlite),
                server.base_url + _question(asked, "csv_export").sqlite_path,
            )
        measured["ingest"] = {
            "seconds": steps["insert"],
            "rows_per_s": rows / steps["insert"],
            "indexes_s": steps["indexes"],
            "full_text_s": steps["full_text"],
        }
        size["systems"]["datasette"] = measured
        for engine, theirs in answers.items():
            check_same(f"Datasette against Blotter·{engine}", asked, got, theirs)
    if options.engines and len(answers) > 1:
        first, *others = options.engines
        for engine in others:
            check_same(
                f"Blotter·{engine} against Blotter·{first}", asked, answers[engine], answers[first]
            )
    size["checked"] = True
    return size


def measure_raw(
    target: BlotterTarget, asked: list[Question], profile: Profile
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Blotter's compiled SQL straight on the engine: the floor our layers add to."""
    out: dict[str, Any] = {"questions": {}}
    answers: dict[str, Any] = {}
    with RawEngine(target) as engine:
        for question in asked:
            if question.kind == "export":
                continue
            sql, params, names = engine.sql(question.soql)
            latency, rows = repeat(
                partial(engine.run, sql, params), runs=profile.runs, budget_s=profile.budget_s
            )
            out["questions"][question.name] = {**latency.as_dict(), "sql": sql}
            answers[question.name] = [engine.as_record(names, r) for r in rows]
    return out, answers


def measure_server(
    server: Server,
    asked: list[Question],
    profile: Profile,
    rows: int,
    url_of: Callable[[Server, Question], tuple[str, dict[str, str]]],
    export_url: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every question over HTTP, the full export, then the load test."""
    out: dict[str, Any] = {"questions": {}, "idle_rss_mb": server.rss_mb()}
    answers: dict[str, Any] = {}
    with httpx.Client(timeout=600) as client:
        for question in asked:
            if question.kind == "export":
                continue
            url, params = url_of(server, question)
            latency, body = repeat(
                http_json(client, url, params), runs=profile.runs, budget_s=profile.budget_s
            )
            out["questions"][question.name] = latency.as_dict()
            answers[question.name] = body
        server.reset_peak()
        sampler = RssSampler(server.rss_mb)
        with sampler.watching():
            size, lines, seconds = stream_download(client, export_url)
        if lines != rows + 1:
            raise RuntimeError(f"{server.name}'s export had {lines:,} lines, not {rows + 1:,}")
        out["export"] = {
            "bytes": size,
            "seconds": seconds,
            "mb_per_s": size / 1e6 / seconds,
            "peak_rss_mb": max(sampler.peak_mb, server.peak_rss_mb()),
        }
    mix = [url_of(server, q) for q in asked if q.kind != "export"]
    load = concurrent_load(mix, clients=profile.clients, duration_s=profile.load_s)
    out["load"] = load.as_dict()
    out["peak_rss_mb"] = server.peak_rss_mb()
    return out, answers


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


def _question(asked: list[Question], name: str) -> Question:
    return next(q for q in asked if q.name == name)


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
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


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
