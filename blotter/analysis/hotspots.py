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

import json
import math
import os
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

    def geojson_bytes(self) -> bytes:
        """:meth:`geojson` as compact JSON, byte for byte what ``json.dumps`` writes of it
        (``separators=(",", ":")``, ``ensure_ascii=False``, ``allow_nan=False``: FastAPI's
        ``JSONResponse``), each cell from one template: a city's grid is thousands of
        cells whose corners are shared, and each corner's number is written once."""
        numbers = [n for c in self.cells for n in (c.z, c.p, c.density, *c.bounds)]
        if not all(map(math.isfinite, numbers)):
            return _dumps(self.geojson())  # json.dumps refuses NaN: the same error
        written: dict[float, str] = {}

        def corner(value: float) -> str:
            text = written.get(value) if value else None  # 0.0 and -0.0: one key, two texts
            if text is None:
                text = written[value] = repr(value)  # json writes a float as its repr
            return text

        kinds = {kind: json.dumps(kind) for kind in {c.kind for c in self.cells}}
        features = []
        for c in self.cells:
            x0, y0, x1, y1 = c.bounds
            west, south, east, north = corner(x0), corner(y0), corner(x1), corner(y1)
            features.append(
                _FEATURE
                % (
                    west, south, east, south, east, north, west, north, west, south,
                    c.row, c.col, c.count, repr(c.z), repr(c.p), kinds[c.kind], repr(c.density),
                )
            )  # fmt: skip
        empty = _dumps({**self.geojson(cells=False), "features": []})
        return empty[: -len(b"[]}")] + ("[" + ",".join(features) + "]}").encode()

    def geojson(self, cells: bool = True) -> dict[str, Any]:
        """The cells as a GeoJSON FeatureCollection (its properties alone: ``cells=False``)."""
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
                for c in (self.cells if cells else [])
            ],
        }


# One cell as json.dumps writes its feature (``geojson``), corners first, then properties.
_FEATURE = (
    '{"type":"Feature","geometry":{"type":"Polygon","coordinates":'
    "[[[%s,%s],[%s,%s],[%s,%s],[%s,%s],[%s,%s]]]},"
    '"properties":{"row":%d,"col":%d,"count":%d,"gi_z":%s,"p":%s,"kind":%s,"density":%s}}'
)


def _dumps(content: dict[str, Any]) -> bytes:
    """As FastAPI's ``JSONResponse`` writes ``content``."""
    text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


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
    import libpysal.graph
    import libpysal.weights  # noqa: F401
    import scipy.fft
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
    return _grid(*_columns(points), cell_m)


def _columns(points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points' longitudes, latitudes and weights (1 where a point gives none), as three
    arrays, read once: the engine's tens of thousands of places, one conversion."""
    try:
        table = np.array(points, dtype=float)
    except ValueError:  # (lon, lat) and (lon, lat, n) mixed
        table = np.empty(0)
    if table.ndim == 2 and table.shape[1] in (2, 3):
        lons, lats = np.ascontiguousarray(table[:, 0]), np.ascontiguousarray(table[:, 1])
        if table.shape[1] == 3:
            return lons, lats, np.ascontiguousarray(table[:, 2])
        return lons, lats, np.ones(len(table))
    return (
        np.array([p[0] for p in points], dtype=float),
        np.array([p[1] for p in points], dtype=float),
        np.array([p[2] if len(p) > 2 else 1 for p in points], dtype=float),
    )


def _grid(
    lons: np.ndarray, lats: np.ndarray, weights: np.ndarray, cell_m: float
) -> tuple[np.ndarray, float, float, float, float]:
    """:func:`grid_counts` of the points' columns."""
    step = snap_step(cell_m)
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
    lons, lats, weights = _columns(points)
    total = int(weights.sum())  # whole numbers: the sum is exact
    if total < MIN_POINTS:
        raise InvalidRequest(
            f"Hotspots need at least {MIN_POINTS} located {noun}; these filters leave {total:,}.",
            points=total,
        )
    if not 25 <= cell_m <= 10_000:
        raise InvalidRequest("The cell size must be from 25 to 10,000 metres.", cell=cell_m)
    counts, west, south, d_lon, d_lat = _grid(lons, lats, weights, cell_m)
    rows, cols = counts.shape
    if rows * cols < 9:
        raise InvalidRequest(
            "The points fit in fewer than 9 cells: choose smaller cells for a pattern to show."
        )
    # PySAL and SciPy load on first use: most processes never draw a hotspot map.
    from esda import fdr
    from esda.getisord import G_Local
    from scipy.stats import gaussian_kde

    values = counts.flatten()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # esda warns about island-free lattices; none here
        gi = G_Local(values, lattice_weights(rows, cols), transform="B", star=True, permutations=0)
    z = np.asarray(gi.Zs, dtype=float)
    p = np.asarray(gi.p_norm, dtype=float) * 2  # two-sided: hot and cold both count
    p = np.minimum(p, 1.0)
    # A cell whose neighbourhood is the whole area (the middle of a 3 × 3 grid), or any cell
    # when all counts are equal, has no variance (esda: 0 / 0): nothing departs, z 0, p 1.
    undefined = ~np.isfinite(z)
    z[undefined] = 0.0
    p[undefined] = 1.0
    threshold = float(fdr(p, ALPHA))
    # (lon, lat) rows transposed, laid out in memory as before, for the same covariance.
    located = np.column_stack((lons, lats)).T
    kde = gaussian_kde(located, weights=weights)  # the bandwidth (Scott's rule)
    if len(lons) * rows * cols > DIRECT_KDE_TERMS:
        # The engine's points sit on the snapping lattice: the same sums by convolution.
        density = _density(lons, lats, weights, cell_m, kde.covariance).flatten()
    else:
        centres = np.array(
            [
                [west + (j + 0.5) * d_lon for i in range(rows) for j in range(cols)],
                [south + (i + 0.5) * d_lat for i in range(rows) for j in range(cols)],
            ]
        )
        density = kde(centres)
    density = density / density.max() if density.max() > 0 else density
    # Python floats, as float() of each element gives them; a cell's edges are its
    # neighbours' (the same sums), so each is computed once.
    zs, ps, shares, whole = z.tolist(), p.tolist(), density.tolist(), values.tolist()
    easts = [west + j * d_lon for j in range(cols + 1)]
    norths = [south + i * d_lat for i in range(rows + 1)]
    cells = []
    for index in range(rows * cols):
        i, j = divmod(index, cols)
        significant = ps[index] <= threshold
        kind = ("hot" if zs[index] > 0 else "cold") if significant else "not significant"
        cells.append(
            Cell(
                row=i,
                col=j,
                bounds=(easts[j], norths[i], easts[j + 1], norths[i + 1]),
                count=int(whole[index]),
                z=zs[index],
                p=ps[index],
                kind=kind,
                density=shares[index],
            )
        )
    keyed = unit is not None and unit.key is not None
    name = unit.name if unit is not None else ROWS
    return Hotspots(cells, cell_m, total, threshold, method(noun, keyed), name, noun)


@lru_cache(maxsize=8)
def lattice_weights(rows: int, cols: int) -> Any:
    """The queen weights of a ``rows`` × ``cols`` grid, each cell its own neighbour too (the
    star form Gi* reads), cells numbered row by row as ``flatten()`` does: a libpysal
    ``Graph`` made from arrays. libpysal's ``lat2W`` and the ``fill_diagonal`` G_Local then
    applied to its ``W`` were loops over every cell (about 0.3 s a map at 80 × 84 cells,
    paid again for each new grid shape, which each filter's points give); the weights are
    binary and the counts whole, so every sum Gi* makes is exact and the statistics are
    the same to the last digit. Kept per shape; only read. The pairs are made in libpysal's
    canonical order (focal, then neighbour, both by cell number, every cell a focal and a
    neighbour), so the Graph is told so (``is_sorted``) instead of reindexing them in
    pandas: the same adjacency, its index and codes too, in a fifth of the time (15 -> 3 ms
    a grid of 66 × 67 cells, each filter's points giving a new shape)."""
    from libpysal.graph import Graph

    cell = np.arange(rows * cols)
    i, j = np.divmod(cell, cols)
    focal, neighbour = [], []
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            a, b = i + di, j + dj
            inside = (a >= 0) & (a < rows) & (b >= 0) & (b < cols)
            focal.append(cell[inside])
            neighbour.append((a * cols + b)[inside])
    focals, neighbours = np.concatenate(focal), np.concatenate(neighbour)
    order = np.lexsort((neighbours, focals))
    return Graph.from_arrays(focals[order], neighbours[order], np.ones(len(order)), is_sorted=True)


DIRECT_KDE_TERMS = 5_000_000  # points × cells up to which the sums are made one by one
KERNEL_SIGMAS = 12.0  # the kernel's reach; beyond it a term is below 1e-31 of the peak
FFT_THREADS = min(4, os.cpu_count() or 1)


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
    return _density(*_columns(points), cell_m, covariance)


def _density(
    lons: np.ndarray, lats: np.ndarray, w: np.ndarray, cell_m: float, covariance: np.ndarray
) -> np.ndarray:
    """:func:`lattice_density` of the points' columns."""
    from scipy.fft import set_workers

    counts, *_ = _grid(lons, lats, w, cell_m)
    rows, cols = counts.shape
    step = snap_step(cell_m)
    x = np.floor(lons / step + 0.5).astype(np.int64)
    y = np.floor(lats / step + 0.5).astype(np.int64)
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
    # Rows and columns broadcast: the same products, element by element, without the grid.
    gx, gy = dx[np.newaxis, :], dy[:, np.newaxis]
    inverse = np.linalg.inv(covariance)
    # exp(-0.5 * (a * gx² + 2b * gx * gy + c * gy²)) summed in that order, in one array made
    # once (a sum of two numbers is the same either way round): the same numbers, without
    # four temporaries of the kernel's size (17 -> 13 ms a map of 1M rows' calls).
    kernel = 2 * inverse[0, 1] * gx * gy
    kernel += inverse[0, 0] * gx * gx
    kernel += inverse[1, 1] * gy * gy
    kernel *= -0.5
    np.exp(kernel, out=kernel)
    centre_x = np.arange(cols) * wide + int((wide - 1) // 2)
    centre_y = np.arange(rows) * SUBCELLS + int((SUBCELLS - 1) // 2)
    # The transforms split their lines among threads, each line computed as by one thread:
    # the same numbers, in about half the time on two cores.
    with set_workers(FFT_THREADS):
        # Row b + reach_y, column a + reach_x of the full convolution is the sum at lattice
        # point (a + fx, b + fy): only the centres' rows are made.
        full = convolved_rows(lattice, kernel, centre_y + reach_y)
    picked = full[:, centre_x + reach_x]
    density: np.ndarray = np.maximum(picked, 0.0)  # FFT rounding may leave -1e-17
    return density


def convolved_rows(lattice: np.ndarray, kernel: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The ``rows`` of ``scipy.signal.fftconvolve(lattice, kernel, mode="full")``, the same
    numbers to the last digit, in about 60 % of its time: the same transforms of the same
    padded sizes, less what the centres never read. fftconvolve transforms each padded
    input along its rows, then its columns (``rfftn``), and back along the columns, then
    the rows (``irfftn``), each line on its own (a line's numbers do not depend on the
    others). Here the rows of padding are not transformed (a row of zeros transforms to
    zeros: they enter the columns' sums as zeros either way), and only the rows asked for
    are transformed back, their scale (1 / the padded size, as pocketfft computes it, in
    long double) applied last, where pocketfft applies it."""
    from scipy import fft

    height = lattice.shape[0] + kernel.shape[0] - 1
    width = lattice.shape[1] + kernel.shape[1] - 1
    # fftconvolve's sizes: the next fast lengths of the full convolution's.
    tall, wide = fft.next_fast_len(height, real=True), fft.next_fast_len(width, real=True)

    def spectrum(part: np.ndarray) -> np.ndarray:
        spectrum: np.ndarray = fft.fft(fft.rfft(part, n=wide, axis=1), n=tall, axis=0)
        return spectrum

    # The product and the transform back made in place: two arrays of the padded size
    # fewer to allocate (about 10 % of the CPU), the same numbers.
    product = spectrum(lattice)
    product *= spectrum(kernel)
    columns = fft.ifft(product, axis=0, norm="forward", overwrite_x=True)
    scale = float(np.longdouble(1) / np.longdouble(tall * wide))
    picked: np.ndarray = fft.irfft(columns[rows], n=wide, axis=1, norm="forward")
    return picked[:, :width] * scale


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
    # Not kept among the answers: hotspots_of keeps the map made of them.
    return located_units(store, dataset, settings, unit, where, snap_step(cell_m), keep=False)


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
