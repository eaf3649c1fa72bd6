"""Polygons for the tests of ``within_polygon``: rings like the benchmark's generated areas,
and WKT of them."""

from __future__ import annotations

import math


def wobbly_ring(
    cx: float, cy: float, r: float, vertices: int, phase: float = 1
) -> list[tuple[float, float]]:
    """A closed ring like the benchmark's generated areas (not a plain circle)."""
    ring = []
    for k in range(vertices):
        angle = 2 * math.pi * k / vertices
        wobble = 0.62 + 0.08 * math.sin(5 * angle + phase)
        ring.append(
            (
                round(cx + wobble * r * math.cos(angle), 7),
                round(cy + wobble * r * math.sin(angle), 7),
            )
        )
    return [*ring, ring[0]]


def multipolygon_wkt(polygons: list[list[list[tuple[float, float]]]]) -> str:
    """WKT of polygons, each a list of rings (the first its outline, the others holes)."""
    return (
        "MULTIPOLYGON ("
        + ", ".join(
            "("
            + ", ".join("(" + ", ".join(f"{x} {y}" for x, y in ring) + ")" for ring in rings)
            + ")"
            for rings in polygons
        )
        + ")"
    )
