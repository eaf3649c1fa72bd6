"""Per-version rollups: row counts of a version by its declared columns, built once in the
publish's transaction before the version is registered (a failed publish leaves none).

A version's rollup is one table, ``<version table>__rollup``, written by one
``GROUP BY GROUPING SETS`` over the version: each declared categorical column alone (text
or checkbox, at most :data:`MOST_VALUES` values), each pair of them, the month of the main
timestamp alone and with each of them. Its columns are ``_g`` (``GROUPING()`` of every
grouped column: which set a row belongs to, a bit set for each column NOT grouped, the first
column the highest bit), ``_n`` (the rows counted), then the grouped columns under their
physical names and the month as ``_month_of__<field>``. A column outside a row's set is NULL
there; a NULL inside it is a NULL of the data, which ``_g`` tells apart.

What may be answered from it, and how, is ``blotter/rollups.py``'s business; the store only
builds the table, describes it (:class:`Rollup`) and names it in the SQL it writes (the
placeholder :data:`ROLLUP_TABLE`, like ``_dataset`` for the version's rows).
"""

# Every name below is a quoted identifier of ours (checked field names, version tables).
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from typing import Any

from sqlglot import exp

from blotter.model import Column, ColumnType, DatasetMeta
from blotter.store.changes import quote
from blotter.store.ordering import order_column

# The compiler's placeholder for a version's rollup, swapped for its table like ``_dataset``.
ROLLUP_TABLE = "_rollup"
GROUPING_COLUMN = "_g"
COUNT_COLUMN = "_n"
MONTH_PREFIX = "_month_of__"
# A column with more values is not a category: its sets would be nearly as large as the rows.
MOST_VALUES = 1000
# At most this many categorical columns (pairs grow as their square).
MOST_COLUMNS = 6
# A pair (or a column by month) is kept only when its values' product is at most this.
MOST_PAIR_ROWS = 100_000
# What a month column is guessed to hold when sizing its pairs (fifty years).
MONTHS_GUESS = 600


def rollup_table(table: str) -> str:
    """The rollup of a version table."""
    return f"{table}__rollup"


def declared_fields(meta: DatasetMeta, columns: list[Column]) -> list[str]:
    """The fields a dataset's file says are filtered, grouped or sorted by, in order, once
    each; only those the version has as one physical column (a point is two)."""
    wanted = [*meta.highlights, *meta.dashboard, *(u.key for u in meta.units)]
    if meta.benchmark is not None:
        wanted.append(meta.benchmark.column)
    dates = [c.field_name for c in columns if c.type is ColumnType.FLOATING_TIMESTAMP]
    wanted.extend(dates[:1])
    single = {c.field_name for c in columns if c.type is not ColumnType.POINT}
    skip = {meta.row_identifier}  # indexed already
    return [f for f in dict.fromkeys(wanted) if f in single and f not in skip]


@dataclass(frozen=True)
class Rollup:
    """A version's rollup as a reader needs it: its grouped columns in ``_g``'s order (a
    month as ``_month_of__<field>``) and the grouping sets it holds, each as its ``_g``."""

    columns: tuple[str, ...]
    sets: frozenset[int]

    def mask(self, grouped: set[str]) -> int:
        """``_g`` of the set grouping exactly ``grouped``."""
        last = len(self.columns) - 1
        return sum(1 << (last - i) for i, c in enumerate(self.columns) if c not in grouped)

    def month_source(self, column: str) -> str | None:
        return column[len(MONTH_PREFIX) :] if column.startswith(MONTH_PREFIX) else None


@dataclass(frozen=True)
class RollupPlan:
    """What a publish builds: the categorical columns, the month's source, the sets."""

    categories: tuple[str, ...]
    month_of: str | None
    sets: tuple[tuple[str, ...], ...]

    @property
    def columns(self) -> tuple[str, ...]:
        month = (MONTH_PREFIX + self.month_of,) if self.month_of else ()
        return (*self.categories, *month)


def candidates(meta: DatasetMeta, columns: list[Column]) -> list[str]:
    """The declared columns a rollup may group by: text and checkboxes (a number's -0.0 and
    0.0 are one group shown as either, so its values are not counted from a rollup)."""
    kinds = {c.field_name: c.type for c in columns}
    grouped = (ColumnType.TEXT, ColumnType.CHECKBOX)
    return [f for f in declared_fields(meta, columns) if kinds.get(f) in grouped]


def plan(
    meta: DatasetMeta, columns: list[Column], values: Callable[[list[str]], dict[str, float]]
) -> RollupPlan | None:
    """The sets worth counting for a version: ``values`` estimates each candidate's number
    of distinct values (it reads the version). None when nothing is declared."""
    wanted = candidates(meta, columns)
    month_of = order_column(columns, meta.main_date)
    estimated = values(wanted) if wanted else {}
    categories = tuple(f for f in wanted if estimated.get(f, MOST_VALUES + 1) <= MOST_VALUES)
    categories = categories[:MOST_COLUMNS]
    if not categories and month_of is None:
        return None  # nothing declared to break the counts down by
    sets: list[tuple[str, ...]] = [(c,) for c in categories]
    sets += [
        (a, b)
        for a, b in combinations(categories, 2)
        if estimated[a] * estimated[b] <= MOST_PAIR_ROWS
    ]
    if month_of is not None:
        month = MONTH_PREFIX + month_of
        sets.append((month,))
        sets += [(month, c) for c in categories if MONTHS_GUESS * estimated[c] <= MOST_PAIR_ROWS]
    return RollupPlan(categories, month_of, tuple(sets))


def month_sql(field: str, dialect: str) -> str:
    """The month of ``field`` as the compiler writes ``date_trunc_ym`` (``soql/functions.py``):
    the same sqlglot node, so the same SQL and the same type."""
    node = exp.TimestampTrunc(this=exp.column(field, quoted=True), unit=exp.var("MONTH"))
    return node.sql(dialect=dialect)


def build_sql(table: str, rollup: RollupPlan, dialect: str) -> str:
    """``CREATE TABLE <table>__rollup AS`` the counts of every set of ``rollup``."""
    inner = [quote(c) for c in rollup.categories]
    if rollup.month_of is not None:
        month = MONTH_PREFIX + rollup.month_of
        inner.append(f"{month_sql(rollup.month_of, dialect)} AS {quote(month)}")
    names = ", ".join(quote(c) for c in rollup.columns)
    sets = ", ".join("(" + ", ".join(quote(c) for c in s) + ")" for s in rollup.sets)
    # The rows are counted once by every column together, then the sets summed from those
    # counts: one hash over the rows, not one per set (PostgreSQL sorted them for some).
    finest = (
        f"SELECT {names}, count(*) AS {COUNT_COLUMN} "
        f"FROM (SELECT {', '.join(inner)} FROM {quote(table)}) AS _rows GROUP BY {names}"
    )
    return (
        f"CREATE TABLE {quote(rollup_table(table))} AS "
        f"SELECT GROUPING({names}) AS {GROUPING_COLUMN}, {names}, "
        f"CAST(sum({COUNT_COLUMN}) AS BIGINT) AS {COUNT_COLUMN} "
        f"FROM ({finest}) AS _finest GROUP BY GROUPING SETS ({sets})"
    )


Run = Callable[[str], list[tuple[Any, ...]]]


class RollupGone(Exception):
    """A query written for a version's rollup met the version read from its history table
    (a publish replaced it meanwhile, and its rollup went with its table): the caller runs
    the query over the rows instead. Never reaches a client."""


def build(
    execute: Callable[[str], object],
    table: str,
    meta: DatasetMeta,
    columns: list[Column],
    dialect: str,
    values: Callable[[list[str]], dict[str, float]],
) -> bool:
    """Build a new version's rollup (inside its publish, before it is registered); False
    when there is nothing to count it by."""
    planned = plan(meta, columns, values)
    if planned is None:
        return False
    execute(build_sql(table, planned, dialect))
    return True


def duckdb_values(run: Run, table: str) -> Callable[[list[str]], dict[str, float]]:
    """DuckDB's estimate of each field's number of values (HyperLogLog, one scan)."""

    def values(fields: list[str]) -> dict[str, float]:
        counted = ", ".join(f"approx_count_distinct({quote(f)})" for f in fields)
        row = run(f"SELECT {counted} FROM {quote(table)}")[0]
        return {f: float(n or 0) for f, n in zip(fields, row, strict=True)}

    return values


def postgres_values(run: Run, table: str) -> Callable[[list[str]], dict[str, float]]:
    """PostgreSQL's estimates from the statistics ``ANALYZE`` just gathered (a negative
    ``n_distinct`` is a share of the rows); a field without any is counted."""

    def values(fields: list[str]) -> dict[str, float]:
        rows = run(
            "SELECT s.attname, s.n_distinct, c.reltuples FROM pg_stats s JOIN pg_class c "
            "ON c.relname = s.tablename AND c.relnamespace = to_regnamespace(s.schemaname) "
            f"WHERE s.schemaname = current_schema() AND s.tablename = {_text(table)}"
        )
        found = {
            str(name): float(n) if n >= 0 else -float(n) * max(float(total), 0.0)
            for name, n, total in rows
        }
        for field in fields:
            if field not in found:
                row = run(f"SELECT count(DISTINCT {quote(field)}) FROM {quote(table)}")[0]
                found[field] = float(row[0] or 0)
        return found

    return values


def describe(run: Run, table: str) -> Rollup | None:
    """A version's rollup as its table's columns and ``_g`` values tell it; None without one
    (a version published before rollups, with rollups off, or with nothing declared)."""
    name = rollup_table(table)
    names = [
        str(row[0])
        for row in run(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            f"current_schema() AND table_name = {_text(name)} ORDER BY ordinal_position"
        )
    ]
    grouped = tuple(n for n in names if n not in (GROUPING_COLUMN, COUNT_COLUMN))
    if not grouped:
        return None
    masks = run(f"SELECT DISTINCT {GROUPING_COLUMN} FROM {quote(name)}")
    return Rollup(grouped, frozenset(int(m) for (m,) in masks))


def month_counts(
    run: Run, table: str, rollup: Rollup, field: str
) -> list[tuple[datetime | None, int]] | None:
    """The version's rows per month of ``field`` (its main timestamp; None: the rows without
    one), from its rollup; None when the rollup does not count them so."""
    month = MONTH_PREFIX + field
    mask = rollup.mask({month}) if month in rollup.columns else None
    if mask is None or mask not in rollup.sets:
        return None
    rows = run(
        f"SELECT {quote(month)}, {COUNT_COLUMN} FROM {quote(rollup_table(table))} "
        f"WHERE {GROUPING_COLUMN} = {int(mask)}"
    )
    return [(month_start, int(n)) for month_start, n in rows]


def _text(value: str) -> str:
    """A name of ours (a checked table name) as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def at_rollup(node: exp.Expression, table: str | None) -> exp.Expression:
    """``node`` with the rollup placeholder swapped for ``table``'s rollup (a step of the
    store's one pass over a query); RollupGone when the version is read from its history
    table (``table`` None), which keeps no rollup."""
    if isinstance(node, exp.Table) and node.name == ROLLUP_TABLE:
        if table is None:
            raise RollupGone(ROLLUP_TABLE)
        return exp.table_(rollup_table(table), quoted=True)
    return node
