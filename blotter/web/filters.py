"""The dataset page's filters: URL parameters ↔ SoQL text.

The URL is the query: ``?subject_race=black&force_type__has=cew_deployed&sort=occurred_date``.
Values are written into SoQL as quoted literals; the SoQL compiler, not this module,
decides what they mean, so nothing here touches SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from blotter.errors import InvalidRequest
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
}
PAGE_PARAMS = {"page", "size", "sort", "dir", "view"}


@dataclass(frozen=True)
class Filter:
    """One active filter, as shown in a removable chip."""

    field: str
    suffix: str
    value: str
    label: str  # "Subject race is black"
    soql: str
    param: str  # the URL parameter name


def quote(value: str) -> str:
    """A SoQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _literal(dataset: Dataset, field: str, suffix: str, value: str) -> str:
    column = dataset.column(field)
    assert column is not None
    kind = column.type
    try:
        if kind is ColumnType.NUMBER:
            number = parse_number(value)
            return str(int(number)) if number.is_integer() else repr(number)
        if kind is ColumnType.FLOATING_TIMESTAMP:
            stamp = parse_timestamp(value.strip())
            if suffix == "__max" and stamp.time().isoformat() == "00:00:00":
                stamp = stamp.replace(hour=23, minute=59, second=59, microsecond=999000)
            return quote(stamp.isoformat(timespec="milliseconds"))
        if kind is ColumnType.CHECKBOX:
            if value.lower() not in ("true", "false"):
                raise CellError(f"'{value}' is not yes or no")
            return value.lower()
    except CellError as err:
        raise InvalidRequest(f"{column.name}: {err}.", field=field, value=value) from None
    if suffix in ("__has", "__contains"):
        # SoQL's LIKE has no escape: '%' is dropped; '_' matches itself among others.
        return quote(f"%{value.replace('%', '')}%")
    return quote(value)


def parse_filters(dataset: Dataset, params: Mapping[str, str]) -> list[Filter]:
    """Active filters from the page URL; unknown parameters are refused with a message."""
    filters: list[Filter] = []
    for param, value in params.items():
        if param in PAGE_PARAMS or not value.strip():
            continue
        field, suffix = param, ""
        for candidate in OPERATORS:
            if candidate and param.endswith(candidate):
                field, suffix = param[: -len(candidate)], candidate
                break
        column = dataset.column(field)
        if column is None:
            raise InvalidRequest(f"'{param}' is not a filter of this dataset.", parameter=param)
        if column.type is ColumnType.POINT:
            raise InvalidRequest(f"{column.name} cannot be filtered here yet.", parameter=param)
        label_op, template = OPERATORS[suffix]
        soql = template.format(c=f"`{field}`", v=_literal(dataset, field, suffix, value))
        shown = {"true": "yes", "false": "no"}.get(value, value)
        filters.append(
            Filter(field, suffix, value, f"{column.name} {label_op} {shown}", soql, param)
        )
    return filters


def where_clause(filters: list[Filter]) -> str | None:
    return " AND ".join(f.soql for f in filters) or None
