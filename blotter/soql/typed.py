"""A compiled SoQL expression: its sqlglot tree, its SoQL type, whether it aggregates."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

# SoQL types as the compiler reasons about them. "null" is the type of NULL, which fits
# anywhere; "row_id" is ":id", stored as a number and shown as text.
TEXT = "text"
NUMBER = "number"
CHECKBOX = "checkbox"
TIMESTAMP = "floating_timestamp"
POINT = "point"
MULTIPOLYGON = "multipolygon"
NULL = "null"
ROW_ID = "row_id"


@dataclass(frozen=True)
class Typed:
    """One compiled expression. A geometry carries physical ``parts`` instead of ``sql``:
    a point its (lon, lat); a ``box`` (extent) its (min lon, min lat, max lon, max lat);
    a ``hull`` the lists of every lon and lat, shaped into a polygon when serialized."""

    sql: exp.Expression
    type: str
    aggregate: bool = False
    parts: tuple[exp.Expression, ...] | None = None
    shape: str | None = None  # "point", "box" or "hull"
    fixed: bool = False  # a fixed timestamp (:created_at, :updated_at): an instant in UTC

    @property
    def lon(self) -> exp.Expression:
        assert self.parts is not None
        return self.parts[0]

    @property
    def lat(self) -> exp.Expression:
        assert self.parts is not None
        return self.parts[1]
