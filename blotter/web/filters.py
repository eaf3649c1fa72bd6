"""The dataset page's filters: URL parameters ↔ SoQL text.

The URL is the query: ``?subject_race=black&force_type__has=cew_deployed&sort=occurred_date``.
Values are written into SoQL as quoted literals; the SoQL compiler, not this module,
decides what they mean, so nothing here touches SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from blotter.analysis.units import list_match
from blotter.ingest.clean import CellError, parse_number, parse_timestamp
from blotter.model import ColumnType, Dataset

# URL suffix → (label, SoQL template); {c} is the column, {v} the quoted value.
OPERATORS = {
    "": ("is", "{c} = {v}"),
    "__not": ("is not", "({c} != {v} OR {c} IS NULL)"),
    "__has": ("includes", "{c} LIKE {v}"),
    "__contains": ("contains", "upper({c}) LIKE upper({v})"),
    "__min": ("from", "{c} >= {v}"),
    "__max": ("to", "{c} <= {v}"),
    "__in": ("is one of", "{c} IN ({v})"),
    "__near": ("within", "within_circle({c}, {v})"),
    "__area": ("inside", "within_polygon({c}, {v})"),
}
IN_SEPARATOR = "|"  # "white|black": a value of the URL's ``__in`` lists several
PAGE_PARAMS = {"page", "size", "sort", "dir", "view", "version", "columns"}


@dataclass(frozen=True)
class Filter:
    """One active filter, as shown in a removable chip."""

    field: str
    suffix: str
    value: str
    label: str  # "Subject race is black"
    soql: str
    param: str  # the URL parameter name


@dataclass(frozen=True)
class Problem:
    """A filter the page cannot apply, shown beside its control."""

    param: str
    field: str | None  # None: the parameter names no column
    message: str


@dataclass(frozen=True)
class ParsedFilters:
    filters: list[Filter]
    problems: list[Problem]


def quote(value: str) -> str:
    """A SoQL string literal: single quotes, a quote inside doubled."""
    return "'" + value.replace("'", "''") + "'"


def number_literal(number: float) -> str:
    if number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    text = repr(number)
    # SoQL has no exponent notation: 1e+20 is written out.
    return format(Decimal(text), "f") if "e" in text else text


def _near(value: str) -> str:
    """ "43.61,-72.97,500" (latitude, longitude, metres) as within_circle's arguments."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 3:
        raise CellError(
            "give latitude, longitude and a distance in metres, e.g. 43.61, -72.97, 500"
        )
    lat, lon, metres = (parse_number(p) for p in parts)
    if not -90 <= lat <= 90 or not -180 <= lon <= 180:
        raise CellError(f"{lat}, {lon} is not a latitude and longitude")
    if not 0 < metres <= 100_000:
        raise CellError("the distance must be more than 0 and at most 100,000 metres")
    return ", ".join(number_literal(n) for n in (lat, lon, metres))


def _literal(
    kind: ColumnType, suffix: str, value: str, areas: Mapping[str, str] | None = None
) -> str:
    """The value as a SoQL literal of the column's type; CellError when it is not one."""
    if suffix == "__in":
        values = [v for v in value.split(IN_SEPARATOR) if v.strip()]
        if not values:
            raise CellError("choose at least one value")
        return ", ".join(_literal(kind, "", v) for v in values)
    if suffix == "__near":
        return _near(value)
    if suffix == "__area":
        if not areas or value not in areas:
            known = ", ".join(sorted(areas or {})) or "none for this dataset"
            raise CellError(f"'{value}' is not an area of the map (areas: {known})")
        return quote(areas[value])
    if kind is ColumnType.NUMBER:
        return number_literal(parse_number(value))
    if kind is ColumnType.FLOATING_TIMESTAMP:
        stamp = parse_timestamp(value.strip())
        if suffix == "__max" and stamp.time().isoformat() == "00:00:00":
            # A date as the upper bound means "to the end of that day".
            stamp = stamp.replace(hour=23, minute=59, second=59, microsecond=999000)
        return quote(stamp.isoformat(timespec="milliseconds"))
    if kind is ColumnType.CHECKBOX:
        if value.lower() not in ("true", "false"):
            raise CellError(f"'{value}' is not yes or no")
        return value.lower()
    if suffix in ("__has", "__contains"):
        # SoQL's LIKE has no escape: '%' is dropped; '_' matches itself among others.
        return quote(f"%{value.replace('%', '')}%")
    return quote(value)


# Which suffixes each column type accepts; the rest are refused with a message.
_ALLOWED = {
    ColumnType.TEXT: {"", "__not", "__has", "__contains", "__in"},
    ColumnType.NUMBER: {"", "__not", "__min", "__max", "__in"},
    ColumnType.FLOATING_TIMESTAMP: {"", "__not", "__min", "__max"},
    ColumnType.CHECKBOX: {""},
    ColumnType.POINT: {"__near", "__area"},
}


def _split(param: str) -> tuple[str, str]:
    for suffix in OPERATORS:
        if suffix and param.endswith(suffix):
            return param[: -len(suffix)], suffix
    return param, ""


# Parameters that shape the view but filter nothing (the charts) start with this; a field name
# cannot contain a dot, so they never collide with a column.
VIEW_PREFIX = "chart."
PLACE_SUFFIX = "__place"  # ``location__place=Main St & Elm St``: see web/places.py


def parse_filters(
    dataset: Dataset, params: Mapping[str, str], areas: Mapping[str, str] | None = None
) -> ParsedFilters:
    """Active filters from the page URL, and a problem for each one that cannot apply.

    ``areas`` names the map's areas (wards…) with their WKT, for ``point__area=``."""
    filters: list[Filter] = []
    problems: list[Problem] = []
    for param, value in params.items():
        if param in PAGE_PARAMS or param.startswith(VIEW_PREFIX) or not value.strip():
            continue
        if param.endswith(PLACE_SUFFIX):  # a typed place: the page turns it into __near
            continue
        field, suffix = _split(param)
        column = dataset.column(field)
        if column is None:
            problems.append(Problem(param, None, f"'{param}' is not a filter of this dataset."))
            continue
        if suffix not in _ALLOWED.get(column.type, set()):
            how = OPERATORS[suffix][0]
            problems.append(
                Problem(param, field, f"{column.name} cannot be filtered by '{how}' here.")
            )
            continue
        try:
            literal = _literal(column.type, suffix, value, areas)
        except CellError as err:
            problems.append(Problem(param, field, f"{column.name}: {err}."))
            continue
        label_op, template = OPERATORS[suffix]
        shown = {"true": "yes", "false": "no"}.get(value, value)
        if suffix == "__in":
            shown = ", ".join(v for v in value.split(IN_SEPARATOR) if v.strip())
        elif suffix == "__near":
            lat, lon, metres = (p.strip() for p in value.split(","))
            shown = f"{metres} m of {lat}, {lon}"
        if suffix in ("", "__not", "__has"):
            shown = column.label(shown)
        soql = template.format(c=f"`{field}`", v=literal)
        if suffix == "__has" and column.separator is not None:
            # A list column includes a value when one of its values is that value, the very
            # test its chart counts by (not any text containing it).
            soql = list_match(column, value)
        filters.append(
            Filter(field, suffix, value, f"{column.name} {label_op} {shown}", soql, param)
        )
    return ParsedFilters(filters, problems)


def where_clause(filters: list[Filter]) -> str | None:
    return " AND ".join(f.soql for f in filters) or None
