"""Charts shown lazily: a page draws its key chart into itself and shows the others as
images of the same drawings (wide, and a phone's), which the chart-file route answers. The
images carry their text alternative; the files are the very drawings the page would inline."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from blotter.web.chart_drawing import NARROW_FONT

USE_OF_FORCE = "e2x9-2kgt"
QUERY = (
    "subject_race=black&chart.by=force_category&chart.period=quarter"
    "&chart.split=subject_sex&chart.down=force_category&chart.across=arrested"
)
CHARTS = f"/datasets/{USE_OF_FORCE}?{QUERY}"


@pytest.fixture(scope="module")
def client(sample_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(sample_app) as c:
        yield c


def lazy_images(page: str) -> dict[str, tuple[str, str, str]]:
    """Chart id → (alt text, wide drawing's address, phone drawing's address)."""
    found = re.findall(
        r'<figure class="chart" id="([^"]+)"(?:(?!<figure).)*?<div class="chart-svg lazy"><picture>\s*'
        r'<source media="\(max-width: 40rem\)" srcset="([^"]+)" type="image/svg\+xml">\s*'
        r'<img src="([^"]+)" alt="([^"]+)" loading="lazy"',
        page,
        re.DOTALL,
    )
    return {
        cid: (html_lib.unescape(alt), html_lib.unescape(wide), html_lib.unescape(phone))
        for cid, phone, wide, alt in found
    }


def font_sizes(svg: str) -> list[float]:
    return [float(s) for s in re.findall(r'font-size="([\d.]+)px"', svg)]


def test_the_page_draws_its_key_chart_and_loads_the_others_as_images(
    client: TestClient,
) -> None:
    page = client.get(CHARTS).text
    images = lazy_images(page)
    assert set(images) == {"time-occurred_date", "cross-force_category-arrested"}
    # Only the key chart is drawn into the page, wide and for a phone.
    assert page.count('<div class="chart-svg wide"><svg') == 1
    assert page.count('<div class="chart-svg narrow"><svg') == 1
    assert '<svg role="img" aria-label="Incidents by force category"' in page
    for chart_id, (alt, wide, phone) in images.items():
        title = re.search(rf'<strong id="{chart_id}-title">([^<]+)</strong>', page)
        assert title is not None and alt == html_lib.unescape(title.group(1))
        for address, smallest in ((wide, 12.0), (phone, float(NARROW_FONT))):
            assert "subject_race=black" in address
            answer = client.get(address)
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"].startswith("image/svg+xml")
            svg = answer.text
            assert svg.startswith("<svg ") and 'xmlns="http://www.w3.org/2000/svg"' in svg
            assert f'aria-label="{html_lib.escape(alt, quote=True)}"' in svg
            sizes = font_sizes(svg)
            assert sizes and min(sizes) >= smallest, sorted(sizes)[:3]


def test_a_drawing_file_is_the_drawing_the_page_shows_inline(client: TestClient) -> None:
    page = client.get(CHARTS).text
    wide = re.search(r'<div class="chart-svg wide">(<svg.*?</svg>)</div>', page, re.DOTALL)
    phone = re.search(r'<div class="chart-svg narrow">(<svg.*?</svg>)</div>', page, re.DOTALL)
    assert wide is not None and phone is not None
    address = f"/datasets/{USE_OF_FORCE}/charts/by-force_category.svg?{QUERY}&chart.drawing="
    assert client.get(address + "wide").text == wide.group(1)
    assert client.get(address + "phone").text == phone.group(1)
    # The shared file keeps its own drawing (titled, with the filter as subtitle).
    shared = client.get(f"/datasets/{USE_OF_FORCE}/charts/by-force_category.svg?{QUERY}").text
    assert shared != wide.group(1) and "black" in shared.lower()


@pytest.mark.parametrize(
    ("suffix", "status"),
    [
        (".svg?chart.drawing=tall", 400),
        (".png?chart.drawing=wide", 400),
        (".svg?chart.drawing=phone", 200),
    ],
)
def test_only_a_page_drawing_of_a_chart_is_given(
    client: TestClient, suffix: str, status: int
) -> None:
    answer = client.get(f"/datasets/{USE_OF_FORCE}/charts/by-force_category{suffix}")
    assert answer.status_code == status, answer.text
    if status == 400:
        assert "chart.drawing=wide or phone" in answer.text


def test_a_dashboard_draws_one_chart_and_loads_the_others(client: TestClient) -> None:
    page = client.get(f"/dashboards/{USE_OF_FORCE}").text
    images = lazy_images(page)
    drawn = page.count('<div class="chart-svg wide"><svg')
    assert drawn == 1 and len(images) >= 2, (drawn, list(images))
    for _, wide, phone in images.values():
        for address in (wide, phone):
            assert client.get(address).status_code == 200
