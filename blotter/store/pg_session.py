"""PostgreSQL settings changed for a few statements of a write's transaction, then put back:
``set_config(…, true)`` lasts until the transaction ends, and the statements after those few
must run as configured."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg

# The compression of values stored out of line, when the server has lz4: a version's word
# index holds each term's row ids as one array, most of them compressed, and pglz (the
# default) spent a third of the index's time on them (1M rows, 21M ids: 15 s of CPU with
# pglz, 10 s with lz4). Readers decompress either the same way; lz4 is also faster to read.
FAST_TOAST = {"default_toast_compression": "lz4"}


@contextmanager
def local_settings(conn: psycopg.Connection[Any], settings: Mapping[str, str]) -> Iterator[None]:
    """``settings`` in force inside the block (in a transaction), the earlier values after."""
    saved = {name: _current(conn, name) for name in settings}
    for name, value in settings.items():
        conn.execute("SELECT set_config(%s, %s, true)", [name, value])
    try:
        yield
    finally:
        for name, value in saved.items():
            conn.execute("SELECT set_config(%s, %s, true)", [name, value])


def _current(conn: psycopg.Connection[Any], name: str) -> str:
    row = conn.execute("SELECT current_setting(%s)", [name]).fetchone()
    return str(row[0]) if row else ""


def fast_toast(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """``FAST_TOAST`` when this server was built with lz4 (PostgreSQL 14 and later), else
    nothing: values are then stored as before."""
    row = conn.execute(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    ).fetchone()
    return FAST_TOAST if row is not None and row[0] else {}
