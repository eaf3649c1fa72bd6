"""axe-core in a real browser on every kind of page, at a phone's size and a desktop's.

test_accessibility.py reads the HTML; only a browser knows what a page looks like once styled
(colour contrast, sizes, what is hidden, the names controls end up with). axe-core checks the
rendered page against the WCAG 2.0 and 2.1 A and AA rules, and any violation whose impact is
serious or critical fails the test. axe-core is pinned in tests/clients/package.json and
injected from disk: nothing is fetched from the internet while the tests run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page, StorageState, ViewportSize

from blotter.settings import Settings
from blotter.store import open_store
from tests.conftest import LiveServer, serve_in_thread
from tests.engines import engine_settings
from tests.portal import PASSWORD, PUBLIC, Portal, build

AXE = Path(__file__).parents[1] / "clients" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}
VIEWPORTS: dict[str, ViewportSize] = {
    "phone": {"width": 390, "height": 844},
    "desktop": {"width": 1280, "height": 900},
}

PUBLIC_PAGES = {  # name: (path, the status it answers)
    "home": ("/", 200),
    "home-search": ("/?q=use+of+force", 200),
    "dataset": ("/datasets/e2x9-2kgt", 200),
    "dataset-filtered": ("/datasets/e2x9-2kgt?subject_race=black&sort=subject_age&dir=desc", 200),
    "dataset-400": ("/datasets/e2x9-2kgt?subject_race=black&subject_age__min=abc", 400),
    "dataset-columns": (
        "/datasets/e2x9-2kgt?columns=case_number,subject_age&sort=officer_age",
        200,
    ),
    "home-facet": ("/?category=Public+Safety", 200),
    "place-unknown": ("/datasets/rtcm-ngmt?location__place=1+Nowhere+Rd", 400),
    "not-found": ("/datasets/zzzz-9999", 404),
    "api": ("/api", 200),
    "dataset-api": ("/datasets/e2x9-2kgt/api", 200),
    "dataset-api-points": ("/datasets/tkpk-clls/api", 200),
    "login": ("/login", 200),
    "dashboard": ("/dashboards/e2x9-2kgt", 200),
    "dashboard-events": ("/dashboards/rtcm-ngmt", 200),
    "map-hotspots": ("/datasets/tkpk-clls?chart.hotspots=250&location__area=Ward+4", 200),
    "calendar-month": ("/datasets/rtcm-ngmt/calendar", 200),
    "when": ("/datasets/tkpk-clls/when?call_type=Traffic+Stop", 200),
    "dashboard-stops": ("/dashboards/tkpk-stps", 200),
    "charts": (
        "/datasets/e2x9-2kgt?chart.by=force_category&chart.period=quarter"
        "&chart.split=subject_race&chart.down=subject_race&chart.across=arrested",
        200,
    ),
}
STAFF_PAGES = {
    "manage": "/manage",
    "users": "/manage/users",
    "edit-dataset": f"/manage/d/{PUBLIC}",
    "upload": "/manage/upload",
    "upload-to-dataset": f"/manage/upload?dataset={PUBLIC}",
    "tokens": "/manage/tokens",
    "profiles": "/manage/profiles",
    "audit": "/manage/audit",
}
UPLOADS = {  # name: (file, what the preview says)
    "preview-clean": (
        b"case_no,offense,age,officer_name\nc9,theft,40,Smith\n",
        "no problems found",
    ),
    "preview-problems": (b"case_no,offense,age,officer_name\nc9,theft,forty,Smith\n", "1 problem"),
}

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(
            f"axe-core is not at {AXE}: run `npm ci --prefix tests/clients` (make test does)."
        )
    return AXE.read_text(encoding="utf-8")


def axe_context(browser: Browser, viewport: str, axe_source: str, **options: Any) -> BrowserContext:
    """A context at ``viewport`` whose every document has axe loaded before its own scripts
    (an init script: no 500 kB sent for each page, and the pages' content security policy,
    checked in tests/web/test_content_policy.py, does not apply to it)."""
    context = browser.new_context(viewport=VIEWPORTS[viewport], **options)
    context.add_init_script(script=axe_source)
    return context


def pages_per_viewport(
    browser: Browser, axe_source: str, **options: Any
) -> Iterator[dict[str, Page]]:
    """One page in an :func:`axe_context` of its own per viewport, closed afterwards."""
    contexts = {
        viewport: axe_context(browser, viewport, axe_source, **options) for viewport in VIEWPORTS
    }
    try:
        yield {viewport: context.new_page() for viewport, context in contexts.items()}
    finally:
        for context in contexts.values():
            context.close()


@pytest.fixture(scope="module")
def reading_pages(browser: Browser, axe_source: str) -> Iterator[dict[str, Page]]:
    """One anonymous page per viewport, shared by the tests that only open public pages."""
    yield from pages_per_viewport(browser, axe_source)


@pytest.fixture(params=list(VIEWPORTS))
def public_page(request: pytest.FixtureRequest, reading_pages: dict[str, Page]) -> Page:
    return reading_pages[request.param]


@pytest.fixture(params=list(VIEWPORTS))
def page(request: pytest.FixtureRequest, browser: Browser, axe_source: str) -> Iterator[Page]:
    """A page in a context of its own, for a test that signs in or writes."""
    context = axe_context(browser, request.param, axe_source)
    yield context.new_page()
    context.close()


@pytest.fixture
def staff_server(portal: Portal) -> Iterator[LiveServer]:
    """The access-control portal (admin "boss" and a few datasets) on a live server."""
    yield from serve_in_thread(cast(FastAPI, portal.client.app))


@dataclass
class SignedIn:
    server: LiveServer
    state: StorageState  # the signed-in session's cookies, for each test's new context


# axe reads the markup a page ends up with, which no engine changes: the staff pages are
# checked on the embedded one. Their queries run on both engines in tests/web/test_manage.py,
# tests/web/test_uploads.py and tests/test_access.py.
MARKUP_ENGINE = "duckdb"


@pytest.fixture
def engine_config(tmp_path: Path) -> Iterator[Settings]:
    """The portal of the uploads' tests (``tests.portal.portal``), on ``MARKUP_ENGINE``."""
    yield from engine_settings(MARKUP_ENGINE, tmp_path)


@pytest.fixture(scope="module")
def signed_in(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[SignedIn]:
    """The access-control portal on a live server, built once for the staff pages, with
    "boss" signed in once through the form. The staff pages only read it: they are opened in
    one context per viewport carrying the session (the uploads, which write, keep a portal
    each: ``staff_server``)."""
    for settings in engine_settings(MARKUP_ENGINE, tmp_path_factory.mktemp("staff")):
        store = open_store(settings)
        try:
            built = build(store, settings)
            with built.client:
                for server in serve_in_thread(cast(FastAPI, built.client.app)):
                    context = browser.new_context()
                    sign_in(context.new_page(), server)
                    state = context.storage_state()
                    context.close()
                    yield SignedIn(server, state)
        finally:
            store.close()


@pytest.fixture(scope="module")
def staff_pages(
    browser: Browser, axe_source: str, signed_in: SignedIn
) -> Iterator[dict[str, Page]]:
    """One page per viewport carrying the signed-in session, shared by the staff pages."""
    yield from pages_per_viewport(browser, axe_source, storage_state=signed_in.state)


@pytest.fixture
def staff_page(request: pytest.FixtureRequest, staff_pages: dict[str, Page]) -> Page:
    return staff_pages[request.param]


def sign_in(page: Page, server: LiveServer) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Account name").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/manage")


def blocking_violations(page: Page, axe_source: str) -> list[dict[str, Any]]:
    """Run axe on the page as it stands (loaded now unless its context loads it,
    ``axe_context``); the serious and critical WCAG A/AA violations."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(content=axe_source)
    options = {"runOnly": {"type": "tag", "values": WCAG_A_AA}, "resultTypes": ["violations"]}
    results = page.evaluate("options => axe.run(document, options)", options)
    return [v for v in results["violations"] if v["impact"] in BLOCKING]


def report(violations: list[dict[str, Any]]) -> str:
    """One line per violation (rule, impact, help), then each failing element and its HTML."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} [{v['helpUrl']}]")
        for node in v["nodes"]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['html'][:160]}")
    return "\n".join(lines)


def assert_accessible(page: Page, axe_source: str) -> None:
    violations = blocking_violations(page, axe_source)
    assert not violations, f"axe on {page.title()!r} ({page.url}):\n{report(violations)}"


@pytest.mark.parametrize(("path", "status"), PUBLIC_PAGES.values(), ids=PUBLIC_PAGES.keys())
def test_public_page(
    public_page: Page, sample_server: LiveServer, axe_source: str, path: str, status: int
) -> None:
    page = public_page
    response = page.goto(sample_server.url + path)
    assert response is not None and response.status == status
    assert_accessible(page, axe_source)


@pytest.mark.parametrize("staff_page", list(VIEWPORTS), indirect=True)
@pytest.mark.parametrize("path", STAFF_PAGES.values(), ids=STAFF_PAGES.keys())
def test_staff_page(staff_page: Page, signed_in: SignedIn, axe_source: str, path: str) -> None:
    page = staff_page
    response = page.goto(signed_in.server.url + path)
    assert response is not None and response.status == 200
    assert page.get_by_role("button", name="Sign out").is_visible(), "not signed in"
    assert_accessible(page, axe_source)


@pytest.mark.parametrize(("csv", "verdict"), UPLOADS.values(), ids=UPLOADS.keys())
def test_upload_preview(
    page: Page, staff_server: LiveServer, axe_source: str, csv: bytes, verdict: str
) -> None:
    sign_in(page, staff_server)
    page.goto(f"{staff_server.url}/manage/upload?dataset={PUBLIC}")
    page.get_by_label("File", exact=True).set_input_files(
        {"name": "rows.csv", "mimeType": "text/csv", "buffer": csv}
    )
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_role("heading", name="Columns as they will be published").wait_for()
    assert verdict in page.locator("main").inner_text()
    assert_accessible(page, axe_source)


def test_chart_share_and_embed_controls_when_opened(
    public_page: Page, sample_server: LiveServer, axe_source: str
) -> None:
    """The "Share or embed" parts are closed on load, where axe skips them: open them all."""
    page = public_page
    page.goto(sample_server.url + PUBLIC_PAGES["charts"][0])
    opened = page.evaluate(
        "() => { const all = document.querySelectorAll('details.chart-share');"
        " all.forEach((d) => { d.open = true; }); return all.length; }"
    )
    assert opened == 3
    assert_accessible(page, axe_source)
