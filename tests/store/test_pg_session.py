"""Settings changed for a few statements of a PostgreSQL transaction are put back after them."""

from __future__ import annotations

import psycopg
import pytest

from blotter.store.pg_session import local_settings
from tests.engines import TEST_DATABASE_URL


def _work_mem(conn: psycopg.Connection[tuple[str]]) -> str:
    row = conn.execute("SHOW work_mem").fetchone()
    return row[0] if row else ""


def test_settings_hold_inside_the_block_and_are_put_back_after() -> None:
    with psycopg.connect(TEST_DATABASE_URL) as conn, conn.transaction():
        conn.execute("SET LOCAL work_mem = '5MB'")
        with local_settings(conn, {"work_mem": "7MB"}):
            assert _work_mem(conn) == "7MB"
        assert _work_mem(conn) == "5MB"


def test_settings_are_put_back_when_the_block_fails() -> None:
    with psycopg.connect(TEST_DATABASE_URL) as conn, conn.transaction():
        conn.execute("SET LOCAL work_mem = '5MB'")
        with pytest.raises(ValueError), local_settings(conn, {"work_mem": "7MB"}):
            raise ValueError
        assert _work_mem(conn) == "5MB"
