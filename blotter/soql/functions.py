"""Every SoQL function, in one table: argument types, result type, sqlglot builder.

This table is the compatibility list: the docs and the tests walk it. A builder gets the
compiled arguments (already type-checked against ``args``) and returns the compiled call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from sqlglot import exp

from blotter.schema import PolygonTest, number
from blotter.soql.typed import (
    CHECKBOX,
    MULTIPOLYGON,
    NUMBER,
    POINT,
    TEXT,
    TIMESTAMP,
    Typed,
)

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), as geodesy libraries use
ANY = "any"

Builder = Callable[[Sequence[Typed]], Typed]


@dataclass(frozen=True)
class Function:
    """A SoQL function: what it accepts and how it becomes SQL."""

    args: tuple[str, ...]  # a type per argument; ANY accepts every type but point
    build: Builder
    summary: str
    variadic: bool = False  # the last argument type repeats
    min_args: int | None = None  # when fewer than len(args) are allowed
    aggregate: bool = False
    literal_args: tuple[int, ...] = ()  # positions that must be literals (WKT, units)


def _and(*nodes: exp.Expression) -> exp.Expression:
    return cast(exp.Expression, exp.and_(*nodes, copy=False))


def _paren(node: exp.Expression) -> exp.Expression:
    # exp.paren would deep-copy its argument; these trees are built fresh, so no copy.
    return exp.Paren(this=node)


def _anon(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _radians(value: exp.Expression) -> exp.Expression:
    degrees = exp.Literal.number("0.017453292519943295")
    return _paren(exp.Mul(this=_paren(value), expression=degrees))


def haversine_m(
    lat1: exp.Expression, lon1: exp.Expression, lat2: exp.Expression, lon2: exp.Expression
) -> exp.Expression:
    """Great-circle distance in meters, in arithmetic every engine has.

    sqlglot writes the tree as built, so every operation is parenthesized explicitly.
    """
    p = _paren

    def half_difference(a: exp.Expression, b: exp.Expression) -> exp.Expression:
        return p(
            exp.Div(
                this=p(exp.Sub(this=_radians(b), expression=_radians(a))),
                expression=exp.Literal.number(2),
            )
        )

    sin_lat = _anon("SIN", half_difference(lat1, lat2))
    sin_lon = _anon("SIN", half_difference(lon1, lon2))
    cosines = p(exp.Mul(this=_anon("COS", _radians(lat1)), expression=_anon("COS", _radians(lat2))))
    inner = p(
        exp.Add(
            this=p(exp.Mul(this=sin_lat, expression=sin_lat)),
            expression=p(
                exp.Mul(this=cosines, expression=p(exp.Mul(this=sin_lon, expression=sin_lon)))
            ),
        )
    )
    # LEAST guards ASIN against rounding just above 1 for antipodal points.
    clamped = exp.Least(this=_anon("SQRT", inner), expressions=[exp.Literal.number(1)])
    return p(
        exp.Mul(this=exp.Literal.number(2 * EARTH_RADIUS_M), expression=_anon("ASIN", clamped))
    )


_WKT_POINT = re.compile(
    r"^\s*POINT\s*\(\s*(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s+(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*\)\s*$",
    re.IGNORECASE,
)


def parse_wkt_point(text: str) -> tuple[float, float]:
    """(lon, lat) of a WKT ``POINT (lon lat)``; ValueError otherwise."""
    match = _WKT_POINT.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a WKT point like 'POINT (-72.97 43.61)'")
    return float(match.group(1)), float(match.group(2))


def _literal_value(arg: Typed) -> str:
    if not isinstance(arg.sql, exp.Literal):
        raise ValueError("this argument must be a literal")
    return str(arg.sql.this)


# --- builders ------------------------------------------------------------------------


def _same(args: Sequence[Typed], node: exp.Expression, *, aggregate: bool = False) -> Typed:
    return Typed(node, args[0].type, aggregate=aggregate)


def _num(node: exp.Expression, *, aggregate: bool = False) -> Typed:
    return Typed(node, NUMBER, aggregate=aggregate)


def _count(args: Sequence[Typed]) -> Typed:
    target = args[0]
    value = target.lon if target.type == POINT else target.sql
    return _num(exp.Count(this=value), aggregate=True)


def _round(args: Sequence[Typed]) -> Typed:
    # PostgreSQL rounds only NUMERIC to a number of places; both engines agree this way.
    places = args[1].sql if len(args) > 1 else exp.Literal.number(0)
    as_decimal = exp.Cast(this=args[0].sql, to=exp.DataType.build("DECIMAL(38, 10)"))
    rounded = exp.Round(
        this=as_decimal, decimals=exp.Cast(this=places, to=exp.DataType.build("INT"))
    )
    return _num(exp.Cast(this=rounded, to=exp.DataType.build("DOUBLE")))


def _snap_to_grid(args: Sequence[Typed]) -> Typed:
    # Each coordinate to the nearest multiple of the grid size, in degrees (as Socrata's):
    # a map or a hotspot grid counts cells in the engine instead of fetching every point.
    point, size = args[0], args[1].sql

    def snap(part: exp.Expression) -> exp.Expression:
        cells = exp.Floor(
            this=exp.Add(this=exp.Div(this=part, expression=size), expression=number(0.5))
        )
        return exp.Mul(this=cells, expression=size.copy())

    parts = (snap(point.lon), snap(point.lat))
    return Typed(parts[0], POINT, parts=parts, shape="point")


def _trunc(unit: str) -> Builder:
    def build(args: Sequence[Typed]) -> Typed:
        return Typed(exp.TimestampTrunc(this=args[0].sql, unit=exp.var(unit)), TIMESTAMP)

    return build


def _extract(part: str) -> Builder:
    def build(args: Sequence[Typed]) -> Typed:
        extracted = exp.Extract(this=exp.var(part), expression=args[0].sql)
        return _num(exp.Cast(this=extracted, to=exp.DataType.build("DOUBLE")))

    return build


def _date_diff_d(args: Sequence[Typed]) -> Typed:
    # Whole days from the second timestamp to the first, as Socrata counts them.
    seconds = exp.Sub(
        this=exp.Extract(this=exp.var("EPOCH"), expression=args[0].sql),
        expression=exp.Extract(this=exp.var("EPOCH"), expression=args[1].sql),
    )
    days = exp.Div(this=_paren(seconds), expression=exp.Literal.number(86400))
    return _num(exp.Cast(this=_anon("TRUNC", days), to=exp.DataType.build("DOUBLE")))


def _case(args: Sequence[Typed]) -> Typed:
    if len(args) % 2:
        raise ValueError("case() takes pairs of condition, value")
    conditions, values = args[0::2], args[1::2]
    for cond in conditions:
        if cond.type not in (CHECKBOX, "null"):
            raise ValueError("every condition of case() must be true or false")
    kinds = {v.type for v in values} - {"null"}
    if len(kinds) > 1:
        raise ValueError(f"the values of case() must share a type, not {sorted(kinds)}")
    node = exp.Case(
        ifs=[exp.If(this=c.sql, true=v.sql) for c, v in zip(conditions, values, strict=True)]
    )
    return Typed(node, kinds.pop() if kinds else "null", aggregate=any(a.aggregate for a in args))


def _coalesce(args: Sequence[Typed]) -> Typed:
    kinds = {a.type for a in args} - {"null"}
    if len(kinds) > 1:
        raise ValueError(f"the arguments of coalesce() must share a type, not {sorted(kinds)}")
    node = exp.Coalesce(this=args[0].sql, expressions=[a.sql for a in args[1:]])
    return Typed(node, kinds.pop() if kinds else "null", aggregate=any(a.aggregate for a in args))


def _within_circle(args: Sequence[Typed]) -> Typed:
    point, lat, lon, radius = args
    distance = haversine_m(point.lat, point.lon, lat.sql, lon.sql)
    within = exp.LTE(this=distance, expression=radius.sql)
    box = _circle_box(point, lat.sql, lon.sql, radius.sql)
    return Typed(_paren(_and(box, within)) if box is not None else within, CHECKBOX)


def _circle_box(
    point: Typed, lat: exp.Expression, lon: exp.Expression, radius: exp.Expression
) -> exp.Expression | None:
    """A latitude/longitude box holding the whole circle, tested before the great-circle
    distance: plain comparisons are cheap and let the engine skip blocks of rows by their
    min/max, where the trigonometry runs on every row. Only for constant centres and radii."""
    centre_lat, centre_lon, metres = _constant(lat), _constant(lon), _constant(radius)
    if centre_lat is None or centre_lon is None or metres is None:
        return None
    bounds = circle_bounds(centre_lat, centre_lon, metres)
    if bounds is None:
        return None
    south, north, west, east = bounds
    return _and(
        exp.Between(this=point.lat, low=number(south), high=number(north)),
        exp.Between(this=point.lon, low=number(west), high=number(east)),
    )


def circle_bounds(
    lat: float, lon: float, metres: float
) -> tuple[float, float, float, float] | None:
    """(south, north, west, east) of a box holding every point within ``metres`` of (lat, lon)
    on the sphere, or None for a circle reaching a pole or the antimeridian."""
    if metres < 0 or not math.isfinite(metres):
        return None
    angle = metres / EARTH_RADIUS_M
    # Slightly wider than exact, so rounding can never drop a point the distance keeps.
    d_lat = math.degrees(angle) * 1.000001 + 1e-9
    if abs(lat) + d_lat >= 90:
        return None
    # The widest longitude a spherical cap reaches: asin(sin(r) / cos(latitude)).
    spread = math.sin(angle) / math.cos(math.radians(lat))
    if not 0 <= spread < 1:
        return None
    d_lon = math.degrees(math.asin(spread)) * 1.000001 + 1e-9
    if abs(lon) + d_lon >= 180:
        return None
    return lat - d_lat, lat + d_lat, lon - d_lon, lon + d_lon


def _constant(node: exp.Expression) -> float | None:
    """The value of a numeric literal (possibly negated or in parentheses), else None."""
    if isinstance(node, exp.Paren):
        return _constant(node.this)
    if isinstance(node, exp.Neg):
        inner = _constant(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this)
        except ValueError:
            return None
    return None


def _within_box(args: Sequence[Typed]) -> Typed:
    point, nw_lat, nw_lon, se_lat, se_lon = args
    inside = _and(
        exp.Between(this=point.lat, low=se_lat.sql, high=nw_lat.sql),
        exp.Between(this=point.lon, low=nw_lon.sql, high=se_lon.sql),
    )
    return Typed(_paren(inside), CHECKBOX)


def _distance_in_meters(args: Sequence[Typed]) -> Typed:
    lon, lat = parse_wkt_point(_literal_value(args[1]))
    return _num(haversine_m(args[0].lat, args[0].lon, number(lat), number(lon)))


MAX_POLYGON_VERTICES = 1000  # each vertex is SQL to write and evaluate per row
_RING = re.compile(r"\(([^()]+)\)")


def parse_wkt_rings(text: str) -> list[list[tuple[float, float]]]:
    """The rings of a WKT POLYGON or MULTIPOLYGON as (lon, lat) lists; ValueError otherwise."""
    if not re.match(r"^\s*(MULTI)?POLYGON\s*\(", text, re.IGNORECASE):
        raise ValueError(f"'{text[:40]}' is not a WKT POLYGON or MULTIPOLYGON")
    rings = []
    for body in _RING.findall(text):
        try:
            ring = [(float(x), float(y)) for x, y in (pair.split() for pair in body.split(","))]
        except ValueError:
            raise ValueError(f"'{body[:40]}' is not a list of 'lon lat' pairs") from None
        if len(ring) < 3:
            raise ValueError("a polygon ring needs at least three points")
        rings.append(ring)
    if not rings or sum(map(len, rings)) > MAX_POLYGON_VERTICES:
        raise ValueError(f"a polygon must have 3 to {MAX_POLYGON_VERTICES:,} points")
    return rings


def _within_polygon(args: Sequence[Typed]) -> Typed:
    rings = tuple(tuple(ring) for ring in parse_wkt_rings(_literal_value(args[1])))
    # A marker the stores write (store/polygons.py): the test spelt out is thousands of
    # nodes, which every copy and walk of the query would carry.
    test = PolygonTest(lon=args[0].lon.copy(), lat=args[0].lat.copy(), rings=rings)
    return Typed(test, CHECKBOX)


def _extent(args: Sequence[Typed]) -> Typed:
    point = args[0]
    box = (
        exp.Min(this=point.lon),
        exp.Min(this=point.lat),
        exp.Max(this=point.lon),
        exp.Max(this=point.lat),
    )
    return Typed(box[0], MULTIPOLYGON, aggregate=True, parts=box, shape="box")


def _convex_hull(args: Sequence[Typed]) -> Typed:
    # Every engine can list the points; the hull itself is drawn when the row is written.
    point = args[0]
    known = exp.Not(this=exp.Is(this=point.lon.copy(), expression=exp.Null()))
    lists = tuple(
        exp.Filter(this=exp.ArrayAgg(this=part), expression=exp.Where(this=known.copy()))
        for part in (point.lon, point.lat)
    )
    return Typed(lists[0], MULTIPOLYGON, aggregate=True, parts=lists, shape="hull")


def _intersects(args: Sequence[Typed]) -> Typed:
    wkt = _literal_value(args[1])
    if _WKT_POINT.match(wkt):
        lon, lat = parse_wkt_point(wkt)
        same = _and(
            exp.EQ(this=args[0].lon, expression=number(lon)),
            exp.EQ(this=args[0].lat, expression=number(lat)),
        )
        return Typed(_paren(same), CHECKBOX)
    return _within_polygon(args)


FUNCTIONS: dict[str, Function] = {
    # aggregates
    "count": Function((ANY,), _count, "rows where the value is not null", aggregate=True),
    "sum": Function(
        (NUMBER,),
        lambda a: _num(exp.Sum(this=a[0].sql), aggregate=True),
        "sum of the values",
        aggregate=True,
    ),
    "avg": Function(
        (NUMBER,),
        lambda a: _num(exp.Avg(this=a[0].sql), aggregate=True),
        "mean of the values",
        aggregate=True,
    ),
    "min": Function(
        (ANY,),
        lambda a: _same(a, exp.Min(this=a[0].sql), aggregate=True),
        "smallest value",
        aggregate=True,
    ),
    "max": Function(
        (ANY,),
        lambda a: _same(a, exp.Max(this=a[0].sql), aggregate=True),
        "largest value",
        aggregate=True,
    ),
    "median": Function(
        (NUMBER,),
        lambda a: _num(exp.Median(this=a[0].sql), aggregate=True),
        "middle value (the 50th percentile, interpolated)",
        aggregate=True,
    ),
    "stddev_pop": Function(
        (NUMBER,),
        lambda a: _num(exp.StddevPop(this=a[0].sql), aggregate=True),
        "population standard deviation",
        aggregate=True,
    ),
    "stddev_samp": Function(
        (NUMBER,),
        lambda a: _num(exp.StddevSamp(this=a[0].sql), aggregate=True),
        "sample standard deviation",
        aggregate=True,
    ),
    # text
    "upper": Function((TEXT,), lambda a: Typed(exp.Upper(this=a[0].sql), TEXT), "upper case"),
    "lower": Function((TEXT,), lambda a: Typed(exp.Lower(this=a[0].sql), TEXT), "lower case"),
    "starts_with": Function(
        (TEXT, TEXT),
        lambda a: Typed(exp.StartsWith(this=a[0].sql, expression=a[1].sql), CHECKBOX),
        "true when the text starts with the prefix",
    ),
    # conditionals
    "case": Function(
        (ANY, ANY), _case, "value of the first true condition", variadic=True, min_args=2
    ),
    "coalesce": Function((ANY, ANY), _coalesce, "first non-null value", variadic=True, min_args=1),
    # numbers
    "abs": Function((NUMBER,), lambda a: _num(exp.Abs(this=a[0].sql)), "absolute value"),
    "ln": Function((NUMBER,), lambda a: _num(exp.Ln(this=a[0].sql)), "natural logarithm"),
    "round": Function((NUMBER, NUMBER), _round, "round to a number of decimal places", min_args=1),
    # floating timestamps
    "date_trunc_y": Function((TIMESTAMP,), _trunc("YEAR"), "start of the year"),
    "date_trunc_ym": Function((TIMESTAMP,), _trunc("MONTH"), "start of the month"),
    "date_trunc_ymd": Function((TIMESTAMP,), _trunc("DAY"), "start of the day"),
    "date_extract_y": Function((TIMESTAMP,), _extract("YEAR"), "year"),
    "date_extract_m": Function((TIMESTAMP,), _extract("MONTH"), "month, 1 to 12"),
    "date_extract_d": Function((TIMESTAMP,), _extract("DAY"), "day of the month"),
    "date_extract_hh": Function((TIMESTAMP,), _extract("HOUR"), "hour, 0 to 23"),
    "date_extract_mm": Function((TIMESTAMP,), _extract("MINUTE"), "minute"),
    "date_extract_ss": Function((TIMESTAMP,), _extract("SECOND"), "second"),
    "date_extract_dow": Function((TIMESTAMP,), _extract("DOW"), "day of week, 0 = Sunday"),
    "date_extract_woy": Function((TIMESTAMP,), _extract("WEEK"), "ISO week of the year"),
    "date_diff_d": Function(
        (TIMESTAMP, TIMESTAMP), _date_diff_d, "whole days from the second timestamp to the first"
    ),
    # geography (points are WGS84; functions take latitude first, WKT is lon lat)
    "within_circle": Function(
        (POINT, NUMBER, NUMBER, NUMBER), _within_circle, "true within radius meters of (lat, lon)"
    ),
    "within_box": Function(
        (POINT, NUMBER, NUMBER, NUMBER, NUMBER),
        _within_box,
        "true inside the box (nw lat, nw lon, se lat, se lon)",
    ),
    "distance_in_meters": Function(
        (POINT, TEXT), _distance_in_meters, "meters to a WKT point", literal_args=(1,)
    ),
    "within_polygon": Function(
        (POINT, TEXT), _within_polygon, "true inside a WKT (MULTI)POLYGON", literal_args=(1,)
    ),
    "intersects": Function(
        (POINT, TEXT),
        _intersects,
        "true where the point meets a WKT POINT or (MULTI)POLYGON",
        literal_args=(1,),
    ),
    "snap_to_grid": Function(
        (POINT, NUMBER),
        _snap_to_grid,
        "the point moved to the nearest corner of a grid of the given size in degrees",
        literal_args=(1,),
    ),
    "extent": Function(
        (POINT,), _extent, "bounding box of the points, as a multipolygon", aggregate=True
    ),
    "convex_hull": Function(
        (POINT,),
        _convex_hull,
        "smallest convex polygon around the points, as a multipolygon",
        aggregate=True,
    ),
}

# Socrata functions Blotter does not answer yet, so the error can say so plainly.
NOT_YET = {
    "num_points",
    "simplify",
    "percentile_cont",
    "regr_slope",
    "unaccent",
    "date_trunc_ymdh",
}
