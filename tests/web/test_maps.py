"""Maps of the current view: a server-drawn SVG without JavaScript, Leaflet from the portal
itself with it, boundary files served by name; nothing fetched from another site."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from playwright.sync_api import Browser, Page

from blotter.analysis.units import unit_of
from blotter.web.maps import LIVE_POINTS
from tests.conftest import LiveServer
from tests.web.conftest import ROWS, STOPS, stop_row

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"


def test_a_point_dataset_has_a_map_of_the_filtered_rows(web: TestClient) -> None:
    page = web.get(f"/datasets/{STOPS}").text
    assert '<section aria-labelledby="map-heading" class="map">' in page
    assert f"{ROWS} of the {ROWS} matching rows have a location; the map shows every one." in page
    assert '<svg role="img" aria-label="Map of 60 located rows"' in page
    main_st = sum(1 for i in range(ROWS) if stop_row(i)["street"] == "Main St")
    filtered = web.get(f"/datasets/{STOPS}?street=Main+St").text
    assert f"{main_st} of the {main_st} matching rows have a location;" in filtered
    assert (
        'data-points="/resource/test-0001.geojson?%24select=%60location%60'
        "&amp;%24where=%28%60street%60+%3D+%27Main+St%27%29"
    ) in filtered


def test_a_dataset_without_points_has_no_map(web: TestClient) -> None:
    assert 'class="map"' not in web.get("/datasets/smpl-0002").text


def test_boundaries_and_leaflet_are_served_by_the_portal(web: TestClient) -> None:
    wards = web.get("/boundaries/tp_wards.geojson")
    assert wards.status_code == 200 and wards.headers["content-type"] == "application/geo+json"
    assert wards.json()["type"] == "FeatureCollection"
    assert web.get("/boundaries/nope.geojson").status_code == 404
    assert web.get("/boundaries/..%2Fblotter.duckdb").status_code == 404
    leaflet = web.get("/static/leaflet/leaflet.js")
    assert leaflet.status_code == 200 and "Leaflet" in leaflet.text[:2000]
    assert web.get("/static/leaflet/leaflet.css").status_code == 200


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    yield context.new_page()
    context.close()


@pytest.mark.browser
def test_with_javascript_leaflet_draws_the_points_from_this_portal_only(
    tab: Page, small_server: LiveServer
) -> None:
    elsewhere: list[str] = []
    tab.on(
        "request",
        lambda r: elsewhere.append(r.url) if not r.url.startswith(small_server.url) else None,
    )
    tab.goto(f"{small_server.url}/datasets/{STOPS}?street=Main+St")
    tab.wait_for_selector(".map-live:not([hidden])")
    assert tab.locator(".map-static").is_hidden()
    drawn = tab.locator(".map-live .leaflet-marker-icon, .map-live path.leaflet-interactive")
    drawn.first.wait_for()
    assert drawn.count() >= 1
    assert elsewhere == []


@pytest.mark.browser
def test_with_javascript_a_chart_turns_interactive_on_request_only(
    tab: Page, small_server: LiveServer
) -> None:
    loaded: list[str] = []
    tab.on("request", lambda r: loaded.append(r.url))
    tab.goto(f"{small_server.url}/datasets/{STOPS}?chart.by=street")
    figure = tab.get_by_role("figure", name="Rows by street")
    assert not any(u.endswith("/assets/vega.js") for u in loaded)  # not on first load
    figure.get_by_role("button", name="Interactive chart").click()
    figure.locator(".chart-live canvas, .chart-live svg").first.wait_for()
    assert any(u.endswith("/assets/vega.js") for u in loaded)
    assert all(u.startswith(small_server.url) for u in loaded)


@pytest.mark.browser
def test_hotspots_asked_for_are_drawn_on_the_interactive_map_with_a_legend(
    tab: Page, sample_server: LiveServer
) -> None:
    tab.goto(f"{sample_server.url}/datasets/tkpk-clls?chart.hotspots=250")
    legend = tab.locator(".map-live .map-legend")
    legend.wait_for()
    assert "hot" in legend.inner_text() and "false discovery rate" in legend.inner_text()
    assert tab.get_by_role("img", name=re.compile("Hotspots of")).count() == 1


def test_the_maps_account_for_every_located_row_under_the_filter(sample_app: FastAPI) -> None:
    """The calls run 2018-2020; the maps once showed the first 5,000 by :id (2018 only)."""
    client = TestClient(sample_app)
    for where in (None, "received_at >= '2020-01-01'"):
        params = {"$select": "count(*) AS n", "$where": "location IS NOT NULL"}
        if where:
            params["$where"] += f" AND {where}"
        count = int(client.get("/resource/tkpk-clls.json", params=params).json()[0]["n"])
        page = client.get(
            "/datasets/tkpk-clls",
            params={"chart.unit": "rows", **({"received_at__min": "2020-01-01"} if where else {})},
        ).text
        # Counted in rows, which this dataset calls officer responses.
        assert f"{count:,} of the {count:,} matching officer responses have a location" in page
        assert "the map counts every one of them" in page
        assert f'aria-label="Map of {count:,} located officer responses"' in page
        live = re.search(r'data-points="([^"]+)"', page)
        assert live is not None
        cells = client.get(html.unescape(live.group(1))).json()["features"]
        assert sum(int(f["properties"].get("n", 1)) for f in cells) == count
        assert len(cells) < count or count <= LIVE_POINTS  # many rows: counted by the engine


def test_the_static_map_counts_every_row_in_its_cells(sample_app: FastAPI) -> None:
    from blotter.web.maps import build_map

    portal = sample_app.state.portal
    dataset = portal.store.get_dataset("tkpk-clls")
    rows = unit_of(dataset, "rows")
    drawn = build_map(portal, dataset, None, dataset.row_count, unit=rows)
    assert drawn is not None and drawn.located == drawn.drawn_rows == dataset.row_count == 11735


def _coloured(png: bytes, colour: tuple[int, int, int], tolerance: int = 40) -> int:
    """Pixels of the screenshot within ``tolerance`` of ``colour`` on every channel."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = image.get_flattened_data() if hasattr(image, "get_flattened_data") else image.getdata()
    return sum(
        1 for p in pixels if all(abs(a - b) <= tolerance for a, b in zip(p, colour, strict=True))
    )


@pytest.mark.browser
def test_the_hotspot_and_density_charts_show_their_cells_in_chromium(
    browser: Browser, sample_server: LiveServer
) -> None:
    """Pixels, not markup: the cells once filled the whole frame, one over the other, and
    the charts showed as empty squares although their SVG held every cell."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(
        viewport={"width": 1200, "height": 900}, java_script_enabled=False
    )
    tab = context.new_page()
    tab.goto(f"{sample_server.url}/datasets/tkpk-clls?chart.hotspots=250")
    hot = tab.get_by_role("img", name=re.compile("^Hotspots of"))
    shot = hot.screenshot(path=str(ARTIFACTS / "hotspots-chromium.png"))
    hot_red = _coloured(shot, (0xB3, 0x26, 0x1E))
    not_significant = _coloured(shot, (0xE4, 0xE8, 0xEE), tolerance=6)
    width, height = Image.open(io.BytesIO(shot)).size
    # Hot cells are drawn, and they are not the whole picture: grey cells lie around them.
    assert 2_000 < hot_red < width * height / 3
    assert not_significant > hot_red
    density = tab.get_by_role("img", name=re.compile("^Kernel density of"))
    dense = density.screenshot(path=str(ARTIFACTS / "density-chromium.png"))
    darkest = _coloured(dense, (0xB3, 0x1B, 0x1B), tolerance=50)
    palest = _coloured(dense, (0xFE, 0xE0, 0xC0), tolerance=30)
    assert darkest > 200 and palest > darkest  # a surface with a peak, not one flat colour
    context.close()


@pytest.mark.browser
def test_hot_cells_lie_above_the_point_clusters_on_the_interactive_map(
    tab: Page, sample_server: LiveServer
) -> None:
    tab.goto(f"{sample_server.url}/datasets/tkpk-clls?chart.hotspots=250")
    tab.locator(".map-live .leaflet-hotspots-pane path").first.wait_for(state="attached")
    tab.locator(".map-live .cluster").first.wait_for()
    hot = tab.locator(".map-live .leaflet-hotspots-pane")
    markers = tab.locator(".map-live .leaflet-marker-pane")
    z = [int(p.evaluate("e => getComputedStyle(e).zIndex")) for p in (hot, markers)]
    assert z[0] > z[1]
    assert hot.evaluate("e => getComputedStyle(e).pointerEvents") == "none"
    shown = [int(c.replace(",", "")) for c in tab.locator(".map-live .cluster").all_inner_texts()]
    assert max(shown) > 1000  # clusters count the rows of the engine's cells, not markers


def test_the_hotspot_chart_shows_its_cells_in_a_second_renderer(sample_app: FastAPI) -> None:
    """resvg (vl-convert's SVG renderer, not a browser engine) draws the same hot cells from
    the page's SVG, so the picture does not depend on one browser's quirks."""
    import vl_convert

    page = TestClient(sample_app).get("/datasets/tkpk-clls", params={"chart.hotspots": "250"})
    svg = re.search(r'<svg role="img" aria-label="Hotspots of.*?</svg>', page.text, re.S)
    assert svg is not None
    png = vl_convert.svg_to_png(svg.group(0), scale=1)
    hot_red = _coloured(png, (0xB3, 0x26, 0x1E))
    width, height = Image.open(io.BytesIO(png)).size
    assert 2_000 < hot_red < width * height / 3
