"""The portal on a 390 x 844 phone in Chromium: the home page leads with the department and
its key figures, the dataset page with its summary and a readable chart; columns can be
chosen; a click on the map sets the point filter. Positions and sizes are measured in the
browser, and every figure is checked against a count made here from the rows themselves."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page

from blotter.settings import Settings
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
SCREEN = PHONE["height"]
FORCE = "e2x9-2kgt"
CALLS = "tkpk-clls"


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    yield context.new_page()
    context.close()


def top(page: Page, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not drawn"
    return box["y"]


def bottom(page: Page, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not drawn"
    return box["y"] + box["height"]


def all_rows(server: LiveServer, dataset: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = httpx.get(
        f"{server.url}/resource/{dataset}.json", params={"$limit": "50000"}
    ).json()
    return rows


def test_home_leads_with_the_department_and_its_use_of_force_figures(
    phone: Page, sample_server: LiveServer
) -> None:
    phone.goto(sample_server.url + "/")
    heading = phone.locator("h1")
    assert heading.inner_text() == Settings().agency_name
    assert bottom(phone, "h1") <= SCREEN
    # The figures, counted here: incidents are distinct case numbers.
    rows = all_rows(sample_server, FORCE)
    cases = {r["case_number"] for r in rows}
    in_2017 = {r["case_number"] for r in rows if r["occurred_date"].startswith("2017")}
    assert (len(cases), len(in_2017)) == (103, 24)  # and the issue's own example agrees
    fact = phone.get_by_role(
        "link", name=f"{len(cases)} uses of force 2015–2017; {len(in_2017)} in 2017"
    )
    assert fact.get_attribute("href") == f"/datasets/{FORCE}"
    assert bottom(phone, f'.key-facts a[href="/datasets/{FORCE}"]') <= 2 * SCREEN
    # Calls for service count calls (event numbers), not officer responses (rows).
    calls = all_rows(sample_server, CALLS)
    events = {r["event_number"] for r in calls}
    last = {r["event_number"] for r in calls if r["received_at"].startswith("2020")}
    assert len(events) < len(calls)
    phone.get_by_role(
        "link", name=f"{len(events):,} calls for service 2018–2020; {len(last):,} in 2020"
    ).wait_for()
    # The catalog's filters are folded away on a phone, and open without JavaScript.
    facets = phone.locator("details.facets")
    assert facets.get_attribute("open") is None
    assert not phone.get_by_role("link", name="Public Safety").first.is_visible()
    phone.locator("details.facets > summary").click()
    assert phone.locator("details.facets nav a").first.is_visible()


def test_home_shows_the_filters_beside_the_list_on_a_desktop(
    browser: Browser, sample_server: LiveServer
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(sample_server.url + "/")
    assert not page.locator("details.facets > summary").is_visible()
    assert page.locator("details.facets nav a").first.is_visible()
    context.close()


def text_sizes(page: Page, selector: str) -> list[float]:
    """The drawn size of every visible text of the charts in ``selector``: its font size
    times the scale from the SVG's units to the screen's pixels (rotated labels too)."""
    sizes: list[float] = page.evaluate(
        """(selector) => [...document.querySelectorAll(selector + ' svg text')]
          .filter((t) => t.getBoundingClientRect().width > 0 && t.textContent.trim())
          .map((t) => { const m = t.getScreenCTM();
            return parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b); })""",
        selector,
    )
    return sizes


def drawn_image_sizes(page: Page, selector: str, drawing: str) -> list[float]:
    """The drawn size of every text of the charts in ``selector`` shown as images: each
    image's drawing (``drawing``: wide or phone, as the browser chose) measured in a page of
    its own, times the scale the image is shown at."""
    sizes: list[float] = []
    images = page.locator(selector + " .chart-svg.lazy img")
    for i in range(images.count()):
        image = images.nth(i)
        image.scroll_into_view_if_needed()
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
        source, scale = image.evaluate("(i) => [i.currentSrc, i.clientWidth / i.naturalWidth]")
        assert f"chart.drawing={drawing}" in source, source
        alone = page.context.new_page()
        alone.goto(source)
        sizes += [size * scale for size in text_sizes(alone, "")]
        alone.close()
    return sizes


def test_dataset_page_shows_summary_and_a_readable_chart_in_the_first_screen(
    phone: Page, sample_server: LiveServer
) -> None:
    phone.goto(f"{sample_server.url}/datasets/{FORCE}")
    assert phone.locator(".summary .lede").inner_text().startswith("103 incidents")
    assert bottom(phone, ".summary .lede") <= SCREEN
    assert bottom(phone, ".key-chart .chart-svg.narrow svg") <= SCREEN
    sizes = text_sizes(phone, ".key-chart")
    assert len(sizes) >= 5  # axis labels, titles
    assert min(sizes) >= 11, sizes
    # Every other chart of the page is drawn readable too, and none is wider than the phone.
    phone.goto(
        f"{sample_server.url}/datasets/{FORCE}?chart.period=quarter&chart.split=subject_race"
        "&chart.down=subject_race&chart.across=arrested"
    )
    # The key chart is drawn into the page, the others are images of the phone's drawings.
    sizes = text_sizes(phone, "figure.chart")
    assert len(sizes) > 5 and min(sizes) >= 11, sorted(sizes)[:5]
    sizes = drawn_image_sizes(phone, "figure.chart", "phone")
    assert len(sizes) > 20 and min(sizes) >= 11, sorted(sizes)[:5]
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_desktop_charts_are_readable_too(browser: Browser, sample_server: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(
        f"{sample_server.url}/datasets/{FORCE}?chart.period=quarter&chart.split=subject_race"
        "&chart.down=subject_race&chart.across=arrested"
    )
    assert not page.locator(".key-chart .chart-svg.narrow").is_visible()
    sizes = text_sizes(page, "figure.chart") + drawn_image_sizes(page, "figure.chart", "wide")
    assert len(sizes) > 20 and min(sizes) >= 11, sorted(sizes)[:5]
    context.close()


def test_filter_form_apply_stays_on_screen_while_the_form_scrolls(
    phone: Page, sample_server: LiveServer
) -> None:
    phone.goto(f"{sample_server.url}/datasets/{FORCE}")
    phone.locator("details.filters > summary").click()
    form_height = bottom(phone, "details.filters form") - top(phone, "details.filters form")
    assert form_height > 2 * SCREEN  # a long form: Apply would be far below without sticking
    phone.locator("details.filters select").first.scroll_into_view_if_needed()
    apply = phone.get_by_role("button", name="Apply filters")
    box = apply.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= SCREEN


def test_choosing_columns_changes_the_table_and_the_downloads(
    phone: Page, sample_server: LiveServer
) -> None:
    phone.goto(f"{sample_server.url}/datasets/{FORCE}")
    headers = phone.locator("table.data thead th").all_inner_texts()
    assert [h.strip() for h in headers] == [
        "Case number",
        "Date",
        "Force category",
        "Subject race",
        "Subject injured",
        "Arrested",
        "Call type",
    ]  # the dataset file's table_columns
    phone.get_by_text("Choose columns").click()
    for name in ("Force category", "Subject injured", "Arrested", "Call type"):
        phone.get_by_role("checkbox", name=f"Show the column {name}", exact=True).uncheck()
    phone.get_by_role("checkbox", name="Show the column Officer age", exact=True).check()
    phone.get_by_role("button", name="Show these columns").click()
    phone.wait_for_url("**columns=**")
    query = parse_qs(urlsplit(phone.url).query)
    assert query["columns"] == ["case_number,occurred_date,officer_age,subject_race"]
    headers = phone.locator("table.data thead th").all_inner_texts()
    assert [h.strip() for h in headers] == ["Case number", "Date", "Officer age", "Subject race"]
    first = phone.locator("table.data tbody tr").first.locator("td").all_inner_texts()
    assert len(first) == 4
    csv_link = phone.get_by_role("link", name="CSV", exact=True).get_attribute("href")
    assert csv_link is not None
    asked = parse_qs(urlsplit(csv_link).query)
    assert asked["$select"] == ["`case_number`, `occurred_date`, `officer_age`, `subject_race`"]
    csv = httpx.get(sample_server.url + csv_link).text.splitlines()
    assert csv[0] == "case_number,occurred_date,officer_age,subject_race"
    assert len(csv) == 1 + 221
    # The sticky first column stays at the left edge when the table scrolls sideways.
    first_cell = phone.locator("table.data tbody tr td").first
    phone.locator(".table-wrap").first.evaluate("(e) => { e.scrollLeft = 400; }")
    box = first_cell.bounding_box()
    assert box is not None and box["x"] <= 20
    # An unknown column is a problem the page names.
    response = phone.goto(f"{sample_server.url}/datasets/{FORCE}?columns=case_number,nope")
    assert response is not None and response.status == 400
    assert "'nope' is not a column of this dataset." in phone.locator("main").inner_text()


def test_a_click_on_the_map_sets_the_point_filter(phone: Page, sample_server: LiveServer) -> None:
    phone.goto(f"{sample_server.url}/datasets/{CALLS}")
    live = phone.locator(".map-live")
    live.wait_for(state="visible")
    phone.wait_for_function(
        "document.querySelectorAll('.map-live .leaflet-interactive').length > 0"
    )
    live.scroll_into_view_if_needed()
    box = live.bounding_box()
    assert box is not None
    phone.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    near = phone.locator('input[name="location__near"]')
    value = near.input_value()
    lat, lon, metres = (float(v) for v in value.split(","))
    assert metres == 250
    assert 38.9 < lat < 39.1 and -77.1 < lon < -76.9  # Takoma Park
    assert "Point filter set" in phone.locator(".map-said").inner_text()
    phone.get_by_role("button", name="Apply filters").click()
    phone.wait_for_url("**location__near=**")
    status = phone.locator("p.status").inner_text()
    # The page's count is the API's count of the same circle.
    expected = httpx.get(
        f"{sample_server.url}/resource/{CALLS}.json",
        params={
            "$select": "count(*)",
            "$where": f"within_circle(location, {lat}, {lon}, {metres})",
        },
    ).json()[0]["count"]
    if int(expected):
        assert status.endswith(f"of {int(expected):,} matching.")
    else:
        assert status == "No rows match."
