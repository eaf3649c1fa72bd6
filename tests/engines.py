"""Both storage engines for parametrized tests: a DuckDB file, a PostgreSQL schema.

Every backend-dependent test runs on both. PostgreSQL comes from BLOTTER_TEST_DATABASE_URL
(default: the local server at 127.0.0.1:5432, user postgres); each test gets its own schema,
dropped afterwards. Under CI=true an unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from blotter.settings import Settings

ENGINES = ["duckdb", "postgres"]
TEST_DATABASE_URL = os.environ.get(
    "BLOTTER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
HOW_TO = (
    "PostgreSQL is not reachable at {url}. Start one (user postgres, trust auth) or point "
    "the tests at yours: BLOTTER_TEST_DATABASE_URL=postgresql://user@host/db make test"
)


def postgres_available() -> str | None:
    """None when the test PostgreSQL answers, else why not."""
    import psycopg

    try:
        with psycopg.connect(TEST_DATABASE_URL, connect_timeout=3):
            return None
    except psycopg.OperationalError as err:
        return f"{HOW_TO.format(url=TEST_DATABASE_URL)} ({err})"


def require_postgres() -> None:
    reason = postgres_available()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def drop_schema(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def engine_settings(engine: str, data_dir: Path, **overrides: object) -> Iterator[Settings]:
    """Settings for a fresh, empty portal on ``engine``; the schema is dropped afterwards."""
    if engine == "duckdb":
        yield Settings(data_dir=data_dir, **overrides)  # type: ignore[arg-type]
        return
    require_postgres()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield Settings(
            data_dir=data_dir,
            database_url=TEST_DATABASE_URL,
            database_schema=schema,
            **overrides,  # type: ignore[arg-type]
        )
    finally:
        drop_schema(schema)


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment a `blotter` command needs to open the same portal as ``settings``."""
    env = {"BLOTTER_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env |= {
            "BLOTTER_DATABASE_URL": settings.database_url,
            "BLOTTER_DATABASE_SCHEMA": settings.database_schema,
        }
    return env
