"""A deployment's own map layers (BLOTTER_MAP_LAYERS), on a street layer GENERATED here (its
file says so; no real town's streets): drawn under the points in the server's SVG, clipped to
the map's extent, and by Leaflet with every request off this machine refused; credited on the
page; served at /layers/{name}; typed places found where its streets meet, on both engines,
after the dataset's own rows; and every bad setting or file one clear message naming it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Route
from typer.testing import CliRunner

from blotter.app import create_app
from blotter.cli import app as cli
from blotter.errors import IngestError, MapLayerInvalid
from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file
from blotter.settings import Settings
from blotter.store import Store, open_store
from tests.conftest import serve_in_thread
from tests.web.test_axe import AXE, assert_accessible

ROWS = """case,block,lat,lon
c1,100 BLOCK MAIN ST,10.6000,-30.9700
c2,100 block Main St,10.6010,-30.9720
c3,MAIN ST & ELM ST,10.6100,-30.9800
c5,200 BLOCK OAK AVE,10.6200,-30.9900
"""
SPEC = """name: Calls, Generatedville
address_field: block
columns:
  - {field: case, source: case}
  - {field: block, source: block}
  - {field: location, type: point, latitude: lat, longitude: lon}
"""
CREDIT = "Streets generated for Blotter's tests"
STREET_GREY = 'stroke="#9aa3ad"'


def _line(name: str, *points: tuple[float, float]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"name": name},
        "geometry": {"type": "LineString", "coordinates": [list(p) for p in points]},
    }


def generated_streets() -> dict[str, Any]:
    """Made-up streets around the rows, in the open Atlantic (no town's real streets): Generated Ave (two pieces) crosses Sample Street and
    TEST RD, which run parallel; Far Lane is over 50 km off, outside any map of these rows."""
    return {
        "type": "FeatureCollection",
        "generated": True,
        "attribution": CREDIT,
        "features": [
            _line("Generated Ave", (-30.975, 10.59), (-30.975, 10.61)),
            _line("Generated Ave", (-30.975, 10.61), (-30.975, 10.63)),
            _line("Sample Street", (-30.99, 10.605), (-30.96, 10.605)),
            _line("TEST RD", (-30.99, 10.62), (-30.96, 10.62)),
            _line("Far Lane", (-30.50, 10.0), (-30.40, 10.0)),
            # Another generated town's Generated Ave and Sample Street, over 50 km off: they cross too.
            _line("Generated Ave", (-30.475, 10.0), (-30.475, 10.2)),
            _line("Sample Street", (-30.50, 10.105), (-30.40, 10.105)),
            {
                "type": "Feature",
                "properties": {"name": "Generated Park"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[-30.985, 10.612], [-30.98, 10.612], [-30.98, 10.616], [-30.985, 10.612]]
                    ],
                },
            },
        ],
    }


def with_layer(settings: Settings, layer: object = None, name: str = "streets.geojson") -> Settings:
    """The settings with a layers folder holding ``layer`` (the generated streets by
    default; text is written as it is) and naming it in MAP_LAYERS."""
    folder = settings.data_dir / "layers"
    folder.mkdir(parents=True, exist_ok=True)
    body = layer if isinstance(layer, str) else json.dumps(layer or generated_streets())
    (folder / name).write_text(body)
    return settings.model_copy(update={"map_layers": [name], "layers_dir": folder})


def load_rows(store: Store, tmp_path: Path) -> str:
    (tmp_path / "rows.csv").write_text(ROWS)
    (tmp_path / "spec.yaml").write_text(SPEC)
    return load_file(
        store, tmp_path / "rows.csv", spec=load_spec_file(tmp_path / "spec.yaml")
    ).dataset_id


def static_map(page: str) -> str:
    return page[page.index('<div class="map-static">') : page.index('<div class="map-live"')]


def test_the_static_map_draws_the_streets_in_its_extent_beneath_the_points(
    tmp_path: Path,
) -> None:
    plain = Settings(data_dir=tmp_path)
    with closing(open_store(plain)) as store:
        dataset = load_rows(store, tmp_path)
        without = TestClient(create_app(plain, store=store)).get(f"/datasets/{dataset}").text
        page = TestClient(create_app(with_layer(plain), store=store)).get(f"/datasets/{dataset}")
    assert STREET_GREY not in static_map(without) and "Map layers:" not in without
    svg = static_map(page.text)
    streets = svg.index(STREET_GREY)
    assert streets < svg.index('<g class="mark-symbol')  # the points come after: above
    # Four pieces of three streets; Far Lane lies outside the rows' extent and is left out.
    assert svg.count(STREET_GREY) == 4
    assert 'fill="#e6eee3"' in svg  # the park, beneath the streets
    assert svg.index('fill="#e6eee3"') < streets
    assert f"Map layers: {CREDIT.replace(chr(39), '&#39;')} (generated, not real streets)" in (
        page.text
    )
    assert "Thin grey lines are streets." in page.text


def test_with_no_point_in_view_the_streets_fill_the_boundary(tmp_path: Path) -> None:
    area = [[-30.99, 10.60], [-30.97, 10.60], [-30.97, 10.61], [-30.99, 10.60]]
    (tmp_path / "boundaries").mkdir()
    (tmp_path / "boundaries" / "gen_area.geojson").write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "Generated area"},
                        "geometry": {"type": "Polygon", "coordinates": [area]},
                    }
                ],
            }
        )
    )
    settings = with_layer(Settings(data_dir=tmp_path))
    (tmp_path / "rows.csv").write_text(ROWS)
    (tmp_path / "spec.yaml").write_text(SPEC + "boundary: gen_area.geojson\n")
    with closing(open_store(settings)) as store:
        spec = load_spec_file(tmp_path / "spec.yaml")
        dataset = load_file(store, tmp_path / "rows.csv", spec=spec).dataset_id
        page = TestClient(create_app(settings, store=store)).get(f"/datasets/{dataset}?case=none")
    svg = static_map(page.text)
    # Sample Street (10.605) and Generated Ave cross the area; TEST RD (10.62) lies outside.
    assert svg.count(STREET_GREY) == 3
    assert svg.index(STREET_GREY) < svg.index('stroke="#4a5360"')  # the boundary above


def test_a_layer_is_served_with_caching_and_checked(tmp_path: Path) -> None:
    settings = with_layer(Settings(data_dir=tmp_path))
    (settings.data_dir / "layers" / "other.geojson").write_text("{}")
    with TestClient(create_app(settings)) as client:
        served = client.get("/layers/streets.geojson")
        assert served.status_code == 200
        assert served.headers["content-type"] == "application/geo+json"
        assert served.headers["cache-control"] == "public, max-age=3600"
        assert served.json()["generated"] is True
        again = client.get(
            "/layers/streets.geojson", headers={"if-none-match": served.headers["etag"]}
        )
        assert again.status_code == 304
        assert client.get("/layers/nope.geojson").status_code == 404
        broken = client.get("/layers/other.geojson")  # in the folder, and not a layer
        assert broken.status_code == 503 and "not a GeoJSON FeatureCollection" in broken.text
        assert client.get("/layers/..%2Fblotter.duckdb").status_code == 404


def test_a_replaced_layer_file_redraws_a_kept_page(tmp_path: Path) -> None:
    settings = with_layer(Settings(data_dir=tmp_path))
    with closing(open_store(settings)) as store:
        dataset = load_rows(store, tmp_path)
        client = TestClient(create_app(settings, store=store))
        first = client.get(f"/datasets/{dataset}")
        fewer = generated_streets()
        fewer["features"] = [f for f in fewer["features"] if f["properties"]["name"] != "TEST RD"]
        (tmp_path / "layers" / "streets.geojson").write_text(json.dumps(fewer))
        second = client.get(
            f"/datasets/{dataset}", headers={"if-none-match": first.headers["etag"]}
        )
    assert second.status_code == 200 and second.headers["etag"] != first.headers["etag"]
    assert static_map(second.text).count(STREET_GREY) == 3


BAD_LAYERS = [  # (file text, or None for no file; what the message says)
    (None, "is not at"),
    ("not json", "not readable JSON"),
    ('{"type": "Feature"}', "not a GeoJSON FeatureCollection"),
    (
        '{"type": "FeatureCollection", "attribution": "x", "features": [{"type": "Feature",'
        ' "geometry": {"type": "Point", "coordinates": [1, 2]}}]}',
        "feature 1 is Point: a layer holds lines (streets) and polygons",
    ),
    (
        '{"type": "FeatureCollection", "attribution": "x", "features": [{"type": "Feature",'
        ' "geometry": {"type": "LineString", "coordinates": [[1]]}}]}',
        "feature 1's LineString has unusable coordinates",
    ),
    ('{"type": "FeatureCollection", "features": []}', "no attribution"),
]


@pytest.mark.parametrize(("text", "says"), BAD_LAYERS)
def test_a_bad_layer_file_stops_the_start_naming_the_file(
    tmp_path: Path, text: str | None, says: str
) -> None:
    settings = with_layer(Settings(data_dir=tmp_path), text or "")
    if text is None:
        (settings.data_dir / "layers" / "streets.geojson").unlink()
    with pytest.raises(MapLayerInvalid) as raised:
        create_app(settings)
    assert says in raised.value.message
    assert str(tmp_path / "layers" / "streets.geojson") in raised.value.message


def test_a_layer_name_with_a_folder_is_refused_at_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, map_layers=["../blotter.geojson"])
    with pytest.raises(MapLayerInvalid, match=r"by its file name alone"):
        create_app(settings)


def test_serve_with_a_missing_layer_says_so_in_one_line(tmp_path: Path) -> None:
    ran = CliRunner().invoke(
        cli,
        ["serve", "--data-dir", str(tmp_path)],
        env={"BLOTTER_MAP_LAYERS": '["roads.geojson"]'},
    )
    assert ran.exit_code == 1
    assert "Map layer 'roads.geojson' (BLOTTER_MAP_LAYERS) is not at" in ran.output
    assert "Traceback" not in ran.output


def test_a_layer_broken_after_the_start_is_a_503_naming_it(tmp_path: Path) -> None:
    settings = with_layer(Settings(data_dir=tmp_path))
    with TestClient(create_app(settings)) as client:
        (tmp_path / "layers" / "streets.geojson").write_text('{"type": "Feature"}')
        broken = client.get("/layers/streets.geojson")
        assert broken.status_code == 503
        assert "streets.geojson: not a GeoJSON FeatureCollection." in broken.text


def near_of(client: TestClient, dataset: str, typed: str) -> str:
    answer = client.get(
        f"/datasets/{dataset}", params={"location__place": typed}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text[:300]
    return parse_qs(urlsplit(answer.headers["location"]).query)["location__near"][0]


def test_places_are_found_on_the_street_layer_after_the_rows(
    engine_store: Store, engine_config: Settings, tmp_path: Path
) -> None:
    dataset = load_rows(engine_store, tmp_path)
    with TestClient(create_app(with_layer(engine_config), store=engine_store)) as client:
        # The dataset's own rows first: c3 holds this intersection (no such streets here).
        assert near_of(client, dataset, "main st & elm st") == "10.610000,-30.980000,250"
        for typed in (
            "Generated Ave & Sample St",
            "generated avenue and sample street",
            "GENERATED AVE / SAMPLE ST.",
            "Sample St at Generated Ave",
        ):
            assert near_of(client, dataset, typed) == "10.605000,-30.975000,250", typed
        assert near_of(client, dataset, "Generated Ave & Test Road") == "10.620000,-30.975000,250"
        # One street: the point of it nearest its middle.
        assert near_of(client, dataset, "test road") == "10.620000,-30.975000,250"
        parallel = client.get(
            f"/datasets/{dataset}", params={"location__place": "Sample St & Test Rd"}
        )
        assert parallel.status_code == 400
        assert "Sample St and Test Rd do not meet in the map&#39;s street layer." in parallel.text
        unknown = client.get(
            f"/datasets/{dataset}", params={"location__place": "Nowhere Blvd & Sample St"}
        )
        assert unknown.status_code == 400
        assert "has no street named &#39;Nowhere Blvd&#39; near this dataset&#39;s rows." in (
            unknown.text
        )
        # Far Lane is in the layer, over 50 km from every row.
        far = client.get(f"/datasets/{dataset}", params={"location__place": "Far Lane"})
        assert far.status_code == 400 and "no street named &#39;Far Lane&#39; near" in far.text


def test_without_an_address_field_a_street_layer_still_offers_a_place(
    engine_store: Store, engine_config: Settings, tmp_path: Path
) -> None:
    (tmp_path / "rows.csv").write_text(ROWS)
    (tmp_path / "spec.yaml").write_text(SPEC.replace("address_field: block\n", ""))
    spec = load_spec_file(tmp_path / "spec.yaml")
    dataset = load_file(engine_store, tmp_path / "rows.csv", spec=spec).dataset_id
    with TestClient(create_app(with_layer(engine_config), store=engine_store)) as client:
        assert 'name="location__place"' in client.get(f"/datasets/{dataset}").text
        assert near_of(client, dataset, "Generated Ave & TEST RD") == "10.620000,-30.975000,250"
        missing = client.get(f"/datasets/{dataset}", params={"location__place": "Elm St"})
        assert missing.status_code == 400
        assert "has no street named &#39;Elm St&#39; near this dataset&#39;s rows." in missing.text


def test_a_dataset_file_names_its_own_layers(
    engine_store: Store, engine_config: Settings, tmp_path: Path
) -> None:
    """No portal-wide layer: the dataset file's ``map_layers:`` alone draws and places."""
    folder = engine_config.data_dir / "layers"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "town.geojson").write_text(json.dumps(generated_streets()))
    (tmp_path / "rows.csv").write_text(ROWS)
    (tmp_path / "spec.yaml").write_text(SPEC + "map_layers: [town.geojson, gone.geojson]\n")
    spec = load_spec_file(tmp_path / "spec.yaml")
    dataset = load_file(engine_store, tmp_path / "rows.csv", spec=spec).dataset_id
    with TestClient(create_app(engine_config, store=engine_store)) as client:
        # A file the dataset names that is not there: the page says which, never a blank map.
        missing = client.get(f"/datasets/{dataset}")
        assert missing.status_code == 503
        assert "Map layer &#39;gone.geojson&#39; (the dataset file) is not at" in missing.text
        (folder / "gone.geojson").write_text(
            json.dumps({"type": "FeatureCollection", "attribution": CREDIT, "features": []})
        )
        page = client.get(f"/datasets/{dataset}").text
        assert static_map(page).count(STREET_GREY) == 4
        assert near_of(client, dataset, "Generated Ave & Test Rd") == "10.620000,-30.975000,250"


def test_a_dataset_file_naming_a_layer_in_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC + "map_layers: [../secret.geojson]\n")
    with pytest.raises(IngestError, match=r"'map_layers': must name a .geojson file by its name"):
        load_spec_file(tmp_path / "spec.yaml")


@pytest.fixture
def layered_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    settings = with_layer(Settings(data_dir=tmp_path))
    with closing(open_store(settings)) as store:
        dataset = load_rows(store, tmp_path)
        for server in serve_in_thread(create_app(settings, store=store)):
            yield server.url, dataset


@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1280])
def test_leaflet_draws_the_streets_offline_and_passes_axe(
    browser: Browser, layered_server: tuple[str, str], width: int
) -> None:
    url, dataset = layered_server
    context = browser.new_context(viewport={"width": width, "height": 844}, bypass_csp=True)
    refused: list[str] = []

    def only_loopback(route: Route) -> None:
        if route.request.url.startswith(url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    tab: Page = context.new_page()
    try:
        tab.goto(f"{url}/datasets/{dataset}")
        streets = tab.locator(".map-live .leaflet-layers-pane path")
        tab.wait_for_function(
            "document.querySelectorAll('.map-live .leaflet-layers-pane path').length >= 5"
        )
        # Every line (the far ones too: Leaflet has the whole file) and the park.
        assert streets.count() == 8
        attribution = tab.locator(".map-live .leaflet-control-attribution").inner_text()
        assert CREDIT in attribution and "not real streets" in attribution
        pane = tab.evaluate(
            "getComputedStyle(document.querySelector('.leaflet-layers-pane')).zIndex"
        )
        assert int(pane) < 400  # Leaflet's overlay pane, where the points and boundary are
        assert refused == []
        assert_accessible(tab, AXE.read_text(encoding="utf-8"))
    finally:
        context.close()


def test_the_credit_is_escaped_wherever_it_is_shown(tmp_path: Path) -> None:
    layer = {**generated_streets(), "attribution": '<b onmouseover="x">OSM</b> & co'}
    settings = with_layer(Settings(data_dir=tmp_path), layer)
    with closing(open_store(settings)) as store:
        dataset = load_rows(store, tmp_path)
        page = TestClient(create_app(settings, store=store)).get(f"/datasets/{dataset}").text
    assert "<b onmouseover" not in page
    assert re.search(r"Map layers: &lt;b onmouseover=&#34;x&#34;&gt;OSM&lt;/b&gt; &amp; co", page)
