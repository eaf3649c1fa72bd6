"""SODA3 (/api/v3): the same rows, headers and errors as SODA 2.1, with page-number paging."""

from __future__ import annotations

import csv
import io

import requests
from fastapi.testclient import TestClient

from blotter.app import create_app
from blotter.settings import Settings
from blotter.store.common import now
from tests.api.conftest import DATASET_ID, ROWS, expected_row
from tests.conftest import LiveServer

QUERY = f"/api/v3/views/{DATASET_ID}/query"


def test_post_query_gives_the_rows_and_headers_of_soda21(client: TestClient) -> None:
    statement = (
        "SELECT case_number, subject_age WHERE subject_race = 'black' ORDER BY subject_age DESC"
    )
    v3 = client.post(f"{QUERY}.json", json={"query": statement})
    v2 = client.get(f"/resource/{DATASET_ID}.json", params={"$query": statement})
    assert v3.status_code == 200 and v3.json() == v2.json()
    for header in ("content-type", "x-soda2-fields", "x-soda2-types", "last-modified"):
        assert v3.headers[header] == v2.headers[header]


def test_pages_by_number_never_repeat_or_drop_a_row(client: TestClient) -> None:
    seen: list[str] = []
    number = 1
    while True:
        page = client.post(
            f"{QUERY}.json",
            json={
                "query": "SELECT case_number",
                "page": {"pageNumber": number, "pageSize": 700},
            },
        ).json()
        if not page:
            break
        seen.extend(r["case_number"] for r in page)
        number += 1
    assert seen == [expected_row(i)["case_number"] for i in range(ROWS)]


def test_a_page_stays_inside_the_statements_own_limit(client: TestClient) -> None:
    body = {
        "query": "SELECT :id ORDER BY :id LIMIT 25 OFFSET 10",
        "page": {"pageNumber": 2, "pageSize": 10},
        "includeSynthetic": False,
    }
    assert [r[":id"] for r in client.post(f"{QUERY}.json", json=body).json()] == [
        f"row-{n}" for n in range(21, 31)
    ]
    body["page"] = {"pageNumber": 3, "pageSize": 10}
    assert len(client.post(f"{QUERY}.json", json=body).json()) == 5


def test_get_query_and_include_synthetic(client: TestClient) -> None:
    response = client.get(
        f"{QUERY}.json",
        params={
            "query": "SELECT case_number",
            "pageNumber": "1",
            "pageSize": "2",
            "includeSynthetic": "true",
        },
    )
    rows = response.json()
    assert list(rows[0]) == [":id", ":created_at", ":updated_at", "case_number"]
    assert [r[":id"] for r in rows] == ["row-1", "row-2"]


def test_csv_and_geojson_through_soda3(client: TestClient) -> None:
    text = client.post(f"{QUERY}.csv", json={"query": "SELECT case_number LIMIT 3"}).text
    assert text.splitlines() == ["case_number", "15RL00000", "15RL00001", "15RL00002"]
    geo = client.post(f"{QUERY}.geojson", json={"query": "SELECT location LIMIT 2"})
    assert geo.headers["content-type"] == "application/vnd.geo+json; charset=utf-8"
    assert geo.json()["type"] == "FeatureCollection"


def test_export_streams_the_whole_result_as_a_download(client: TestClient) -> None:
    response = client.get(f"/api/v3/views/{DATASET_ID}/export.csv")
    today = now().date().isoformat()
    expected = f'attachment; filename="test-incidents-{DATASET_ID}-{today}.csv"'
    assert response.headers["content-disposition"] == expected
    assert len(list(csv.reader(io.StringIO(response.text)))) == ROWS + 1
    some = client.get(
        f"/api/v3/views/{DATASET_ID}/export.json",
        params={"query": "SELECT case_number WHERE subject_race = 'asian'"},
    ).json()
    assert len(some) == ROWS // 4
    named = client.get(
        f"/api/v3/views/{DATASET_ID}/export.csv",
        params={"query": "SELECT case_number WHERE subject_race = 'asian'"},
    )
    assert named.headers["content-disposition"] == (
        f'attachment; filename="test-incidents-{DATASET_ID}-'
        f'select-case_number-where-subject_race-asian-{today}.csv"'
    )


def test_errors_are_those_of_soda21(client: TestClient) -> None:
    v3 = client.post(f"{QUERY}.json", json={"query": "SELECT case_number WHERE"})
    v2 = client.get(f"/resource/{DATASET_ID}.json", params={"$query": "SELECT case_number WHERE"})
    assert v3.status_code == v2.status_code == 400
    assert v3.json() == v2.json()
    assert client.post("/api/v3/views/zzzz-9999/query.json", json={}).status_code == 404
    assert client.post(f"{QUERY}.xml", json={}).status_code == 404
    bad = client.post(f"{QUERY}.json", json={"query": "SELECT *", "page": {"pageSize": 0}})
    assert bad.status_code == 400 and "pageSize" in bad.json()["message"]
    not_json = client.post(f"{QUERY}.json", content=b"SELECT *")
    assert not_json.status_code == 400 and "JSON" in not_json.json()["message"]


def test_a_body_nested_deeper_than_the_stack_is_a_400_not_a_500(live: LiveServer) -> None:
    # 200 kB, well inside the body limit, from anyone: Python's JSON reader gives up on it
    # with a RecursionError, which is no ValueError.
    deep = b"[" * 100_000 + b"]" * 100_000
    answer = requests.post(
        f"{live.url}{QUERY}.json",
        data=deep,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text[:200]
    assert answer.json()["code"] == "invalid_request" and "JSON" in answer.json()["message"]


def test_a_portal_can_require_callers_to_identify_themselves(settings: Settings) -> None:
    strict = settings.model_copy(update={"soda3_anonymous": False, "app_tokens": ["tok-1"]})
    with TestClient(create_app(strict)) as client:
        anonymous = client.post(f"{QUERY}.json", json={"query": "SELECT :id LIMIT 1"})
        assert anonymous.status_code == 401
        assert anonymous.json()["code"] == "authentication_required"
        unknown = client.post(
            f"{QUERY}.json", json={"query": "SELECT :id LIMIT 1"}, headers={"X-App-Token": "nope"}
        )
        assert unknown.status_code == 403 and unknown.json()["code"] == "permission_denied"
        known = client.post(
            f"{QUERY}.json", json={"query": "SELECT :id LIMIT 1"}, headers={"X-App-Token": "tok-1"}
        )
        assert known.status_code == 200
        # SODA 2.1 reads stay open, as on Socrata.
        assert client.get(f"/resource/{DATASET_ID}.json?$limit=1").status_code == 200
