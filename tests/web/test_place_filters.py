"""Filters a resident sets without SQL beyond "is": one of several values, within a distance
of a place, inside an area of the map; counted against independent arithmetic."""

from __future__ import annotations

import json
import math
import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.paths import SAMPLE_DATA
from tests.web.conftest import ROWS, STOPS, stop_row


def _matching(html: str) -> int:
    found = re.search(r"of ([\d,]+) matching", html)
    return int(found.group(1).replace(",", "")) if found else 0


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def test_one_of_several_values(web: TestClient) -> None:
    page = web.get(f"/datasets/{STOPS}", params={"street__in": "Main St|Elm St"})
    expected = sum(1 for i in range(ROWS) if stop_row(i)["street"] in ("Main St", "Elm St"))
    assert page.status_code == 200 and _matching(page.text) == expected
    assert "Street is one of Main St, Elm St" in page.text


def test_within_a_distance_of_a_place(web: TestClient) -> None:
    page = web.get(f"/datasets/{STOPS}", params={"location__near": "43.5, -73.0, 600"})
    expected = sum(
        1
        for i in range(ROWS)
        if _metres(43.5, -73.0, stop_row(i)["location"][1], stop_row(i)["location"][0]) <= 600  # type: ignore[index]
    )
    assert 0 < expected < ROWS
    assert page.status_code == 200 and _matching(page.text) == expected
    assert "Location within 600 m of 43.5, -73.0" in page.text


def test_a_bad_place_is_a_400_beside_its_box(web: TestClient) -> None:
    page = web.get(f"/datasets/{STOPS}", params={"location__near": "somewhere"})
    assert page.status_code == 400
    assert "give latitude, longitude and a distance in metres" in page.text
    assert 'id="f-location-near"' in page.text and 'aria-invalid="true"' in page.text


def _inside(lon: float, lat: float, rings: list[list[list[float]]]) -> bool:
    crossings = 0
    for ring in rings:
        for (x1, y1, *_), (x2, y2, *_) in zip(ring, ring[1:] + ring[:1], strict=True):
            if (y1 > lat) != (y2 > lat) and lon < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
                crossings += 1
    return crossings % 2 == 1


def test_inside_an_area_of_the_map(sample_app: FastAPI) -> None:
    wards = json.loads((SAMPLE_DATA / "tp_wards.geojson").read_text())
    ward = next(f for f in wards["features"] if f["properties"]["WARD"] == "WARD 4")
    client = TestClient(sample_app)
    points = client.get(
        "/resource/tkpk-clls.json",
        params={"$select": "location", "$where": "location IS NOT NULL", "$limit": "50000"},
    ).json()
    expected = sum(
        1 for p in points if _inside(*p["location"]["coordinates"], ward["geometry"]["coordinates"])
    )
    page = client.get("/datasets/tkpk-clls", params={"location__area": "Ward 4"})
    assert page.status_code == 200
    assert expected > 0 and _matching(page.text) == expected
    assert '<option value="Ward 4" selected>Ward 4</option>' in page.text
    unknown = client.get("/datasets/tkpk-clls", params={"location__area": "Ward 9"})
    assert unknown.status_code == 400 and "is not an area of the map" in unknown.text
