"""Hotspots: where points cluster more than chance would put them.

What is counted is the dataset's unit (analysis/units.py): rows, or a declared unit such as
incidents by case number, each placed once, at the place most of its rows give, so a case
with three officers at one address weighs one, as it does in every other count of the page.
The filtered units are counted on a square grid (cells of about ``cell_m`` metres over the
points' bounding box, empty cells included); the engine reads them at points snapped to a
tenth of a cell, so every unit counts, however many there are, and the cells' counts are exact.
Getis-Ord Gi* (PySAL ``esda.G_Local``, star form, binary queen-contiguity weights from
``libpysal``) gives each cell a z-score comparing its neighbourhood's count with the whole
area's; the p-values are corrected for testing every cell at once with the false discovery
rate (``esda.fdr``). A kernel density estimate (``scipy.stats.gaussian_kde``, each snapped
point weighted by its units) over the same cells gives the smooth surface beside it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from blotter.analysis.units import ROWS, Located, Unit, located_units, unit_of
from blotter.errors import InvalidRequest
from blotter.model import Dataset
from blotter.queries import answer_key, answers
from blotter.settings import Settings
from blotter.store.base import Store

ALPHA = 0.05
MAX_CELLS = 40_000
MIN_POINTS = 30
_M_PER_DEG_LAT = 111_320.0


@dataclass
class Cell:
    row: int
    col: int
    bounds: tuple[float, float, float, float]  # west, south, east, north
    count: int
    z: float
    p: float
    kind: str  # "hot", "cold" or "not significant"
    density: float  # share of the kernel density surface in this cell, 0..1 of the max


@dataclass
class Hotspots:
    cells: list[Cell]
    cell_m: float
    points: int
    p_threshold: float  # the FDR-corrected p-value a cell must be at or below
    method: str
    unit: str = ROWS  # the ``unit=`` counted: ``points`` and every cell's count are of it
    noun: str = "rows"  # its words ("incidents")
    spread: int = 0  # units whose rows are at more than one place, each counted at one

    def geojson(self) -> dict[str, Any]:
        return {
            "type": "FeatureCollection",
            "properties": {
                "cell_metres": self.cell_m,
                "points": self.points,
                "unit": self.unit,
                "counted": self.noun,
                "placed_once": self.spread,
                "alpha": ALPHA,
                "fdr_p_threshold": self.p_threshold,
                "method": self.method,
            },
            "features": [
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [
                            [
                                [c.bounds[0], c.bounds[1]],
                                [c.bounds[2], c.bounds[1]],
                                [c.bounds[2], c.bounds[3]],
                                [c.bounds[0], c.bounds[3]],
                                [c.bounds[0], c.bounds[1]],
                            ]
                        ],
                    },
                    "properties": {
                        "row": c.row,
                        "col": c.col,
                        "count": c.count,
                        "gi_z": c.z,
                        "p": c.p,
                        "kind": c.kind,
                        "density": c.density,
                    },
                }
                for c in self.cells
            ],
        }


def method(noun: str, keyed: bool) -> str:
    """The method note, in the unit counted (``keyed``: a declared unit, not rows)."""
    placed = (
        ", each once, at the place most of its rows give (ties: the southernmost, then westernmost)"
        if keyed
        else ""
    )
    return (
        f"{noun[:1].upper()}{noun[1:]} counted on a square grid{placed}; Getis-Ord Gi* "
        "(esda.G_Local, star form, binary queen weights) z-score per cell against the whole "
        "area; p-values from the normal approximation, corrected for the number of cells by "
        f"the false discovery rate at {ALPHA:.0%} (esda.fdr). Hot: significantly more {noun} "
        "around a cell than the area's average; cold: significantly fewer. Density: Gaussian "
        "kernel estimate (Scott's rule)."
    )


def preload() -> None:
    """Import the statistics libraries now: they cost about 1.7 s of CPU to import (esda,
    libpysal, SciPy), which the first hotspot map of a process paid. A server calls this when
    it starts; commands that never draw hotspots never do."""
    import esda.getisord  # noqa: F401
    import libpysal.weights  # noqa: F401
    import scipy.signal
    import scipy.stats  # noqa: F401


SUBCELLS = 10  # a cell is this many snapping steps tall


def snap_step(cell_m: float) -> float:
    """The snapping step in degrees: a tenth of a cell's height, to ten decimals, so that the
    SoQL literal and this number are the same double."""
    return float(f"{cell_m / _M_PER_DEG_LAT / SUBCELLS:.10f}")


Point = tuple[float, float] | tuple[float, float, int]


def grid_counts(
    points: Sequence[Point], cell_m: float
) -> tuple[np.ndarray, float, float, float, float]:
    """Counts per cell (rows south to north, columns west to east), the grid's origin and
    cell size in degrees. A point is (lon, lat) or (lon, lat, how many rows are there).

    Every point is first snapped to the nearest multiple of ``snap_step`` (as the engine's
    ``snap_to_grid`` does), and a cell is ``SUBCELLS`` steps tall and about as many metres
    wide: a whole number of steps, so counting the engine's snapped points gives exactly
    the counts of the rows themselves, and cells stay square to within a few percent."""
    step = snap_step(cell_m)
    lons = np.array([p[0] for p in points], dtype=float)
    lats = np.array([p[1] for p in points], dtype=float)
    weights = np.array([p[2] if len(p) > 2 else 1 for p in points], dtype=float)
    x = np.floor(lons / step + 0.5).astype(np.int64)
    y = np.floor(lats / step + 0.5).astype(np.int64)
    mean_lat = float(np.average(y * step, weights=weights))
    wide = max(1, round(SUBCELLS / math.cos(math.radians(mean_lat))))
    x0, y0 = int(x.min()), int(y.min())
    c = (x - x0) // wide
    r = (y - y0) // SUBCELLS
    cols, rows = int(c.max()) + 1, int(r.max()) + 1
    if rows * cols > MAX_CELLS:
        raise InvalidRequest(
            f"A {cell_m:g} m grid over these points has {rows * cols:,} cells; the most is "
            f"{MAX_CELLS:,}. Choose larger cells or narrow the filter.",
            cells=rows * cols,
        )
    counts = np.zeros((rows, cols))
    np.add.at(counts, (r, c), weights)
    # The cells' edges lie half a step below each snapping point's multiple.
    return counts, (x0 - 0.5) * step, (y0 - 0.5) * step, wide * step, SUBCELLS * step


def find_hotspots(
    points: Sequence[Point], cell_m: float = 250.0, unit: Unit | None = None
) -> Hotspots:
    """Gi* hotspots of ``points`` ((lon, lat) or (lon, lat, units there)) on a grid of
    ``cell_m`` metre cells; ``unit`` names what the points count (rows when None)."""
    noun = unit.noun if unit is not None else "rows"
    total = int(sum(p[2] if len(p) > 2 else 1 for p in points))
    if total < MIN_POINTS:
        raise InvalidRequest(
            f"Hotspots need at least {MIN_POINTS} located {noun}; these filters leave {total:,}.",
            points=total,
        )
    if not 25 <= cell_m <= 10_000:
        raise InvalidRequest("The cell size must be from 25 to 10,000 metres.", cell=cell_m)
    counts, west, south, d_lon, d_lat = grid_counts(points, cell_m)
    rows, cols = counts.shape
    if rows * cols < 9:
        raise InvalidRequest(
            "The points fit in fewer than 9 cells: choose smaller cells for a pattern to show."
        )
    # PySAL and SciPy load on first use: most processes never draw a hotspot map.
    from esda import fdr
    from esda.getisord import G_Local
    from scipy.stats import gaussian_kde

    weights = lattice_weights(rows, cols)
    values = counts.flatten()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # esda warns about island-free lattices; none here
        gi = G_Local(values, weights, transform="B", star=True, permutations=0)
    z = np.asarray(gi.Zs, dtype=float)
    p = np.asarray(gi.p_norm, dtype=float) * 2  # two-sided: hot and cold both count
    p = np.minimum(p, 1.0)
    threshold = float(fdr(p, ALPHA))
    located = np.array([[p[0], p[1]] for p in points], dtype=float).T
    weights = np.array([p[2] if len(p) > 2 else 1 for p in points], dtype=float)
    kde = gaussian_kde(located, weights=weights)  # the bandwidth (Scott's rule)
    if len(points) * rows * cols > DIRECT_KDE_TERMS:
        # The engine's points sit on the snapping lattice: the same sums by convolution.
        density = lattice_density(points, cell_m, kde.covariance).flatten()
    else:
        centres = np.array(
            [
                [west + (j + 0.5) * d_lon for i in range(rows) for j in range(cols)],
                [south + (i + 0.5) * d_lat for i in range(rows) for j in range(cols)],
            ]
        )
        density = kde(centres)
    density = density / density.max() if density.max() > 0 else density
    cells = []
    for index in range(rows * cols):
        i, j = divmod(index, cols)
        significant = p[index] <= threshold
        kind = ("hot" if z[index] > 0 else "cold") if significant else "not significant"
        cells.append(
            Cell(
                row=i,
                col=j,
                bounds=(
                    west + j * d_lon,
                    south + i * d_lat,
                    west + (j + 1) * d_lon,
                    south + (i + 1) * d_lat,
                ),
                count=int(values[index]),
                z=float(z[index]),
                p=float(p[index]),
                kind=kind,
                density=float(density[index]),
            )
        )
    keyed = unit is not None and unit.key is not None
    name = unit.name if unit is not None else ROWS
    return Hotspots(cells, cell_m, total, threshold, method(noun, keyed), name, noun)


@lru_cache(maxsize=8)
def lattice_weights(rows: int, cols: int) -> Any:
    """The queen weights of a ``rows`` × ``cols`` grid (``lat2W``, cells numbered row by row
    as ``flatten()`` does), built once per shape: a city's grid keeps its shape from filter
    to filter, and building them took about 100 ms at 80 × 120 cells. Only read: Gi* adds
    its diagonal to a copy (``fill_diagonal``) and transforms that."""
    from libpysal.weights import lat2W

    return lat2W(rows, cols, rook=False)


DIRECT_KDE_TERMS = 5_000_000  # points × cells up to which the sums are made one by one
KERNEL_SIGMAS = 12.0  # the kernel's reach; beyond it a term is below 1e-31 of the peak


def lattice_density(points: Sequence[Point], cell_m: float, covariance: np.ndarray) -> np.ndarray:
    """The Gaussian kernel density (covariance ``covariance``) of the weighted points,
    snapped to the lattice of :func:`snap_step` (as :func:`located_points` gives them), at the
    centre of every cell of :func:`grid_counts`' grid (rows south to north), up to a
    constant factor: the sum of every point's kernel at every centre, as
    ``scipy.stats.gaussian_kde`` evaluates it.

    The points sit on the snapping lattice and the centres on the same lattice (shifted by
    half a step), so the sum is a convolution of the lattice's weights with the kernel
    sampled on the lattice, done with FFTs: seconds became milliseconds (144,570 points
    by 7,221 cells took 16 s of CPU). The kernel is cut at ``KERNEL_SIGMAS`` standard
    deviations, where a term is below the last digit of a double."""
    from scipy.signal import fftconvolve

    counts, *_ = grid_counts(points, cell_m)
    rows, cols = counts.shape
    step = snap_step(cell_m)
    x = np.floor(np.array([p[0] for p in points]) / step + 0.5).astype(np.int64)
    y = np.floor(np.array([p[1] for p in points]) / step + 0.5).astype(np.int64)
    w = np.array([p[2] if len(p) > 2 else 1 for p in points], dtype=float)
    mean_lat = float(np.average(y * step, weights=w))
    wide = max(1, round(SUBCELLS / math.cos(math.radians(mean_lat))))
    x0, y0 = int(x.min()), int(y.min())
    lattice = np.zeros((rows * SUBCELLS, cols * wide))
    np.add.at(lattice, (y - y0, x - x0), w)
    # A centre, in lattice steps from the first point: j * wide + (wide - 1) / 2 across,
    # i * SUBCELLS + (SUBCELLS - 1) / 2 up; the fraction is the kernel's offset.
    fx, fy = ((wide - 1) / 2) % 1, ((SUBCELLS - 1) / 2) % 1
    reach_x = int(KERNEL_SIGMAS * math.sqrt(covariance[0, 0]) / step) + 2
    reach_y = int(KERNEL_SIGMAS * math.sqrt(covariance[1, 1]) / step) + 2
    reach_x = min(reach_x, lattice.shape[1])
    reach_y = min(reach_y, lattice.shape[0])
    dx = (np.arange(-reach_x, reach_x + 1) + fx) * step
    dy = (np.arange(-reach_y, reach_y + 1) + fy) * step
    gx, gy = np.meshgrid(dx, dy)
    inverse = np.linalg.inv(covariance)
    kernel = np.exp(
        -0.5 * (inverse[0, 0] * gx * gx + 2 * inverse[0, 1] * gx * gy + inverse[1, 1] * gy * gy)
    )
    full = fftconvolve(lattice, kernel, mode="full")
    centre_x = np.arange(cols) * wide + int((wide - 1) // 2)
    centre_y = np.arange(rows) * SUBCELLS + int((SUBCELLS - 1) // 2)
    # full[b + reach_y, a + reach_x] is the sum at lattice point (a + fx, b + fy).
    picked = full[np.ix_(centre_y + reach_y, centre_x + reach_x)]
    density: np.ndarray = np.maximum(picked, 0.0)  # FFT rounding may leave -1e-17
    return density


def located_points(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    where: str | None,
    cell_m: float = 250.0,
    unit: Unit | None = None,
) -> Located:
    """Every located unit under the filter (the dataset's default unit when None), counted
    at each point snapped to the hotspot grid's step: ``spots`` are (lon, lat, units there),
    the same grid counts as the units themselves, without sending every point over."""
    if not 25 <= cell_m <= 10_000:
        raise InvalidRequest("The cell size must be from 25 to 10,000 metres.", cell=cell_m)
    unit = unit or unit_of(dataset, None)
    return located_units(store, dataset, settings, unit, where, snap_step(cell_m))


def hotspots_of(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    where: str | None,
    cell_m: float = 250.0,
    unit: Unit | None = None,
) -> Hotspots:
    """:func:`find_hotspots` of the located units (the dataset's default unit when None)
    under ``where``, kept with the version's answers under the unit's name too: the same
    map asked again is not counted, tested and smoothed again, and two units never mix."""
    unit = unit or unit_of(dataset, None)
    cache = answers(store, settings)
    key = answer_key(dataset, ("hotspots", where or "", cell_m, unit.name), "hotspots")
    kept = cache.get(key)
    if isinstance(kept, Hotspots):
        return kept
    located = located_points(store, dataset, settings, where, cell_m, unit)
    found = find_hotspots(located.spots, cell_m, unit)
    found.spread = located.spread
    cache.put(key, found, 200 * len(found.cells) + 200)
    return found
