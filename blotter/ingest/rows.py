"""Rows sent through the SODA write API (JSON objects or CSV), checked and typed for the store.

Every value is checked against its column before anything is written; one bad value refuses
the whole payload with every problem listed (row, column, value, reason), so a write is all or
nothing, like a file load.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from blotter.errors import InvalidRequest, ValidationFailed
from blotter.ingest.clean import CellError, Problem, parse_number, parse_point, parse_timestamp
from blotter.model import Column, ColumnType, Dataset
from blotter.schema import ROW_ID, physical_names

MAX_LISTED = 100
_WKT_POINT = re.compile(r"^\s*POINT\s*\(\s*(\S+)\s+(\S+)\s*\)\s*$", re.IGNORECASE)
Point = tuple[float, float]  # (longitude, latitude)
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
_SYSTEM = {":id", ":created_at", ":updated_at"}
_PHYSICAL_TYPES = {
    ColumnType.TEXT: pa.string(),
    ColumnType.NUMBER: pa.float64(),
    ColumnType.CHECKBOX: pa.bool_(),
    ColumnType.FLOATING_TIMESTAMP: pa.timestamp("us"),
    ColumnType.POINT: pa.float64(),
}


@dataclass
class StagedChanges:
    """A payload ready for :meth:`Store.apply_changes`: the key column and the staged table."""

    key: str
    table: pa.Table


def records_from_body(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """The rows of a request body: a JSON array (or one object), or CSV with a header row."""
    if "csv" in content_type:
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise InvalidRequest(f"The CSV body is not UTF-8 text (byte {err.start}).") from None
        return [dict(row) for row in csv.DictReader(io.StringIO(text))]
    try:
        data = json.loads(body)
    # RecursionError: arrays or objects nested deeper than Python's stack (a 400, not a 500).
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        where = (
            f" at line {err.lineno}, column {err.colno}"
            if isinstance(err, json.JSONDecodeError)
            else ""
        )
        raise InvalidRequest(f"The body is not valid JSON{where}: {err}.") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise InvalidRequest("The body must be a JSON array of row objects.")
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise InvalidRequest(
                f"Row {i + 1} of the body is {type(item).__name__}, not an object of "
                "field names and values.",
                row=i + 1,
            )
    return data


def stage_changes(dataset: Dataset, records: list[dict[str, Any]]) -> StagedChanges:
    """Type every value; rows are matched on the row identifier, else on ``:id``."""
    identifier = dataset.meta.row_identifier
    key_column = dataset.column(identifier) if identifier else None
    names = [n for c in dataset.columns for n in physical_names(c)]
    head: dict[str, list[Any]] = {"__seq": [], "__delete": [], "__key": [], "__given": []}
    values: dict[str, list[Any]] = {n: [] for n in names}
    problems: list[Problem] = []
    known = {c.field_name: c for c in dataset.columns}
    for number, record in enumerate(records, start=1):
        deleting = _truthy(record.get(":deleted"))
        unknown = [k for k in record if k not in known and k not in _SYSTEM and k != ":deleted"]
        problems += [
            Problem(number, k, _shown(record[k]), "the dataset has no such column") for k in unknown
        ]
        if key_column is not None:
            raw_key = record.get(key_column.field_name)
            try:
                key = _typed(key_column, raw_key)
                if key is None:
                    raise CellError("the row identifier is required to add, update or delete a row")
            except CellError as err:
                problems.append(Problem(number, key_column.field_name, _shown(raw_key), str(err)))
                key = None
        else:
            key = _row_id(record.get(":id"), number, problems)
            if deleting and key is None:
                problems.append(Problem(number, ":id", None, "deleting a row needs its :id"))
        given: list[str] = []
        for column in dataset.columns:
            present = column.field_name in record and not deleting
            try:
                typed = _typed(column, record.get(column.field_name)) if present else None
            except CellError as err:
                problems.append(
                    Problem(number, column.field_name, _shown(record[column.field_name]), str(err))
                )
                typed = None
            parts = _physical(column, typed)
            for name, part in zip(physical_names(column), parts, strict=True):
                values[name].append(part)
                given.append("1" if present else "0")
        head["__seq"].append(number)
        head["__delete"].append(deleting)
        head["__key"].append(key)
        head["__given"].append("".join(given))
    if problems:
        listed = problems[:MAX_LISTED]
        raise ValidationFailed(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the rows sent; "
            f"first: row {listed[0].row}, column '{listed[0].column}': {listed[0].reason}. "
            "Nothing was changed.",
            [p.as_dict() for p in listed],
            total=len(problems),
        )
    key_type = _PHYSICAL_TYPES[key_column.type] if key_column else pa.int64()
    arrays = [
        pa.array(head["__seq"], pa.int64()),
        pa.array(head["__delete"], pa.bool_()),
        pa.array(head["__key"], key_type),
        pa.array(head["__given"], pa.string()),
    ] + [pa.array(values[c], _PHYSICAL_TYPES[t]) for c, t in _types(dataset)]
    table = pa.Table.from_arrays(arrays, names=[*head, *names])
    return StagedChanges(key=identifier or ROW_ID, table=table)


def _types(dataset: Dataset) -> list[tuple[str, ColumnType]]:
    return [(n, c.type) for c in dataset.columns for n in physical_names(c)]


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in _TRUE)


def _shown(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _row_id(value: object, number: int, problems: list[Problem]) -> int | None:
    """A Socrata ``:id`` as Blotter serves it (``row-…`` or the bare number)."""
    if value is None or value == "":
        return None
    text = str(value).strip().removeprefix("row-")
    if not text.isascii() or not text.isdigit():
        problems.append(Problem(number, ":id", _shown(value), "not a row id this portal gave"))
        return None
    return int(text)


def _typed(column: Column, value: object) -> str | float | bool | datetime | Point | None:
    """One JSON value as its column's Python value; CellError says why it cannot be."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        # Python's JSON reads NaN, Infinity and overflowing numbers (1e999); JSON has none of
        # them, and the CSV path refuses them too.
        raise CellError(f"{_shown(value)} is not a finite number")
    kind = column.type
    if kind is ColumnType.TEXT:
        if isinstance(value, (dict, list)):
            raise CellError("expected text, not a JSON object or list")
        text = value if isinstance(value, str) else json.dumps(value)
        if "\x00" in text:  # PostgreSQL stores no NUL in text; no engine may get one
            raise CellError("contains a NUL character (U+0000), which no value may hold")
        return text
    if kind is ColumnType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise CellError("expected a number")
        return float(value) if not isinstance(value, str) else parse_number(value)
    if kind is ColumnType.CHECKBOX:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise CellError("expected true or false")
    if kind is ColumnType.FLOATING_TIMESTAMP:
        if not isinstance(value, str):
            raise CellError("expected a date and time such as 2017-03-01T14:30:00")
        return _timestamp(value)
    if kind is ColumnType.POINT:
        return _point(value)
    raise CellError(f"{kind} values cannot be written")  # pragma: no cover - storable types only


def _timestamp(value: str) -> datetime:
    text = value.strip()
    try:
        return datetime.fromisoformat(text.removesuffix("Z"))
    except ValueError:
        return parse_timestamp(text)


def _point(value: object) -> Point | None:
    """(lon, lat) from GeoJSON, WKT ``POINT (lon lat)`` or Socrata's location object."""
    if isinstance(value, dict) and value.get("type") == "Point":
        coords = value.get("coordinates")
        if isinstance(coords, list) and len(coords) == 2:
            return parse_point(str(coords[1]), str(coords[0]))
    elif isinstance(value, dict) and "latitude" in value and "longitude" in value:
        return parse_point(str(value["latitude"]), str(value["longitude"]))
    elif isinstance(value, str) and (match := _WKT_POINT.match(value)):
        return parse_point(match.group(2), match.group(1))
    raise CellError(
        'expected a point: {"type": "Point", "coordinates": [longitude, latitude]} '
        "or POINT (longitude latitude)"
    )


def _physical(column: Column, value: Any) -> tuple[Any, ...]:
    if column.type is ColumnType.POINT:
        return value if value is not None else (None, None)
    return (value,)
