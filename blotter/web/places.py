"""A place typed on the dataset page ("100 block of Main St", "Maple Ave & Oak St") becomes a
point filter: the dataset's own geocoded rows whose declared address field holds that text
(any case, spaces folded) are read with a SoQL query, and the mean of their points is the
centre of a ``point__near`` circle. The page then redirects to that filter's address, so the
place is looked up once and the view is an ordinary, shareable point filter."""

from __future__ import annotations

from urllib.parse import urlencode

from blotter.model import ColumnType, Dataset
from blotter.portal import Portal
from blotter.queries import run_query
from blotter.web.filters import PLACE_SUFFIX as PLACE
from blotter.web.filters import Problem

RADIUS_M = 250  # a typed place's circle, unless the address already gives one
MOST_ROWS = 5000  # rows read to place it; their mean is stable well before this


def place_param(dataset: Dataset) -> str | None:
    """The page parameter of a typed place, when the dataset can place one: it declares an
    address field and has a point column."""
    point = next((c for c in dataset.columns if c.type is ColumnType.POINT), None)
    address = dataset.meta.address_field
    if point is None or not address or dataset.column(address) is None:
        return None
    return point.field_name + PLACE


def place_redirect(
    portal: Portal, dataset: Dataset, params: dict[str, str]
) -> tuple[str | None, Problem | None]:
    """The address to send the reader to (the place as a point filter), or the problem
    that it cannot be placed; (None, None) when no place was typed."""
    param = place_param(dataset)
    typed = " ".join(params.get(param, "").split()) if param else ""
    if param is None or not typed:
        return None, None
    point = param.removesuffix(PLACE)
    address = dataset.meta.address_field
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
        name = dataset.column(address)
        label = name.name if name else address
        return None, Problem(
            param,
            point,
            f"No row of this dataset with a location has the {label.lower()} '{typed}': "
            "type it as the rows write it, or click the map.",
        )
    lon = sum(float(row[0]) for row in found) / len(found)
    lat = sum(float(row[1]) for row in found) / len(found)
    near = params.get(point + "__near", "").split(",")
    radius = near[2].strip() if len(near) == 3 and near[2].strip() else str(RADIUS_M)
    kept = {k: v for k, v in params.items() if k not in (param, "page") and v}
    kept[point + "__near"] = f"{lat:.6f},{lon:.6f},{radius}"
    return f"/datasets/{dataset.id}?" + urlencode(kept), None
