"""Guess columns and types for a quick load with no dataset file."""

from __future__ import annotations

import re
from collections.abc import Iterable

from blotter.ingest.clean import CellError, parse_number, parse_timestamp
from blotter.ingest.spec import ColumnSpec
from blotter.model import ColumnType, Dataset

_LAT = {"lat", "latitude", "y"}
_LON = {"lon", "lng", "long", "longitude", "x"}
_BOOL = {"true", "false", "yes", "no", "y", "n", "t", "f"}


def field_name(header: str, taken: set[str]) -> str:
    """A field name from a header: lowercase, underscores, unique."""
    name = re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")
    if not name:
        name = "column"
    if not name[0].isalpha():
        name = f"c_{name}"
    name = name[:60]
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


def _fits(values: list[str], check: ColumnType) -> bool:
    for value in values:
        try:
            if check is ColumnType.NUMBER:
                parse_number(value)
            elif check is ColumnType.FLOATING_TIMESTAMP:
                parse_timestamp(value)
            elif check is ColumnType.CHECKBOX and value.strip().casefold() not in _BOOL:
                return False
        except CellError:
            return False
    return True


def infer_type(values: list[str]) -> ColumnType:
    present = [v for v in values if v and v.strip()]
    if not present:
        return ColumnType.TEXT
    for kind in (ColumnType.CHECKBOX, ColumnType.NUMBER, ColumnType.FLOATING_TIMESTAMP):
        if kind is ColumnType.CHECKBOX and not all(v.strip().casefold() in _BOOL for v in present):
            continue
        if kind is ColumnType.CHECKBOX and all(v.strip() in ("0", "1") for v in present):
            continue  # 0/1 columns are counts more often than flags
        if _fits(present, kind):
            return kind
    return ColumnType.TEXT


def infer_columns(headers: list[str], sample: Iterable[list[str | None]]) -> list[ColumnSpec]:
    """Columns for ``headers`` typed from ``sample`` rows; a lat/lon pair adds a point."""
    rows = list(sample)
    taken: set[str] = set()
    specs: list[ColumnSpec] = []
    for i, header in enumerate(headers):
        values = [row[i] for row in rows if i < len(row) and row[i] is not None]
        specs.append(
            ColumnSpec(
                field=field_name(header or f"column {i + 1}", taken),
                name=header or f"Column {i + 1}",
                source=header,
                type=infer_type([v for v in values if v is not None]),
            )
        )
    lat = next((s for s in specs if s.field in _LAT and s.type is ColumnType.NUMBER), None)
    lon = next((s for s in specs if s.field in _LON and s.type is ColumnType.NUMBER), None)
    if lat and lon and "location" not in taken:
        specs.append(
            ColumnSpec(
                field="location",
                name="Location",
                type=ColumnType.POINT,
                latitude=lat.source,
                longitude=lon.source,
                description=f"Point from '{lat.source}' and '{lon.source}'.",
            )
        )
    return specs


def columns_of_dataset(dataset: Dataset, headers: list[str]) -> list[ColumnSpec]:
    """Specs reading a new file into an existing dataset's columns, by name or field name.

    A new version keeps the dataset's types: a value that does not fit is a problem,
    never a silent change of the column's type.
    """
    folded = {h.strip().casefold(): h for h in headers}
    by_field = {field_name(h, set()): h for h in headers}
    specs: list[ColumnSpec] = []
    for column in dataset.columns:
        if column.type is ColumnType.POINT:
            lat = next((h for h in headers if field_name(h, set()) in _LAT), None)
            lon = next((h for h in headers if field_name(h, set()) in _LON), None)
            specs.append(
                ColumnSpec(
                    field=column.field_name,
                    name=column.name,
                    type=column.type,
                    description=column.description,
                    latitude=lat or "latitude",
                    longitude=lon or "longitude",
                )
            )
            continue
        source = folded.get(column.name.casefold()) or by_field.get(column.field_name)
        specs.append(
            ColumnSpec(
                field=column.field_name,
                name=column.name,
                type=column.type,
                description=column.description,
                source=source or column.name,
            )
        )
    return specs
