"""What keeping every version costs: the database's growth from one-row upserts, and the
newest version's reads before and after them (they must not slow down).

Run after a size's other measurements (the upserts make new versions of the dataset). The
target (issue 18): a one-row upsert grows the database by a small fraction of the dataset,
here under 1% of the database's size once the dataset is loaded, in the steady state.
"""

from __future__ import annotations

import itertools
from functools import partial
from pathlib import Path
from typing import Any

from bench.measure import repeat
from bench.systems import DATASET_ID, BlotterTarget

# In a row. A file engine reuses the blocks a dropped table freed only after the next
# checkpoint, so single steps swing by a table's size; the steady state is the net growth
# from the first upsert to the last, per upsert.
UPSERTS = 5
TARGET_SHARE = 0.01  # of the database's size after the load
READS = {
    "group_by_district": {"$select": "district, count(*) AS n", "$group": "district"},
    "page_of_rows": {"$order": ":id", "$limit": "1000", "$offset": "5000"},
}


def measure(target: BlotterTarget, rows: int) -> dict[str, Any]:
    """Sizes before and after each of a few one-row upserts, and newest-version reads."""
    from blotter.settings import Settings
    from blotter.store import open_store

    settings = Settings(data_dir=target.data_dir, database_url=target.database_url)
    store: Any = open_store(settings)
    try:
        before_reads = _reads(store, settings)
        sizes = [_size(store, target, settings.database_path)]
        for i in range(UPSERTS):
            _one_row_upsert(store, i, rows)
            sizes.append(_size(store, target, settings.database_path))
        after_reads = _reads(store, settings)
    finally:
        store.close()
    growth = [b - a for a, b in itertools.pairwise(sizes)]
    steady = (sizes[-1] - sizes[1]) / (len(sizes) - 2)
    share = steady / sizes[0] if sizes[0] else 0.0
    out = {
        "rows": rows,
        "database_bytes": sizes[0],
        "sizes_bytes": sizes,
        "growth_bytes": growth,
        "first_upsert_bytes": growth[0],
        "largest_step_bytes": max(growth),
        "steady_upsert_bytes": steady,
        "steady_share": share,
        "target": f"a one-row upsert grows the database by under {TARGET_SHARE:.0%} of it",
        "target_met": share < TARGET_SHARE,
        "newest_read_ms": {"before": before_reads, "after": after_reads},
    }
    print(table(target.label, out), flush=True)
    return out


def table(label: str, out: dict[str, Any]) -> str:
    """The lines the run prints for one engine."""
    mb = 1e6
    reads = ", ".join(
        f"{name} {out['newest_read_ms']['before'][name]:.1f} → "
        f"{out['newest_read_ms']['after'][name]:.1f} ms"
        for name in READS
    )
    met = "met" if out["target_met"] else "MISSED"
    return (
        f"\nHistory storage, {label}, {out['rows']:,} rows: database "
        f"{out['database_bytes'] / mb:,.1f} MB; one-row upserts grew it by "
        + ", ".join(f"{g / mb:+,.2f}" for g in out["growth_bytes"])
        + f" MB; steady {out['steady_upsert_bytes'] / mb:+,.3f} MB per upsert, "
        f"{out['steady_share']:.3%} of it: target {met} ({out['target']}).\n"
        f"Newest version's reads (median) before → after the upserts: {reads}."
    )


def _one_row_upsert(store: Any, i: int, rows: int) -> None:
    from blotter.ingest.rows import stage_changes

    dataset = store.get_dataset(DATASET_ID)
    record = {"id": 1 + (i * 7919) % rows, "status": f"corrected {i}"}
    staged = stage_changes(dataset, [record])
    store.apply_changes(DATASET_ID, staged.key, staged.table, source="bench", note="one row")


def _size(store: Any, target: BlotterTarget, path: Path) -> int:
    """The database's size: DuckDB's file after a checkpoint; PostgreSQL's tables (with
    their indexes and TOAST) in the portal's schema after a VACUUM."""
    if target.engine == "duckdb":
        store._con.cursor().execute("CHECKPOINT")
        return path.stat().st_size
    import psycopg

    with psycopg.connect(target.database_url, autocommit=True) as conn:
        conn.execute("VACUUM")
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            [store.schema],
        ).fetchone()
    return int(row[0]) if row else 0


def _read_all(store: Any, dataset: Any, select: Any) -> list[Any]:
    return list(store.execute(dataset, select))


def _reads(store: Any, settings: Any) -> dict[str, float]:
    """Median milliseconds of each read of the newest version, run in the store."""
    from blotter.queries import parse_request
    from blotter.soql.compiler import compile_query

    dataset = store.get_dataset(DATASET_ID)
    medians = {}
    for name, soql in READS.items():
        query, filters = parse_request(soql)
        compiled = compile_query(
            query,
            dataset,
            filters=filters,
            default_limit=settings.default_limit,
            max_limit=settings.max_limit,
        )
        latency, _ = repeat(
            partial(_read_all, store, dataset, compiled.select), runs=15, budget_s=5
        )
        medians[name] = latency.median_ms
    return medians
