"""The home page: the catalog, searched by words and narrowed by category and agency."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from blotter.settings import Settings


def heading(page: str) -> str:
    match = re.search(r'<h2 id="results-heading">([^<]*)</h2>', page)
    assert match
    return html.unescape(match.group(1))


def test_home_says_what_the_portal_is_and_lists_every_dataset(web: TestClient) -> None:
    page = web.get("/").text
    assert f'<h1 class="agency">{Settings().agency_name}</h1>' in page
    assert heading(page) == "2 datasets"
    assert 'href="/datasets/test-0001">Traffic stops, Testville</a>' in page
    assert 'href="/datasets/smpl-0002">Community meetings</a>' in page


def test_card_shows_what_how_many_the_period_and_freshness(web: TestClient) -> None:
    page = web.get("/").text
    assert "<p>Every traffic stop in Testville during 2020.</p>" in page
    assert "One row per stop" not in page
    assert "Testville Police · 60 rows · January 2020 to February 2020" in page
    assert re.search(r"Published \w+ \d+, \d{4}, as needed", page)


def test_only_generated_datasets_carry_the_sample_badge(web: TestClient) -> None:
    page = web.get("/").text
    assert page.count('class="badge"') == 1
    card = page[page.index("Community meetings") :]
    assert "Generated sample data" in card[: card.index("</li>")]
    assert "<p>.</p>" not in page  # no description: no stray full stop


def test_search_reaches_column_names_descriptions_tags_and_agency(web: TestClient) -> None:
    cases = {
        "driver age": "Traffic stops",  # a column's display name
        "headcount neighbours": "Community meetings",  # a column's description
        "outreach": "Community meetings",  # a tag
        "otherton": "Community meetings",  # the agency
        "traf": "Traffic stops",  # a prefix of a word
    }
    for words, name in cases.items():
        page = web.get("/", params={"q": words}).text
        assert heading(page) == f"1 dataset matching “{words}”", words
        assert name in page, words
    nothing = web.get("/", params={"q": "zebra crossing"}).text
    assert heading(nothing) == "0 datasets matching “zebra crossing”"
    assert "No dataset matches" in nothing


def test_category_and_agency_links_narrow_the_list_and_show_counts(web: TestClient) -> None:
    page = web.get("/").text
    assert 'href="/?category=Community">Community <span class="count">(1)</span>' in page
    narrowed = web.get("/", params={"category": "Community"}).text
    assert heading(narrowed) == "1 dataset in Community"
    assert "Traffic stops" not in narrowed
    # The chosen category links back to everything, and the agency counts follow it.
    assert 'href="/" aria-current="true">Community' in narrowed
    assert "Testville Police <span" not in narrowed
    assert 'Otherton Sheriff <span class="count">(1)</span>' in narrowed


def test_searching_keeps_the_chosen_category(web: TestClient) -> None:
    page = web.get("/", params={"category": "Public Safety"}).text
    assert '<input type="hidden" name="category" value="Public Safety">' in page
    both = web.get("/", params={"category": "Public Safety", "q": "meetings"}).text
    assert heading(both) == "0 datasets in Public Safety matching “meetings”"


def test_tag_and_cadence_facets_count_and_narrow(web: TestClient) -> None:
    page = web.get("/").text
    assert "<h2>Tag</h2>" in page and "<h2>Updated</h2>" in page
    assert re.search(r'href="/\?tag=traffic">traffic <span class="count">\(1\)', page)
    narrowed = web.get("/?tag=traffic").text
    assert heading(narrowed) == "1 dataset tagged “traffic”"
    by_cadence = web.get("/?cadence=as+needed").text
    assert heading(by_cadence) == "2 datasets updated as needed"


def test_sorting_by_name_recent_and_most_viewed(web: TestClient) -> None:
    def order(url: str) -> list[str]:
        return re.findall(r'<h3><a href="/datasets/([^"]+)">', web.get(url).text)

    def views(dataset_id: str) -> int:
        card = web.get("/").text.split(f'<h3><a href="/datasets/{dataset_id}"', 1)[1]
        card = card.split("</li>")[0]
        found = re.search(r"viewed ([\d,]+) time", card)
        return int(found.group(1).replace(",", "")) if found else 0

    assert order("/?sort=name") == ["smpl-0002", "test-0001"]  # Community…, Traffic…
    before = views("test-0001")
    for _ in range(3):
        web.get("/datasets/test-0001")
    web.get("/datasets/test-0001?age__min=abc")  # a 400 view is not counted
    assert views("test-0001") == before + 3
    assert views("test-0001") > views("smpl-0002")
    assert order("/?sort=views") == ["test-0001", "smpl-0002"]
    assert 'aria-current="true">Most viewed</a>' in web.get("/?sort=views").text
    assert order("/?sort=nonsense") == order("/?sort=name")
