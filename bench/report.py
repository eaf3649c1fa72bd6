"""The printed table and the targets of issue #8, met or missed and by how much."""

from __future__ import annotations

from typing import Any, TypedDict

from bench.questions import questions

ENGINES = (("duckdb", "DuckDB"), ("postgres", "PostgreSQL"))
AGGREGATIONS = ("count_by_category", "monthly_trend", "cross_tab")
AGAINST_DATASETTE = (*AGGREGATIONS, "filter_order_limit", "within_distance")
TARGET_ROWS = 1_000_000  # the targets are set for the full sizes (1M and 10M rows)

# A results file and its parts are dict[str, Any]: JSON as json.load reads it back, untyped.


class Target(TypedDict):
    """One target's verdict, as the results file keeps it."""

    target: str
    rows: int
    measured: float
    limit: float
    unit: str
    met: bool
    by: float | None


def table(results: dict[str, Any]) -> str:
    lines = [_machine_line(results["machine"])]
    for size in results["sizes"].values():
        lines += ["", *_size_table(size)]
    heading = "Targets (issue #8)"
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
    engines = [(key, label) for key, label in ENGINES if f"blotter-{key}" in systems]
    header = ["question (median ms, p95)"]
    for _, label in engines:
        header += [f"Blotter·{label}", f"raw {label}", "×raw"]
    if "datasette" in systems:
        header += ["Datasette", "Datasette÷Blotter"]
    rows: list[list[str]] = []
    for question in questions(size["rows"]):
        if question.kind == "export":
            continue
        row = [question.label]
        ours = None
        for key, _ in engines:
            mine = systems[f"blotter-{key}"]["questions"][question.name]
            raw = systems[f"raw-{key}"]["questions"][question.name]
            ours = ours or mine
            row += [
                _ms(mine),
                f"{raw['median_ms']:.1f}",
                f"{mine['median_ms'] / raw['median_ms']:.2f}",
            ]
        if "datasette" in systems:
            theirs = systems["datasette"]["questions"][question.name]
            row += [_ms(theirs)]
            row += [_times(theirs["median_ms"] / ours["median_ms"]) if ours else "–"]
        rows.append(row)
    title = f"{size['rows']:,} rows ({size['csv_mb']:.0f} MB of CSV)"
    out = [title, *_grid([header, *rows])]
    for key, label in [
        *((f"blotter-{k}", f"Blotter·{v}") for k, v in engines),
        ("datasette", "Datasette"),
    ]:
        if key not in systems:
            continue
        s = systems[key]
        export, load, ingest = s["export"], s["load"], s["ingest"]
        out.append(
            f"  {label}: CSV export {export['mb_per_s']:.0f} MB/s ({export['bytes'] / 1e6:.0f} MB "
            f"in {export['seconds']:.1f} s, server peak {export['peak_rss_mb']:.0f} MB); "
            f"ingest {ingest['rows_per_s']:,.0f} rows/s; {load['clients']} clients: "
            f"{load['throughput_rps']:.0f} req/s, p99 {load['p99_ms']:.0f} ms, "
            f"{load['errors']} errors of {load['requests']:,}"
        )
    return out


def _ms(latency: dict[str, Any]) -> str:
    return f"{latency['median_ms']:.1f} ({latency['p95_ms']:.1f})"


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


def targets(results: dict[str, Any]) -> list[Target]:
    """Each target of the issue, checked on every size it applies to."""
    sizes = list(results["sizes"].values())
    large = [s for s in sizes if s["rows"] >= TARGET_ROWS] or sizes[-1:]
    out: list[Target] = []
    for size in large:
        n, systems = size["rows"], size["systems"]
        for key, label in ENGINES:
            ours = systems.get(f"blotter-{key}")
            if ours is None:
                continue
            raw = systems[f"raw-{key}"]["questions"]
            for name in AGGREGATIONS:
                limit = 1.3 * raw[name]["median_ms"] + 2
                out.append(
                    _at_most(
                        f"{name} on {label} ≤ 1.3× raw + 2 ms",
                        n,
                        ours["questions"][name]["median_ms"],
                        limit,
                        "ms",
                    )
                )
            out.append(
                _at_least(f"CSV export on {label}", n, ours["export"]["mb_per_s"], 100, "MB/s")
            )
            out.append(
                _at_most(
                    f"server peak memory during export on {label}",
                    n,
                    ours["export"]["peak_rss_mb"],
                    300,
                    "MB",
                )
            )
            if key == "duckdb":
                out.append(
                    _at_least(
                        "ingest of a typed CSV on DuckDB",
                        n,
                        ours["ingest"]["rows_per_s"],
                        500_000,
                        "rows/s",
                    )
                )
            out.append(
                _at_most(
                    f"errors under {ours['load']['clients']} clients on {label}",
                    n,
                    ours["load"]["errors"],
                    0,
                    "",
                )
            )
            theirs = systems.get("datasette")
            if theirs is None or (
                n != TARGET_ROWS and any(s["rows"] == TARGET_ROWS for s in sizes)
            ):
                continue
            for name in AGAINST_DATASETTE:
                speedup = (
                    theirs["questions"][name]["median_ms"] / ours["questions"][name]["median_ms"]
                )
                out.append(_at_least(f"{name} on {label} vs Datasette", n, speedup, 10, "× faster"))
            out.append(
                _at_most(
                    f"point lookup on {label} vs Datasette",
                    n,
                    ours["questions"]["point_lookup"]["median_ms"],
                    theirs["questions"]["point_lookup"]["median_ms"],
                    "ms",
                )
            )
    return out


def _at_most(text: str, rows: int, measured: float, limit: float, unit: str) -> Target:
    return _target(
        text,
        rows,
        measured,
        limit,
        unit,
        met=measured <= limit,
        by=measured / limit if limit else measured,
    )


def _at_least(text: str, rows: int, measured: float, limit: float, unit: str) -> Target:
    return _target(
        text,
        rows,
        measured,
        limit,
        unit,
        met=measured >= limit,
        by=limit / measured if measured else limit,
    )


def _target(
    text: str, rows: int, measured: float, limit: float, unit: str, *, met: bool, by: float
) -> Target:
    """One target's verdict; ``by`` is how many times off a missed target is (for a limit of
    zero, such as errors, the measured count itself)."""
    return {
        "target": text,
        "rows": rows,
        "measured": measured,
        "limit": limit,
        "unit": unit,
        "met": met,
        "by": None if met else by,
    }


def _target_line(t: Target) -> str:
    verdict = "met   " if t["met"] else "MISSED"
    miss = f"  (off by {t['by']:.2f}×)" if t["by"] else ""
    measured = f"{t['measured']:,.1f} {t['unit']} (target {t['limit']:,.1f})"
    return f"  {verdict} {t['target']} at {t['rows']:,} rows: {measured}{miss}"


def markdown(results: dict[str, Any]) -> str:
    """The README's figures from a results file: ``python -m bench.report FILE``."""
    machine = results["machine"]
    lines = [
        f"Measured {results['started'][:10]} on {machine['cpu']} ({machine['cores']} cores, "
        f"{machine['memory_gb']:.0f} GB), Python {machine['python']}, DuckDB {machine['duckdb']}, "
        f"PostgreSQL {machine['postgresql'].split(' ')[0]}, Datasette {machine['datasette']} "
        f"on SQLite {machine['sqlite']}. Median milliseconds of warm runs over loopback HTTP; "
        "raw = Blotter's own SQL run straight on the engine.",
    ]
    sizes = list(results["sizes"].values())
    for size in [s for s in sizes if s["rows"] >= TARGET_ROWS] or sizes:
        systems = size["systems"]
        lines += [
            "",
            f"**{size['rows']:,} rows** ({size['csv_mb']:,.0f} MB of CSV)",
            "",
            "| question | Blotter·DuckDB | raw DuckDB | Blotter·PostgreSQL | raw PostgreSQL "
            "| Datasette | Datasette ÷ Blotter·DuckDB |",
            "|---|--:|--:|--:|--:|--:|--:|",
        ]
        for question in questions(size["rows"]):
            if question.kind == "export":
                continue
            cells = [
                systems[key]["questions"][question.name]["median_ms"]
                for key in ("blotter-duckdb", "raw-duckdb", "blotter-postgres", "raw-postgres")
            ]
            theirs = systems["datasette"]["questions"][question.name]["median_ms"]
            row = [question.label, *(_fmt_ms(c) for c in cells), _fmt_ms(theirs)]
            row.append(_times(theirs / cells[0]))
            lines.append("| " + " | ".join(row) + " |")
        lines += [
            "",
            "| | Blotter·DuckDB | Blotter·PostgreSQL | Datasette |",
            "|---|--:|--:|--:|",
        ]
        keys = ("blotter-duckdb", "blotter-postgres", "datasette")
        rows = {
            "full CSV export, MB/s": [f"{systems[k]['export']['mb_per_s']:.0f}" for k in keys],
            "server peak memory during it, MB": [
                f"{systems[k]['export']['peak_rss_mb']:.0f}" for k in keys
            ],
            "ingest, rows/s": [f"{systems[k]['ingest']['rows_per_s']:,.0f}" for k in keys],
            "64 clients: requests/s": [f"{systems[k]['load']['throughput_rps']:.1f}" for k in keys],
            "64 clients: p99, ms": [f"{systems[k]['load']['p99_ms']:,.0f}" for k in keys],
            "64 clients: errors": [f"{systems[k]['load']['errors']}" for k in keys],
        }
        lines += ["| " + " | ".join([name, *values]) + " |" for name, values in rows.items()]
    return "\n".join(lines)


def _times(ratio: float) -> str:
    return f"{ratio:.1f}×" if ratio >= 1 else f"{ratio:.2f}×"


def _fmt_ms(ms: float) -> str:
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}"


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
