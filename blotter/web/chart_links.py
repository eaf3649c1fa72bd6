"""The addresses of a chart's files and the snippet that embeds it, set on each chart a page
shows (the dataset page, dashboards, the When page); ``chart_files.py`` answers them. A
chart shown lazily is an image of the page's own drawing, at the same address with
``chart.drawing=wide`` or ``phone``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from urllib.parse import urlencode

from fastapi import Request

from blotter.web.charts import Chart
from blotter.web.filters import VIEW_PREFIX
from blotter.web.rendering import absolute_url

# Parameters of the page that do not change a chart: left out of its address.
_PAGE_ONLY = {"page", "size", "sort", "dir", VIEW_PREFIX + "hotspots"}
# Which of the page's drawings a chart file is (wide or phone), not a drawing of its own.
DRAWING = VIEW_PREFIX + "drawing"


def chart_params(params: Mapping[str, str]) -> dict[str, str]:
    """The page parameters that decide a chart: its filters and the ``chart.`` choices."""
    return {k: v for k, v in params.items() if k not in _PAGE_ONLY and v}


def add_share_links(
    request: Request, dataset_id: str, chart: Chart, params: Mapping[str, str]
) -> None:
    """Give the chart its SVG and PNG addresses under the page's filters, and an ``<img>``
    snippet (linked to the page it comes from) to embed it on another site."""
    kept = chart_params(params)
    query = ("?" + urlencode(kept)) if kept else ""
    path = f"/datasets/{dataset_id}/charts/{chart.id}"
    svg, png = f"{path}.svg{query}", f"{path}.png{query}"
    embed = (
        f'<a href="{escape(absolute_url(request, request.url.path + query))}">'
        f'<img src="{escape(absolute_url(request, svg))}" alt="{escape(chart.title)}: '
        f'{escape(chart.description)}"></a>'
    )
    chart.svg_url, chart.png_url, chart.embed = svg, png, embed
    # The page's own drawings as files, for a chart the page shows as an image.
    drawing = f"{svg}{'&' if query else '?'}{DRAWING}="
    chart.wide_url = drawing + "wide"
    chart.phone_url = drawing + "phone" if chart.drawing.phone_width is not None else ""


def show_lazily(charts: Iterable[Chart | None]) -> None:
    """These charts go on their page as images of its drawings, which the browser loads
    after the page: the page itself is not kept waiting for vl-convert."""
    for chart in charts:
        if chart is not None and chart.wide_url:
            chart.lazy = True
