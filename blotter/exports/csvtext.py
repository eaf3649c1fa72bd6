"""Rows as Socrata's CSV: the Python serializer, and the header and raw rows around the lines
an engine writes itself (``Store.execute_csv``). Both give the same bytes.

Below the edges so that the API, the pages and the export files (``exports.files``) write
CSV one way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any, Protocol

from blotter.exports.geometry import multipolygon_wkt, shaped_cells
from blotter.formatting import format_number, format_timestamp
from blotter.model import ColumnType
from blotter.soql.compiler import Output
from blotter.store.base import CsvCell, CsvPiece

_CHUNK_ROWS = 500
_CSV_CHUNK = 1 << 20


def csv_value(output: Output, value: Any) -> str:
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


def stream_csv(outputs: list[Output], rows: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """CSV whose header row is the field names."""
    out, writer = _csv_writer(outputs)
    for count, row in enumerate(rows, start=1):
        writer.writerow(csv_fields(outputs, row))
        if count % _CHUNK_ROWS == 0:
            yield _taken(out)
    yield out.getvalue().encode()


def csv_fields(outputs: list[Output], row: tuple[Any, ...]) -> list[str]:
    return [csv_value(o, v) for o, v in shaped_cells(outputs, row)]


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
