"""The printed table, the README's figures and the targets' verdicts, from a results file.

``python -m bench.report FILE`` prints the README's section: the tables of the sizes of 1M
rows and more (or of every size, if none is that large) and every target at every size, met,
missed or not measured (``bench.targets``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench.questions import questions
from bench.targets import ENGINES, EXPORT_KINDS, Target, check, export_kinds, floor

TARGET_ROWS = 1_000_000  # the targets are set for the full sizes (1M and 10M rows)
SYSTEM_COLUMNS = (
    ("blotter-duckdb", "Blotter·DuckDB"),
    ("raw-duckdb", "raw DuckDB"),
    ("blotter-postgres", "Blotter·PostgreSQL"),
    ("raw-postgres", "raw PostgreSQL"),
    ("datasette", "Datasette"),
)
SERVERS = (
    ("blotter-duckdb", "Blotter·DuckDB"),
    ("blotter-postgres", "Blotter·PostgreSQL"),
    ("datasette", "Datasette"),
)
FIRST_METHOD = (
    "These figures were measured by the benchmark's first method: Datasette had single-column "
    "indexes only (no composite index, R*Tree or larger cache), text search asked one common "
    "word, each system was timed alone with no spread kept, and the 64 clients repeated seven "
    "URLs; – marks what it did not measure."
)

# A results file and its parts are dict[str, Any]: JSON as json.load reads it back, untyped.


def targets(results: dict[str, Any]) -> list[Target]:
    return check(results)


# --- the printed table --------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    lines = [_machine_line(results["machine"])]
    for size in results["sizes"].values():
        lines += ["", *_size_table(size)]
    lines += ["", *_floors_grid(results)]
    heading = "Targets (issue #20)"
    if all(size["rows"] < TARGET_ROWS for size in results["sizes"].values()):
        heading += ": set for 1M and 10M rows (make bench SIZE=full); indicative at this size"
    lines += ["", heading, *(_target_line(t) for t in results["targets"])]
    return "\n".join(lines)


def _machine_line(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB; "
        f"Python {machine['python']}, DuckDB {machine['duckdb']}, PostgreSQL "
        f"{machine['postgresql']}, Datasette {machine['datasette']} on SQLite {machine['sqlite']}"
    )


def _size_table(size: dict[str, Any]) -> list[str]:
    systems = size["systems"]
    present = [(k, label) for k, label in SYSTEM_COLUMNS if "questions" in systems.get(k, {})]
    header = ["question: median ms (p95) [quartiles]", *(label for _, label in present)]
    rows: list[list[str]] = []
    for question in questions(size["rows"]):
        if question.kind == "export":
            continue
        row = [question.label]
        for key, _ in present:
            latency = systems[key]["questions"].get(question.name)
            row.append(_console_ms(latency) if latency else "–")
        rows.append(row)
    out = [f"{size['rows']:,} rows ({size['csv_mb']:.0f} MB of CSV)", *_grid([header, *rows])]
    for key, label in SERVERS:
        s = systems.get(key)
        if not s or "export" not in s:
            continue
        load, ingest = s["load"], s["ingest"]
        for kind, export in export_kinds(s).items():
            out.append(
                f"  {label}: {EXPORT_KINDS[kind]}: {export['mb_per_s']:.0f} MB/s "
                f"({export['bytes'] / 1e6:.0f} MB in {export['seconds']:.1f} s, "
                f"server peak {export['peak_rss_mb']:.0f} MB)"
            )
        out.append(
            f"  {label}: ingest {ingest['rows_per_s']:,.0f} rows/s; {load['clients']} clients: "
            f"{load['throughput_rps']:.1f} req/s over {load['seconds']:.0f} s, "
            f"p99 {load['p99_ms']:.0f} ms, {load['errors']} errors of {load['requests']:,}"
        )
    plans = systems.get("datasette", {}).get("setup", {}).get("plans", {})
    for name, plan in plans.items():
        if not plan["uses"]:
            out.append(
                f"  SQLite's plan for {name} does not use {plan['expected']}: {plan['plan']}"
            )
    return out


# --- what the engines and libraries do alone (bench/floors.py) ----------------------------

Floor = tuple[str, tuple[str, ...], str]  # label, where in a size's floors, format
WHOLE, RATE, TENTHS, MS = "{:,.0f}", "{:,.0f}", "{:,.1f}", "{:.2f}"


def _engine_floors(key: str, label: str, load: str, index: str, copy: str) -> list[Floor]:
    return [
        (f"{label}: {load}, id indexed: rows/s", (key, "ingest", "rows_per_s"), RATE),
        (
            f"{label}: and its own word index ({index}): rows/s",
            (key, "ingest", "with_word_index_rows_per_s"),
            RATE,
        ),
        (f"{label}: its own word index alone: s", (key, "ingest", "word_index_s"), TENTHS),
        (f"{label}: whole CSV export ({copy}): MB/s", (key, "export", "whole", "mb_per_s"), RATE),
        (
            f"{label}: filtered CSV export (one district): MB/s",
            (key, "export", "filtered", "mb_per_s"),
            RATE,
        ),
    ]


FLOOR_ROWS: list[Floor] = [
    *_engine_floors(
        "duckdb", "DuckDB", "the file read into a table in time order", "fts", "COPY … TO"
    ),
    (
        "DuckDB: peak memory of a process exporting (a fresh one): MB",
        ("duckdb", "export", "whole", "peak_rss_mb"),
        WHOLE,
    ),
    *_engine_floors(
        "postgres", "PostgreSQL", "COPY … FROM STDIN", "GIN over to_tsvector", "COPY … TO STDOUT"
    ),
    ("FastAPI and uvicorn alone: a bare answer, median ms", ("stack", "bare", "median_ms"), MS),
    (
        "FastAPI and uvicorn alone: the point lookup from DuckDB, median ms",
        ("stack", "lookup", "median_ms"),
        MS,
    ),
    *(
        (f"Memory: {words}: MB", ("memory", field), WHOLE)
        for words, field in (
            ("a process with the server's libraries", "server_libraries_mb"),
            ("and the hotspot map's statistics libraries", "with_statistics_mb"),
            ("and DuckDB's spatial and fts extensions", "with_duckdb_extensions_mb"),
            ("the drawing process as a server starts it (vl-convert)", "drawing_process_mb"),
        )
    ),
]


def with_floors(results: dict[str, Any], floors: dict[str, Any]) -> dict[str, Any]:
    """``results`` with the floors a separate run measured (``python -m bench.floors``) at
    the sizes both have, for a results file made before the floors were part of a run."""
    sizes = {
        key: size | {"floors": floors["sizes"][key]["floors"]}
        if key in floors["sizes"] and "floors" not in size
        else size
        for key, size in results["sizes"].items()
    }
    run = {"started": floors["started"], "machine": floors["machine"]}
    return results | {"sizes": sizes, "floors_run": run}


def load(results: Path, floors: Path | None = None) -> dict[str, Any]:
    """A results file, with the floors of ``floors`` (``python -m bench.floors``) if given."""
    loaded = dict(json.loads(results.read_text()))
    return loaded if floors is None else with_floors(loaded, json.loads(floors.read_text()))


def cited(text: str) -> tuple[Path, Path | None]:
    """The results file and the floors file (if any) a document links to, relative to the
    repository: the README's figures are ``load`` of them."""
    names = set(re.findall(r"\]\((bench/results/[\w.-]+\.json)\)", text))
    floors = {name for name in names if name.startswith("bench/results/floors-")}
    (results,) = names - floors
    return Path(results), Path(floors.pop()) if floors else None


def floors_markdown(results: dict[str, Any]) -> list[str]:
    """The floors of every size that has them, as a table (none: no lines)."""
    rows = _floor_cells(results)
    if not rows:
        return []
    lines = ["| " + " | ".join(rows[0]) + " |", "|---|" + "--:|" * (len(rows[0]) - 1)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows[1:]]


def floors_table(results: dict[str, Any]) -> str:
    """The floors as the console prints them."""
    return "\n".join([_machine_line(results["machine"]), *_floors_grid(results)])


def _floors_grid(results: dict[str, Any]) -> list[str]:
    rows = _floor_cells(results)
    return _grid(rows) if rows else []


def _floor_cells(results: dict[str, Any]) -> list[list[str]]:
    """A heading row, then one row per floor measured at some size (none: no rows)."""
    sizes = [s for s in results["sizes"].values() if s.get("floors")]
    if not sizes:
        return []
    rows = [["the engine or library alone", *(f"{s['rows']:,} rows" for s in sizes)]]
    for label, path, form in FLOOR_ROWS:
        values = [floor(s["floors"], path) for s in sizes]
        if any(v is not None for v in values):
            rows.append([label, *("–" if v is None else form.format(v) for v in values)])
    return rows


def _console_ms(latency: dict[str, Any]) -> str:
    text = f"{latency['median_ms']:.1f} ({latency['p95_ms']:.1f})"
    if "q1_ms" in latency:
        text += f" [{latency['q1_ms']:.1f}–{latency['q3_ms']:.1f}]"
    return text


def _grid(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  "
        + "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]


def _target_line(t: Target) -> str:
    return f"  {t['rows']:>10,} rows  {t['target']}: {_verdict(t)}"


# --- the README's section -----------------------------------------------------------------


def markdown(results: dict[str, Any]) -> str:
    """The README's figures from a results file: ``python -m bench.report FILE``."""
    machine = results["machine"]
    method = results.get("method", 1)
    lines = [
        f"Measured {results['started'][:10]} on {machine['cpu']} ({machine['cores']} cores, "
        f"{machine['memory_gb']:.0f} GB), Python {machine['python']}, DuckDB {machine['duckdb']}, "
        f"PostgreSQL {machine['postgresql'].split(' ')[0]}, Datasette {machine['datasette']} "
        f"on SQLite {machine['sqlite']}. "
        + (
            "Median milliseconds of warm runs over loopback HTTP"
            + (
                ", with the quartiles of the runs (the systems asked in turn, "
                f"up to {results['profile']['runs']} passes)"
                if method >= 2
                else ""
            )
            + "; raw = Blotter's own SQL run straight on the engine."
        ),
    ]
    if method < 2:
        lines += ["", FIRST_METHOD]
    sizes = list(results["sizes"].values())
    for size in [s for s in sizes if s["rows"] >= TARGET_ROWS] or sizes:
        lines += ["", *_markdown_size(size)]
    floors = floors_markdown(results)
    if floors:
        heading = "What the engines and libraries under Blotter do alone on the same file"
        apart = results.get("floors_run")
        if apart:
            heading += (
                f", measured by `python -m bench.floors` apart from the figures above, on "
                f"{apart['started'][:10]} on {apart['machine']['cpu']} "
                f"({apart['machine']['cores']} cores)"
            )
        lines += ["", heading + " (`bench/floors.py`):", "", *floors]
    lines += ["", *verdicts(results)]
    return "\n".join(lines)


def _markdown_size(size: dict[str, Any]) -> list[str]:
    systems = size["systems"]
    lines = [
        f"**{size['rows']:,} rows** ({size['csv_mb']:,.0f} MB of CSV)",
        "",
        "| question | " + " | ".join(label for _, label in SYSTEM_COLUMNS) + " "
        "| Datasette ÷ Blotter·DuckDB |",
        "|---|" + "--:|" * (len(SYSTEM_COLUMNS) + 1),
    ]
    for question in questions(size["rows"]):
        if question.kind == "export":
            continue
        found = [
            systems.get(key, {}).get("questions", {}).get(question.name)
            for key, _ in SYSTEM_COLUMNS
        ]
        ours, theirs = found[0], found[-1]
        ratio = _times(theirs["median_ms"] / ours["median_ms"]) if ours and theirs else "–"
        lines.append(
            "| " + " | ".join([question.label, *(_cell_ms(f) for f in found), ratio]) + " |"
        )
    lines += ["", "| | " + " | ".join(label for _, label in SERVERS) + " |", "|---|--:|--:|--:|"]
    kinds = [k for k in EXPORT_KINDS if any(k in export_kinds(systems.get(s)) for s, _ in SERVERS)]
    for kind in kinds:
        for name, field in (("MB/s", "mb_per_s"), ("server peak memory, MB", "peak_rss_mb")):
            found = [export_kinds(systems.get(key)).get(kind, {}).get(field) for key, _ in SERVERS]
            text = ["–" if value is None else f"{value:.0f}" for value in found]
            lines.append("| " + " | ".join([f"{EXPORT_KINDS[kind]}: {name}", *text]) + " |")
    rows = {
        "ingest, rows/s": ("ingest", "rows_per_s", "{:,.0f}"),
        "64 clients: requests/s": ("load", "throughput_rps", "{:.1f}"),
        "64 clients: p99, ms": ("load", "p99_ms", "{:,.0f}"),
        "64 clients: errors": ("load", "errors", "{}"),
    }
    for name, (part, field, form) in rows.items():
        cells = []
        for key, _ in SERVERS:
            value = systems.get(key, {}).get(part, {}).get(field)
            cells.append("–" if value is None else form.format(value))
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return lines


def verdicts(results: dict[str, Any]) -> list[str]:
    """Every target at every size of the file, met, missed or not measured: the README's
    and docs/benchmark.md's table of verdicts."""
    checked = check(results)
    sizes = [s["rows"] for s in results["sizes"].values()]
    lines = [
        "What the figures say: the targets of issue #20 (set for 1M and 10M rows, indicative "
        "below), checked against this file:",
        "",
    ]
    for rows in sizes:
        at = [t for t in checked if t["rows"] == rows]
        met = sum(t["status"] == "met" for t in at)
        missed = [t for t in at if t["status"] == "missed"]
        noise = sum(t["within_noise"] for t in missed)
        absent = sum(t["status"] == "not measured" for t in at)
        lines.append(
            f"- at {rows:,} rows: {met} met, {len(missed)} missed"
            + (f" ({noise} within the noise)" if noise else "")
            + f", {absent} not measured"
        )
    lines += [
        "",
        "| target | " + " | ".join(f"{rows:,} rows" for rows in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    names = list(dict.fromkeys(t["target"] for t in checked))
    cells = {(t["target"], t["rows"]): _verdict(t) for t in checked}
    for name in names:
        row = [cells.get((name, rows), "–") for rows in sizes]
        lines.append("| " + " | ".join([name, *row]) + " |")
    return lines


def _verdict(t: Target) -> str:
    if t["status"] == "not measured":
        return f"not measured ({t['note']})"
    measured = _value(t["measured"], t["unit"])
    limit = _value(t["limit"], t["unit"])
    text = f"met: {measured}" if t["status"] == "met" else f"**missed**: {measured}"
    text += f" (limit {limit})"
    if t["within_noise"]:
        text += ", within the noise"
    if t["note"]:
        text += f" ({t['note']})"
    return text


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "ms":
        return f"{_fmt_ms(value)} ms"
    if unit == "× faster":
        return _times(value)
    if unit in ("rows/s", "MB", "MB/s"):
        return f"{value:,.0f} {unit}"
    if unit == "%":
        return f"{value:.2f} %"
    if unit == "req/s":
        return f"{value:,.1f} {unit}"
    return f"{value:,.0f} {unit}"


def _cell_ms(latency: dict[str, Any] | None) -> str:
    if not latency:
        return "–"
    text = _fmt_ms(latency["median_ms"])
    if "q1_ms" in latency:
        text += f" ({_fmt_ms(latency['q1_ms'])}–{_fmt_ms(latency['q3_ms'])})"
    return text


def _times(ratio: float) -> str:
    return f"{ratio:.1f}×" if ratio >= 1 else f"{ratio:.2f}×"


def _fmt_ms(ms: float) -> str:
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}"


__all__ = ["ENGINES", "markdown", "table", "targets", "verdicts"]

if __name__ == "__main__":
    import sys

    # python -m bench.report RESULTS [FLOORS]: FLOORS from python -m bench.floors, for a
    # results file that has none of its own.
    print(markdown(load(*(Path(name) for name in sys.argv[1:3]))))
