"""``within_polygon``'s test as SQL: even-odd ray casting over the polygon's edges, written
out as plain arithmetic, so every engine evaluates it the same way and no spatial extension
is needed (holes work by the even-odd rule).

The compiler only marks the test (``schema.PolygonTest``: the point's columns and the
rings). Spelt out, a 64-vertex area is thousands of sqlglot nodes, and every query of a
page with an area filter copied and walked them several times over (binding its strings,
naming its table, its rollup form, writing it): a tenth of a second a query. The stores'
dialects write the marker here instead, each polygon once per columns and dialect, as
sqlglot writes the spelt-out tree (:func:`expanded`), so the SQL is the same text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import ClassVar

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.generator import Generator
from sqlglot.generators.duckdb import DuckDBGenerator

from blotter.schema import PolygonTest, Ring, number

Edge = tuple[float, float, float, float]  # (xi, yi, xj, yj): one edge, not horizontal
BANDED_EDGES = 16  # past this many edges, a point tests only the edges of its band
_BANDS = 16


def _paren(node: exp.Expression) -> exp.Expression:
    # exp.paren would deep-copy its argument; these trees are built fresh, so no copy.
    return exp.Paren(this=node)


def point_in_rings(
    lon: exp.Expression, lat: exp.Expression, rings: Sequence[Ring]
) -> exp.Expression:
    """The test spelt out: one CASE term an edge, summed; odd is inside. ``lon`` and ``lat``
    are copied where used, never attached."""
    edges = [
        (xi, yi, xj, yj)
        for ring in rings
        for (xi, yi), (xj, yj) in zip(ring, [*ring[1:], *ring[:1]], strict=True)
        if yi != yj  # a horizontal edge never crosses the ray
    ]
    if len(edges) > BANDED_EDGES:
        total = _banded(lon, lat, edges)
    else:
        total = _balanced_sum(_crossings(lon, lat, edges))
    odd = exp.EQ(
        this=exp.Mod(this=_paren(total), expression=exp.Literal.number(2)),
        expression=exp.Literal.number(1),
    )
    # The bounding box first: a point outside it is outside the polygon, and engines that
    # short-circuit (DuckDB's selection vectors, PostgreSQL's AND) skip the edges for it.
    xs = [x for ring in rings for x, _ in ring]
    ys = [y for ring in rings for _, y in ring]
    inside_box = exp.And(
        this=exp.Between(this=lon.copy(), low=number(min(xs)), high=number(max(xs))),
        expression=exp.Between(this=lat.copy(), low=number(min(ys)), high=number(max(ys))),
    )
    return _paren(exp.And(this=_paren(inside_box), expression=odd))


def _banded(lon: exp.Expression, lat: exp.Expression, edges: list[Edge]) -> exp.Expression:
    """The crossings' sum for a polygon of many edges, each point testing only the edges
    that may straddle its latitude: ``CASE WHEN lat > b THEN … ELSE … END`` halves the
    bands (between vertex latitudes) until one is left, whose sum holds every edge whose
    latitudes overlap the band, each tested exactly as when all are summed. An edge left
    out of a band cannot straddle a latitude in it, so it would have added 0; a null or NaN
    latitude makes every edge add 0, in whichever band it lands. The same count, from a
    few edges a row instead of all of them."""
    ys = sorted({y for _, yi, _, yj in edges for y in (yi, yj)})
    cuts = sorted({ys[i * len(ys) // _BANDS] for i in range(1, _BANDS)})

    def band(low: float | None, high: float | None) -> exp.Expression:
        # Latitudes in (low, high]: an edge straddles one of them if min < lat <= max.
        inside = [
            e
            for e in edges
            if (high is None or min(e[1], e[3]) < high) and (low is None or low < max(e[1], e[3]))
        ]
        if not inside:
            return exp.Literal.number(0)
        return _balanced_sum(_crossings(lon, lat, inside))

    def halves(first: int, last: int) -> exp.Expression:
        # The bands between cuts[first - 1] and cuts[last] (None: no bound).
        if first == last:
            return band(
                cuts[first - 1] if first else None, cuts[last] if last < len(cuts) else None
            )
        middle = (first + last + 1) // 2
        above = exp.GT(this=lat.copy(), expression=number(cuts[middle - 1]))
        return exp.Case(
            ifs=[exp.If(this=above, true=halves(middle, last))],
            default=halves(first, middle - 1),
        )

    return halves(0, len(cuts))


def _crossings(lon: exp.Expression, lat: exp.Expression, edges: list[Edge]) -> list[exp.Expression]:
    """For each edge, 1 where the ray west of the point crosses it, else 0."""
    crossings: list[exp.Expression] = []
    for xi, yi, xj, yj in edges:
        # Fresh column nodes per use: a sqlglot node has one parent, and exp.and_
        # would deep-copy ever larger trees.
        straddles = _paren(
            exp.NEQ(
                this=_paren(exp.GT(this=lat.copy(), expression=number(yi))),
                expression=_paren(exp.GT(this=lat.copy(), expression=number(yj))),
            )
        )
        slope = (xj - xi) / (yj - yi)
        offset = _paren(exp.Sub(this=lat.copy(), expression=number(yi)))
        edge_x = _paren(
            exp.Add(
                this=_paren(exp.Mul(this=number(slope), expression=offset)),
                expression=number(xi),
            )
        )
        crossed = exp.And(this=straddles, expression=exp.LT(this=lon.copy(), expression=edge_x))
        crossings.append(
            exp.Case(
                ifs=[exp.If(this=crossed, true=exp.Literal.number(1))],
                default=exp.Literal.number(0),
            )
        )
    return crossings


def _balanced_sum(terms: list[exp.Expression]) -> exp.Expression:
    """a + b + c … as a balanced tree: engines and sqlglot limit how deep expressions nest."""
    while len(terms) > 1:
        paired = [
            _paren(exp.Add(this=a, expression=b))
            for a, b in zip(terms[::2], terms[1::2], strict=False)
        ]
        terms = paired + ([terms[-1]] if len(terms) % 2 else [])
    return terms[0]


def spelt_out(node: PolygonTest) -> exp.Expression:
    """One marker's test, spelt out."""
    return point_in_rings(node.args["lon"], node.args["lat"], node.args["rings"])


def expanded(tree: exp.Expression) -> exp.Expression:
    """A copy of ``tree`` with every polygon marker spelt out: what any sqlglot dialect
    can write, and the text :func:`polygon_sql` gives the stores' dialects."""

    def swap(node: exp.Expression) -> exp.Expression:
        return spelt_out(node) if isinstance(node, PolygonTest) else node

    return tree.transform(swap, copy=True)


WRITTEN_POLYGONS = 256  # a city's areas, each on both engines, with room to spare
_written: dict[tuple[object, ...], str] = {}
_lock = threading.Lock()


def polygon_sql(generator: Generator, node: PolygonTest) -> str:
    """The marker as ``generator`` writes its test spelt out, kept by dialect, settings,
    the columns' SQL and the rings: a polygon's pages ask it again and again."""
    key = (
        type(generator),
        generator.pretty,
        generator.identify,
        generator.normalize,
        generator.sql(node.args["lon"]),
        generator.sql(node.args["lat"]),
        node.args["rings"],
    )
    text = _written.get(key)
    if text is None:
        text = generator.sql(spelt_out(node))
        with _lock:
            if len(_written) >= WRITTEN_POLYGONS:
                _written.pop(next(iter(_written)))  # the oldest
            _written[key] = text
    return text


class _DuckDBGenerator(DuckDBGenerator):
    TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
        **DuckDBGenerator.TRANSFORMS,
        PolygonTest: polygon_sql,
    }


class DuckDBWithPolygons(DuckDB):
    """DuckDB's SQL, with the compiler's polygon markers written (:func:`polygon_sql`)."""

    Generator = _DuckDBGenerator
