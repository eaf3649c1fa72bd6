"""What a DuckDB store does when it opens: the schema's migrations applied, and the tables no
reader needs dropped."""

from __future__ import annotations

import duckdb
from sqlglot import exp

from blotter.store.migrations import DUCKDB, migrations

# Schema migrations, applied in order; the index + 1 is the schema version.
MIGRATIONS = migrations(DUCKDB)


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def migrate(cur: duckdb.DuckDBPyConnection) -> None:
    """Apply the migrations the file has not had, each in its own transaction (the caller
    holds the write lock)."""
    cur.execute("CREATE TABLE IF NOT EXISTS blotter_schema (version INTEGER NOT NULL)")
    row = cur.execute("SELECT max(version) FROM blotter_schema").fetchone()
    current = (row[0] if row else None) or 0
    for number, statements in enumerate(MIGRATIONS, start=1):
        if number <= current:
            continue
        cur.execute("BEGIN TRANSACTION")
        for statement in statements:
            cur.execute(statement)
        cur.execute("INSERT INTO blotter_schema VALUES (?)", [number])
        cur.execute("COMMIT")


def drop_unregistered_tables(cur: duckdb.DuckDBPyConnection) -> None:
    """Tables no reader needs: left by a load that was killed (never registered), or by
    a process killed between a publish and the drop of the table it replaced. Kept: each
    dataset's current table and every history table."""
    orphans = cur.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_name LIKE 'ds\\_%' ESCAPE '\\' AND table_name NOT IN "
        "(SELECT v.table_name FROM blotter_versions v JOIN blotter_datasets d "
        "ON d.id = v.dataset_id AND d.current_version = v.number UNION ALL "
        "SELECT v.table_name || '__words' FROM blotter_versions v JOIN blotter_datasets d "
        "ON d.id = v.dataset_id AND d.current_version = v.number UNION ALL "
        "SELECT v.table_name || '__order' FROM blotter_versions v JOIN blotter_datasets d "
        "ON d.id = v.dataset_id AND d.current_version = v.number UNION ALL "
        "SELECT v.table_name || '__order_words' FROM blotter_versions v JOIN blotter_datasets d "
        "ON d.id = v.dataset_id AND d.current_version = v.number UNION ALL "
        "SELECT v.table_name || '__rollup' FROM blotter_versions v JOIN blotter_datasets d "
        "ON d.id = v.dataset_id AND d.current_version = v.number) AND table_name NOT IN "
        "(SELECT segment FROM blotter_versions WHERE segment IS NOT NULL)"
    ).fetchall()
    for (name,) in orphans:
        cur.execute(f"DROP TABLE IF EXISTS {_ident(name)}")
