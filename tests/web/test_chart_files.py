"""Sharing: each chart's SVG and PNG at a stable address, its embed snippet, the favicon and
the Open Graph tags a shared link is previewed with."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.portal import PUBLIC, Portal

USE_OF_FORCE = "e2x9-2kgt"
CHARTS = (
    f"/datasets/{USE_OF_FORCE}?subject_race=black&chart.by=force_category&chart.period=quarter"
    "&chart.split=subject_sex&chart.down=force_category&chart.across=arrested&sort=subject_age"
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def base_of(client: TestClient) -> str:
    """The portal's configured absolute address, which its pages' links and examples use."""
    base: str = client.app.state.portal.settings.base_url  # type: ignore[attr-defined]
    return base


@pytest.fixture(scope="module")
def client(sample_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(sample_app) as c:
        yield c


def share_links(page: str) -> dict[str, tuple[str, str]]:
    """Chart id → (SVG address, PNG address), as the page links them."""
    found = re.findall(
        r'<figure class="chart" id="([^"]+)".*?<a href="([^"]+)">SVG</a> · <a href="([^"]+)">PNG',
        page,
        re.DOTALL,
    )
    return {cid: (html_lib.unescape(svg), html_lib.unescape(png)) for cid, svg, png in found}


def test_every_chart_on_the_page_has_an_svg_and_a_png_under_the_same_filters(
    client: TestClient,
) -> None:
    page = client.get(CHARTS).text
    links = share_links(page)
    assert set(links) == {
        "by-force_category",
        "time-occurred_date",
        "cross-force_category-arrested",
    }
    for chart_id, (svg_url, png_url) in links.items():
        assert "subject_race=black" in svg_url and "sort=" not in svg_url
        svg = client.get(svg_url)
        assert svg.status_code == 200, svg.text
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert (
            svg.text.lstrip().startswith("<svg")
            and 'xmlns="http://www.w3.org/2000/svg"' in svg.text
        )
        png = client.get(png_url)
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.content.startswith(PNG_MAGIC), chart_id


def test_a_chart_file_counts_the_filtered_rows_as_the_page_does(client: TestClient) -> None:
    """The bar chart's file holds the page's own figures: under a filter, only its rows."""
    page = client.get(CHARTS).text
    table = page.split('id="by-force_category"')[1].split("</table>")[0]
    counts = re.findall(r'<th scope="row">([^<]+)</th><td class="num">([\d,]+)</td>', table)
    assert counts
    svg_url = share_links(page)["by-force_category"][0]
    unfiltered = client.get(f"/datasets/{USE_OF_FORCE}/charts/by-force_category.svg").text
    svg = client.get(svg_url).text
    assert svg != unfiltered
    # Away from its page the image says whose rows it counts: the dataset and the filter.
    assert "Use of force, Rutland (VT) Police, 2015–2017; Subject race is Black" in svg  # a label
    for label, _ in counts:
        assert html_lib.escape(html_lib.unescape(label), quote=False) in svg


def test_embed_snippet_is_an_image_with_absolute_addresses_and_words(client: TestClient) -> None:
    page = client.get(CHARTS).text
    snippet = re.search(r'<textarea id="by-force_category-embed"[^>]*>(.*?)</textarea>', page)
    assert snippet
    code = html_lib.unescape(snippet.group(1))
    assert code.startswith(f'<a href="{base_of(client)}/datasets/{USE_OF_FORCE}?')
    src = re.search(r'<img src="([^"]+)" alt="([^"]+)"', code)
    assert src and src.group(1).startswith(f"{base_of(client)}/datasets/")
    assert src.group(2).startswith("Incidents by force category:")
    image = client.get(html_lib.unescape(src.group(1)).removeprefix(base_of(client)))
    assert image.status_code == 200 and image.headers["content-type"].startswith("image/svg")


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("charts/by-nothing_here.svg", 404, "no chart 'by-nothing_here'"),
        ("charts/by-force_category.gif", 404, ".svg or .png"),
        ("charts/by-force_category.svg?subject_age__min=abc", 400, "abc"),
        ("charts/time-occurred_date.svg?chart.period=decade", 400, "month, quarter or year"),
        ("charts/time-occurred_date.svg?chart.split=nope", 400, "'nope'"),
    ],
)
def test_a_chart_address_that_names_no_chart_is_refused_clearly(
    client: TestClient, path: str, status: int, words: str
) -> None:
    answer = client.get(f"/datasets/{USE_OF_FORCE}/{path}")
    assert answer.status_code == status
    assert words in html_lib.unescape(answer.text)  # the portal's error page, in words


def test_a_chart_of_a_dataset_the_reader_cannot_see_is_not_found(client: TestClient) -> None:
    assert client.get("/datasets/zzzz-9999/charts/by-x.svg").status_code == 404


def test_favicon_is_served_from_the_portal_itself(client: TestClient) -> None:
    page = client.get("/").text
    assert '<link rel="icon" href="/static/favicon.svg"' in page
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.content.startswith(PNG_MAGIC)
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and "<svg" in svg.text


def og(page: str, prop: str) -> str:
    found = re.search(rf'<meta property="og:{prop}" content="([^"]*)">', page)
    assert found, f"no og:{prop}"
    return html_lib.unescape(found.group(1))


def test_a_shared_dataset_link_shows_its_title_and_plain_language_summary(
    client: TestClient,
) -> None:
    page = client.get(f"/datasets/{USE_OF_FORCE}?subject_race=black").text
    assert og(page, "title") == "Use of force, Rutland (VT) Police, 2015–2017"
    lede = re.search(r'<p class="lede">([^<]+)</p>', page)
    assert lede and og(page, "description").startswith(html_lib.unescape(lede.group(1)))
    assert og(page, "url") == f"{base_of(client)}/datasets/{USE_OF_FORCE}?subject_race=black"
    assert og(page, "type") == "website"


def test_every_page_has_open_graph_tags(client: TestClient) -> None:
    for path in ("/", "/api", f"/datasets/{USE_OF_FORCE}/api"):
        page = client.get(path).text
        assert og(page, "url") == f"{base_of(client)}{path}"
        assert og(page, "title") and og(page, "description")


@pytest.mark.parametrize("dataset_id", [USE_OF_FORCE, "rtcm-ngmt"])
def test_every_dashboard_chart_has_files_that_draw(client: TestClient, dataset_id: str) -> None:
    page = client.get(f"/dashboards/{dataset_id}").text
    figures = re.findall(r'<figure class="chart" id="([^"]+)"', page)
    links = share_links(page)
    assert figures and set(links) == set(figures)
    for svg_url, png_url in links.values():
        assert "?" not in svg_url  # a dashboard shows the whole dataset
        svg = client.get(svg_url)
        assert svg.status_code == 200 and svg.text.lstrip().startswith("<svg"), svg_url
        assert client.get(png_url).content.startswith(PNG_MAGIC), png_url
    if dataset_id == "rtcm-ngmt":  # the sums of the dashboard's measure have files too
        assert any(chart.endswith("-officer_hours") for chart in links)


def test_the_when_page_charts_have_files_under_its_filters(client: TestClient) -> None:
    page = client.get("/datasets/tkpk-clls/when?call_type=Traffic+Stop&chart.days=90").text
    links = share_links(page)
    assert set(links) == {"hour-by-weekday", "year-on-year"}
    for svg_url, png_url in links.values():
        assert "call_type=Traffic+Stop" in svg_url and "chart.days=90" in svg_url
        svg = client.get(svg_url)
        assert svg.status_code == 200 and "Calls for service" in svg.text, svg_url
        assert "Call type is Traffic Stop" in svg.text
        assert client.get(png_url).content.startswith(PNG_MAGIC), png_url
    embed = re.search(r'<textarea id="hour-by-weekday-embed"[^>]*>(.*?)</textarea>', page)
    assert embed and f'href="{base_of(client)}/datasets/tkpk-clls/when?' in html_lib.unescape(
        embed.group(1)
    )


def test_chart_files_on_each_engine_never_count_by_an_internal_column(portal: Portal) -> None:
    """On both engines: a public chart file counts the rows, and a chart by a column the
    public cannot see does not exist for the public (staff still get it)."""
    svg = portal.client.get(f"/datasets/{PUBLIC}/charts/by-offense.svg")
    assert svg.status_code == 200 and ">theft<" in svg.text and ">assault<" in svg.text
    hidden = portal.client.get(f"/datasets/{PUBLIC}/charts/by-officer_name.svg")
    assert hidden.status_code == 404 and "Smith" not in hidden.text
    token = {"X-App-Token": portal.tokens["read_internal"]}
    staff = portal.client.get(f"/datasets/{PUBLIC}/charts/by-officer_name.svg", headers=token)
    assert staff.status_code == 200 and ">Smith<" in staff.text
    assert staff.headers["cache-control"] == "private, no-store"
