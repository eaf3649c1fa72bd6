"""Hotspots: where points cluster more than chance would put them.

The filtered points are counted on a square grid (cells of ``cell_m`` metres over the points'
bounding box, empty cells included). Getis-Ord Gi* (PySAL ``esda.G_Local``, star form, binary
queen-contiguity weights from ``libpysal``) gives each cell a z-score comparing its
neighbourhood's count with the whole area's; the p-values are corrected for testing every
cell at once with the false discovery rate (``esda.fdr``). A kernel density estimate
(``scipy.stats.gaussian_kde``) over the same cells gives the smooth surface beside it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from blotter.errors import InvalidRequest
from blotter.model import ColumnType, Dataset
from blotter.portal import Portal
from blotter.queries import and_where, run_query

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

    def geojson(self) -> dict[str, Any]:
        return {
            "type": "FeatureCollection",
            "properties": {
                "cell_metres": self.cell_m,
                "points": self.points,
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


METHOD = (
    "Points counted on a square grid; Getis-Ord Gi* (esda.G_Local, star form, binary queen "
    "weights) z-score per cell against the whole area; p-values from the normal "
    f"approximation, corrected for the number of cells by the false discovery rate at "
    f"{ALPHA:.0%} (esda.fdr). Hot: significantly more points around a cell than the area's "
    "average; cold: significantly fewer. Density: Gaussian kernel estimate (Scott's rule)."
)


def grid_counts(
    points: list[tuple[float, float]], cell_m: float
) -> tuple[np.ndarray, float, float, float, float]:
    """Counts per cell (rows south to north, columns west to east), the grid's origin and
    cell size in degrees."""
    lons = np.array([p[0] for p in points])
    lats = np.array([p[1] for p in points])
    west, south = float(lons.min()), float(lats.min())
    d_lat = cell_m / _M_PER_DEG_LAT
    d_lon = cell_m / (_M_PER_DEG_LAT * math.cos(math.radians(float(lats.mean()))))
    cols = int((lons.max() - west) // d_lon) + 1
    rows = int((lats.max() - south) // d_lat) + 1
    if rows * cols > MAX_CELLS:
        raise InvalidRequest(
            f"A {cell_m:g} m grid over these points has {rows * cols:,} cells; the most is "
            f"{MAX_CELLS:,}. Choose larger cells or narrow the filter.",
            cells=rows * cols,
        )
    counts = np.zeros((rows, cols))
    r = ((lats - south) // d_lat).astype(int)
    c = ((lons - west) // d_lon).astype(int)
    np.add.at(counts, (r, c), 1)
    return counts, west, south, d_lon, d_lat


def find_hotspots(points: list[tuple[float, float]], cell_m: float = 250.0) -> Hotspots:
    """Gi* hotspots of ``points`` (lon, lat) on a grid of ``cell_m`` metre cells."""
    if len(points) < MIN_POINTS:
        raise InvalidRequest(
            f"Hotspots need at least {MIN_POINTS} located rows; these filters leave {len(points)}.",
            points=len(points),
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
    from libpysal.weights import lat2W
    from scipy.stats import gaussian_kde

    # lat2W numbers cells row by row, as flatten() does.
    weights = lat2W(rows, cols, rook=False)
    values = counts.flatten()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # esda warns about island-free lattices; none here
        gi = G_Local(values, weights, transform="B", star=True, permutations=0)
    z = np.asarray(gi.Zs, dtype=float)
    p = np.asarray(gi.p_norm, dtype=float) * 2  # two-sided: hot and cold both count
    p = np.minimum(p, 1.0)
    threshold = float(fdr(p, ALPHA))
    kde = gaussian_kde(np.array(points).T)
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
    return Hotspots(cells, cell_m, len(points), threshold, METHOD)


def located_points(
    portal: Portal, dataset: Dataset, where: str | None, limit: int = 200_000
) -> list[tuple[float, float]]:
    """Every located point under the filter, as (lon, lat)."""
    column = next((c for c in dataset.columns if c.type is ColumnType.POINT), None)
    if column is None:
        raise InvalidRequest(f"Dataset {dataset.id} has no point column to find hotspots in.")
    name = f"`{column.field_name}`"
    params = {
        "$select": name,
        "$where": and_where(where, f"{name} IS NOT NULL"),
        "$limit": str(limit),
    }
    # Beyond the API's page limit: the statistic needs every point, streamed.
    rows = run_query(portal.store, dataset, params, portal.settings, unlimited=True).rows
    return [(lon, lat) for lon, lat in rows]
