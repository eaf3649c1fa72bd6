"""Every chart of the portal's pages as a file with a stable address, to share or embed.

``/datasets/{id}/charts/{chart id}.svg`` (or ``.png``) with the page's own filter and
``chart.`` parameters draws the same chart from the same SoQL as the page, so a link or an
``<img>`` on another site always shows the current version under that filter. The
addresses themselves are made by ``chart_links.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import Response

from blotter.access import visible_version
from blotter.analysis.summary import date_column
from blotter.analysis.timing import hour_by_weekday, year_on_year
from blotter.auth import viewer_of
from blotter.errors import InvalidRequest, NotFound
from blotter.model import Column, Dataset, check_version_number
from blotter.portal import Portal
from blotter.web.chart_links import DRAWING
from blotter.web.charts import PERIODS, Chart, chartable, count_by, crosstab, over_time
from blotter.web.drawing_process import vegalite_to_png, vegalite_to_svg
from blotter.web.filters import VIEW_PREFIX, parse_filters, where_clause
from blotter.web.kept import kept_page
from blotter.web.maps import boundary_areas
from blotter.web.rendering import portal_of
from blotter.web.timing import hour_weekday_chart, year_on_year_chart

router = APIRouter(include_in_schema=False)
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
PNG_SCALE = 2  # sharp on high-density screens and in slides


def _column(columns: list[Column], name: str) -> Column | None:
    return next((c for c in columns if c.field_name == name), None)


def build_chart(
    portal: Portal, dataset: Dataset, name: str, params: Mapping[str, str]
) -> tuple[Chart, str]:
    """The chart a page with these parameters shows under this id (NotFound for any other),
    and a subtitle saying whose rows it counts: away from its page, an image must say so."""
    areas = boundary_areas(portal, dataset)
    parsed = parse_filters(dataset, params, areas)
    if parsed.problems:
        raise InvalidRequest(
            " ".join(p.message for p in parsed.problems), parameter=parsed.problems[0].param
        )
    where = where_clause(parsed.filters)
    subtitle = "; ".join([dataset.meta.name, *(f.label for f in parsed.filters)])
    columns = chartable(dataset)
    kind, _, rest = name.partition("-")
    # A dashboard sums its dataset's measure (officer hours…): "by-{field}-{measure}".
    measure_name = dataset.meta.dashboard_measure
    measure = dataset.column(measure_name) if measure_name else None
    if measure is not None and rest.endswith("-" + measure.field_name):
        rest = rest.removesuffix("-" + measure.field_name)
    else:
        measure = None
    if kind == "by" and (column := _column(columns, rest)) is not None:
        return count_by(portal, dataset, where, column, measure), subtitle
    when = date_column(dataset)
    if kind == "time" and when is not None and rest == when.field_name:
        period = params.get(VIEW_PREFIX + "period", "month")
        if period not in PERIODS:
            raise InvalidRequest("Choose month, quarter or year.", parameter="chart.period")
        split_name = params.get(VIEW_PREFIX + "split", "")
        split = _column(columns, split_name) if split_name else None
        if split_name and split is None:
            raise InvalidRequest(
                f"Charts cannot split by '{split_name}': choose a column from the page's list.",
                parameter="chart.split",
            )
        return over_time(portal, dataset, where, when, period, split, measure), subtitle
    if name in ("hour-by-weekday", "year-on-year") and when is not None:
        return _timing_chart(portal, dataset, name, where, params), subtitle
    if kind == "cross" and measure is None:
        # Field names hold no hyphen, so the one between them splits the pair.
        down_name, _, across_name = rest.partition("-")
        down, across = _column(columns, down_name), _column(columns, across_name)
        if down is not None and across is not None and down != across:
            return crosstab(portal, dataset, where, down, across), subtitle
    raise NotFound(
        f"Dataset {dataset.id} has no chart '{name}'. A chart's address is linked beside it "
        "on the dataset page.",
        chart=name,
    )


def _timing_chart(
    portal: Portal, dataset: Dataset, name: str, where: str | None, params: Mapping[str, str]
) -> Chart:
    """The When page's charts: hour × weekday, and a period against the year before."""
    noun = dataset.meta.row_noun or "rows"
    if name == "hour-by-weekday":
        return hour_weekday_chart(
            hour_by_weekday(portal.store, dataset, portal.settings, where), noun
        )
    end, days = params.get(VIEW_PREFIX + "end", ""), params.get(VIEW_PREFIX + "days", "")
    compared = year_on_year(portal.store, dataset, portal.settings, where, end, days)
    return year_on_year_chart(compared, noun)


def draw(chart: Chart, fmt: str, subtitle: str = "") -> bytes:
    """The chart as a standalone SVG or PNG file, drawn by vl-convert from its spec."""
    spec = json.loads(chart.spec)
    if subtitle:
        spec["title"] = {"text": chart.title, "subtitle": subtitle}
    if fmt == "png":
        return vegalite_to_png(spec, scale=PNG_SCALE)
    return vegalite_to_svg(spec).encode()


def page_drawing(chart: Chart, variant: str) -> bytes:
    """The drawing the page itself would show inline (``wide`` or ``phone``), as a file:
    what a lazily shown chart's image loads."""
    svg = chart.svg if variant == "wide" else chart.svg_narrow
    if not svg:
        raise NotFound(f"Chart '{chart.id}' has no {variant} drawing.", chart=chart.id)
    return str(svg).encode()


@router.get("/datasets/{dataset_id}/charts/{name}.{fmt}")
def chart_file(request: Request, dataset_id: str, name: str, fmt: str) -> Response:
    """One chart of the dataset page as SVG or PNG, under the filters in the address."""
    if fmt not in FORMATS:
        raise NotFound(f"Charts are drawn as .svg or .png, not .{fmt}.", format=fmt)
    portal = portal_of(request)
    asked = request.query_params.get("version")  # a chart of an older version's page
    number = check_version_number(asked, "version") if asked else None
    viewer = viewer_of(request, portal.store)
    dataset, _ = visible_version(portal.store, viewer, dataset_id, number)

    params = dict(request.query_params)
    variant = params.pop(DRAWING, "")
    if variant not in ("", "wide", "phone") or (variant and fmt != "svg"):
        raise InvalidRequest(
            "A page's drawing of a chart is chart.drawing=wide or phone, as .svg.",
            parameter=DRAWING,
        )

    def drawn() -> Response:
        chart, subtitle = build_chart(portal, dataset, name, params)
        headers = {
            "Content-Disposition": f'inline; filename="{dataset.id}-{chart.id}.{fmt}"',
            # Other sites may show the image; staff answers may hold internal data.
            "Cache-Control": "private, no-store" if viewer.user else "public, max-age=300",
        }
        body = page_drawing(chart, variant) if variant else draw(chart, fmt, subtitle)
        return Response(body, media_type=FORMATS[fmt], headers=headers)

    # The public's chart is kept, drawn once per version, view and format.
    return kept_page(request, portal, viewer, dataset, f"chart {name}.{fmt}", drawn)
