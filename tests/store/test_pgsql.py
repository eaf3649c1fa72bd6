"""The catalog's statements, written once for DuckDB, as psycopg runs them on PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest
from sqlglot import exp

from blotter.store.pgsql import Psycopg, postgres_sql
from tests.engines import TEST_DATABASE_URL


@pytest.mark.parametrize(
    ("duckdb_sql", "postgres"),
    [
        ("SELECT a FROM t WHERE id = ?", "SELECT a FROM t WHERE id = %s"),
        ("SELECT a % 2 FROM t", "SELECT a %% 2 FROM t"),
        ("SELECT 'x%y' FROM t WHERE a = ?", "SELECT 'x%%y' FROM t WHERE a = %s"),
        ('SELECT "we%ird" FROM t', 'SELECT "we%%ird" FROM t'),
        (
            "INSERT INTO t VALUES (?, 1) ON CONFLICT (k) DO UPDATE SET n = t.n + 1",
            "INSERT INTO t VALUES (%s, 1) ON CONFLICT(k) DO UPDATE SET n = t.n + 1",
        ),
        (
            "UPDATE t SET a = coalesce(?, a) WHERE id = ? RETURNING id",
            "UPDATE t SET a = COALESCE(%s, a) WHERE id = %s RETURNING id",
        ),
    ],
)
def test_a_statement_is_written_for_psycopg(duckdb_sql: str, postgres: str) -> None:
    assert postgres_sql(duckdb_sql) == postgres


def test_named_placeholders_and_the_modulo_run_on_postgres() -> None:
    query = exp.select(
        exp.Mod(this=exp.Literal.number(7), expression=exp.Literal.number(3)),
        exp.Placeholder(this="p0"),
    )
    with psycopg.connect(TEST_DATABASE_URL) as conn:
        assert conn.execute(query.sql(dialect=Psycopg), {"p0": "a%b"}).fetchone() == (1, "a%b")
        text = postgres_sql("SELECT 7 % 3, '%' || ?")
        assert conn.execute(text, ["s"]).fetchone() == (1, "%s")  # type: ignore[arg-type]
