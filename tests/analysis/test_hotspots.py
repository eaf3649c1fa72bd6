"""Hotspots against an independent Getis-Ord Gi* and Benjamini-Hochberg computation, on the
real Takoma Park calls for service; and as the page and the GeoJSON endpoint show them."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from scipy.stats import norm

from blotter.analysis.hotspots import (
    ALPHA,
    SUBCELLS,
    Hotspots,
    find_hotspots,
    grid_counts,
    hotspots_of,
    lattice_weights,
    located_points,
    snap_step,
)
from blotter.analysis.units import unit_of
from blotter.errors import InvalidRequest
from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file
from blotter.portal import Portal
from blotter.settings import Settings
from blotter.store import Store
from tests.paths import TEST_DATA


def _gi_star(counts: np.ndarray) -> np.ndarray:
    """Gi* z-scores (Getis & Ord 1995, star form) with binary queen weights, written out."""
    rows, cols = counts.shape
    x = counts.flatten()
    n = x.size
    mean = x.mean()
    s = math.sqrt((x**2).mean() - mean**2)
    z = np.empty(n)
    for index in range(n):
        i, j = divmod(index, cols)
        neighbours = [
            a * cols + b
            for a in range(max(0, i - 1), min(rows, i + 2))
            for b in range(max(0, j - 1), min(cols, j + 2))
        ]  # the cell itself and its (up to) eight neighbours
        w = len(neighbours)
        numerator = x[neighbours].sum() - mean * w
        denominator = s * math.sqrt((n * w - w**2) / (n - 1))
        z[index] = numerator / denominator
    return z


def _bh_threshold(p: np.ndarray, alpha: float) -> float:
    ranked = np.sort(p)
    passing = [q for k, q in enumerate(ranked, start=1) if q <= alpha * k / len(p)]
    return max(passing) if passing else 0.0


@pytest.fixture(scope="module")
def calls(sample_app: FastAPI) -> list[tuple[float, float]]:
    rows = (
        TestClient(sample_app)
        .get(
            "/resource/tkpk-clls.json",
            params={"$select": "location", "$where": "location IS NOT NULL", "$limit": "50000"},
        )
        .json()
    )
    return [tuple(r["location"]["coordinates"]) for r in rows]  # type: ignore[misc]


def test_gi_star_and_fdr_match_an_independent_computation(
    calls: list[tuple[float, float]],
) -> None:
    found = find_hotspots(calls, 250)
    counts, *_ = grid_counts(calls, 250)
    z = _gi_star(counts)
    assert [c.z for c in found.cells] == pytest.approx(list(z), abs=1e-6)
    p = 2 * norm.sf(np.abs(z))
    threshold = _bh_threshold(p, ALPHA)
    expected_hot = {k for k in range(z.size) if p[k] <= threshold and z[k] > 0}
    got_hot = {c.row * counts.shape[1] + c.col for c in found.cells if c.kind == "hot"}
    assert got_hot == expected_hot and len(got_hot) > 0
    assert sum(c.count for c in found.cells) == len(calls)


def test_the_kept_lattice_weights_answer_as_new_ones(calls: list[tuple[float, float]]) -> None:
    """The grid's weights are kept per shape: a second map on the same grid must be the
    same as one drawn with weights built afresh, and they are libpysal's queen lattice
    (``lat2W``) with each cell its own neighbour, as G_Local's star form makes them."""
    from libpysal.weights import lat2W
    from scipy.sparse import identity

    lattice_weights.cache_clear()
    fresh = find_hotspots(calls, 250)
    rows, cols = grid_counts(calls, 250)[0].shape
    kept = lattice_weights(rows, cols)
    again = find_hotspots(list(calls), 250)  # the same grid, its weights kept
    assert lattice_weights(rows, cols) is kept
    assert again.cells == fresh.cells and again.p_threshold == fresh.p_threshold
    queen = lat2W(rows, cols, rook=False).sparse + identity(rows * cols)
    assert abs(kept.sparse - queen).max() == 0 and kept.transformation == "O"
    assert kept.sparse.sum() == 9 * (rows - 2) * (cols - 2) + 6 * 2 * (rows + cols - 4) + 16


def test_too_few_points_or_too_many_cells_are_clear_400s(
    calls: list[tuple[float, float]],
) -> None:
    with pytest.raises(InvalidRequest, match="at least 30"):
        find_hotspots(calls[:10])
    with pytest.raises(InvalidRequest, match="cells"):
        find_hotspots([*calls, (-70.0, 42.0)], 250)  # one stray point far away
    with pytest.raises(InvalidRequest, match="25 to 10,000"):
        find_hotspots(calls, 5)


def _on_a_3_by_3_grid(counts: list[list[int]]) -> list[tuple[float, float]]:
    """Points whose 250 m grid is ``counts`` (rows south to north): each at a lattice point
    inside its cell, as the engine's snapped points lie."""
    step = snap_step(250)
    south, west = 436_000 * step, -729_700 * step  # multiples of the step: exact cells
    wide = max(1, round(SUBCELLS / math.cos(math.radians(south))))
    return [
        (west + (j * wide + 3) * step, south + (i * SUBCELLS + 3) * step)
        for i, row in enumerate(counts)
        for j, n in enumerate(row)
        for _ in range(n)
    ]


@pytest.mark.parametrize(
    "counts",
    [[[1, 2, 3], [4, 20, 5], [6, 7, 8]], [[4, 4, 4], [4, 4, 4], [4, 4, 4]]],
    ids=["middle-sees-all", "all-equal"],
)
def test_a_cell_whose_gi_star_has_no_variance_is_z_0_not_nan(counts: list[list[int]]) -> None:
    """The middle of a 3 × 3 grid has the whole area for its neighbourhood, and equal counts
    leave nothing to vary: Gi* is its expectation there, which esda gives as 0 / 0. Such a
    cell is not significant (z 0, p 1), every other cell is the independent Gi*, and the
    GeoJSON writes (it answered 500 on Ward 4 of the sample calls)."""
    points = _on_a_3_by_3_grid(counts)
    grid, *_ = grid_counts(points, 250)
    assert grid.tolist() == counts
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = _gi_star(grid)
    found = find_hotspots(points, 250)
    for cell, z in zip(found.cells, expected, strict=True):
        if math.isfinite(z):
            assert cell.z == pytest.approx(z, abs=1e-9)
        else:
            assert (cell.z, cell.p, cell.kind) == (0.0, 1.0, "not significant")
    assert sum(not math.isfinite(z) for z in expected) == (1 if counts[0][0] == 1 else 9)
    assert json.loads(found.geojson_bytes())["features"][4]["properties"]["gi_z"] == 0.0


def test_a_wards_hotspot_map_and_its_geojson_answer(sample_app: FastAPI) -> None:
    """Ward 4's calls fall on a 3 × 3 grid of 250 m cells: the page and the GeoJSON it links
    to both answer, and agree."""
    client = TestClient(sample_app)
    page = client.get(
        "/datasets/tkpk-clls", params={"chart.hotspots": "250", "location__area": "Ward 4"}
    )
    assert page.status_code == 200
    links = re.findall(r'href="(/api/analysis/v1/tkpk-clls/hotspots\.geojson[^"]*)"', page.text)
    assert links, "the page links to its hotspots as GeoJSON"
    geo = client.get(html.unescape(links[0]))
    assert geo.status_code == 200, geo.text
    features = geo.json()["features"]
    assert len(features) == 9
    hot = sum(f["properties"]["kind"] == "hot" for f in features)
    cold = sum(f["properties"]["kind"] == "cold" for f in features)
    assert f"{hot} hot and {cold} cold cells of 9" in page.text


def test_the_page_and_the_geojson_agree(sample_app: FastAPI) -> None:
    client = TestClient(sample_app)
    page = client.get("/datasets/tkpk-clls", params={"chart.hotspots": "250"})
    assert page.status_code == 200
    geo = client.get("/api/analysis/v1/tkpk-clls/hotspots.geojson", params={"cell": "250"})
    assert geo.headers["content-type"].startswith("application/vnd.geo+json")
    features = geo.json()["features"]
    hot = [f for f in features if f["properties"]["kind"] == "hot"]
    cold = [f for f in features if f["properties"]["kind"] == "cold"]
    assert f"{len(hot)} hot and {len(cold)} cold cells of {len(features):,}" in page.text
    # The dataset counts calls (event numbers), so the hotspots do too, as the page does.
    assert geo.json()["properties"]["unit"] == "calls"
    assert "Hot means significantly more calls for service" in page.text
    points = geo.json()["properties"]["points"]
    assert f'<svg role="img" aria-label="Hotspots of {points:,} located calls for' in page.text
    offered = client.get("/datasets/tkpk-clls").text
    assert "Find hotspots in these calls for service" in offered
    assert "chart.hotspots=250" in offered


def test_cincinnati_use_of_force_hotspots_match_the_independent_gi_star(
    engine_store: Store, tmp_path: Path
) -> None:
    """The located incidents (about 11,900) of the real Cincinnati PDI use-of-force file."""
    spec = tmp_path / "cincinnati.yaml"
    spec.write_text(
        "name: Cincinnati use of force\n"
        "columns:\n"
        "  - {field: incident_no, source: INCIDENT_NO}\n"
        "  - {field: location, type: point, latitude: LATITUDE_X, longitude: LONGITUDE_X}\n"
    )
    result = load_file(
        engine_store,
        TEST_DATA / "cincinnati_use_of_force_points.csv",
        spec=load_spec_file(spec),
    )
    dataset = engine_store.get_dataset(result.dataset_id)
    points = located_points(engine_store, dataset, Settings(), None).spots
    assert len(points) > 10_000
    found = find_hotspots(points, 500)
    counts, *_ = grid_counts(points, 500)
    z = _gi_star(counts)
    assert [c.z for c in found.cells] == pytest.approx(list(z), abs=1e-6)
    p = 2 * norm.sf(np.abs(z))
    threshold = _bh_threshold(p, ALPHA)
    hot = {k for k in range(z.size) if p[k] <= threshold and z[k] > 0}
    assert {c.row * counts.shape[1] + c.col for c in found.cells if c.kind == "hot"} == hot
    assert len(hot) > 0
    assert found.geojson_bytes() == _plain_bytes(found)  # read from either engine


def test_the_engine_counts_every_located_row_on_the_same_grid(
    sample_app: FastAPI, calls: list[tuple[float, float]]
) -> None:
    """The engine's snapped counts give exactly the grid the raw points give, and every row
    under the filter counts, not a first page of them."""
    portal: Portal = sample_app.state.portal
    dataset = portal.store.get_dataset("tkpk-clls")
    rows = unit_of(dataset, "rows")
    snapped = located_points(portal.store, dataset, portal.settings, None, 250, rows).spots
    assert sum(n for _, _, n in snapped) == len(calls) == 11735
    assert len(snapped) < len(calls)  # counted in the engine, not sent point by point
    from_engine, *origin = grid_counts(snapped, 250)
    from_rows, *raw_origin = grid_counts(calls, 250)
    assert (from_engine == from_rows).all() and origin == pytest.approx(raw_origin)
    late = located_points(
        portal.store, dataset, portal.settings, "received_at >= '2020-01-01'", 250, rows
    ).spots
    client = TestClient(sample_app)
    count = client.get(
        "/resource/tkpk-clls.json",
        params={"$select": "count(*) AS n", "$where": "received_at >= '2020-01-01'"},
    ).json()[0]["n"]
    assert sum(n for _, _, n in late) == int(count) > 0
    geo = client.get(
        "/api/analysis/v1/tkpk-clls/hotspots.geojson",
        params={"cell": "250", "unit": "rows", "$where": "received_at >= '2020-01-01'"},
    ).json()
    assert geo["properties"]["points"] == int(count)
    assert sum(f["properties"]["count"] for f in geo["features"]) == int(count)


@pytest.mark.parametrize(("n", "cell_m"), [(400, 250.0), (3000, 100.0), (2000, 1000.0)])
def test_the_lattice_density_is_scipys_sum(n: int, cell_m: float) -> None:
    """The density by convolution equals scipy's kernel sums at every cell centre, for
    points on the snapping lattice (as the engine counts them), to rounding."""
    from scipy.stats import gaussian_kde

    from blotter.analysis.hotspots import grid_counts, lattice_density, snap_step

    rng = np.random.default_rng(n)
    step = snap_step(cell_m)
    lon = np.round((-77.0 + rng.normal(0, 0.01, n)) / step) * step
    lat = np.round((38.98 + rng.normal(0, 0.008, n)) / step) * step
    rows_at = rng.integers(1, 5, n)
    points = [(float(a), float(b), int(c)) for a, b, c in zip(lon, lat, rows_at, strict=True)]
    counts, west, south, d_lon, d_lat = grid_counts(points, cell_m)
    rows, cols = counts.shape
    kde = gaussian_kde(np.array([lon, lat]), weights=rows_at.astype(float))
    centres = np.array(
        [
            [west + (j + 0.5) * d_lon for i in range(rows) for j in range(cols)],
            [south + (i + 0.5) * d_lat for i in range(rows) for j in range(cols)],
        ]
    )
    direct = kde(centres)
    convolved = lattice_density(points, cell_m, kde.covariance).flatten()
    assert convolved.shape == direct.shape
    np.testing.assert_allclose(convolved / convolved.max(), direct / direct.max(), atol=1e-9)


def test_gi_star_is_esdas_on_libpysals_lattice_to_the_last_digit(
    calls: list[tuple[float, float]],
) -> None:
    """Gi* on the lattice graph kept per shape against ``G_Local`` given libpysal's queen
    weights (``lat2W``) afresh, as it was called before: the same z-scores and p-values, bit
    for bit, map after map; the hot and cold cells (the FDR threshold) follow from them."""
    from esda.getisord import G_Local
    from libpysal.weights import lat2W

    for cell_m, some in ((250, calls), (400, calls[::3]), (250, calls[: len(calls) // 2])):
        counts, *_ = grid_counts(some, cell_m)
        rows, cols = counts.shape
        fresh = G_Local(
            counts.flatten(),
            lat2W(rows, cols, rook=False),
            transform="B",
            star=True,
            permutations=0,
        )
        for _ in range(2):
            found = find_hotspots(some, cell_m)
            assert [c.z for c in found.cells] == [float(z) for z in fresh.Zs]
            p = np.minimum(np.asarray(fresh.p_norm, dtype=float) * 2, 1.0)
            assert [c.p for c in found.cells] == [float(v) for v in p]


def _plain_bytes(found: Hotspots) -> bytes:
    return JSONResponse(found.geojson()).body


def test_the_geojson_bytes_are_json_dumps_of_the_cells(
    sample_app: FastAPI, calls: list[tuple[float, float]]
) -> None:
    """The endpoint's bytes, written cell by cell from a template, against FastAPI's
    ``JSONResponse`` of the same collection: every unit, a filter, several cell sizes."""
    portal: Portal = sample_app.state.portal
    dataset = portal.store.get_dataset("tkpk-clls")
    client = TestClient(sample_app)
    for params in (
        {"cell": "250"},
        {"cell": "100", "unit": "rows"},
        {"cell": "500", "$where": "received_at >= '2020-01-01'"},
    ):
        served = client.get("/api/analysis/v1/tkpk-clls/hotspots.geojson", params=params)
        unit = unit_of(dataset, params.get("unit"))
        found = hotspots_of(
            portal.store,
            dataset,
            portal.settings,
            params.get("$where"),
            float(params["cell"]),
            unit,
        )
        assert served.content == _plain_bytes(found) == found.geojson_bytes()
    made = find_hotspots(calls, 300)
    assert made.geojson_bytes() == _plain_bytes(made)
    made.cells[0].bounds = (-0.0, 0.0, 1e-300, -1.5e16)  # zeros of both signs, extremes
    made.cells[1].z = 12345678901234567890.0
    assert made.geojson_bytes() == _plain_bytes(made)


def test_a_cell_json_cannot_write_fails_as_json_dumps_fails(
    calls: list[tuple[float, float]],
) -> None:
    made = find_hotspots(calls, 300)
    made.cells[5].z = math.nan
    with pytest.raises(ValueError, match="Out of range float"):
        _plain_bytes(made)
    with pytest.raises(ValueError, match="Out of range float"):
        made.geojson_bytes()


@pytest.mark.parametrize("threads", [2, 3])
def test_the_density_is_the_same_on_any_number_of_threads(threads: int, monkeypatch: Any) -> None:
    """The FFTs split their lines among threads; each line is computed as one thread
    computes it, so the density is the same to the last digit."""
    from scipy.stats import gaussian_kde

    import blotter.analysis.hotspots as hotspots

    rng = np.random.default_rng(threads)
    n, cell_m = 20_000, 250.0
    step = hotspots.snap_step(cell_m)
    lon = np.round((-122.25 + rng.normal(0, 0.03, n)) / step) * step
    lat = np.round((37.8 + rng.normal(0, 0.02, n)) / step) * step
    rows_at = rng.integers(1, 5, n)
    points = [(float(a), float(b), int(c)) for a, b, c in zip(lon, lat, rows_at, strict=True)]
    covariance = gaussian_kde(np.array([lon, lat]), weights=rows_at.astype(float)).covariance
    monkeypatch.setattr(hotspots, "FFT_THREADS", 1)
    alone = hotspots.lattice_density(points, cell_m, covariance)
    monkeypatch.setattr(hotspots, "FFT_THREADS", threads)
    together = hotspots.lattice_density(points, cell_m, covariance)
    assert alone.size > 1000 and np.array_equal(alone, together)


@pytest.mark.parametrize(("shape", "reach"), [((660, 871), (281, 349)), ((97, 130), (60, 8))])
def test_the_centres_rows_are_fftconvolves_to_the_last_digit(
    shape: tuple[int, int], reach: tuple[int, int]
) -> None:
    """The density transforms only what the cell centres read: the rows it makes are
    ``fftconvolve``'s full convolution's, bit for bit, for a lattice of weighted points and
    a tilted kernel, tall and wide, the sizes padded as fftconvolve pads them."""
    from scipy.signal import fftconvolve

    from blotter.analysis.hotspots import convolved_rows

    rng = np.random.default_rng(sum(shape))
    lattice = np.zeros(shape)
    at = rng.integers(0, lattice.size, shape[0] * 30)
    np.add.at(lattice.reshape(-1), at, rng.integers(1, 5, at.size).astype(float))
    gy = (np.arange(-reach[0], reach[0] + 1) + 0.5)[:, np.newaxis] * 0.02
    gx = (np.arange(-reach[1], reach[1] + 1) + 0.5)[np.newaxis, :] * 0.025
    kernel = np.exp(-0.5 * (gx * gx + 0.6 * gx * gy + 1.3 * gy * gy) / 9)
    rows = np.arange(4, shape[0], 10) + reach[0]
    full = fftconvolve(lattice, kernel, mode="full")
    made = convolved_rows(lattice, kernel, rows)
    assert made.shape == (len(rows), full.shape[1])
    assert np.array_equal(made, full[rows]) and np.abs(made).max() > 1


@pytest.mark.parametrize(("rows", "cols"), [(66, 67), (3, 4), (1, 9), (12, 1)])
def test_the_lattice_weights_are_in_libpysals_canonical_order(rows: int, cols: int) -> None:
    """Made sorted (``is_sorted``, no reindexing), the Graph is the one libpysal makes of
    the same pairs when it sorts them itself: the same adjacency, index, codes and sparse
    matrix, so Gi* reads the same weights."""
    from libpysal.graph import Graph

    lattice_weights.cache_clear()
    made = lattice_weights(rows, cols)
    adjacency = made._adjacency
    focal, neighbour = (adjacency.index.get_level_values(n).to_numpy() for n in (0, 1))
    resorted = Graph.from_arrays(focal, neighbour, adjacency.to_numpy())  # reindexed
    theirs = resorted._adjacency
    assert adjacency.equals(theirs) and adjacency.index.equals(theirs.index)
    codes = zip(adjacency.index.codes, theirs.index.codes, strict=True)
    assert all(np.array_equal(a, b) for a, b in codes)
    assert abs(made.sparse - resorted.sparse).max() == 0
    assert made.n == rows * cols and list(made.unique_ids) == list(range(rows * cols))
    assert made.sparse.sum() == resorted.sparse.sum() > 0
