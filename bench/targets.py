"""The targets of issue #20, checked at every size on both engines.

Each target is met, missed (and by how many times), or not measured (the results file lacks
its input: a system not run, a section not yet written); none is dropped. Where both sides of
a comparison have a spread (quartiles of the timed runs), a verdict whose sides overlap is
said to be within the noise.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, TypedDict

from bench.questions import questions

ENGINES = (("duckdb", "DuckDB"), ("postgres", "PostgreSQL"))
AGGREGATIONS = ("count_by_category", "monthly_trend", "cross_tab")
# "Today's" figures of issue #20: the run the load test's 3× is measured against.
BASELINE = Path(__file__).resolve().parent / "results" / "full-2026-11-30.json"
PAGE_MS, DATASET_PAGE_QUERIES = 300.0, 6
SEARCH_MS = 10.0
EXPORT_MB_S = {"duckdb": 500.0, "postgres": 200.0}
INGEST_ROWS_S = {"duckdb": 500_000.0, "postgres": 250_000.0}
EXPORT_MEMORY_MB = 300.0
# The kinds of CSV export a run times (bench.run.exports), each checked against both export
# targets: a file sent fast must not hide a slow first export. "whole": Datasette's, and the
# one streamed whole export of results files before the kinds (method < 3).
EXPORT_KINDS = {
    "first": "Whole CSV export, first (writes its file)",
    "repeat": "Whole CSV export, repeated (from its file)",
    "filtered": "Filtered CSV export (streamed)",
    "whole": "Whole CSV export, streamed",
}
LOAD_TIMES = 3.0
HISTORY_SHARE = 0.01  # of the database, per one-row upsert in the steady state (bench/storage.py)

# A results file and its parts are dict[str, Any]: JSON as json.load reads it back, untyped.
Span = tuple[float, float, float]  # median, low, high (the quartiles, or the median alone)


class Target(TypedDict):
    """One target's verdict at one size, as the results file keeps it."""

    target: str
    rows: int
    measured: float | None
    limit: float | None
    unit: str
    status: str  # "met", "missed" or "not measured"
    within_noise: bool
    by: float | None  # how many times off a missed target is
    note: str


def check(results: dict[str, Any]) -> list[Target]:
    """Every target at every size of ``results``."""
    out: list[Target] = []
    for size in results["sizes"].values():
        for key, label in ENGINES:
            out += _engine(size, key, label)
    return out


def _engine(size: dict[str, Any], key: str, label: str) -> list[Target]:
    rows, systems = size["rows"], size["systems"]
    floors = size.get("floors")
    ours = systems.get(f"blotter-{key}")
    raw = (systems.get(f"raw-{key}") or {}).get("questions", {})
    theirs = (systems.get("datasette") or {}).get("questions")
    mine = (ours or {}).get("questions", {})
    t = _Checker(rows, "" if ours else f"Blotter·{label} was not run")
    asked = [q for q in questions(rows) if q.kind != "export"]
    out: list[Target] = []
    for q in asked:
        before = len(out)
        if key == "duckdb":
            out.append(
                t.no_slower(
                    f"{q.label} on {label}: no slower than Datasette",
                    _span(mine.get(q.name)),
                    _span((theirs or {}).get(q.name)),
                    "Datasette was not run" if theirs is None else "",
                )
            )
        out.append(
            t.at_most_raw(
                f"{q.label} on {label}: ≤ 1.3× raw {label} + 1 ms",
                _span(mine.get(q.name)),
                _span(raw.get(q.name)),
            )
        )
        alone = floor(floors, ("stack", "lookup", "median_ms"))
        if q.kind == "lookup" and key == "duckdb" and alone is not None:
            _noted(out[before:], f"FastAPI and DuckDB alone: {alone:.1f} ms")
    for name in AGGREGATIONS:
        q = next(q for q in asked if q.name == name)
        why = "Datasette was not run" if theirs is None else ""
        if key == "duckdb":
            out.append(
                t.speedup(
                    f"{q.label} on {label}: ≥ 10× faster than Datasette",
                    _span(mine.get(name)),
                    _span((theirs or {}).get(name)),
                    10,
                    why,
                )
            )
        else:
            out.append(
                t.no_slower(
                    f"{q.label} on {label}: no slower than Datasette",
                    _span(mine.get(name)),
                    _span((theirs or {}).get(name)),
                    why,
                )
            )
    for q in asked:
        if q.kind == "search":
            out.append(
                t.at_most(
                    f"{q.label} on {label}: ≤ {SEARCH_MS:.0f} ms",
                    _span(mine.get(q.name)),
                    SEARCH_MS,
                    "ms",
                )
            )
    out += _exports(t, ours, key, label, floors)
    ingest = (ours or {}).get("ingest") or {}
    out.append(
        t.at_least(
            f"Ingest on {label}: ≥ {INGEST_ROWS_S[key]:,.0f} rows/s",
            ingest.get("rows_per_s"),
            INGEST_ROWS_S[key],
            "rows/s",
        )
    )
    bare = floor(floors, (key, "ingest", "rows_per_s"))
    indexed = floor(floors, (key, "ingest", "with_word_index_rows_per_s"))
    if bare is not None and indexed is not None:
        _noted(
            out[-1:],
            f"{label} alone: {bare:,.0f} rows/s, {indexed:,.0f} with its own word index",
        )
    out += _load(t, ours, key, label)
    out += _pages(t, ours, key, label)
    out.append(_history_storage(t, ours, label))
    return out


def export_kinds(system: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A system's exports by kind; a results file before the kinds kept one, flat."""
    export = (system or {}).get("export") or {}
    return {"whole": export} if "mb_per_s" in export else dict(export)


def _exports(
    t: _Checker, ours: dict[str, Any] | None, key: str, label: str, floors: dict[str, Any] | None
) -> list[Target]:
    kinds = export_kinds(ours)
    why = "this file timed one whole export, streamed, before export files" if kinds else ""
    libraries = _libraries_mb(floors, key)
    out = []
    for kind in ("first", "repeat", "filtered"):
        figures = kinds.get(kind) or {}
        rate = t.at_least(
            f"{EXPORT_KINDS[kind]} on {label}: ≥ {EXPORT_MB_S[key]:.0f} MB/s",
            figures.get("mb_per_s"),
            EXPORT_MB_S[key],
            "MB/s",
            why,
        )
        own = floor(
            floors, (key, "export", "filtered" if kind == "filtered" else "whole", "mb_per_s")
        )
        if own is not None and kind != "repeat":  # a repeated export is sent from its file
            _noted([rate], f"{label}'s own COPY: {own:,.0f} MB/s")
        memory = t.at_most(
            f"Server memory during the {EXPORT_KINDS[kind][0].lower()}"
            f"{EXPORT_KINDS[kind][1:]} on {label}: ≤ {EXPORT_MEMORY_MB:.0f} MB",
            _one(figures.get("peak_rss_mb")),
            EXPORT_MEMORY_MB,
            "MB",
            why,
        )
        if libraries is not None:
            _noted([memory], f"the libraries alone: {libraries:,.0f} MB")
        out += [rate, memory]
    return out


def _libraries_mb(floors: dict[str, Any] | None, key: str) -> float | None:
    """What the server's libraries hold before any work (``bench/floors.py``): the web
    stack, the statistics it preloads, on DuckDB the extensions its questions load, and the
    drawing process."""
    held = floor(
        floors, ("memory", "with_duckdb_extensions_mb" if key == "duckdb" else "with_statistics_mb")
    )
    drawing = floor(floors, ("memory", "drawing_process_mb"))
    return None if held is None or drawing is None else held + drawing


def floor(floors: dict[str, Any] | None, path: tuple[str, ...]) -> float | None:
    """One figure of a size's floors (``bench/floors.py``), or None when not measured."""
    found: Any = floors or {}
    for part in path:
        found = found.get(part) if isinstance(found, dict) else None
    return None if found is None else float(found)


def _noted(targets: list[Target], note: str) -> None:
    """Say what the engine or library alone does beside a measured verdict."""
    for target in targets:
        if target["status"] != "not measured":
            target["note"] = f"{target['note']}; {note}" if target["note"] else note


def _history_storage(t: _Checker, ours: dict[str, Any] | None, label: str) -> Target:
    """Issue #18: keeping versions grows the database by the change, not by the dataset."""
    storage = (ours or {}).get("history_storage") or {}
    share = storage.get("steady_share")
    return t.at_most(
        f"One-row upsert on {label}: database growth ≤ {HISTORY_SHARE:.0%} of its size (#18)",
        _one(None if share is None else share * 100),
        HISTORY_SHARE * 100,
        "%",
        "" if storage else "the history storage was not measured in this run",
    )


def _load(t: _Checker, ours: dict[str, Any] | None, key: str, label: str) -> list[Target]:
    load = (ours or {}).get("load") or {}
    before = _baseline_rps(t.rows, key)
    varied = "distinct_requests" in load
    why = ""
    if load and not varied:
        why = "this file's load test repeated seven URLs"
    elif before is None:
        why = f"no figure at {t.rows:,} rows in {BASELINE.name}"
    out = [
        t.at_least(
            f"64 clients with varied parameters on {label}: ≥ {LOAD_TIMES:.0f}× the requests/s "
            "of issue #20's run",
            load.get("throughput_rps") if varied else None,
            LOAD_TIMES * before if before else None,
            "req/s",
            why,
        ),
        t.at_most(f"64 clients on {label}: no errors", _one(load.get("errors")), 0, "errors"),
    ]
    if load and load.get("clients") != 64:
        for target in out:
            target["note"] = f"measured with {load['clients']} clients, not 64"
    return out


def _pages(t: _Checker, ours: dict[str, Any] | None, key: str, label: str) -> list[Target]:
    """Each page people open (bench/pages.py, DuckDB only), its first answer and a repeated
    one; the dataset page's store queries as its answers' Server-Timing header tells them
    (tests/web/test_page_queries.py checks the header against the store's own count)."""
    if key != "duckdb":
        return []
    pages = (ours or {}).get("pages")
    why = "pages were not timed in this run"
    out = [
        t.at_most(
            f"The dataset page on {label}: ≤ {DATASET_PAGE_QUERIES} store queries",
            _page_queries(pages),
            DATASET_PAGE_QUERIES,
            "queries",
            why if not pages else "these results predate the count in the Server-Timing header",
        )
    ]
    if not pages:
        return [
            t.at_most(f"Each page on {label}: ≤ {PAGE_MS:.0f} ms", None, PAGE_MS, "ms", why),
            *out,
        ]
    for name, figures in pages.items():
        for kind, words in (("first_ms", "first answer"), ("repeated_ms", "repeated")):
            timed = figures.get(kind) or {}
            span = (
                (float(timed["median"]), float(timed["min"]), float(timed["max"]))
                if "median" in timed
                else None
            )
            out.append(
                t.at_most(
                    f"Page {name} on {label}, {words}: ≤ {PAGE_MS:.0f} ms", span, PAGE_MS, "ms"
                )
            )
    return out


def _page_queries(pages: dict[str, Any] | None) -> Span | None:
    """The most store queries a first view of the dataset page ran, unfiltered or with two
    filters (each answer's Server-Timing header); None for results made before it was told."""
    counts = [
        n
        for name in ("dataset page", "dataset page, two filters")
        for n in ((pages or {}).get(name) or {}).get("first_queries", [])
    ]
    return _one(max(counts)) if counts else None


@cache
def _baseline() -> dict[str, Any]:
    return dict(json.loads(BASELINE.read_text())) if BASELINE.exists() else {"sizes": {}}


def _baseline_rps(rows: int, key: str) -> float | None:
    size = _baseline()["sizes"].get(str(rows))
    load = size and size["systems"].get(f"blotter-{key}", {}).get("load")
    return float(load["throughput_rps"]) if load else None


def _span(latency: dict[str, Any] | None) -> Span | None:
    if not latency or "median_ms" not in latency:
        return None
    m = float(latency["median_ms"])
    return m, float(latency.get("q1_ms", m)), float(latency.get("q3_ms", m))


def _one(value: float | None) -> Span | None:
    return None if value is None else (float(value), float(value), float(value))


class _Checker:
    """Builds the verdicts of one size and engine; ``missing`` says why every input is
    absent (an engine not run), else each check says what it lacks."""

    def __init__(self, rows: int, missing: str) -> None:
        self.rows, self.missing = rows, missing

    def _verdict(
        self,
        text: str,
        measured: float | None,
        limit: float | None,
        unit: str,
        met: bool,
        noise: bool,
        by: float,
        note: str = "",
    ) -> Target:
        return {
            "target": text,
            "rows": self.rows,
            "measured": measured,
            "limit": limit,
            "unit": unit,
            "status": "met" if met else "missed",
            "within_noise": noise,
            "by": None if met else by,
            "note": note,
        }

    def _absent(self, text: str, unit: str, limit: float | None, why: str) -> Target:
        return {
            "target": text,
            "rows": self.rows,
            "measured": None,
            "limit": limit,
            "unit": unit,
            "status": "not measured",
            "within_noise": False,
            "by": None,
            "note": self.missing or why or "not in this results file",
        }

    def at_most(
        self, text: str, ours: Span | None, limit: float, unit: str, why: str = ""
    ) -> Target:
        if ours is None:
            return self._absent(text, unit, limit, why)
        m, lo, hi = ours
        by = m / limit if limit else m
        return self._verdict(text, m, limit, unit, m <= limit, lo < limit < hi, by)

    def at_least(
        self, text: str, ours: float | None, limit: float | None, unit: str, why: str = ""
    ) -> Target:
        if ours is None or limit is None:
            return self._absent(text, unit, limit, why)
        return self._verdict(text, ours, limit, unit, ours >= limit, False, limit / ours)

    def no_slower(self, text: str, ours: Span | None, theirs: Span | None, why: str = "") -> Target:
        if ours is None or theirs is None:
            return self._absent(text, "ms", None, why)
        noise = ours[1] <= theirs[2] and theirs[1] <= ours[2] and ours[1] != ours[2]
        return self._verdict(
            text, ours[0], theirs[0], "ms", ours[0] <= theirs[0], noise, ours[0] / theirs[0]
        )

    def at_most_raw(self, text: str, ours: Span | None, raw: Span | None) -> Target:
        if ours is None or raw is None:
            return self._absent(text, "ms", None, "")
        limit = (1.3 * raw[0] + 1, 1.3 * raw[1] + 1, 1.3 * raw[2] + 1)
        noise = ours[1] <= limit[2] and limit[1] <= ours[2] and ours[1] != ours[2]
        return self._verdict(
            text, ours[0], limit[0], "ms", ours[0] <= limit[0], noise, ours[0] / limit[0]
        )

    def speedup(
        self, text: str, ours: Span | None, theirs: Span | None, times: float, why: str
    ) -> Target:
        if ours is None or theirs is None:
            return self._absent(text, "× faster", times, why)
        ratio = theirs[0] / ours[0]
        low, high = theirs[1] / ours[2], theirs[2] / ours[1]
        noise = low < times < high
        return self._verdict(text, ratio, times, "× faster", ratio >= times, noise, times / ratio)
