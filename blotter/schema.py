"""How logical columns map to physical ones; shared by the SoQL compiler and the stores.

A dataset version is one table. Each logical column becomes one or more physical columns:
text, number, checkbox and floating_timestamp are one column named after the field; a
point is two DOUBLE columns, longitude then latitude, so that every engine can filter and
aggregate points with plain arithmetic and build geometries only when a query needs one.
System fields use a leading underscore, which field names cannot have, so they never collide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sqlglot import exp

from blotter.model import Column, ColumnType

ROW_ID = "_id"
CREATED_AT = "_created_at"
UPDATED_AT = "_updated_at"
# A history table's row belongs to the versions from _from_version up to, not including,
# _to_version (NULL: still current).
FROM_VERSION = "_from_version"
TO_VERSION = "_to_version"


@dataclass(frozen=True)
class SystemField:
    soql_name: str
    physical: str
    type: ColumnType | None  # None: the row id, serialized as text but stored as BIGINT


SYSTEM_FIELDS: tuple[SystemField, ...] = (
    SystemField(":id", ROW_ID, None),
    SystemField(":created_at", CREATED_AT, ColumnType.FLOATING_TIMESTAMP),
    SystemField(":updated_at", UPDATED_AT, ColumnType.FLOATING_TIMESTAMP),
)


def point_parts(field_name: str) -> tuple[str, str]:
    """Physical (longitude, latitude) column names of a point column."""
    return f"_{field_name}_lon", f"_{field_name}_lat"


def physical_names(column: Column) -> list[str]:
    """The physical column names one logical column occupies, in order."""
    if column.type is ColumnType.POINT:
        return list(point_parts(column.field_name))
    return [column.field_name]


def version_table(dataset_id: str, version: int) -> str:
    """The table holding one version's rows; ids are checked, so this name is safe."""
    return f"ds_{dataset_id.replace('-', '_')}_v{version}"


def history_table(dataset_id: str, segment: int) -> str:
    """The table keeping every version's rows once, with the versions they belong to; a new
    segment starts when a field changes type (see ``store/segments.py``)."""
    return f"ds_{dataset_id.replace('-', '_')}_h{segment}"


# The compiler writes ``FROM _dataset``; the store swaps in the served version's table.
DATASET_TABLE = "_dataset"


class WordSearch(exp.Paren):
    """One word of ``$q``, as the compiler marks it: ``this`` is the predicate that decides
    (the lower-cased ``word`` inside some text column), and a store with a word index for the
    version narrows the rows by it first. sqlglot cannot write the marker: every store must
    turn it into SQL (``store/search_index.py``), so none can forget the predicate."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "word": True}


def number(value: float) -> exp.Expression:
    """A numeric literal written without a spurious '.0' (the compiler's, and the numbers of
    a polygon's test, which the stores write)."""
    if value.is_integer() and abs(value) < 1e15:
        return exp.Literal.number(int(value))
    return exp.Literal.number(repr(value))


Ring = tuple[tuple[float, float], ...]  # (lon, lat) vertices, as the WKT lists them


class PolygonTest(exp.Expression):
    """``within_polygon``, as the compiler marks it: true where the point (``lon``, ``lat``)
    is inside ``rings`` (even-odd). Spelt out, the test is an expression of every edge (a
    64-vertex area is thousands of sqlglot nodes), which each query's copies and walks then
    carried; a store writes it once per polygon, its columns and its dialect
    (``store/polygons.py``). sqlglot cannot write the marker, so no store can drop it."""

    arg_types: ClassVar[dict[str, bool]] = {"lon": True, "lat": True, "rings": True}
