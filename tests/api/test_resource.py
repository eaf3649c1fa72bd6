"""The SODA read API over HTTP: shapes, headers, paging and errors as Socrata's."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient

from blotter.store.common import now
from tests.api.conftest import DATASET_ID, ROWS, expected_row


def test_json_rows_serialize_as_socrata_does(client: TestClient) -> None:
    response = client.get(f"/resource/{DATASET_ID}.json", params={"$limit": "11"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    rows = response.json()
    assert len(rows) == 11
    first, tenth = rows[1], rows[10]
    assert first == {
        "case_number": "15RL00001",
        "subject_race": "black",
        "subject_age": "19",
        "occurred": "2015-01-01T07:00:00.000",
        "injured": False,
        "location": {"type": "Point", "coordinates": [-72.96999, 43.60001]},
    }
    # Null fields are left out of the row object.
    assert "subject_age" not in tenth and "location" not in tenth
    assert rows[7]["subject_age"] == "25.5"


def test_bare_resource_path_defaults_to_json(client: TestClient) -> None:
    response = client.get(f"/resource/{DATASET_ID}", params={"$limit": "2"})
    assert response.status_code == 200
    assert [r["case_number"] for r in response.json()] == ["15RL00000", "15RL00001"]


def test_default_limit_is_1000_and_paging_never_repeats_or_drops(client: TestClient) -> None:
    assert len(client.get(f"/resource/{DATASET_ID}.json").json()) == 1000
    seen: list[str] = []
    offset = 0
    while True:
        page = client.get(
            f"/resource/{DATASET_ID}.json",
            params={"$select": "case_number", "$limit": "700", "$offset": str(offset)},
        ).json()
        if not page:
            break
        seen.extend(r["case_number"] for r in page)
        offset += len(page)
    assert seen == [expected_row(i)["case_number"] for i in range(ROWS)]


def test_offset_beyond_the_end_is_an_empty_array(client: TestClient) -> None:
    response = client.get(f"/resource/{DATASET_ID}.json", params={"$offset": "999999"})
    assert response.status_code == 200 and response.json() == []


def test_where_order_and_simple_filter(client: TestClient) -> None:
    rows = client.get(
        f"/resource/{DATASET_ID}.json",
        params={
            "$where": "subject_age > 60 AND injured = true",
            "$order": "subject_age DESC, case_number",
            "subject_race": "black",
            "$limit": "50000",
        },
    ).json()
    expected = [
        expected_row(i)
        for i in range(ROWS)
        if expected_row(i)["subject_race"] == "black"
        and expected_row(i)["injured"]
        and (expected_row(i)["subject_age"] or 0) > 60
    ]
    expected.sort(key=lambda r: (-r["subject_age"], r["case_number"]))  # type: ignore[operator]
    assert [r["case_number"] for r in rows] == [r["case_number"] for r in expected]
    assert expected, "the filter should match some rows"


def test_group_by_counts(client: TestClient) -> None:
    rows = client.get(
        f"/resource/{DATASET_ID}.json",
        params={
            "$select": "subject_race, count(*) AS n",
            "$group": "subject_race",
            "$order": "n DESC, subject_race",
        },
    ).json()
    counts = {r.get("subject_race"): int(r["n"]) for r in rows}
    assert counts == {"white": 625, "black": 625, "asian": 625, None: 625}


def test_csv_has_field_name_headers_and_socrata_types(client: TestClient) -> None:
    response = client.get(f"/resource/{DATASET_ID}.csv", params={"$limit": "3"})
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert json.loads(response.headers["x-soda2-fields"]) == [
        "case_number",
        "subject_race",
        "subject_age",
        "occurred",
        "injured",
        "location",
    ]
    assert json.loads(response.headers["x-soda2-types"]) == [
        "text",
        "text",
        "number",
        "floating_timestamp",
        "checkbox",
        "point",
    ]
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0][0] == "case_number"
    assert table[2] == [
        "15RL00001",
        "black",
        "19",
        "2015-01-01T07:00:00.000",
        "false",
        "POINT (-72.96999 43.60001)",
    ]
    assert table[1][2] == ""  # a null number is an empty cell


def test_geojson_is_a_feature_collection_with_the_point_as_geometry(client: TestClient) -> None:
    response = client.get(f"/resource/{DATASET_ID}.geojson", params={"$limit": "2"})
    assert response.headers["content-type"] == "application/vnd.geo+json; charset=utf-8"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["features"][0]["geometry"] is None  # row 0 has no location
    assert body["features"][1]["geometry"] == {
        "type": "Point",
        "coordinates": [-72.96999, 43.60001],
    }
    assert body["features"][1]["properties"]["case_number"] == "15RL00001"


def test_etag_and_if_none_match_give_304(client: TestClient) -> None:
    first = client.get(f"/resource/{DATASET_ID}.json", params={"$limit": "1"})
    etag = first.headers["etag"]
    assert first.headers["last-modified"].endswith("GMT")
    again = client.get(
        f"/resource/{DATASET_ID}.json", params={"$limit": "1"}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304
    other = client.get(
        f"/resource/{DATASET_ID}.json", params={"$limit": "2"}, headers={"If-None-Match": etag}
    )
    assert other.status_code == 200


def test_cors_lets_browsers_on_other_sites_read(client: TestClient) -> None:
    response = client.get(
        f"/resource/{DATASET_ID}.json",
        params={"$limit": "1"},
        headers={"Origin": "https://newsroom.example"},
    )
    assert response.headers["access-control-allow-origin"] == "*"


def test_bulk_export_streams_every_row_as_a_download(client: TestClient) -> None:
    response = client.get(f"/api/views/{DATASET_ID}/rows.csv", params={"accessType": "DOWNLOAD"})
    assert response.status_code == 200
    today = now().date().isoformat()
    expected = f'attachment; filename="test-incidents-{DATASET_ID}-{today}.csv"'
    assert response.headers["content-disposition"] == expected
    table = list(csv.reader(io.StringIO(response.text)))
    assert len(table) == ROWS + 1
    as_json = client.get(f"/api/views/{DATASET_ID}/rows.json").json()
    assert len(as_json) == ROWS


def test_a_download_is_named_for_its_dataset_filter_and_day(client: TestClient) -> None:
    """Socrata's download links (accessType=DOWNLOAD), from /resource or the export, save a
    file whose name says what it holds; a plain API read is no attachment."""
    today = now().date().isoformat()
    filtered = client.get(
        f"/api/views/{DATASET_ID}/rows.csv",
        params={"accessType": "DOWNLOAD", "$where": "subject_race = 'black'", "$order": "occurred"},
    )
    assert filtered.headers["content-disposition"] == (
        f'attachment; filename="test-incidents-{DATASET_ID}-subject_race-black-{today}.csv"'
    )
    resource = client.get(
        f"/resource/{DATASET_ID}.json",
        params={"accessType": "DOWNLOAD", "subject_race": "asian", "$limit": "3"},
    )
    assert resource.headers["content-disposition"] == (
        f'attachment; filename="test-incidents-{DATASET_ID}-subject_race-asian-{today}.json"'
    )
    assert len(resource.json()) == 3  # the download keeps the read's own limit
    assert "content-disposition" not in client.get(f"/resource/{DATASET_ID}.json").headers


def test_metadata_view_lists_columns_as_socrata(client: TestClient) -> None:
    view = client.get(f"/api/views/{DATASET_ID}.json").json()
    assert view["id"] == DATASET_ID and view["name"] == "Test incidents"
    assert isinstance(view["rowsUpdatedAt"], int)
    assert [(c["fieldName"], c["dataTypeName"], c["position"]) for c in view["columns"]] == [
        ("case_number", "text", 1),
        ("subject_race", "text", 2),
        ("subject_age", "number", 3),
        ("occurred", "floating_timestamp", 4),
        ("injured", "checkbox", 5),
        ("location", "point", 6),
    ]
    assert {"id", "name", "fieldName", "dataTypeName", "description", "position"} <= set(
        view["columns"][0]
    )
    listing = client.get("/api/views.json").json()
    assert [v["id"] for v in listing] == [DATASET_ID]


# --- errors: what and where, a 4xx, the SODA body ---------------------------------------


def test_malformed_where_is_a_400_naming_clause_and_position(client: TestClient) -> None:
    response = client.get(f"/resource/{DATASET_ID}.json", params={"$where": "subject_age >"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] is True and body["code"] == "query.compiler.malformed"
    assert "$where" in body["message"]
    assert body["data"]["position"]["line"] == 1
    assert body["data"]["clause"] == "$where"


def test_unknown_column_is_named(client: TestClient) -> None:
    response = client.get(f"/resource/{DATASET_ID}.json", params={"$where": "subject_rase = 'x'"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "query.soql.no-such-column"
    assert "subject_rase" in body["message"] and "subject_race" in body["message"]


def test_simple_filter_with_a_bad_value_is_a_400(client: TestClient) -> None:
    response = client.get(f"/resource/{DATASET_ID}.json", params={"subject_age": "old"})
    assert response.status_code == 400
    assert "subject_age" in response.json()["message"]


def test_unknown_parameter_is_a_400(client: TestClient) -> None:
    response = client.get(f"/resource/{DATASET_ID}.json", params={"$wehre": "x = 1"})
    assert response.status_code == 400
    assert "$wehre" in response.json()["message"]


def test_unknown_dataset_is_a_soda_404(client: TestClient) -> None:
    response = client.get("/resource/zzzz-9999.json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert client.get("/api/views/zzzz-9999.json").status_code == 404


def test_malformed_dataset_id_and_format_are_client_errors(client: TestClient) -> None:
    assert client.get("/resource/not-an-id.json").status_code == 400
    assert client.get(f"/resource/{DATASET_ID}.xml").status_code == 404


# --- catalogs ---------------------------------------------------------------------------


def test_discovery_api_finds_by_words_and_reports_result_set_size(client: TestClient) -> None:
    body = client.get("/api/catalog/v1", params={"q": "incidents", "only": "dataset"}).json()
    assert body["resultSetSize"] == 1
    resource = body["results"][0]["resource"]
    assert resource["id"] == DATASET_ID
    assert resource["columns_field_name"][:2] == ["case_number", "subject_race"]
    assert body["results"][0]["classification"]["domain_category"] == "Public Safety"
    none = client.get("/api/catalog/v1", params={"q": "parking tickets"}).json()
    assert none == {"results": [], "resultSetSize": 0, "timings": {}, "warnings": []}
    by_column = client.get("/api/catalog/v1", params={"q": "subject race"}).json()
    assert by_column["resultSetSize"] == 1


def test_discovery_api_pages_and_rejects_bad_limits(client: TestClient) -> None:
    assert client.get("/api/catalog/v1", params={"offset": "1"}).json()["results"] == []
    bad = client.get("/api/catalog/v1", params={"limit": "-3"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_request"


def test_dcat_catalog_lists_every_dataset_with_downloads(client: TestClient) -> None:
    catalog = client.get("/data.json").json()
    assert catalog["conformsTo"] == "https://project-open-data.cio.gov/v1.1/schema"
    (entry,) = catalog["dataset"]
    assert entry["title"] == "Test incidents"
    assert entry["identifier"].endswith(f"/api/views/{DATASET_ID}")
    assert entry["publisher"]["name"] == "Test PD"
    assert entry["issued"].endswith("Z") and entry["modified"].endswith("Z")
    assert any(d["mediaType"] == "text/csv" for d in entry["distribution"])


def test_convex_hull_as_geojson_and_csv(client: TestClient) -> None:
    body = client.get(
        f"/resource/{DATASET_ID}.geojson", params={"$select": "convex_hull(location)"}
    ).json()
    (feature,) = body["features"]
    assert feature["geometry"]["type"] == "MultiPolygon"
    ring = feature["geometry"]["coordinates"][0][0]
    assert ring[0] == ring[-1] and len(ring) >= 3
    text = client.get(f"/resource/{DATASET_ID}.csv", params={"$select": "extent(location)"}).text
    assert text.splitlines()[1].startswith('"MULTIPOLYGON (((-72.96999 43.60001, ')


def test_bom_for_excel_and_other_request_options_are_accepted(client: TestClient) -> None:
    with_bom = client.get(f"/resource/{DATASET_ID}.csv", params={"$limit": "1", "$$bom": "true"})
    assert with_bom.content.startswith("\ufeffcase_number".encode())
    plain = client.get(f"/resource/{DATASET_ID}.csv", params={"$limit": "1", "$$version": "2.1"})
    assert plain.status_code == 200 and plain.content.startswith(b"case_number")
