"""The SQL of a row-level write (SODA upserts and deletes), the same on every engine."""

# Every name below is a quoted identifier of ours (checked field names, version tables) and
# every value is ours (a timestamp, a row id); payload values reach the engine only as rows
# of the staged table. So string-built SQL is safe here, and only here.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime

from blotter.model import Column
from blotter.schema import CREATED_AT, ROW_ID, UPDATED_AT, physical_names

STAGED = "_staged_changes"
# __given has one '1' or '0' per physical column: whether the payload set it. An update
# changes only what was given, as Socrata's upsert does.
STAGED_HEAD = ["__seq", "__delete", "__key", "__given"]


def quote(name: str) -> str:
    """A double-quoted identifier, the same on DuckDB and PostgreSQL."""
    return '"' + name.replace('"', '""') + '"'


def change_statements(
    old: str | None, new: str, columns: list[Column], key: str, stamp: datetime, next_id: int
) -> tuple[list[str], dict[str, str]]:
    """SQL that writes ``new`` from ``old`` and the staged changes, in ``:id`` order.

    Untouched rows keep everything; updated rows keep their id and creation time, and their
    ``_updated_at`` unless a field the public sees changed (an internal field's change alone
    must not show in the public's ``:updated_at``); rows whose
    key is new (or null) are appended with fresh ids in payload order. Returns the writes
    and the count queries (run before the writes) for the response.
    """
    names = [n for c in columns for n in physical_names(c)]
    hidden = {n for c in columns if c.internal for n in physical_names(c)}
    cols = ", ".join(map(quote, names))
    s_cols = ", ".join(f"s.{quote(n)}" for n in names)
    o_cols = ", ".join(f"o.{quote(n)}" for n in names)
    given = {
        n: f"CASE WHEN substr(s.__given, {i}, 1) = '1' THEN s.{quote(n)} ELSE o.{quote(n)} END"
        for i, n in enumerate(names, start=1)
    }
    merged = ", ".join(given.values())
    shown = [
        f"({value}) IS DISTINCT FROM o.{quote(n)}" for n, value in given.items() if n not in hidden
    ]
    at = f"TIMESTAMP '{stamp.isoformat(sep=' ')}'"
    stamped = f"CASE WHEN {' OR '.join(shown) or 'false'} THEN {at} ELSE o.{UPDATED_AT} END"
    system = f"{ROW_ID}, {CREATED_AT}, {UPDATED_AT}"
    k = quote(key)
    matched = f"FROM {quote(old)} o JOIN {STAGED} s ON s.__key = o.{k}" if old else None
    # With no earlier version every upsert is new; else those whose key matches no row.
    unmatched = (
        f" AND (s.__key IS NULL OR NOT EXISTS (SELECT 1 FROM {quote(old)} o WHERE o.{k} = s.__key))"
        if old
        else ""
    )
    fresh = f"FROM {STAGED} s WHERE NOT s.__delete{unmatched}"
    writes = []
    if old:
        writes.append(
            f"INSERT INTO {quote(new)} ({system}, {cols}) SELECT * FROM ("
            f"SELECT o.{ROW_ID}, o.{CREATED_AT}, o.{UPDATED_AT}, {o_cols} FROM {quote(old)} o "
            f"WHERE NOT EXISTS (SELECT 1 FROM {STAGED} s WHERE s.__key = o.{k}) "
            f"UNION ALL SELECT o.{ROW_ID}, o.{CREATED_AT}, {stamped}, {merged} {matched} "
            f"WHERE NOT s.__delete) kept ORDER BY {ROW_ID}"
        )
    writes.append(
        f"INSERT INTO {quote(new)} ({system}, {cols}) "
        f"SELECT {next_id} + row_number() OVER (ORDER BY s.__seq) - 1, {at}, {at}, {s_cols} "
        f"{fresh} ORDER BY s.__seq"
    )
    counts = {
        "updated": f"SELECT count(*) {matched} WHERE NOT s.__delete" if matched else "",
        "deleted": f"SELECT count(*) {matched} WHERE s.__delete" if matched else "",
        "created": f"SELECT count(*) {fresh}",
    }
    return writes, {k_: v for k_, v in counts.items() if v}
