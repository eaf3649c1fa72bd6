"""Counts of a unit (incidents, calls, rows) by the values of one column, as every chart,
dashboard figure and their JSON give them.

A list column ("firearm; physical") counts each of its values once per unit, by the same
test as the page's "includes" filter, so a bar and its filter always agree. Shares leave out
the values that say nothing (not recorded, or a declared unknown such as UNK)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from blotter.analysis.units import Unit, list_match, unit_of
from blotter.model import Column, Dataset
from blotter.queries import all_of, run_query
from blotter.settings import Settings
from blotter.store.base import Store

MAX_LIST_VALUES = 40  # values of a list column counted (one query each)


@dataclass
class ValueCount:
    value: Any  # the code as stored (None: not recorded)
    label: str  # as pages show it
    count: float
    unknown: bool  # not recorded, or a declared unknown: left out of shares
    share: float | None  # of the units that record a known value


@dataclass
class Counts:
    column: Column
    unit: Unit
    values: list[ValueCount]  # largest first
    known: float  # units recording a known value (a unit with two values counts once)


def and_(*clauses: str | None) -> str | None:
    return all_of(*clauses)


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def total(
    store: Store, dataset: Dataset, settings: Settings, where: str | None, amount: str
) -> float:
    params = {"$select": amount}
    if where:
        params["$where"] = where
    value = next(iter(run_query(store, dataset, params, settings).rows))[0]
    return float(value or 0)


def _grouped(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    where: str | None,
    column: Column,
    amount: str,
) -> list[tuple[Any, float]]:
    name = f"`{column.field_name}`"
    params = {
        "$select": f"{name} AS value, {amount} AS n",
        "$group": name,
        "$order": "n DESC, value",
    }
    if where:
        params["$where"] = where
    return [(v, float(n or 0)) for v, n in run_query(store, dataset, params, settings).rows]


def _list_values(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    where: str | None,
    column: Column,
    amount: str,
) -> list[tuple[Any, float]]:
    """Each value of a list column, counted once per unit whose cells include it."""
    frequency: dict[str, float] = defaultdict(float)
    for cell, n in _grouped(store, dataset, settings, where, column, "count(*)"):
        if cell is not None:
            for value in column.values_of(str(cell)):
                frequency[value] += n
    chosen = sorted(frequency, key=lambda v: (-frequency[v], v))[:MAX_LIST_VALUES]
    counted: list[tuple[Any, float]] = [
        (v, total(store, dataset, settings, and_(where, list_match(column, v)), amount))
        for v in chosen
    ]
    empty = total(store, dataset, settings, and_(where, f"`{column.field_name}` IS NULL"), amount)
    if empty:
        counted.append((None, empty))
    return sorted(counted, key=lambda vn: -vn[1])


def _label(column: Column, value: object) -> str:
    if value is None:
        return "(not recorded)"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return column.label(str(value))


def count_values(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    column: Column,
    where: str | None = None,
    unit: Unit | None = None,
    measure: Column | None = None,
) -> Counts:
    """``unit`` (the dataset's default) or the sum of ``measure`` per value of ``column``."""
    unit = unit or unit_of(dataset, None)
    amount = f"sum(`{measure.field_name}`)" if measure else unit.count
    if column.separator is not None and measure is None:
        rows = _list_values(store, dataset, settings, where, column, amount)
    else:
        rows = _grouped(store, dataset, settings, where, column, amount)
    apart = set(column.unknown_values)
    if column.separator is None and unit.key is None and measure is None:
        known = sum(n for v, n in rows if v is not None and str(v) not in apart)
    else:
        # A unit may hold several values: the units recording one are counted, not summed.
        name = f"`{column.field_name}`"
        known_where = and_(
            where, f"{name} IS NOT NULL", *(f"{name} != {quote(v)}" for v in column.unknown_values)
        )
        known = total(store, dataset, settings, known_where, amount)
    values = []
    for value, n in rows:
        unknown = value is None or str(value) in apart
        label = _label(column, value)
        share = None if unknown or not known else n / known
        values.append(ValueCount(value, label, n, unknown, share))
    return Counts(column, unit, values, known)
