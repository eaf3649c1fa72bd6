"""Maps of the current view: a server-drawn SVG without JavaScript, Leaflet from the portal
itself with it, boundary files served by name; nothing fetched from another site."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page

from tests.conftest import LiveServer
from tests.web.conftest import ROWS, STOPS, stop_row


def test_a_point_dataset_has_a_map_of_the_filtered_rows(web: TestClient) -> None:
    page = web.get(f"/datasets/{STOPS}").text
    assert '<section aria-labelledby="map-heading" class="map">' in page
    assert f"{ROWS} of the {ROWS} matching rows have a location." in page
    assert '<svg role="img" aria-label="Map of 60 located rows"' in page
    main_st = sum(1 for i in range(ROWS) if stop_row(i)["street"] == "Main St")
    filtered = web.get(f"/datasets/{STOPS}?street=Main+St").text
    assert f"{main_st} of the {main_st} matching rows have a location." in filtered
    assert 'data-points="/resource/test-0001.geojson?%24where=%60street%60+%3D+%27Main+St%27' in (
        filtered
    )


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
