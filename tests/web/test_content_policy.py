"""The pages' content security policy in a real browser: every main page, public and staff,
loads under it with no violation reported, and its scripts still work (the map draws, the
chart turns interactive, the filters apply, the upload form wires itself up)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page

from blotter.accounts import add_user
from blotter.app import create_app
from blotter.model import Role
from blotter.settings import Settings
from blotter.store import open_store
from tests.conftest import LiveServer, serve_in_thread
from tests.web.conftest import STOPS, build_portal

pytestmark = pytest.mark.browser
PASSWORD = "a long test passphrase"
# Every violation is reported to the page as an event; the browser also logs it.
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


@pytest.fixture(scope="module")
def staffed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The small portal with an administrator, on a live loopback server."""
    settings: Settings = build_portal(Path(tmp_path_factory.mktemp("policy")))
    store = open_store(settings)
    add_user(store, "boss", Role.ADMIN, PASSWORD)
    try:
        yield from serve_in_thread(create_app(settings, store=store))
    finally:
        store.close()


class Watched:
    """A tab with JavaScript on that records policy violations, console errors and
    uncaught script errors."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.problems.append(f"script error: {err}"))

    def _console(self, message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        if url.endswith("/favicon.ico") or url == self.page.url:
            return  # browsers ask for an icon the portal lacks; an error page is a 404 itself
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append(f"console: {message.text}")

    def check(self) -> None:
        violations = self.page.evaluate("window.__violations || []")
        assert violations == [] and self.problems == [], (self.page.url, violations, self.problems)


@pytest.fixture
def tab(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(LISTEN)
    yield Watched(context.new_page())
    context.close()


def _tooltip_shows(page: Page, drawn: Locator) -> bool:
    """Whether hovering somewhere over the chart brings up Vega's tooltip."""
    box = drawn.bounding_box()
    assert box is not None
    for fy in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        for fx in (0.2, 0.35, 0.5, 0.65):
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            if page.locator("#vg-tooltip-element.visible").count():
                return page.locator("#vg-tooltip-element").is_visible()
    return False


def test_public_pages_run_their_scripts_under_the_policy(
    tab: Watched, sample_server: LiveServer
) -> None:
    page = tab.page
    answer = page.goto(f"{sample_server.url}/")
    assert answer is not None
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    tab.check()

    # A dataset page with a chart and a map: the map draws, the chart turns interactive.
    page.goto(f"{sample_server.url}/datasets/tkpk-clls?chart.by=call_type")
    page.wait_for_selector(".map-live:not([hidden])")
    page.locator(
        ".map-live .leaflet-marker-icon, .map-live path.leaflet-interactive"
    ).first.wait_for()
    figure = page.get_by_role("figure", name="Calls for service by call type")
    figure.get_by_role("button", name="Interactive chart").click()
    drawn = figure.locator(".chart-live canvas, .chart-live svg").first
    drawn.wait_for()
    assert _tooltip_shows(page, drawn), "no tooltip over any part of the chart"
    tab.check()

    # The filters apply (a plain form, under form-action 'self').
    page.goto(f"{sample_server.url}/datasets/e2x9-2kgt")
    page.get_by_text("Filter rows").click()
    page.get_by_label("Subject race", exact=True).select_option("white")
    page.get_by_role("button", name="Apply filters").click()
    assert "subject_race=white" in page.url
    assert page.get_by_role("status").first.inner_text().startswith("Showing rows 1–")
    tab.check()

    # Hotspots on the map of another dataset, and the dashboards with their charts.
    page.goto(f"{sample_server.url}/datasets/tkpk-clls?chart.hotspots=250")
    page.locator(".map-live .map-legend").wait_for()
    tab.check()
    for dataset in ("e2x9-2kgt", "tkpk-clls", "rtcm-ngmt"):
        page.goto(f"{sample_server.url}/dashboards/{dataset}")
        charts = page.locator("figure.chart")
        if charts.count():
            charts.first.get_by_role("button", name="Interactive chart").click()
            charts.first.locator(".chart-live canvas, .chart-live svg").first.wait_for()
        tab.check()
    for path in ("/api", "/datasets/nope-0000"):
        page.goto(sample_server.url + path)
        tab.check()


def test_staff_pages_run_their_scripts_under_the_policy(
    tab: Watched, staffed_server: LiveServer
) -> None:
    page = tab.page
    answer = page.goto(f"{staffed_server.url}/login")
    assert (
        answer is not None and "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    )
    page.get_by_label("Account name").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{staffed_server.url}/manage")
    tab.check()
    for path in (
        "/manage/users",
        "/manage/tokens",
        f"/manage/d/{STOPS}",
        "/manage/profiles",
        "/manage/audit",
        f"/datasets/{STOPS}",
    ):
        page.goto(staffed_server.url + path)
        assert page.get_by_role("heading", level=1).count() == 1, path
        tab.check()
    # The upload page's script sends the file itself and writes the preview it gets back.
    page.goto(f"{staffed_server.url}/manage/upload")
    page.get_by_label("Name of the new dataset").fill("Bike thefts")
    page.get_by_label("File", exact=True).set_input_files(
        files=[{"name": "bikes.csv", "mimeType": "text/csv", "buffer": b"case,ward\nB1,1\nB2,2\n"}]
    )
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_text("2 rows checked, no problems found.").wait_for()
    tab.check()
    # A token made through the form (a post under form-action 'self').
    page.goto(f"{staffed_server.url}/manage/tokens")
    page.get_by_label("What it is for").fill("nightly")
    page.get_by_label("read internal datasets and columns").check()
    page.get_by_role("button", name="Create token").click()
    assert page.get_by_text("shown only once").count() == 1
    tab.check()


TEMPLATES = Path(__file__).parents[2] / "blotter" / "web" / "templates"


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_no_template_holds_what_the_policy_refuses(template: Path) -> None:
    """Inline script, event handlers and style attributes would be blocked in the browser:
    each page's scripts and styles come from /static."""
    text = template.read_text()
    assert not re.search(r"\sstyle=", text), "a style attribute: use a class in blotter.css"
    assert not re.search(r"\son[a-z]+=", text), "an inline event handler: use a static script"
    # A script element either loads a file or holds data (JSON a static script reads).
    for tag in re.findall(r"<script[^>]*>", text):
        assert " src=" in tag or 'type="application/json"' in tag, f"an inline script: {tag}"
