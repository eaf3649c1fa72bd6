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
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import altair as alt
import xstatic.pkg.leaflet
from markupsafe import Markup

from blotter.errors import NotFound
from blotter.model import Column, ColumnType, Dataset
from blotter.portal import Portal
from blotter.queries import run_query
from blotter.samples import HERE as SAMPLES_DIR
from blotter.web.charts import svg_of

LEAFLET_DIR = Path(xstatic.pkg.leaflet.BASE_DIR)
MAX_POINTS = 5000  # drawn one by one; beyond this the static map counts them in cells
_BOUNDARY_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}\.geojson$")


@dataclass
class MapView:
    svg: Markup
    description: str
    points_url: str  # GeoJSON of the filtered points, for the interactive map
    boundary_url: str | None
    tile_url: str
    tile_attribution: str


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


_NAME_KEYS = ("name", "NAME", "Name", "WARD", "ward", "district", "DISTRICT", "town", "TOWN")


def boundary_areas(portal: Portal, dataset: Dataset) -> dict[str, str]:
    """The named areas of the dataset's boundary file (wards…) as WKT, for "inside" filters."""
    if not dataset.meta.boundary:
        return {}
    try:
        collection = json.loads(boundary_path(portal, dataset.meta.boundary).read_text())
    except NotFound:
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


def build_map(portal: Portal, dataset: Dataset, where: str | None, matching: int) -> MapView | None:
    """The map of the points under the filter, or None for a dataset without points."""
    column = point_column(dataset)
    if column is None:
        return None
    name = f"`{column.field_name}`"
    located_where = " AND ".join(filter(None, [where, f"{name} IS NOT NULL"]))
    params = {"$select": name, "$where": located_where, "$limit": str(MAX_POINTS)}
    points = [row for row in run_query(portal.store, dataset, params, portal.settings).rows]
    count_params = {"$select": "count(*)", "$where": located_where}
    located = int(
        next(iter(run_query(portal.store, dataset, count_params, portal.settings).rows))[0]
    )
    boundary = None
    if dataset.meta.boundary:
        try:
            boundary = json.loads(boundary_path(portal, dataset.meta.boundary).read_text())
        except NotFound:
            boundary = None
    title = f"Map of {located:,} located rows"
    spec = _spec(points, boundary, title, located > MAX_POINTS)
    shown = min(located, MAX_POINTS)
    description = (
        f"{located:,} of the {matching:,} matching rows have a location"
        + (f"; the map shows the first {shown:,} by :id" if located > shown else "")
        + (". The lines are the area's boundaries." if boundary else ".")
    )
    query = urlencode({"$where": located_where, "$limit": str(MAX_POINTS)})
    return MapView(
        svg=svg_of(spec, title),
        description=description,
        points_url=f"/resource/{dataset.id}.geojson?{query}",
        boundary_url=f"/boundaries/{dataset.meta.boundary}" if boundary else None,
        tile_url=portal.settings.tile_url,
        tile_attribution=portal.settings.tile_attribution,
    )


def _spec(
    points: list[tuple[Any, ...]], boundary: dict[str, Any] | None, title: str, dense: bool
) -> alt.TopLevelMixin:
    values = [{"lon": lon, "lat": lat} for lon, lat in points if lon is not None]
    layers: list[Any] = []
    if boundary is not None:
        layers.append(
            alt.Chart(alt.Data(values=boundary["features"]))
            .mark_geoshape(fill="#f3f5f8", stroke="#4a5360", strokeWidth=1)
            .project(type="mercator")
        )
    if dense or len(values) > 1500:
        # Many points: counted in cells of 1/400 degree (about 250 m) here, so density shows
        # instead of a blot, and the picture stays small.
        cells: dict[tuple[float, float], int] = {}
        for v in values:
            key = (round(v["lon"] * 400) / 400, round(v["lat"] * 400) / 400)
            cells[key] = cells.get(key, 0) + 1
        binned = [{"lon": lon, "lat": lat, "n": n} for (lon, lat), n in cells.items()]
        layers.append(
            alt.Chart(alt.Data(values=binned))
            .mark_square(opacity=0.8, size=30)
            .encode(
                longitude="lon:Q",
                latitude="lat:Q",
                color=alt.Color("n:Q", title="Rows", scale=alt.Scale(scheme="blues")),
            )
            .project(type="mercator")
        )
    else:
        layers.append(
            alt.Chart(alt.Data(values=values))
            .mark_circle(size=24, color="#b3261e", opacity=0.7)
            .encode(longitude="lon:Q", latitude="lat:Q")
            .project(type="mercator")
        )
    return alt.layer(*layers).properties(title=title, width=560, height=420)
