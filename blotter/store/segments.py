"""Every version's rows kept once: the history tables, written the same on every engine.

The current version is a table of its own (``ds_<id>_v<n>``), read as fast as ever. Every
version's rows are also kept in a history table, ``ds_<id>_h<k>``: the system fields, the
physical fields, and ``_from_version`` / ``_to_version``. A row belongs to version V iff
``_from_version <= V AND (_to_version IS NULL OR _to_version > V)``, so a row that no write
changes is kept once however many versions it lives through. The rows of the current version
are exactly the history rows whose ``_to_version`` is null.

A publish, in the transaction that registers the new version, compares the new table with
the one it replaces by ``_id`` (as counts do, ``history_sql.compared_fields``): removed and
changed rows get ``_to_version = N``, added and changed rows are inserted with
``_from_version = N``. Added fields are added to the table. A field whose physical name comes
back with another type cannot share the table: the version starts a new segment (``k + 1``)
holding all its rows, and the previous segment's current rows end at N.
"""

# Every name below is a quoted identifier of ours and every value a version number of ours.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from blotter.model import Column, ColumnType
from blotter.schema import (
    CREATED_AT,
    FROM_VERSION,
    ROW_ID,
    TO_VERSION,
    UPDATED_AT,
    history_table,
    physical_names,
)
from blotter.store.changes import quote
from blotter.store.history_sql import compared_fields
from blotter.store.records import Statements

# Runs one statement without parameters (DDL and SQL written here).
Execute = Callable[[str], Any]


@dataclass(frozen=True)
class Replaced:
    """The version a publish replaces: its number, table, fields and history table."""

    number: int
    table: str
    columns: list[Column]
    segment: str


def replaced_version(
    tx: Statements, dataset_id: str, number: int, table: str, columns: list[Column]
) -> Replaced | None:
    """The served version a write replaces (None: there is none, or it has no history
    table, so the new version starts one)."""
    if not number:
        return None
    row = tx.rows(
        "SELECT segment FROM blotter_versions WHERE dataset_id = ? AND number = ?",
        [dataset_id, number],
    )
    if not row or row[0][0] is None:
        return None
    return Replaced(number, table, columns, str(row[0][0]))


def layout(columns: list[Column], sql_types: dict[ColumnType, str]) -> dict[str, str]:
    """Physical name → SQL type of a version's fields."""
    return {n: sql_types[c.type] for c in columns for n in physical_names(c)}


def segment_layouts(tx: Statements, dataset_id: str) -> dict[str, list[list[Column]]]:
    """Each history table of a dataset, with the fields of the versions it keeps."""
    rows = tx.rows(
        "SELECT segment, columns FROM blotter_versions "
        "WHERE dataset_id = ? AND segment IS NOT NULL ORDER BY number",
        [dataset_id],
    )
    kept: dict[str, list[list[Column]]] = {}
    for segment, columns in rows:
        loaded = json.loads(columns) if isinstance(columns, str) else columns
        kept.setdefault(str(segment), []).append([Column.model_validate(c) for c in loaded])
    return kept


def keep_history(
    tx: Statements,
    execute: Execute,
    sql_types: dict[ColumnType, str],
    dataset_id: str,
    number: int,
    table: str,
    columns: list[Column],
    replaced: Replaced | None,
) -> str:
    """Keep version ``number`` (written in ``table``) in its dataset's history, inside the
    transaction that registers it; returns the history table it is kept in."""
    segments = segment_layouts(tx, dataset_id)
    wanted = layout(columns, sql_types)
    if replaced is not None:
        have: dict[str, str] = {}
        for version_columns in segments.get(replaced.segment, []):
            have.update(layout(version_columns, sql_types))
        if all(have.get(name, kind) == kind for name, kind in wanted.items()):
            for name, kind in wanted.items():
                if name not in have:
                    execute(
                        f"ALTER TABLE {quote(replaced.segment)} ADD COLUMN {quote(name)} {kind}"
                    )
            _continue(execute, replaced, number, table, columns)
            return replaced.segment
        execute(
            f"UPDATE {quote(replaced.segment)} SET {TO_VERSION} = {int(number)} "
            f"WHERE {TO_VERSION} IS NULL"
        )
    segment = history_table(dataset_id, _next_segment(dataset_id, list(segments)))
    definition = ", ".join(
        [f"{ROW_ID} BIGINT NOT NULL", f"{CREATED_AT} TIMESTAMP", f"{UPDATED_AT} TIMESTAMP"]
        + [f"{quote(name)} {kind}" for name, kind in wanted.items()]
        + [f"{FROM_VERSION} INTEGER NOT NULL", f"{TO_VERSION} INTEGER"]
    )
    execute(f"CREATE TABLE {quote(segment)} ({definition})")
    names = [ROW_ID, CREATED_AT, UPDATED_AT, *map(quote, wanted)]
    execute(
        f"INSERT INTO {quote(segment)} ({', '.join(names)}, {FROM_VERSION}) "
        f"SELECT {', '.join(names)}, {int(number)} FROM {quote(table)}"
    )
    return segment


def _continue(
    execute: Execute, replaced: Replaced, number: int, table: str, columns: list[Column]
) -> None:
    """End the removed and changed rows at ``number``; add the added and changed ones."""
    changed = (
        " OR ".join(f"({c.differs()})" for c in compared_fields(replaced.columns, columns))
        or "false"
    )
    old, new, seg = quote(replaced.table), quote(table), quote(replaced.segment)
    execute(
        f"UPDATE {seg} SET {TO_VERSION} = {int(number)} WHERE {TO_VERSION} IS NULL AND "
        f"{ROW_ID} IN (SELECT o.{ROW_ID} FROM {old} o LEFT JOIN {new} n "
        f"ON o.{ROW_ID} = n.{ROW_ID} WHERE n.{ROW_ID} IS NULL OR {changed})"
    )
    names = [ROW_ID, CREATED_AT, UPDATED_AT] + [n for c in columns for n in physical_names(c)]
    execute(
        f"INSERT INTO {seg} ({', '.join(map(quote, names))}, {FROM_VERSION}) "
        f"SELECT {', '.join(f'n.{quote(n)}' for n in names)}, {int(number)} "
        f"FROM {new} n LEFT JOIN {old} o ON o.{ROW_ID} = n.{ROW_ID} "
        f"WHERE o.{ROW_ID} IS NULL OR {changed}"
    )


def _next_segment(dataset_id: str, existing: list[str]) -> int:
    prefix = history_table(dataset_id, 0)[:-1]
    numbers = [int(name[len(prefix) :]) for name in existing if name.startswith(prefix)]
    return max(numbers, default=0) + 1


def version_relation(segment: str, number: int, names: list[str], where: str = "") -> str:
    """The rows of one version from its history table, as a parenthesised query."""
    cols = ", ".join(map(quote, [ROW_ID, CREATED_AT, UPDATED_AT, *names]))
    return (
        f"(SELECT {cols} FROM {quote(segment)} WHERE {FROM_VERSION} <= {int(number)} AND "
        f"({TO_VERSION} IS NULL OR {TO_VERSION} > {int(number)}){where})"
    )


def diff_relations(
    segment: str,
    lower: tuple[int, list[str]],
    upper: tuple[int, list[str]],
) -> tuple[str, str]:
    """Only the rows that can differ between two versions of one history table: those of
    the earlier that end by the later, and those of the later that start after the earlier
    (a row kept through both is one row, the same in each)."""
    (lo, lo_names), (hi, hi_names) = lower, upper
    return (
        version_relation(segment, lo, lo_names, f" AND {TO_VERSION} <= {int(hi)}"),
        version_relation(segment, hi, hi_names, f" AND {FROM_VERSION} > {int(lo)}"),
    )


def needed(kept: list[int]) -> str:
    """A condition true for the history rows some kept version reads."""
    return (
        " OR ".join(
            f"({FROM_VERSION} <= {int(v)} AND ({TO_VERSION} IS NULL OR {TO_VERSION} > {int(v)}))"
            for v in kept
        )
        or "false"
    )
