"""A publish's rows into a new PostgreSQL version table: each Arrow batch written as COPY
text by Arrow compute, a column at a time, with no Python per row or per value.

COPY's text format (not CSV) because it escapes: a backslash is written ``\\\\``, so no value
can end the data early (in CSV, a line holding only ``\\.`` inside a quoted multi-line value
ends it on PostgreSQL before 18). Numbers are written as their shortest round-trip decimal,
which PostgreSQL reads back to the same double; timestamps with their microseconds.
``FREEZE``: the table was made in the publish's own transaction, so its rows are written
visible to all, and nothing rewrites its pages later to say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from blotter.schema import CREATED_AT, ROW_ID, UPDATED_AT
from blotter.store.common import check_batch

# Rows formatted at a time: the text of a slice stays a few MB, and within Arrow's 2 GB
# offsets whatever the width of a row.
SLICE_ROWS = 65_536
NULL = "\\N"
# (character, its escape in COPY text), the backslash first so escapes are not escaped again.
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_ESCAPED = "[\\\\\t\n\r]"


def copy_rows(
    conn: psycopg.Connection[Any],
    table: str,
    names: list[str],
    batches: Iterable[pa.RecordBatch],
    next_row_id: int,
    stamp: datetime,
) -> tuple[int, int]:
    """COPY every batch (columns ``names``) into ``table`` with row ids from ``next_row_id``
    and ``stamp`` as created and updated time; (rows written, the next row id)."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT text, ENCODING 'UTF8', FREEZE)").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, [ROW_ID, CREATED_AT, UPDATED_AT, *names])),
    )
    stamp_text = pa.scalar(stamp, pa.timestamp("us")).cast(pa.string())
    count = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for batch in batches:
            check_batch(batch, names)
            for start in range(0, batch.num_rows, SLICE_ROWS):
                piece = batch.slice(start, SLICE_ROWS)
                first = next_row_id + count + start
                ids = pa.array(np.arange(first, first + piece.num_rows, dtype=np.int64))
                copy.write(copy_text([ids, stamp_text, stamp_text, *piece.columns]))
            count += batch.num_rows
    return count, next_row_id + count


def copy_text(columns: list[pa.Array | pa.Scalar]) -> memoryview:
    """The lines of COPY text for rows of ``columns`` (a scalar stands for a whole column)."""
    fields = [_field(column) for column in columns]
    rows = pc.binary_join_element_wise(*fields, "\t")
    lines = pc.binary_join_element_wise(rows, "", "\n")  # each row followed by a newline
    return _text(lines)


def _field(column: pa.Array | pa.Scalar) -> pa.Array | pa.Scalar:
    """A column as COPY text fields: escaped, nulls as \\N."""
    if isinstance(column, pa.Scalar):
        return column
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = pc.cast(column, pa.string())
        if pc.any(pc.match_substring_regex(text, _ESCAPED)).as_py():
            for char, escape in _ESCAPES:
                text = pc.replace_substring(text, char, escape)
    else:
        # Numbers as shortest round-trip decimals ("nan", "inf" as PostgreSQL reads them),
        # booleans as true/false, timestamps as "2020-01-02 03:04:05.000006".
        text = pc.cast(column, pa.string())
    return pc.fill_null(text, NULL)


def _text(lines: pa.Array) -> memoryview:
    """The bytes of a string array's values, back to back, without copying them."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    data = lines.buffers()[2]
    return memoryview(data)[start:end] if data is not None else memoryview(b"")
