"""What a PostgreSQL store does when it opens: its schema made, the migrations applied by one
process while the others wait, the trigger that tells every process of a dataset's change."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from blotter.store.migrations import POSTGRES, migrations
from blotter.store.pg_cache import install_trigger

# Schema migrations in order; the index + 1 is the schema version. Several workers may start
# at once: an advisory lock makes one of them apply these while the others wait.
MIGRATIONS = migrations(POSTGRES)
MIGRATION_LOCK = 0x0B107_7E4  # any constant shared by every Blotter process


def migrate(conn: psycopg.Connection[Any], schema: str) -> None:
    """Apply the migrations the schema has not had, inside the caller's transaction."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute("CREATE TABLE IF NOT EXISTS blotter_schema (version INTEGER NOT NULL)")
    row = conn.execute("SELECT max(version) FROM blotter_schema").fetchone()
    current = (row[0] if row else None) or 0
    for number, statements in enumerate(MIGRATIONS, start=1):
        if number <= current:
            continue
        for statement in statements:
            conn.execute(statement)  # constant DDL
        conn.execute("INSERT INTO blotter_schema VALUES (%s)", [number])
    install_trigger(conn, schema)
