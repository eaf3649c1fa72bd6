"""Rows to bytes, exactly as Socrata writes them: JSON, CSV and GeoJSON, streamed.

Socrata quirks kept on purpose: numbers are JSON strings, floating timestamps carry
milliseconds and no zone, null fields are left out of a JSON row, points are GeoJSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any, Protocol

from blotter.api.geometry import box_ring, hull_ring, multipolygon_wkt
from blotter.formatting import format_number, format_timestamp
from blotter.model import ColumnType
from blotter.soql.compiler import Output
from blotter.store.base import CsvCell, CsvPiece

Value = Any
_CHUNK_ROWS = 500
_CSV_CHUNK = 1 << 20


def soda_type_name(output: Output) -> str:
    """The ``X-SODA2-Types`` name of an output column."""
    if output.fixed:
        return "fixed_timestamp"
    return "text" if output.type is None else str(output.type)


def _cells(outputs: list[Output], row: tuple[Any, ...]) -> Iterator[tuple[Output, Any]]:
    """Pair each output with its value; a geometry consumes several physical values: a
    point becomes (lon, lat), an extent or a convex hull a closed ring of (lon, lat)."""
    i = 0
    for out in outputs:
        values = row[i : i + out.width]
        i += out.width
        if out.shape is None:
            yield out, values[0]
        elif any(v is None for v in values):
            yield out, None
        elif out.shape == "point":
            yield out, (values[0], values[1])
        elif out.shape == "box":
            yield out, box_ring(*values)
        else:
            yield out, hull_ring(values[0], values[1])


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


def csv_value(output: Output, value: Value) -> str:
    if value is None:
        return ""
    if output.type is None:
        return f"row-{value}"
    if output.type is ColumnType.POINT:
        return f"POINT ({format_number(value[0])} {format_number(value[1])})"
    if output.type is ColumnType.MULTIPOLYGON:
        return multipolygon_wkt(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, datetime | date):
        return format_timestamp(value, fixed=output.fixed)
    return str(value)


def json_row(outputs: list[Output], row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        out.name: json_value(out, value) for out, value in _cells(outputs, row) if value is not None
    }


# One encoder for every row: json.dumps with options builds a new one per call.
_encode_json = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


def _json_rows(outputs: list[Output]) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    """``json_row`` for one answer, with each column's conversion chosen once instead of per
    cell (answers without geometry, nearly all of them)."""
    if any(out.width != 1 for out in outputs):
        return lambda row: json_row(outputs, row)
    pairs = [(out.name, _json_cell(out)) for out in outputs]
    return lambda row: {
        name: convert(value)
        for (name, convert), value in zip(pairs, row, strict=True)
        if value is not None
    }


def _json_cell(output: Output) -> Callable[[Any], Any]:
    if output.type is ColumnType.TEXT:
        return lambda value: value if type(value) is str else json_value(output, value)
    if output.type is ColumnType.NUMBER:
        return lambda value: (
            format_number(value) if type(value) in (int, float) else json_value(output, value)
        )
    return lambda value: json_value(output, value)


def stream_json(outputs: list[Output], rows: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """A JSON array written row by row, in chunks, so memory stays flat."""
    yield b"["
    first = True
    buffer: list[str] = []
    make_row = _json_rows(outputs)
    for row in rows:
        text = _encode_json(make_row(row))
        buffer.append(("\n" if first else ",\n") + text)
        first = False
        if len(buffer) >= _CHUNK_ROWS:
            yield "".join(buffer).encode()
            buffer.clear()
    buffer.append("]\n" if first else "\n]\n")
    yield "".join(buffer).encode()


def stream_csv(outputs: list[Output], rows: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """CSV whose header row is the field names."""
    out, writer = _csv_writer(outputs)
    for count, row in enumerate(rows, start=1):
        writer.writerow(csv_fields(outputs, row))
        if count % _CHUNK_ROWS == 0:
            yield _taken(out)
    yield out.getvalue().encode()


def csv_fields(outputs: list[Output], row: tuple[Any, ...]) -> list[str]:
    return [csv_value(o, v) for o, v in _cells(outputs, row)]


def csv_cells(outputs: list[Output]) -> list[CsvCell] | None:
    """How the engine writes each output (``Store.execute_csv``); None for computed shapes
    (extent, convex hull), which only the Python path draws."""
    cells: list[CsvCell] = []
    for out in outputs:
        if out.shape not in (None, "point"):
            return None
        if out.type is None:
            cells.append(CsvCell.ROW_ID)
        elif out.fixed:
            cells.append(CsvCell.FIXED_TIMESTAMP)
        else:
            cells.append(CsvCell.POINT if out.shape == "point" else CsvCell.VALUE)
    return cells


def stream_csv_lines(outputs: list[Output], pieces: Iterable[CsvPiece]) -> Iterator[bytes]:
    """The header, then the lines the engine wrote; a row it left raw is written here, so
    the bytes are the same as :func:`stream_csv`'s. Chunks stay large: each is a hop
    between threads in the server."""
    out, writer = _csv_writer(outputs)
    pending = [_taken(out)]
    size = 0
    for piece in pieces:
        if isinstance(piece, tuple):
            writer.writerow(csv_fields(outputs, piece))
            piece = _taken(out)
        pending.append(piece)
        size += len(piece)
        if size >= _CSV_CHUNK:
            yield b"".join(pending)
            pending.clear()
            size = 0
    yield b"".join(pending)


class _RowWriter(Protocol):
    """What a ``csv.writer`` offers (typeshed names its class only in the private ``_csv``)."""

    def writerow(self, row: Iterable[object], /) -> object: ...


def _csv_writer(outputs: list[Output]) -> tuple[io.StringIO, _RowWriter]:
    """A writer into a buffer, the header row already written."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([o.name for o in outputs])
    return out, writer


def _taken(out: io.StringIO) -> bytes:
    """What the buffer holds, which it then forgets."""
    text = out.getvalue().encode()
    out.seek(0)
    out.truncate()
    return text


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
        for out, value in _cells(outputs, row):
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
