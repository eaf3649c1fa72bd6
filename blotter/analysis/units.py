"""What a count counts: rows, or a larger unit rows make up (incidents by case number, calls
by event number), as the dataset file declares. Counting a unit is counting the distinct
values of its key, so an incident with three officers counts once; on a map or a hotspot
grid each unit is one point, at the place most of its rows give (:func:`place_once`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from blotter.errors import InvalidRequest
from blotter.model import Column, ColumnType, Dataset
from blotter.queries import and_where, prepare_query, run
from blotter.settings import Settings
from blotter.store.base import Store

ROWS = "rows"


@dataclass(frozen=True)
class Unit:
    name: str  # the ``unit=`` slug
    noun: str  # plural words: "incidents", "officer–subject pairs"
    key: str | None  # None: every row counts

    @property
    def count(self) -> str:
        """The SoQL aggregate counting this unit."""
        return f"count(DISTINCT `{self.key}`)" if self.key else "count(*)"

    @property
    def title(self) -> str:
        return self.noun[:1].upper() + self.noun[1:]


def units_of(dataset: Dataset) -> list[Unit]:
    """The units a dataset can be counted in, the default first; rows always last."""
    declared = [
        Unit(u.name, u.noun or u.name, u.key)
        for u in dataset.meta.units
        if dataset.column(u.key) is not None  # a key the viewer cannot see is no unit
    ]
    return [*declared, Unit(ROWS, dataset.meta.row_noun or "rows", None)]


def unit_of(dataset: Dataset, name: str | None) -> Unit:
    """The unit named by ``unit=`` (the dataset's default when absent)."""
    units = units_of(dataset)
    if not name:
        return units[0]
    for unit in units:
        if unit.name == name:
            return unit
    choices = ", ".join(u.name for u in units)
    raise InvalidRequest(
        f"'unit' must be one of {choices} for dataset {dataset.id}, not '{name}'.",
        parameter="unit",
    )


def list_match(column: Column, value: str) -> str:
    """SoQL true when a list column's cell holds ``value`` as one of its values (not as
    part of another: 'cew_display' never matches 'firearm_display'). ``value`` must already
    be a quoted SoQL literal's content, without quotes."""
    sep = (column.separator or "; ").strip()
    escaped = value.replace("'", "''")
    return f"('{sep} ' || `{column.field_name}` || '{sep}') LIKE '%{sep} {escaped}{sep}%'"


# --- where units are: maps and hotspots --------------------------------------------------

Spot = tuple[float, float, int]  # (lon, lat, units placed there)


@dataclass(frozen=True)
class Located:
    """A filter's located units, each at one place (see :func:`place_once`)."""

    unit: Unit
    spots: list[Spot]
    total: int  # units with a location: the spots' counts add up to it
    spread: int  # units whose located rows are at more than one place

    @property
    def spread_note(self) -> str:
        return spread_note(self.spread, self.total, self.unit.noun)


def spread_note(spread: int, total: int, noun: str) -> str:
    """A caption's sentence when ``spread`` of ``total`` units have rows at more than one
    place (each counted once, where most of its rows are); '' when none do."""
    if not spread:
        return ""
    one = spread == 1
    return (
        f"{spread:,} of the {total:,} {noun} {'has' if one else 'have'} rows at more than "
        f"one place; {'it is' if one else 'each is'} counted once, where most of "
        f"{'its' if one else 'their'} rows are."
    )


def place_once(rows: Iterable[tuple[float, float, Any, int]]) -> tuple[list[Spot], int]:
    """Each unit (key) once, at the place most of its rows give (ties: the southernmost,
    then westernmost), from (lon, lat, key, rows there); also how many units had rows at
    more than one place. Counting a unit at every place it touches would count one case
    twice in a hotspot's neighbourhood and make the cells add to more than the cases."""
    places: dict[Any, dict[tuple[float, float], int]] = defaultdict(dict)
    for lon, lat, key, n in rows:
        if key is None or lon is None or lat is None:
            continue
        here = places[key]
        here[(lon, lat)] = here.get((lon, lat), 0) + int(n)
    spots: Counter[tuple[float, float]] = Counter()
    for here in places.values():
        spots[min(here, key=lambda p: (-here[p], p[1], p[0]))] += 1
    spread = sum(1 for here in places.values() if len(here) > 1)
    return [(lon, lat, n) for (lon, lat), n in sorted(spots.items())], spread


def located_units(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    unit: Unit,
    where: str | None,
    step: float | None = None,
    *,
    keep: bool = True,
) -> Located:
    """Every located unit under ``where`` at its place, the points snapped to ``step``
    degrees by the engine (their own places when None). Rows are counted in the engine
    per place; a declared unit is read as (place, key) pairs, so each is placed once.
    ``keep=False``: the places are not kept among the answers (a caller keeping its own
    answer made from them: thousands of rows, each sized and stored, for nothing)."""
    column = next((c for c in dataset.columns if c.type is ColumnType.POINT), None)
    if column is None:
        raise InvalidRequest(
            f"Dataset {dataset.id} has no point column to map or find hotspots in."
        )
    name = f"`{column.field_name}`"
    at = f"snap_to_grid({name}, {step:.10f})" if step is not None else name
    located = f"{name} IS NOT NULL"
    params = {"$select": f"{at} AS at, count(*) AS n", "$group": "at"}
    if unit.key is not None:
        params = {"$select": f"{at} AS at, `{unit.key}` AS k, count(*) AS n", "$group": "at, k"}
        located += f" AND `{unit.key}` IS NOT NULL"
    params["$where"] = and_where(where, located)
    # Beyond the API's page limit: maps and statistics need every place, streamed.
    prepared = prepare_query(store, dataset, params, settings, unlimited=True)
    rows = run(store, prepared, settings, keep=keep).rows
    if unit.key is None:
        spots = [(lon, lat, int(n)) for lon, lat, n in rows]
        return Located(unit, spots, sum(n for *_, n in spots), 0)
    spots, spread = place_once(rows)
    return Located(unit, spots, sum(n for *_, n in spots), spread)
