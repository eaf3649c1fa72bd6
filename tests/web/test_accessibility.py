"""Every page, including the failing ones, has landmarks, labelled controls, scoped headings
and nothing fetched from another site."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

PAGES = [
    ("/", 200),
    ("/?q=traffic&category=Public+Safety", 200),
    ("/datasets/test-0001", 200),
    ("/datasets/test-0001?street=Main+St&sort=age&dir=desc&page=2&size=10", 200),
    ("/datasets/test-0001?age__min=abc&searched=maybe", 400),
    ("/datasets/smpl-0002", 200),
    ("/datasets/zzzz-9999", 404),
    ("/api", 200),
]


@pytest.mark.parametrize(("url", "status"), PAGES)
def test_page_structure(web: TestClient, url: str, status: int) -> None:
    response = web.get(url)
    assert response.status_code == status
    page = response.text
    assert '<html lang="en">' in page and 'name="viewport"' in page
    assert '<a class="skip" href="#main">Skip to content</a>' in page
    for landmark in ("<header", '<nav aria-label="Site">', '<main id="main"', "<footer"):
        assert landmark in page, landmark
    assert page.count("<h1") == 1
    ids = re.findall(r'<(?:input|select)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', page)
    unnamed = re.findall(r'<(?:input|select)(?![^>]*type="hidden")(?![^>]*\bid=)[^>]*>', page)
    assert not unnamed, f"controls without an id to label: {unnamed}"
    labelled = set(re.findall(r'<label for="([^"]+)"', page))
    assert set(ids) <= labelled, f"unlabelled controls: {set(ids) - labelled}"
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert not re.search(r"<th(?=[\s>])(?![^>]*scope=)", page), "a table heading without scope"
    assert not re.search(r'(?:src|href)="(?:https?:)?//[^"]*\.(?:css|js|woff2?)', page)
    # Scripts only enhance (the map, upload progress): our own files, deferred, never inline;
    # the browser tests use every page with JavaScript off.
    # (Chart specs travel as JSON data in <script type="application/json">, never run.)
    scripts = re.findall(r'<script(?![^>]*type="application/json")[^>]*>', page)
    assert all(re.fullmatch(r'<script src="/static/[\w/.-]+" defer>', s) for s in scripts), scripts


def test_the_stylesheet_is_local_and_marks_focus(web: TestClient) -> None:
    css = web.get("/static/blotter.css")
    assert css.status_code == 200
    assert ":focus-visible" in css.text and "@import" not in css.text and "url(" not in css.text


@pytest.mark.parametrize("url", ["/", "/datasets/test-0001", "/api"])
def test_first_load_stays_within_a_few_hundred_kilobytes(web: TestClient, url: str) -> None:
    """A slow phone downloads the page and every asset it names before it is usable."""
    page = web.get(url).text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    total = len(page.encode()) + sum(len(web.get(a).content) for a in assets)
    assert total < 400_000, f"{url}: {total:,} bytes with {assets}"
