"""The SQL of verifiable history, the same on every engine: what one version changed against
another, by ``:id``, and the identities a replace keeps.

A row of one version is *the same row* in another when both have the same ``_id``. Fields are
compared with ``IS DISTINCT FROM`` (a null equals a null); a field one version lacks is null
there, and a field whose type changed between them differs wherever either side has a value.
"""

# Every name below is a quoted identifier of ours (checked field names, version tables, or a
# subquery built here) and every value is ours (a timestamp, a row id, a page's bounds).
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blotter.model import Column, ColumnType
from blotter.schema import CREATED_AT, ROW_ID, UPDATED_AT, physical_names
from blotter.store.changes import quote

# Runs one SQL statement without parameters and returns its rows (a cursor's, a connection's).
Run = Callable[[str], Sequence[tuple[Any, ...]]]

# What a null is replaced by in a key that must match nulls with nulls and still be a plain
# equality, which both engines can hash-join (a join on IS NOT DISTINCT FROM cannot be
# hashed by PostgreSQL). "Is it null" is compared beside it, so no value is confused with null.
_NULL_STANDS_FOR = {
    ColumnType.TEXT: "''",
    ColumnType.NUMBER: "0",
    ColumnType.POINT: "0",
    ColumnType.CHECKBOX: "false",
    ColumnType.FLOATING_TIMESTAMP: "TIMESTAMP '1970-01-01 00:00:00'",
}


@dataclass(frozen=True)
class Compared:
    """One logical field as two versions have it: its physical columns in each (None where
    that version lacks the field) and whether both have it with the same type."""

    field: str
    before: list[str] | None
    after: list[str] | None
    same_type: bool

    def differs(self, o: str = "o", n: str = "n") -> str:
        """A condition true when the field differs between rows ``o`` and ``n``."""
        if self.before is not None and self.after is not None and self.same_type:
            return " OR ".join(
                f"{o}.{quote(b)} IS DISTINCT FROM {n}.{quote(a)}"
                for b, a in zip(self.before, self.after, strict=True)
            )
        present = [f"{o}.{quote(b)} IS NOT NULL" for b in self.before or []]
        present += [f"{n}.{quote(a)} IS NOT NULL" for a in self.after or []]
        return " OR ".join(present) or "false"

    def values(self, side: str) -> list[str]:
        names = self.before if side == "o" else self.after
        width = len(self.before or self.after or [])
        if names is None:
            return ["NULL"] * width
        return [f"{side}.{quote(name)}" for name in names]


def compared_fields(
    before: list[Column], after: list[Column], fields: list[str] | None = None
) -> list[Compared]:
    """The fields of two versions (``fields``, in that order; by default every field, the
    later version's first), as compared by :func:`diff_sql`."""
    old = {c.field_name: c for c in before}
    new = {c.field_name: c for c in after}
    if fields is None:
        fields = [c.field_name for c in after] + [f for f in old if f not in new]
    compared = []
    for field in fields:
        o, n = old.get(field), new.get(field)
        if o is None and n is None:
            continue
        compared.append(
            Compared(
                field=field,
                before=physical_names(o) if o else None,
                after=physical_names(n) if n else None,
                same_type=o is not None and n is not None and o.type is n.type,
            )
        )
    return compared


def _joined(before: str, after: str) -> str:
    return f"FROM {before} o FULL OUTER JOIN {after} n ON o.{ROW_ID} = n.{ROW_ID}"


def _changed(compared: list[Compared]) -> str:
    return " OR ".join(f"({c.differs()})" for c in compared) or "false"


def counts_sql(before: str, after: str, compared: list[Compared]) -> str:
    """(added, changed, removed) between two relations (a table or a parenthesised query)."""
    kinds = (
        f"SELECT o.{ROW_ID} IS NULL AS a, n.{ROW_ID} IS NULL AS r, "
        f"({_changed(compared)}) AS c {_joined(before, after)}"
    )
    return (
        "SELECT coalesce(sum(CASE WHEN a THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN NOT a AND NOT r AND c THEN 1 ELSE 0 END), 0), "
        f"coalesce(sum(CASE WHEN r THEN 1 ELSE 0 END), 0) FROM ({kinds}) k"
    )


def version_counts(
    run: Run,
    before: tuple[str, list[Column]] | None,
    after: tuple[str, list[Column]],
    total: int,
) -> tuple[int, int, int]:
    """(added, changed, removed) of a new version against the one before (None: there is
    none, so every row is added), over every field."""
    if before is None:
        return total, 0, 0
    compared = compared_fields(before[1], after[1])
    row = run(counts_sql(before[0], after[0], compared))[0]
    return int(row[0]), int(row[1]), int(row[2])


def diff_page_sql(
    before: str, after: str, compared: list[Compared], limit: int, offset: int
) -> str:
    """One page of the rows that differ between two relations, in ``:id`` order: the id,
    whether the row was added or removed, then per compared field whether it differs, then
    every field's physical values before, then after."""
    flags = [f"({c.differs()}) AS __d{i}" for i, c in enumerate(compared)]
    olds = [v for c in compared for v in c.values("o")]
    news = [v for c in compared for v in c.values("n")]
    select = ", ".join(
        [
            f"coalesce(n.{ROW_ID}, o.{ROW_ID}) AS __rid",
            f"o.{ROW_ID} IS NULL AS __added",
            f"n.{ROW_ID} IS NULL AS __removed",
            *flags,
            *olds,
            *news,
        ]
    )
    return (
        f"SELECT {select} {_joined(before, after)} "
        f"WHERE o.{ROW_ID} IS NULL OR n.{ROW_ID} IS NULL OR {_changed(compared)} "
        f"ORDER BY __rid LIMIT {int(limit)} OFFSET {int(offset)}"
    )


def _key_equal(key: list[tuple[str, ColumnType]]) -> str:
    parts = []
    for name, kind in key:
        stand_in = _NULL_STANDS_FOR[kind]
        parts.append(f"(s.{quote(name)} IS NULL) = (o.{quote(name)} IS NULL)")
        parts.append(
            f"coalesce(s.{quote(name)}, {stand_in}) = coalesce(o.{quote(name)}, {stand_in})"
        )
    return " AND ".join(parts)


def replace_key(
    before: list[Column], after: list[Column], row_identifier: str | None
) -> list[tuple[str, ColumnType]] | None:
    """The physical columns a replace matches new rows to served ones by: the row
    identifier when both versions have it with one type, else every field when both have
    the same fields and types; None when no row can match."""
    old = {c.field_name: c for c in before}
    if row_identifier:
        new_col = next((c for c in after if c.field_name == row_identifier), None)
        old_col = old.get(row_identifier)
        if new_col is not None and old_col is not None and new_col.type is old_col.type:
            return [(name, new_col.type) for name in physical_names(new_col)]
        return None
    if [(c.field_name, c.type) for c in before] != [(c.field_name, c.type) for c in after]:
        return None
    return [(name, c.type) for c in after for name in physical_names(c)]


def keep_identities_sql(
    loaded: str,
    served: str,
    target: str,
    before: list[Column],
    after: list[Column],
    key: list[tuple[str, ColumnType]],
    stamp: datetime,
    next_id: int,
    order: str | None = None,
) -> str:
    """Write ``target`` from the rows of a replace (``loaded``, in file order by ``_id``),
    keeping the identities of served rows (``served``, of the fields ``before``).

    Rows are matched on ``key`` one to one, the n-th of equal keys on each side together, so
    duplicates pair up by order. A matched row keeps its ``_id`` and ``_created_at``, and its
    ``_updated_at`` too when no field the public sees differs (a field internal in either
    dictionary is left out: its change alone must not show in the public's ``:updated_at``);
    when the versions' fields or types differ, every matched row is updated.
    Unmatched rows take fresh ids from ``next_id`` in file order, or by (``order``, file
    order) with nulls last when a main timestamp is given (``store/ordering.py``). Rows are
    inserted in ``_id`` order.
    """
    names = [n for c in after for n in physical_names(c)]
    cols = ", ".join(map(quote, names))
    partition = ", ".join(quote(name) for name, _ in key)
    same_fields = [(c.field_name, c.type) for c in before] == [
        (c.field_name, c.type) for c in after
    ]
    hidden = {c.field_name for c in [*before, *after] if c.internal}
    public = [n for c in after if c.field_name not in hidden for n in physical_names(c)]
    changed = (
        " OR ".join(f"s.{quote(n)} IS DISTINCT FROM o.{quote(n)}" for n in public) or "false"
        if same_fields
        else "true"
    )
    at = f"TIMESTAMP '{stamp.isoformat(sep=' ')}'"
    by = f"m.{quote(order)} ASC NULLS LAST, " if order else ""
    matched = (
        f"SELECT s.*, o.{ROW_ID} AS __old_id, o.{CREATED_AT} AS __old_created, "
        f"o.{UPDATED_AT} AS __old_updated, ({changed}) AS __changed "
        f"FROM (SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY {ROW_ID}) AS __n "
        f"FROM {quote(loaded)}) s LEFT JOIN "
        f"(SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY {ROW_ID}) AS __n "
        f"FROM {served}) o ON s.__n = o.__n AND {_key_equal(key)}"
    )
    rows = (
        f"SELECT CASE WHEN m.__old_id IS NULL THEN {int(next_id) - 1} + row_number() OVER "
        f"(PARTITION BY m.__old_id IS NULL ORDER BY {by}m.{ROW_ID}) "
        "ELSE m.__old_id END AS __id, "
        f"coalesce(m.__old_created, {at}) AS __created, "
        f"CASE WHEN m.__old_id IS NOT NULL AND NOT m.__changed THEN m.__old_updated "
        f"ELSE {at} END AS __updated, {', '.join(f'm.{quote(n)}' for n in names)} "
        f"FROM ({matched}) m"
    )
    return (
        f"INSERT INTO {quote(target)} ({ROW_ID}, {CREATED_AT}, {UPDATED_AT}, {cols}) "
        f"SELECT * FROM ({rows}) t ORDER BY __id"
    )
