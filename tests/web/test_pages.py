"""The pages over the real app and the real sample datasets, through HTTP."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

USE_OF_FORCE = "e2x9-2kgt"


@pytest.fixture(scope="module")
def client(sample_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(sample_app) as c:
        yield c


def status_line(html: str) -> str:
    match = re.search(r'role="status">([^<]*)<', html)
    assert match, "the page has no status line"
    return match.group(1)


def test_home_lists_the_samples_and_labels_the_generated_one(client: TestClient) -> None:
    html = client.get("/").text
    assert "7 datasets" in html  # five police datasets and two population tables they use
    for name in (
        "Use of force, Rutland (VT)",
        "Arrests, Takoma Park",
        "Calls for service",
        "Traffic stops, Takoma Park",
        "Community engagement",
        "Population of Rutland city",
        "Population of Takoma Park",
    ):
        assert name in html
    assert html.count("Generated sample data") == 1


def test_catalog_search_finds_by_words_in_columns_and_descriptions(client: TestClient) -> None:
    html = client.get("/", params={"q": "subject race"}).text
    assert "1 dataset " in html and "Use of force, Rutland" in html
    assert "No dataset matches" in client.get("/", params={"q": "parking tickets zebra"}).text


def test_catalog_filters_by_agency_with_counts(client: TestClient) -> None:
    html = client.get("/", params={"agency": "Takoma Park Police Department (MD)"}).text
    assert "3 datasets" in html and "Use of force, Rutland" not in html
    assert 'Takoma Park Police Department (MD) <span class="count">(3)</span>' in html


def test_dataset_page_shows_metadata_table_and_dictionary(client: TestClient) -> None:
    html = client.get(f"/datasets/{USE_OF_FORCE}").text
    assert status_line(html) == "Showing rows 1–25 of 221 matching."
    assert "Rutland City Police Department (VT)" in html
    assert '<th scope="col"' in html and "Data dictionary" in html
    assert "<code>force_category</code>" in html
    assert "version 1" in html


def test_filters_by_race_and_force_type_match_the_api(client: TestClient) -> None:
    params = {"subject_race": "black", "force_type__has": "empty_hand_control"}
    html = client.get(f"/datasets/{USE_OF_FORCE}", params=params).text
    api = client.get(
        f"/resource/{USE_OF_FORCE}.json",
        params={"$where": "subject_race = 'black' AND force_type like '%empty_hand_control%'"},
    ).json()
    assert len(api) > 0
    assert status_line(html) == f"Showing rows 1–{len(api)} of {len(api)} matching."
    # Pages show the labels the dataset file gives; the API above keeps the codes.
    assert "Subject race is Black" in html and "Force used includes Empty-hand control" in html
    csv_link = re.search(r'href="(/api/views/[^"]*rows\.csv[^"]*)"', html)
    assert csv_link
    download = client.get(csv_link.group(1).replace("&amp;", "&"))
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert sorted(r["case_number"] for r in rows) == sorted(r["case_number"] for r in api)


def test_sorting_and_paging(client: TestClient) -> None:
    html = client.get(
        f"/datasets/{USE_OF_FORCE}", params={"sort": "subject_age", "dir": "desc", "page": "2"}
    ).text
    assert status_line(html) == "Showing rows 26–50 of 221 matching."
    assert 'aria-sort="descending"' in html
    assert 'rel="prev"' in html and 'rel="next"' in html


def test_a_bad_filter_value_is_a_400_page_that_says_why(client: TestClient) -> None:
    response = client.get(f"/datasets/{USE_OF_FORCE}", params={"officer_age__min": "old"})
    assert response.status_code == 400
    assert "Officer age: &#39;old&#39; is not a number." in response.text
    unknown = client.get(f"/datasets/{USE_OF_FORCE}", params={"shoe_size": "9"})
    assert unknown.status_code == 400 and "not a filter of this dataset" in unknown.text


def test_generated_dataset_page_carries_the_banner(client: TestClient) -> None:
    html = client.get("/datasets/rtcm-ngmt").text
    assert "Generated sample data." in html and "not real records" in html


def test_unknown_dataset_is_a_404_page(client: TestClient) -> None:
    response = client.get("/datasets/zzzz-9999")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "zzzz-9999" in response.text


def test_pages_have_landmarks_labels_and_no_outside_assets(client: TestClient) -> None:
    for url in ("/", f"/datasets/{USE_OF_FORCE}", "/datasets/tkpk-clls", "/api"):
        html = client.get(url).text
        assert '<main id="main"' in html and "<header" in html and "<nav" in html
        assert 'lang="en"' in html and 'name="viewport"' in html
        ids = set(re.findall(r'<(?:input|select)[^>]*id="([^"]+)"', html))
        labelled = set(re.findall(r'<label for="([^"]+)"', html))
        assert ids <= labelled, f"unlabelled controls on {url}: {ids - labelled}"
        # Assets come from the portal itself; links out to sources are fine.
        assert not re.search(r'src="(https?:)?//', html), url
        assert not re.search(r'<link[^>]*href="(https?:)?//', html), url


def test_api_page_shows_both_generations_with_examples_that_work(client: TestClient) -> None:
    html = client.get("/api").text
    assert "SODA 2.1" in html and "SODA3" in html
    assert html.count('<pre class="example"') >= 6  # each run by tests/web/test_api_page.py
    assert "/api/v3/views/e2x9-2kgt/query.json" in html and "pd.read_csv" in html
    # The examples' URLs answer.
    assert client.get("/api/v3/views/e2x9-2kgt/export.csv").status_code == 200
    body = {
        "query": "SELECT case_number, force_type WHERE subject_age > 40",
        "page": {"pageNumber": 1, "pageSize": 100},
    }
    assert client.post("/api/v3/views/e2x9-2kgt/query.json", json=body).status_code == 200
    assert client.get("/api/docs").status_code == 404  # no page that loads assets from a CDN
