"""A place typed on the dataset page ("100 block of Main St", "Maple Ave & Oak St") becomes a
point filter. First the dataset's own geocoded rows whose declared address field holds that
text (any case, spaces folded) are read with a SoQL query, and the mean of their points is the
centre of a ``point__near`` circle; when no row holds it and the deployment has a street
layer (``MAP_LAYERS``), the streets place it (``blotter.streets``: where two named streets
meet, or a point on one). The page then redirects to that filter's address, so the place is
looked up once and the view is an ordinary, shareable point filter."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import shapely

from blotter.errors import BlotterError
from blotter.maplayers import load_layers, street_lines
from blotter.model import ColumnType, Dataset
from blotter.portal import Portal
from blotter.queries import run_query
from blotter.settings import Settings
from blotter.streets import place_on_streets
from blotter.web.filters import PLACE_SUFFIX as PLACE
from blotter.web.filters import Problem

STREETS_AROUND = 0.01  # degrees (about 1 km) around the rows' extent: its streets
RADIUS_M = 250  # a typed place's circle, unless the address already gives one
MOST_ROWS = 5000  # rows read to place it; their mean is stable well before this


def has_address(dataset: Dataset) -> bool:
    """The dataset file declares an address field its rows hold."""
    address = dataset.meta.address_field
    return bool(address) and dataset.column(address) is not None


def place_param(dataset: Dataset, settings: Settings) -> str | None:
    """The page parameter of a typed place, when the dataset can place one: it has a point
    column, and its rows declare an address field or the deployment has street layers."""
    point = next((c for c in dataset.columns if c.type is ColumnType.POINT), None)
    if point is None or not (
        has_address(dataset) or settings.map_layers or dataset.meta.map_layers
    ):
        return None
    return point.field_name + PLACE


def _rows_place(
    portal: Portal, dataset: Dataset, point: str, typed: str
) -> tuple[float, float] | None:
    """The mean (lon, lat) of the located rows whose address field holds ``typed``."""
    address = dataset.meta.address_field
    if not has_address(dataset):
        return None
    literal = typed.upper().replace("'", "''")
    result = run_query(
        portal.store,
        dataset,
        {
            "$select": f"`{point}`",
            "$where": f"upper(`{address}`) = '{literal}' AND `{point}` IS NOT NULL",
            "$limit": str(MOST_ROWS),
        },
        portal.settings,
    )
    found = [row for row in result.rows if row[0] is not None and row[1] is not None]
    if not found:
        return None
    lon = sum(float(row[0]) for row in found) / len(found)
    lat = sum(float(row[1]) for row in found) / len(found)
    return lon, lat


def _streets_around(portal: Portal, dataset: Dataset, point: str) -> list[tuple[str, Any]]:
    """The layers' named streets within about a kilometre of the dataset's located rows, so
    "Main St & Elm St" is found in this dataset's town, not in another the layers cover."""
    streets = street_lines(load_layers(portal.settings, dataset.meta.map_layers))
    if not streets:
        return []
    extent = run_query(portal.store, dataset, {"$select": f"extent(`{point}`)"}, portal.settings)
    bounds = next(iter(extent.rows), (None,))
    if bounds is None or bounds[0] is None or len(bounds) != 4:
        return streets  # no located row: every street
    around = shapely.box(*bounds).buffer(STREETS_AROUND, join_style="mitre")
    return [(name, line) for name, line in streets if line.intersects(around)]


def place_redirect(
    portal: Portal, dataset: Dataset, params: dict[str, str]
) -> tuple[str | None, Problem | None]:
    """The address to send the reader to (the place as a point filter), or the problem
    that it cannot be placed; (None, None) when no place was typed."""
    param = place_param(dataset, portal.settings)
    typed = " ".join(params.get(param, "").split()) if param else ""
    if param is None or not typed:
        return None, None
    point = param.removesuffix(PLACE)
    at = _rows_place(portal, dataset, point, typed)
    if at is None:
        unplaced = ""
        if has_address(dataset):
            column = dataset.column(dataset.meta.address_field)
            label = column.name if column else dataset.meta.address_field
            unplaced = f"No row of this dataset with a location has the {label.lower()} '{typed}'"
        streets = _streets_around(portal, dataset, point)
        if not streets:
            return None, Problem(
                param, point, unplaced + ": type it as the rows write it, or click the map."
            )
        try:
            placed = place_on_streets(typed, streets, " near this dataset's rows")
        except BlotterError as err:
            said = f"{unplaced}. {err.message}" if unplaced else err.message
            return None, Problem(param, point, said + " Type it another way, or click the map.")
        at = placed.lon, placed.lat
    lon, lat = at
    near = params.get(point + "__near", "").split(",")
    radius = near[2].strip() if len(near) == 3 and near[2].strip() else str(RADIUS_M)
    kept = {k: v for k, v in params.items() if k not in (param, "page") and v}
    kept[point + "__near"] = f"{lat:.6f},{lon:.6f},{radius}"
    return f"/datasets/{dataset.id}?" + urlencode(kept), None
