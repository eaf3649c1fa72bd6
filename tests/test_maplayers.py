"""What the server's map takes of a layer: only what lies in the map's extent, and never more
than MAX_DRAWN_VERTICES however dense the (generated) street grid."""

from __future__ import annotations

from typing import Any

from shapely.geometry import LineString, Polygon

from blotter.maplayers import MAX_DRAWN_VERTICES, Layer, drawn_within


def vertices(features: list[dict[str, Any]]) -> int:
    def count(coords: Any) -> int:
        return 1 if isinstance(coords[0], float | int) else sum(count(c) for c in coords)

    return sum(count(f["geometry"]["coordinates"]) for f in features)


def grid(lines: int, points: int) -> Layer:
    """A generated grid over (0, 0)–(1, 1): ``lines`` each way, ``points`` vertices each."""
    steps = [i / (points - 1) for i in range(points)]
    drawn = [
        (f"Generated {kind} {i}", LineString([(t, at) if kind == "St" else (at, t) for t in steps]))
        for i, at in enumerate((j + 0.5) / lines for j in range(lines))
        for kind in ("St", "Ave")
    ]
    return Layer("grid.geojson", "generated", True, tuple(drawn), ())


def test_a_small_layer_is_clipped_to_the_extent_and_otherwise_kept_whole() -> None:
    park = Polygon([(0.1, 0.1), (0.2, 0.1), (0.2, 0.2), (0.1, 0.1)])
    far = Polygon([(5, 5), (6, 5), (6, 6), (5, 5)])
    layer = Layer(
        "small.geojson",
        "generated",
        True,
        (
            ("A St", LineString([(0, 0.5), (0.5, 0.5), (2, 0.5)])),
            ("Far Rd", LineString([(5, 5), (6, 6)])),
        ),
        (park, far),
    )
    areas, lines = drawn_within([layer], (0.0, 0.0, 1.0, 1.0))
    assert [f["geometry"]["coordinates"] for f in lines] == [[[0.0, 0.5], [0.5, 0.5], [1.0, 0.5]]]
    assert len(areas) == 1 and vertices(areas) == 4  # the park whole, the far area left out


def test_a_dense_street_grid_is_bounded_in_vertices() -> None:
    dense = grid(150, 200)  # 300 lines of 200 vertices: 60,000 in the extent
    areas, lines = drawn_within([dense], (0.0, 0.0, 1.0, 1.0))
    assert areas == []
    assert 0 < vertices(lines) <= MAX_DRAWN_VERTICES
    assert len(lines) == 300  # straight lines simplify to their ends: every street stays
    tangle = grid(6000, 3)  # 12,000 short lines: too many even as two points each
    _, lines = drawn_within([tangle], (0.0, 0.0, 1.0, 1.0))
    assert 0 < vertices(lines) <= MAX_DRAWN_VERTICES
