"""A place typed on the dataset page, on both engines: the dataset's own rows that hold the
address give its point (their mean), and the page redirects to the point filter; an address
no located row holds is a problem beside its field; the form offers the field only when the
dataset file declares an address field."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from blotter.app import create_app
from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file
from blotter.settings import Settings
from blotter.store import Store

ROWS = """case,block,lat,lon
c1,100 BLOCK MAIN ST,43.6000,-72.9700
c2,100 block Main St,43.6010,-72.9720
c3,MAIN ST & ELM ST,43.6100,-72.9800
c4,100 BLOCK MAIN ST,,
c5,200 BLOCK OAK AVE,43.6200,-72.9900
"""
SPEC = """name: Calls, Testville
address_field: block
columns:
  - {field: case, source: case}
  - {field: block, source: block}
  - {field: location, type: point, latitude: lat, longitude: lon}
"""


def _portal(store: Store, settings: Settings, tmp_path: Path, spec: str) -> tuple[TestClient, str]:
    (tmp_path / "rows.csv").write_text(ROWS)
    (tmp_path / "spec.yaml").write_text(spec)
    result = load_file(store, tmp_path / "rows.csv", spec=load_spec_file(tmp_path / "spec.yaml"))
    return TestClient(create_app(settings, store=store)), result.dataset_id


def test_a_typed_address_becomes_a_point_filter_at_its_rows_mean(
    engine_store: Store, engine_config: Settings, tmp_path: Path
) -> None:
    client, dataset = _portal(engine_store, engine_config, tmp_path, SPEC)
    with client:
        page = client.get(f"/datasets/{dataset}").text
        assert 'name="location__place"' in page
        answer = client.get(
            f"/datasets/{dataset}",
            params={"location__place": "  100 block  main st ", "block__contains": "main"},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        asked = parse_qs(urlsplit(answer.headers["location"]).query)
        # c1 and c2 hold the address (any case); c4 does too but has no point.
        lat, lon = (43.6000 + 43.6010) / 2, (-72.9700 + -72.9720) / 2
        assert asked == {
            "block__contains": ["main"],
            "location__near": [f"{lat:.6f},{lon:.6f},250"],
        }
        shown = client.get(answer.headers["location"]).text
        assert "Showing rows 1–2 of 2 matching." in shown  # c1, c2: c3 is 1.3 km away
        # A radius already typed is kept.
        again = client.get(
            f"/datasets/{dataset}",
            params={"location__place": "Main St & Elm St", "location__near": "1,2,2000"},
            follow_redirects=False,
        )
        assert parse_qs(urlsplit(again.headers["location"]).query)["location__near"] == [
            "43.610000,-72.980000,2000"
        ]
        nowhere = client.get(f"/datasets/{dataset}", params={"location__place": "1 Nowhere Rd"})
        assert nowhere.status_code == 400
        assert (
            "No row of this dataset with a location has the block &#39;1 Nowhere Rd&#39;"
            in nowhere.text
        )
        assert 'aria-describedby="f-location-place-error"' in nowhere.text


def test_without_an_address_field_there_is_no_place_to_type(
    engine_store: Store, engine_config: Settings, tmp_path: Path
) -> None:
    client, dataset = _portal(
        engine_store, engine_config, tmp_path, SPEC.replace("address_field: block\n", "")
    )
    with client:
        assert 'name="location__place"' not in client.get(f"/datasets/{dataset}").text
