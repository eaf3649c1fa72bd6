"""Geometries computed from query results: bounding boxes and convex hulls as rings, and
each output of a result row paired with its value (a geometry made of several columns)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from blotter.soql.compiler import Output

Ring = list[tuple[float, float]]


def shaped_cells(outputs: list[Output], row: tuple[Any, ...]) -> Iterator[tuple[Output, Any]]:
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


def box_ring(min_lon: float, min_lat: float, max_lon: float, max_lat: float) -> Ring:
    """The closed, counter-clockwise ring of a bounding box."""
    return [
        (min_lon, min_lat),
        (max_lon, min_lat),
        (max_lon, max_lat),
        (min_lon, max_lat),
        (min_lon, min_lat),
    ]


def hull_ring(lons: Sequence[float], lats: Sequence[float]) -> Ring | None:
    """The convex hull of the points as a closed counter-clockwise ring (monotone chain)."""
    points = sorted(set(zip(lons, lats, strict=True)))
    if not points:
        return None
    if len(points) < 3:
        return [*points, points[0]]

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: Ring = []
    for p in points:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: Ring = []
    for p in reversed(points):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    ring = lower[:-1] + upper[:-1]
    return [*ring, ring[0]]


def multipolygon_wkt(ring: Ring) -> str:
    coords = ", ".join(f"{_num(x)} {_num(y)}" for x, y in ring)
    return f"MULTIPOLYGON ((({coords})))"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
