"""The history pages in a real browser on both engines, after an upsert that adds, changes
and deletes one row: the dataset page's History section and citation, an older version read
with its banner and filters, the version page, the changes in words; axe on each."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import cast

import pytest
import requests
from fastapi import FastAPI
from playwright.sync_api import Browser, Page

from tests.conftest import LiveServer, serve_in_thread
from tests.portal import PASSWORD, PUBLIC, Portal
from tests.web.test_axe import assert_accessible, axe_source  # noqa: F401 - a fixture

pytestmark = pytest.mark.browser


@pytest.fixture
def server(portal: Portal) -> Iterator[LiveServer]:
    live = serve_in_thread(cast(FastAPI, portal.client.app))
    server = next(live)
    answer = requests.post(
        f"{server.url}/resource/{PUBLIC}.json",
        params={"note": "Case c2 reclassified; c1 was entered twice"},
        data=json.dumps(
            [
                {"case_no": "c4", "offense": "fraud", "age": 40},
                {"case_no": "c2", "offense": "assault (corrected)"},
                {"case_no": "c1", ":deleted": True},
            ]
        ),
        auth=("pub_a", PASSWORD),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    yield server
    live.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    yield context.new_page()
    context.close()


def test_history_section_citation_and_an_older_version_with_its_banner(
    page: Page,
    server: LiveServer,
    axe_source: str,  # noqa: F811
) -> None:
    csv_v2 = requests.get(f"{server.url}/api/views/{PUBLIC}/rows.csv", timeout=30).content
    page.goto(f"{server.url}/datasets/{PUBLIC}")
    history = page.locator("section[aria-labelledby=history-heading]").inner_text()
    assert "Version 2, published" in history and "by Testville Police" in history
    assert "1 row added, 1 changed, 1 removed; 3 rows in all" in history
    assert "Publisher’s note: Case c2 reclassified; c1 was entered twice" in history
    feeds = page.locator("head link[rel=alternate][type='application/atom+xml']")
    assert feeds.evaluate_all("links => links.map(l => l.getAttribute('href'))") == [
        f"/datasets/{PUBLIC}/history.atom",
        "/history.atom",
    ]
    cite = page.locator("p.cite").inner_text()
    base = server.app.state.portal.settings.base_url.rstrip("/")
    assert f"{base}/datasets/{PUBLIC}?version=2" in cite
    assert hashlib.sha256(csv_v2).hexdigest() in cite
    assert_accessible(page, axe_source)

    # The permanent link of version 1, followed later: that version, saying it is old.
    page.goto(f"{server.url}/datasets/{PUBLIC}?version=1")
    banner = page.locator("p.banner", has_text="You are reading version 1")
    assert "Read the newest version (2)" in banner.inner_text()
    first_cells = "rows => rows.map(r => r.cells[0].innerText)"
    shown = page.locator("table.data tbody tr").evaluate_all(first_cells)
    assert shown == ["c1", "c2", "c3"]  # version 1's rows; the newest has c2, c3, c4
    assert "Showing rows 1–3 of 3 matching." in page.locator("main").inner_text()
    downloads = page.locator(".downloads a[download]").evaluate_all(
        "links => links.map(l => l.getAttribute('href'))"
    )
    assert all("%24%24version=1" in d for d in downloads), downloads
    csv_v1 = requests.get(server.url + downloads[0], timeout=30).text
    assert [line.split(",")[0] for line in csv_v1.splitlines()[1:]] == ["c1", "c2", "c3"]
    assert_accessible(page, axe_source)
    # Filters work on the version read, and the filter form keeps the version.
    page.goto(f"{server.url}/datasets/{PUBLIC}?version=1&offense=theft")
    assert "Showing rows 1–2 of 2 matching." in page.locator("main").inner_text()
    assert page.locator("table.data tbody tr").evaluate_all(first_cells) == ["c1", "c3"]
    page.get_by_role("link", name="Read the newest version (2)").click()
    assert page.url == f"{server.url}/datasets/{PUBLIC}?offense=theft"
    assert page.locator("table.data tbody tr").evaluate_all(first_cells) == ["c3"]
    # Sorting an older version keeps reading it.
    page.goto(f"{server.url}/datasets/{PUBLIC}?version=1")
    page.get_by_role("link", name="Age", exact=True).click()
    assert "version=1" in page.url
    assert page.locator("table.data tbody tr").evaluate_all(first_cells) == ["c1", "c2", "c3"]
    page.get_by_role("link", name="Age ▲", exact=True).click()
    assert page.locator("table.data tbody tr").evaluate_all(first_cells) == ["c3", "c2", "c1"]


def test_version_page_and_the_changes_in_words(
    page: Page,
    server: LiveServer,
    axe_source: str,  # noqa: F811
) -> None:
    csv_v1 = requests.get(
        f"{server.url}/api/views/{PUBLIC}/rows.csv?$$version=1", timeout=30
    ).content
    page.goto(f"{server.url}/datasets/{PUBLIC}/versions/1")
    main = page.locator("main").inner_text()
    assert "Not the newest version. Version 2 is the newest" in main
    assert "the first version, 3 rows" in main
    assert hashlib.sha256(csv_v1).hexdigest() in page.locator("code.checksum").inner_text()
    assert_accessible(page, axe_source)

    page.goto(f"{server.url}/datasets/{PUBLIC}/versions")
    assert page.locator("ol.versions > li").count() == 2
    assert_accessible(page, axe_source)
    page.get_by_role("link", name="What changed in version 2").click()
    main = page.locator("main").inner_text()
    assert "From version 1 to version 2: 1 added, 1 corrected, 1 removed." in main
    assert page.locator("[aria-labelledby=added-heading] li").all_inner_texts() == [
        "row c4: Case ‘c4’, Offense ‘fraud’, Age ‘40’"
    ]
    assert page.locator("[aria-labelledby=changed-heading] li").all_inner_texts() == [
        "row c2: Offense changed from ‘assault’ to ‘assault (corrected)’"
    ]
    assert page.locator("[aria-labelledby=removed-heading] li").all_inner_texts() == [
        "row c1: Case ‘c1’, Offense ‘theft’, Age ‘19’"
    ]
    assert "Officer" not in main  # the internal column is never named to the public
    assert_accessible(page, axe_source)
    # At a phone's size too, where the layout stacks.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/versions/2/changes", "/versions/1", "/versions", "?version=1"):
        page.goto(f"{server.url}/datasets/{PUBLIC}{path}")
        assert_accessible(page, axe_source)
