"""A resident's journey in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import LiveServer

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}

pytestmark = pytest.mark.browser


@pytest.fixture(params=list(VIEWPORTS))
def page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport=VIEWPORTS[request.param], accept_downloads=True, java_script_enabled=False
    )
    tab = context.new_page()
    tab.viewport_name = request.param  # type: ignore[attr-defined]
    yield tab
    context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}-{page.viewport_name}.png", full_page=True)  # type: ignore[attr-defined]


@pytest.fixture(
    params=[(v, js) for v in VIEWPORTS for js in (False, True)],
    ids=lambda p: f"{p[0]}-{'js' if p[1] else 'nojs'}",
)
def journey(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    """A tab on a phone or a desktop, with JavaScript on or off: the journey must work in all."""
    viewport, js = request.param
    context = browser.new_context(
        viewport=VIEWPORTS[viewport], accept_downloads=True, java_script_enabled=js
    )
    tab = context.new_page()
    tab.viewport_name = f"{viewport}-{'js' if js else 'nojs'}"  # type: ignore[attr-defined]
    yield tab
    context.close()


def test_resident_filters_use_of_force_reads_the_chart_and_downloads_what_is_shown(
    journey: Page, sample_server: LiveServer
) -> None:
    page = journey
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda r: elsewhere.append(r.url) if not r.url.startswith(sample_server.url) else None,
    )
    page.goto(sample_server.url + "/")
    page.get_by_label("Search datasets").fill("use of force")
    page.get_by_role("button", name="Search").click()
    shot(page, "catalog-search")
    page.get_by_role("link", name="Use of force, Rutland (VT) Police, 2015–2017").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Use of force")

    page.get_by_text("Filter rows").click()
    page.get_by_label("Subject race", exact=True).select_option("white")
    page.get_by_label("Subject injured", exact=True).select_option("minor")
    page.get_by_role("button", name="Apply filters").click()
    shot(page, "dataset-filtered")

    where = "subject_race = 'white' AND subject_injured = 'minor'"
    expected = httpx.get(
        f"{sample_server.url}/resource/e2x9-2kgt.json", params={"$where": where}
    ).json()
    assert len(expected) > 1
    status = page.get_by_role("status").first.inner_text()
    assert status == f"Showing rows 1–{len(expected)} of {len(expected)} matching."
    body_rows = page.locator("table.data tbody tr")
    assert body_rows.count() == len(expected)

    # The chart of the view, then its data table, one click away.
    page.get_by_label("Count by").select_option("force_category")
    page.get_by_role("button", name="Show charts").click()
    figure = page.get_by_role("figure", name="Incidents by force category")
    assert figure.get_by_role("img", name="Incidents by force category").is_visible()
    figure.get_by_text("Data table").click()
    shot(page, "chart-table")
    shown = {
        row.locator("th").inner_text(): int(row.locator("td").first.inner_text().replace(",", ""))
        for row in figure.locator("tbody tr").all()
    }
    # Incidents by each force category (a list column: each value once per incident).
    counts = httpx.get(
        f"{sample_server.url}/api/analysis/v1/e2x9-2kgt/counts.json",
        params={"by": "force_category", "$where": where},
    ).json()
    assert shown == {c["label"]: round(c["n"]) for c in counts["values"]}
    for c in counts["values"]:
        if c["value"] is not None:
            incidents = httpx.get(
                f"{sample_server.url}/resource/e2x9-2kgt.json",
                params={
                    "$select": "count(DISTINCT case_number) AS n",
                    "$where": f"{where} AND force_category like '%{c['value']}%'",
                },
            ).json()
            assert int(incidents[0]["n"]) == round(c["n"])

    # The URL is the query: reopening it shows the same view and the same chart.
    shared = page.url
    assert "chart.by=force_category" in shared and "subject_injured=minor" in shared
    again = page.context.new_page()
    again.goto(shared)
    assert again.get_by_role("status").first.inner_text() == status
    assert again.get_by_role("figure", name="Incidents by force category").count() == 1
    again.close()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV", exact=True).click()
    text = Path(download_info.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["case_number"] for r in rows) == sorted(r["case_number"] for r in expected)
    assert {r["subject_race"] for r in rows} == {"white"}
    assert elsewhere == []


def test_stops_filtered_by_a_list_and_a_number_range_with_the_keyboard_in_reach(
    page: Page, small_server: LiveServer
) -> None:
    page.goto(small_server.url + "/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.evaluate("el => el === document.activeElement")
    assert skip.is_visible() and skip.bounding_box()["x"] >= 0  # type: ignore[index]
    shot(page, "home-skip-link")

    folded = page.locator("details.facets > summary")  # the catalog's filters, on a phone
    if folded.is_visible():
        folded.click()
    page.get_by_role("link", name="Public Safety").first.click()
    page.get_by_role("link", name="Traffic stops, Testville").click()
    page.get_by_text("Filter rows").click()
    page.get_by_label("Street", exact=True).select_option("O'Brien St")
    driver_age = page.get_by_role("group", name="Driver age")
    driver_age.get_by_label("From").fill("30")
    driver_age.get_by_label("To").fill("45")
    page.get_by_role("button", name="Apply filters").click()
    shot(page, "stops-filtered")

    # Empty boxes are dropped: the address names only the filters in use.
    assert page.url.endswith("/datasets/test-0001?street=O%27Brien+St&age__min=30&age__max=45")
    want = [f"C{i:03d}" for i in range(10, 26) if i % 3 == 0]
    assert page.get_by_role("status").inner_text() == (
        f"Showing rows 1–{len(want)} of {len(want)} matching."
    )
    cells = page.locator("table.data tbody tr td:first-child").all_inner_texts()
    assert cells == want
    assert page.get_by_role("list", name="Active filters").get_by_role("listitem").count() == 3

    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV", exact=True).click()
    text = Path(download_info.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["case_number"] for r in rows] == want

    page.goto(small_server.url + "/datasets/test-0001?age__min=abc")
    assert page.get_by_role("alert").inner_text().count("is not a number") == 1
    shot(page, "stops-bad-filter")
