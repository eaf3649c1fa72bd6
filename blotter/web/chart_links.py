"""The addresses of a chart's files and the snippet that embeds it, set on each chart a page
shows (the dataset page, dashboards, the When page); ``chart_files.py`` answers them."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from urllib.parse import urlencode

from fastapi import Request

from blotter.web.charts import Chart
from blotter.web.filters import VIEW_PREFIX
from blotter.web.rendering import absolute_url

# Parameters of the page that do not change a chart: left out of its address.
_PAGE_ONLY = {"page", "size", "sort", "dir", VIEW_PREFIX + "hotspots"}


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
