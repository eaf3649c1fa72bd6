"""Maps of the current view for datasets with points.

Without JavaScript the map is an SVG drawn on the server (Vega-Lite through vl-convert): the
area's boundaries and the points, dense ones shown as counted cells. With JavaScript, Leaflet
(from the ``xstatic-leaflet`` package, served by the portal itself) draws the same boundaries
and points, clustered by screen cell, with tiles only if the portal names a tile server. No
asset comes from anywhere but the portal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import shapely
import xstatic.pkg.leaflet
from markupsafe import Markup
from shapely.geometry import shape

from blotter.analysis.hotspots import hotspots_of
from blotter.analysis.units import Located, Unit, located_units, spread_note, unit_of
from blotter.errors import BlotterError, NotFound
from blotter.maplayers import Layer, drawn_within, load_layers
from blotter.model import Column, ColumnType, Dataset
from blotter.portal import Portal
from blotter.queries import and_where, run_query
from blotter.samples import HERE as SAMPLES_DIR
from blotter.web.chart_drawing import Pending, svg_of, unchecked_altair

if TYPE_CHECKING:
    import altair as alt

LEAFLET_DIR = Path(xstatic.pkg.leaflet.BASE_DIR)
MAX_POINTS = 1500  # drawn one by one; beyond this the static map counts them in cells
STATIC_CELL = 0.0025  # degrees: the static map's cells (about 250 m)
LIVE_POINTS = 5000  # sent one by one to the interactive map; beyond, cells with counts
LIVE_CELL = 0.0005  # degrees: the interactive map's cells (about 50 m)
_BOUNDARY_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}\.geojson$")


@dataclass
class HotspotView:
    svg: Markup
    density_svg: Markup  # the kernel density surface over the same cells
    description: str
    cell_m: float
    hot: list[list[str]]  # the hot and cold cells as table rows
    geojson_url: str
    method: str
    noun: str = "rows"  # what the cells count
    count_heading: str = "Rows in cell"


@dataclass
class MapView:
    svg: Markup | Pending
    description: str
    points_url: str  # GeoJSON of the filtered points, for the interactive map
    boundary_url: str | None
    tile_url: str
    tile_attribution: str
    hotspots: HotspotView | None = None
    hotspots_url: str = ""  # the same page with hotspots asked for
    hotspot_error: str = ""
    located: int = 0  # the located units (rows, incidents…) under the filter
    drawn_rows: int = 0  # the units the static map accounts for: all of them, each once
    noun: str = "rows"  # what the map counts: the page's unit
    layers: list[dict[str, str]] | None = None  # the deployment's layers: url and credit
    credits: list[str] | None = None  # their credit lines, shown under both maps


def point_column(dataset: Dataset) -> Column | None:
    return next((c for c in dataset.columns if c.type is ColumnType.POINT), None)


def boundary_path(portal: Portal, name: str) -> Path:
    """A boundary file by name: the configured directory, then the sample files."""
    if not _BOUNDARY_NAME.match(name):
        raise NotFound(f"There is no boundary file '{name}'.")
    folders = [
        portal.settings.boundaries_dir or portal.settings.data_dir / "boundaries",
        SAMPLES_DIR / "data",
    ]
    for folder in folders:
        path = folder / name
        if path.is_file():
            return path
    raise NotFound(f"There is no boundary file '{name}'.")


def load_boundary(portal: Portal, name: str) -> dict[str, Any] | None:
    """A boundary file's GeoJSON, or None when there is none; read once per file version,
    since every view of a dataset page needs it (for the map and for the area filters)."""
    try:
        path = boundary_path(portal, name)
    except NotFound:
        return None
    return _parsed(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=32)
def _parsed(path: Path, _version: int) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


_NAME_KEYS = ("name", "NAME", "Name", "WARD", "ward", "district", "DISTRICT", "town", "TOWN")


def boundary_areas(portal: Portal, dataset: Dataset) -> dict[str, str]:
    """The named areas of the dataset's boundary file (wards…) as WKT, for "inside" filters."""
    if not dataset.meta.boundary:
        return {}
    collection = load_boundary(portal, dataset.meta.boundary)
    if collection is None:
        return {}
    areas: dict[str, str] = {}
    for i, feature in enumerate(collection.get("features", []), start=1):
        props = feature.get("properties") or {}
        name = next((str(props[k]).title() for k in _NAME_KEYS if props.get(k)), f"Area {i}")
        geometry = feature.get("geometry") or {}
        polygons = (
            [geometry["coordinates"]]
            if geometry.get("type") == "Polygon"
            else geometry.get("coordinates", [])
            if geometry.get("type") == "MultiPolygon"
            else []
        )
        if polygons:
            areas[name] = (
                "MULTIPOLYGON ("
                + ", ".join(
                    "("
                    + ", ".join(
                        "(" + ", ".join(f"{x} {y}" for x, y, *_ in ring) + ")" for ring in polygon
                    )
                    + ")"
                    for polygon in polygons
                )
                + ")"
            )
    return areas


def _count(portal: Portal, dataset: Dataset, unit: Unit, where: str | None) -> int:
    params = {"$select": unit.count, **({"$where": where} if where else {})}
    return int(next(iter(run_query(portal.store, dataset, params, portal.settings).rows))[0])


def map_places(
    portal: Portal, dataset: Dataset, column: Column, where: str | None, unit: Unit
) -> tuple[int, Located]:
    """The located units under ``where`` (``column``: the point column), and where the map
    draws them: each one, or beyond ``MAX_POINTS`` the engine's counts in cells of 1/400
    degree (about 250 m), so every unit counts, density shows instead of a blot, and the
    picture stays small."""
    located_where = and_where(where, f"`{column.field_name}` IS NOT NULL")
    located = _count(portal, dataset, unit, located_where)  # kept by the page's summary
    step = STATIC_CELL if located > MAX_POINTS else None
    return located, located_units(portal.store, dataset, portal.settings, unit, where, step)


def build_map(
    portal: Portal,
    dataset: Dataset,
    where: str | None,
    matching: int,
    hotspot_cell: float | None = None,
    page_url: str = "",
    unit: Unit | None = None,
) -> MapView | None:
    """The map of every point under the filter, or None for a dataset without points. It
    counts ``unit`` (the dataset's default when None), as the page around it does: each
    incident once, at the place most of its rows give; ``matching`` is the rows matching."""
    column = point_column(dataset)
    if column is None:
        return None
    unit = unit or unit_of(dataset, None)
    name = f"`{column.field_name}`"
    located_where = and_where(where, f"{name} IS NOT NULL")
    located, placed = map_places(portal, dataset, column, where, unit)
    if unit.key is not None:
        matching = _count(portal, dataset, unit, where)
    dense = located > MAX_POINTS
    drawn = placed.spots
    boundary = None
    if dataset.meta.boundary:
        boundary = load_boundary(portal, dataset.meta.boundary)
    title = f"Map of {located:,} located {unit.noun}"
    layers = load_layers(portal.settings, dataset.meta.map_layers)
    under = _layers_under(layers, drawn, boundary)
    spec, datasets = _spec(drawn, boundary, title, dense, unit, under)
    where_drawn = (
        "; the map counts every one of them in cells of about 250 m"
        if dense
        else "; the map shows every one"
    )
    once = ", each once, at the place most of its rows give" if unit.key else ""
    spread = (
        f" {placed.spread_note} The interactive map shows such {unit.noun} at each place."
        if placed.spread
        else ""
    )
    description = (
        f"{located:,} of the {matching:,} matching {unit.noun} have a location"
        + where_drawn
        + once
        + "."
        + spread
        + (" The dark lines are the area's boundaries." if boundary else "")
        + (" Thin grey lines are streets." if under[1] else "")
    )
    live = _live_query(name, located_where, unit, located)
    hotspots, problem = None, ""
    if hotspot_cell is not None:
        try:
            hotspots = hotspot_view(portal, dataset, where, hotspot_cell, boundary, unit)
        except BlotterError as err:
            problem = err.message
    joiner = "&" if "?" in page_url else "?"
    return MapView(
        # Drawn beside the page's other work; the template waits for it.
        svg=Pending(partial(svg_of, spec, title, datasets)),
        description=description,
        points_url=f"/resource/{dataset.id}.geojson?{urlencode(live)}",
        boundary_url=f"/boundaries/{dataset.meta.boundary}" if boundary else None,
        tile_url=portal.settings.tile_url,
        tile_attribution=portal.settings.tile_attribution,
        hotspots=hotspots,
        hotspots_url=f"{page_url}{joiner}chart.hotspots=250#hotspots",
        hotspot_error=problem,
        located=located,
        drawn_rows=placed.total,
        noun=unit.noun,
        layers=[{"url": layer.url, "credit": layer.credit} for layer in layers],
        credits=[layer.credit for layer in layers],
    )


def _live_query(name: str, located_where: str, unit: Unit, located: int) -> dict[str, str]:
    """The interactive map's SoQL: every located row, or beyond ``LIVE_POINTS`` cells of
    about 50 m with their counts (``n``), never a first page of the rows. A declared unit
    is counted once per place (or cell) it has rows at, as SoQL can say it."""
    if unit.key is None and located <= LIVE_POINTS:
        return {"$select": name, "$where": located_where, "$limit": str(max(located, 1))}
    at = name if located <= LIVE_POINTS else f"snap_to_grid({name}, {LIVE_CELL})"
    return {
        "$select": f"{at} AS at, {unit.count} AS n",
        "$where": located_where,
        "$group": "at",
        "$limit": "50000",
    }


def _layers_under(
    layers: list[Layer],
    drawn: list[tuple[float, float, int]],
    boundary: dict[str, Any] | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The layers' areas and lines within the points' extent (else the boundary's), with a
    margin, so the streets frame the points without stretching the map to the whole city."""
    if not layers:
        return [], []
    if drawn:
        lons = [lon for lon, _, _ in drawn]
        lats = [lat for _, lat, _ in drawn]
    elif boundary is not None:
        box = shapely.total_bounds([shape(f["geometry"]) for f in boundary["features"]])
        lons, lats = [box[0], box[2]], [box[1], box[3]]
    else:
        return [], []
    pad_lon = max((max(lons) - min(lons)) * 0.05, 0.002)
    pad_lat = max((max(lats) - min(lats)) * 0.05, 0.002)
    bounds = (min(lons) - pad_lon, min(lats) - pad_lat, max(lons) + pad_lon, max(lats) + pad_lat)
    return drawn_within(layers, bounds)


def _spec(
    drawn: list[tuple[float, float, int]],
    boundary: dict[str, Any] | None,
    title: str,
    dense: bool,
    unit: Unit,
    under: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], []),
) -> tuple[alt.TopLevelMixin, dict[str, Any]]:
    """The static map's spec and the rows it names (written in after Altair's checks): the
    deployment's areas and streets first, so the boundary and the points are drawn above."""
    import altair as alt

    unchecked_altair()

    layers: list[Any] = []
    datasets: dict[str, Any] = {
        "points": [{"lon": lon, "lat": lat, "n": n} for lon, lat, n in drawn]
    }
    areas, lines = under
    if areas:
        datasets["layer_areas"] = _d3_wound(areas)
        layers.append(
            alt.Chart(alt.Data(name="layer_areas"))  # type: ignore[no-untyped-call]
            .mark_geoshape(fill="#e6eee3", stroke="#c9d6c4", strokeWidth=0.5)
            .project(type="mercator")
        )
    if lines:
        datasets["layer_lines"] = lines
        layers.append(
            alt.Chart(alt.Data(name="layer_lines"))  # type: ignore[no-untyped-call]
            .mark_geoshape(filled=False, stroke="#9aa3ad", strokeWidth=0.7)
            .project(type="mercator")
        )
    if boundary is not None:
        datasets["boundary"] = _d3_wound(boundary["features"])
        layers.append(
            alt.Chart(alt.Data(name="boundary"))  # type: ignore[no-untyped-call]
            # Over streets, only its lines: a fill would hide them.
            .mark_geoshape(fill="#f3f5f8", filled=not layers, stroke="#4a5360", strokeWidth=1)
            .project(type="mercator")
        )
    points = alt.Data(name="points")  # type: ignore[no-untyped-call]
    if dense:
        layers.append(
            alt.Chart(points)
            .mark_square(opacity=0.8, size=30)
            .encode(
                longitude=alt.Longitude("lon:Q"),
                latitude=alt.Latitude("lat:Q"),
                color=alt.Color("n:Q", title=unit.title, scale=alt.Scale(scheme="blues")),
            )
            .project(type="mercator")
        )
    else:
        layers.append(
            alt.Chart(points)
            .mark_circle(size=24, color="#b3261e", opacity=0.7)
            .encode(longitude=alt.Longitude("lon:Q"), latitude=alt.Latitude("lat:Q"))
            .project(type="mercator")
        )
    return alt.layer(*layers).properties(title=title, width=560, height=420), datasets


def _signed_area(ring: list[list[float]]) -> float:
    """Twice the ring's area on the plane of (lon, lat): positive when anticlockwise."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0, *_), (x1, y1, *_) in pairwise(ring))


def _wound(polygon: list[list[list[float]]]) -> list[list[list[float]]]:
    """The outer ring clockwise, holes anticlockwise."""
    rings = []
    for i, ring in enumerate(polygon):
        clockwise = _signed_area(ring) < 0
        rings.append(ring if clockwise == (i == 0) else ring[::-1])
    return rings


def _d3_wound(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The features with their polygons wound as Vega's d3-geo reads them. GeoJSON (RFC
    7946) winds outer rings anticlockwise; d3-geo works on the sphere and takes an
    anticlockwise ring for everything *outside* it, so each hotspot cell filled the whole
    frame and the last one drawn covered the rest: the "empty square" of those charts."""
    wound = []
    for feature in features:
        geometry = feature.get("geometry") or {}
        kind = geometry.get("type")
        if kind == "Polygon":
            coords: Any = _wound(geometry["coordinates"])
        elif kind == "MultiPolygon":
            coords = [_wound(polygon) for polygon in geometry["coordinates"]]
        else:
            wound.append(feature)
            continue
        wound.append({**feature, "geometry": {**geometry, "coordinates": coords}})
    return wound


def hotspot_view(
    portal: Portal,
    dataset: Dataset,
    where: str | None,
    cell_m: float,
    boundary: dict[str, Any] | None,
    unit: Unit | None = None,
) -> HotspotView:
    """Gi* hotspots of the filtered units (the dataset's default when None) as a map with a
    legend, words and a table."""
    import altair as alt

    unchecked_altair()

    unit = unit or unit_of(dataset, None)
    found = hotspots_of(portal.store, dataset, portal.settings, where, cell_m, unit)
    kinds = ["hot", "cold", "not significant"]
    colours = ["#b3261e", "#0b5cad", "#e4e8ee"]
    # The area's lines go above the cells, so the cells never hide them.
    outline: list[Any] = []
    cells = _d3_wound(found.geojson()["features"])
    # Rows named in the specs and written in after Altair's checks (seconds for a grid).
    datasets: dict[str, Any] = {"cells": cells}
    if boundary is not None:
        datasets["boundary"] = _d3_wound(boundary["features"])
        outline.append(
            alt.Chart(alt.Data(name="boundary"))  # type: ignore[no-untyped-call]
            .mark_geoshape(filled=False, stroke="#1f2933", strokeWidth=1.2)
            .project(type="mercator")
        )
    hot_layer = (
        alt.Chart(alt.Data(name="cells"))  # type: ignore[no-untyped-call]
        .mark_geoshape(stroke="#ffffff", strokeWidth=0.3, opacity=0.85)
        .encode(
            color=alt.Color(
                "properties.kind:N",
                title="Gi* at 5% FDR",
                scale=alt.Scale(domain=kinds, range=colours),
            )
        )
        .project(type="mercator")
    )
    title = f"Hotspots of {found.points:,} located {found.noun} ({cell_m:g} m cells)"
    spec = alt.layer(hot_layer, *outline).properties(title=title, width=560, height=420)
    density_layer = (
        alt.Chart(alt.Data(name="cells"))  # type: ignore[no-untyped-call]
        .mark_geoshape(stroke=None, opacity=0.85)
        .encode(
            color=alt.Color(
                "properties.density:Q",
                title="Density (share of peak)",
                scale=alt.Scale(scheme="orangered"),
            )
        )
        .project(type="mercator")
    )
    density_title = f"Kernel density of {found.points:,} located {found.noun}"
    density_spec = alt.layer(density_layer, *outline).properties(
        title=density_title, width=560, height=420
    )
    hot = [c for c in found.cells if c.kind == "hot"]
    cold = [c for c in found.cells if c.kind == "cold"]
    description = (
        f"{len(hot)} hot and {len(cold)} cold cells of {len(found.cells):,}. Hot means "
        f"significantly more {found.noun} in and around the cell than the area's average "
        "(Getis-Ord Gi*, false discovery rate 5%); it says where things were recorded, not why."
    )
    if found.spread:
        description += " " + spread_note(found.spread, found.points, found.noun)
    rows = [
        [
            c.kind,
            f"{(c.bounds[1] + c.bounds[3]) / 2:.5f}, {(c.bounds[0] + c.bounds[2]) / 2:.5f}",
            f"{c.count:,}",
            f"{c.z:.2f}",
            f"{c.p:.4f}",
        ]
        for c in sorted(hot + cold, key=lambda c: -abs(c.z))
    ]
    query = urlencode(
        {"cell": f"{cell_m:g}", "unit": unit.name, **({"$where": where} if where else {})}
    )
    return HotspotView(
        svg=svg_of(spec, title, datasets),
        density_svg=svg_of(density_spec, density_title, datasets),
        description=description,
        cell_m=cell_m,
        hot=rows,
        geojson_url=f"/api/analysis/v1/{dataset.id}/hotspots.geojson?{query}",
        method=found.method,
        noun=found.noun,
        count_heading=f"{found.noun[:1].upper()}{found.noun[1:]} in cell",
    )
