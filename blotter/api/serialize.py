"""Rows to bytes, exactly as Socrata writes them: JSON, CSV and GeoJSON, streamed. CSV is
written below the edges (``blotter.exports.csvtext``, shared with the pages and the export
files) and named here for the API.

Socrata quirks kept on purpose: numbers are JSON strings, floating timestamps carry
milliseconds and no zone, null fields are left out of a JSON row, points are GeoJSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
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


def _json_rows(outputs: list[Output]) -> Callable[[tuple[Any, ...]], str]:
    """Each row's JSON text for one answer: the text ``_encode_json(json_row(…))`` writes.

    Without geometry (nearly every answer) the text is written cell by cell, each column's
    writer chosen once: no dict per row and no encoder call per row (a count of 250 groups
    spent most of its serialization there). Each cell is written as the encoder writes that
    value inside the dict, in the columns' order, nulls left out, with the encoder's
    separators; a dict of no items is ``{}`` either way. Repeated names (a dict keeps one)
    take the dict's path."""
    names = [out.name for out in outputs]
    if any(out.width != 1 for out in outputs) or len(set(names)) != len(names):
        return lambda row: _encode_json(json_row(outputs, row))
    cells = [(_quoted(out.name) + _KEY_SEPARATOR, _json_cell(out)) for out in outputs]
    return lambda row: (
        "{"
        + _ITEM_SEPARATOR.join(
            [key + write(value) for (key, write), value in zip(cells, row, strict=True)]
            if None not in row
            else [
                key + write(value)
                for (key, write), value in zip(cells, row, strict=True)
                if value is not None
            ]
        )
        + "}"
    )


def _json_cell(output: Output) -> Callable[[Any], str]:
    """A column's cell as the encoder writes its ``json_value``; text and numbers directly
    (a string is written by the encoder's own function)."""
    if output.type is ColumnType.TEXT:
        return lambda value: (
            _quoted(value) if type(value) is str else _encode_json(json_value(output, value))
        )
    if output.type is ColumnType.NUMBER:
        return lambda value: (
            _quoted(format_number(value))
            if type(value) in (int, float)
            else _encode_json(json_value(output, value))
        )
    return lambda value: _encode_json(json_value(output, value))


def stream_json(outputs: list[Output], rows: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """A JSON array written row by row, in chunks, so memory stays flat."""
    yield b"["
    first = True
    buffer: list[str] = []
    make_row = _json_rows(outputs)
    for row in rows:
        buffer.append(("\n" if first else ",\n") + make_row(row))
        first = False
        if len(buffer) >= _CHUNK_ROWS:
            yield "".join(buffer).encode()
            buffer.clear()
    buffer.append("]\n" if first else "\n]\n")
    yield "".join(buffer).encode()


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
