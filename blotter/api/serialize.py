"""Rows to bytes, exactly as Socrata writes them: JSON, CSV and GeoJSON, streamed. CSV is
written below the edges (``blotter.exports.csvtext``, shared with the pages and the export
files) and named here for the API.

Socrata quirks kept on purpose: numbers are JSON strings, floating timestamps carry
milliseconds and no zone, null fields are left out of a JSON row, points are GeoJSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import islice
from math import isfinite
from typing import Any

from blotter.exports.csvtext import csv_cells as csv_cells
from blotter.exports.csvtext import csv_fields as csv_fields
from blotter.exports.csvtext import csv_value as csv_value
from blotter.exports.csvtext import stream_csv as stream_csv
from blotter.exports.csvtext import stream_csv_lines as stream_csv_lines
from blotter.exports.geometry import shaped_cells
from blotter.formatting import format_number, format_timestamp
from blotter.model import ColumnType
from blotter.soql.compiler import Output

Value = Any
_CHUNK_ROWS = 500


def soda_type_name(output: Output) -> str:
    """The ``X-SODA2-Types`` name of an output column."""
    if output.fixed:
        return "fixed_timestamp"
    return "text" if output.type is None else str(output.type)


def json_value(output: Output, value: Value) -> Any:
    if output.type is None:  # :id
        return f"row-{value}"
    if output.type is ColumnType.POINT:
        return {"type": "Point", "coordinates": [value[0], value[1]]}
    if output.type is ColumnType.MULTIPOLYGON:
        return {"type": "MultiPolygon", "coordinates": [[[list(p) for p in value]]]}
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, datetime | date):
        return format_timestamp(value, fixed=output.fixed)
    return value if isinstance(value, str) else str(value)


def json_row(outputs: list[Output], row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        out.name: json_value(out, value)
        for out, value in shaped_cells(outputs, row)
        if value is not None
    }


# One encoder for every row: json.dumps with options builds a new one per call.
_encode_json = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
# What that encoder writes for a string (a key, or a value), and between a key and its value
# and between two items.
_quoted: Callable[[str], str] = json.encoder.encode_basestring
_KEY_SEPARATOR = ": "
_ITEM_SEPARATOR = ", "


Rows = list[tuple[Any, ...]]


def _json_batches(outputs: list[Output]) -> Callable[[Rows], list[str]]:
    """Each row's JSON text for a batch of rows: the text ``_encode_json(json_row(…))`` writes.

    Written column by column, each column's writer chosen once per answer and run over the
    batch in one comprehension: no dict, no encoder call and no function call per cell for
    text, numbers, timestamps and points (a page of 100 rows with a point spent most of its
    serialization in ``json_value`` cell by cell). Each cell is the encoder's writing of
    its ``json_value`` inside the dict, preceded by the encoder's separator and its key, or
    nothing for a null; a row joins its cells and drops the first separator (a row of nulls
    is ``{}`` either way). Repeated names (a dict keeps one) and computed shapes (extents,
    hulls) take the dict's path."""
    names = [out.name for out in outputs]
    if len(set(names)) != len(names) or any(
        out.width != 1 and out.shape != "point" for out in outputs
    ):
        return lambda rows: [_encode_json(json_row(outputs, row)) for row in rows]
    plan: list[tuple[int, int, Callable[[Sequence[Any]], list[str]]]] = []
    start = 0
    for out in outputs:
        plan.append((start, out.width, _json_column(out)))
        start += out.width

    def batch(rows: Rows) -> list[str]:
        if not rows:
            return []
        columns = list(zip(*rows, strict=True))
        cells = [
            write(columns[i] if width == 1 else list(zip(*columns[i : i + width], strict=True)))
            for i, width, write in plan
        ]
        skip = len(_ITEM_SEPARATOR)
        return ["{" + "".join(row)[skip:] + "}" for row in zip(*cells, strict=True)]

    return batch


def _json_column(output: Output) -> Callable[[Sequence[Any]], list[str]]:
    """A column's cells as the encoder writes them after a separator, key first; a null is
    nothing. Plain values (text, numbers, timestamps, finite points) are written here;
    anything else takes the encoder's writing of its ``json_value``."""
    key = _ITEM_SEPARATOR + _quoted(output.name) + _KEY_SEPARATOR

    def other(value: Any) -> str:
        return key + _encode_json(json_value(output, value))

    if output.type is ColumnType.TEXT:
        return lambda values: [
            "" if v is None else key + _quoted(v) if type(v) is str else other(v) for v in values
        ]
    if output.type is ColumnType.NUMBER:
        return lambda values: [
            ""
            if v is None
            else key + '"' + format_number(v) + '"'
            if type(v) in (int, float)
            else other(v)
            for v in values
        ]
    if output.type is ColumnType.FLOATING_TIMESTAMP:
        return lambda values: [
            ""
            if v is None
            else key + '"' + format_timestamp(v, fixed=output.fixed) + '"'
            if type(v) is datetime
            else other(v)
            for v in values
        ]
    if output.shape == "point":
        point = key + '{"type": "Point", "coordinates": ['
        # A point with a null coordinate is null (``shaped_cells``); a coordinate the
        # encoder writes otherwise than ``float.__repr__`` (NaN, infinities) takes its path.
        return lambda values: [
            ""
            if v[0] is None or v[1] is None
            else point + repr(v[0]) + ", " + repr(v[1]) + "]}"
            if type(v[0]) is float and type(v[1]) is float and isfinite(v[0]) and isfinite(v[1])
            else other(v)
            for v in values
        ]
    return lambda values: ["" if v is None else other(v) for v in values]


def stream_json(outputs: list[Output], rows: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """A JSON array written ``_CHUNK_ROWS`` rows at a time, so memory stays flat."""
    yield b"["
    write = _json_batches(outputs)
    rows = iter(rows)
    head = "\n"
    while batch := list(islice(rows, _CHUNK_ROWS)):
        yield (head + ",\n".join(write(batch))).encode()
        head = ",\n"
    yield b"]\n" if head == "\n" else b"\n]\n"


def stream_geojson(outputs: list[Output], rows: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """A FeatureCollection; the first geometry output is the geometry, the rest properties."""
    shapes = (ColumnType.POINT, ColumnType.MULTIPOLYGON)
    geometry = next((o for o in outputs if o.type in shapes), None)
    yield b'{"type":"FeatureCollection","features":['
    first = True
    buffer: list[str] = []
    for row in rows:
        properties: dict[str, Any] = {}
        shape: Any = None
        for out, value in shaped_cells(outputs, row):
            if out is geometry:
                if value is not None:
                    shape = json_value(out, value)
            elif value is not None:
                properties[out.name] = json_value(out, value)
        feature = {"type": "Feature", "geometry": shape, "properties": properties}
        buffer.append(("" if first else ",\n") + _encode_json(feature))
        first = False
        if len(buffer) >= _CHUNK_ROWS:
            yield "".join(buffer).encode()
            buffer.clear()
    buffer.append(
        '],"crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:OGC:1.3:CRS84"}}}\n'
    )
    yield "".join(buffer).encode()
