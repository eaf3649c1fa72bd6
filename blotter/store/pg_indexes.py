"""Indexes of a new PostgreSQL version, built in the publish's transaction before the version
is registered: a killed or failed publish rolls them back with the table.

- the word index of ``$q`` (``search_index.py``), its row ids compressed with lz4 when the
  server has it (``pg_session.FAST_TOAST``), with a trigram index on its terms when the
  ``pg_trgm`` extension is there or can be created (without it, or for words under three
  characters, the dictionary is scanned: still only its terms, never the rows);
- a B-tree on ``_id``, which the narrowed ``$q`` reads rows by;
- a B-tree on each column the dataset file says people filter, group or sort by (its
  ``highlights``, its ``dashboard`` breakdowns, its units' keys, its benchmark's group
  column), followed by the main timestamp and carrying the others (``index_declared``),
  and one on the main timestamp (the period, the timeline, the usual sort). The row
  identifier's own index is made beside it (``postgres._index_lookups``).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from blotter.model import Column, ColumnType, DatasetMeta, main_date_column
from blotter.store.pg_session import fast_toast, local_settings
from blotter.store.rollup_tables import declared_fields, rollup_table
from blotter.store.search_index import index_statements, words_table

log = logging.getLogger(__name__)


def index_words(conn: psycopg.Connection[Any], table: str, columns: list[Column]) -> None:
    """Build a new version's word index (and the trigram index of its terms when possible)."""
    text = [c.field_name for c in columns if c.type is ColumnType.TEXT]
    with local_settings(conn, fast_toast(conn)):  # its posting arrays compressed with lz4
        for statement in index_statements(table, text, "postgres"):
            conn.execute(statement)  # built from checked identifiers
    schema = trigram_schema(conn)
    if schema is not None:
        conn.execute(
            sql.SQL("CREATE INDEX ON {} USING gin (term {}.gin_trgm_ops)").format(
                sql.Identifier(words_table(table)), sql.Identifier(schema)
            )
        )
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(words_table(table))))


def index_declared(
    conn: psycopg.Connection[Any], meta: DatasetMeta, table: str, columns: list[Column]
) -> None:
    """The B-trees of a new version's declared fields (``declared_fields``): each field with
    the main timestamp after it, carrying the other declared fields, so that one district's
    count, trend or cross-tab over a period is read from its index alone (once the write
    commits, ``postgres_writes.vacuum_new`` sets the visibility map that needs); the main
    timestamp alone, carrying them all, for a period with no other filter. At 1M rows (the
    benchmark's load mix) a district's count over a period took 56 ms as a scan of the
    period's rows, 11 from such an index. Without a timestamp column, one B-tree per field."""
    fields = declared_fields(meta, columns)
    stamp = main_date_column(columns, meta.main_date)
    date = stamp.field_name if stamp is not None else None
    for field in dict.fromkeys([*fields, *([date] if date else [])]):
        keys = [field] if field == date or date is None else [field, date]
        carried = [f for f in fields if f not in keys] if date else []
        statement = sql.SQL("CREATE INDEX ON {} ({})").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, keys))
        )
        if carried:
            include = sql.SQL(", ").join(map(sql.Identifier, carried))
            statement = sql.SQL("{} INCLUDE ({})").format(statement, include)
        conn.execute(statement)


def drop_words(conn: psycopg.Connection[Any], table: str) -> None:
    """Drop a version's word index and its rollup (its ``_id`` index goes with the version
    table)."""
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(words_table(table))))
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(rollup_table(table))))


def trigram_schema(conn: psycopg.Connection[Any]) -> str | None:
    """The schema holding ``pg_trgm``, created in ``public`` if missing and allowed; None when
    the database has no such extension or the portal's role may not create it (documented:
    search is then exact but reads the whole term dictionary)."""
    found = _extension_schema(conn)
    if found is not None:
        return found
    try:
        with conn.transaction():  # a savepoint: a refusal must not end the publish
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedFile) as err:
        log.warning("pg_trgm not available (%s); $q reads the whole term dictionary", err)
        return None
    except psycopg.errors.UniqueViolation:
        pass  # another process created it just now
    return _extension_schema(conn)


def _extension_schema(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    ).fetchone()
    return str(row[0]) if row else None
