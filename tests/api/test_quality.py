"""Data-quality checks at publish, on both engines, against the real Takoma Park arrests: a
file with a repeated arrest id, a 2031 date, race 'Blck' and age -4 is refused with each
problem named by row, column and value (on every way in); a clean one publishes, and its
report (completeness, new values, warnings) is kept and shown as JSON and on the page."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from blotter.store import Store
from tests.api.conftest import ARRESTS, AUTH


def _rows(client: TestClient, count: int) -> list[dict[str, str]]:
    answer = client.get(f"/resource/{ARRESTS}.csv", params={"$limit": count, "$order": ":id"})
    return list(csv.DictReader(io.StringIO(answer.text)))


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _bad_file(client: TestClient) -> str:
    rows = _rows(client, 3)
    rows[0]["arrest_date"] = "2031-05-01T00:00:00.000"  # file row 2
    rows[1]["arrest_id"] = rows[0]["arrest_id"]  # file row 3: a repeated id
    rows[1]["race"] = "Blck"
    rows[2]["age"] = "-4"  # file row 4
    return _csv(rows)


def _found(problems: list[dict[str, object]]) -> set[tuple[object, object, object]]:
    return {(p["row"], p["column"], p["value"]) for p in problems}


def _upload(client: TestClient, body: str, **params: str) -> tuple[int, dict[str, object]]:
    answer = client.post(
        f"/api/views/{ARRESTS}/upload",
        params={"filename": "june.csv", **params},
        content=body.encode(),
        headers={"Content-Type": "text/csv"},
        auth=AUTH,
    )
    return answer.status_code, answer.json()


@pytest.mark.parametrize("mode", ["upsert", "replace"])
def test_a_bad_file_is_refused_with_every_problem_named(
    arrests_portal: tuple[Store, TestClient], mode: str
) -> None:
    store, client = arrests_portal
    body = _bad_file(client)
    status, error = _upload(client, body, mode=mode, confirm="1908")
    assert status == 422, error
    assert error["code"] == "ingest.validation-failed"
    problems = error["data"]["problems"]  # type: ignore[index]
    assert _found(problems) == {
        (2, "arrest_date", "2031-05-01T00:00:00"),  # in the future: an error for arrests
        (3, "arrest_id", _rows(client, 1)[0]["arrest_id"]),
        (3, "race", "Blck"),
        (4, "age", -4),
    }
    assert {p["check"] for p in problems} >= {"future_date", "coverage", "duplicate_id"}
    race = next(p for p in problems if p["column"] == "race")
    assert race["reason"].endswith("did you mean 'black'?")
    assert "june.csv" in str(error["message"])
    dataset = store.get_dataset(ARRESTS)
    assert (dataset.version, dataset.row_count) == (1, 1911)
    status, report = _upload(client, body, mode=mode, dryRun="true")
    assert status == 200 and report["problemTotal"] == 4
    assert _found(report["problems"]) == _found(problems)  # type: ignore[arg-type]


def test_soda_writes_are_checked_too(arrests_portal: tuple[Store, TestClient]) -> None:
    store, client = arrests_portal
    row = {k: v for k, v in _rows(client, 1)[0].items() if v}
    answer = client.post(
        f"/resource/{ARRESTS}.json", json=[{**row, "race": "Blck", "age": -4}], auth=AUTH
    )
    assert answer.status_code == 422
    assert {(p["row"], p["column"]) for p in answer.json()["data"]["problems"]} == {
        (1, "race"),
        (1, "age"),
    }
    replaced = client.put(f"/resource/{ARRESTS}.json", json=[row, row], auth=AUTH)
    assert replaced.status_code == 422
    assert "repeats the row identifier" in replaced.text
    assert store.get_dataset(ARRESTS).version == 1


def test_each_publish_keeps_a_report_shown_as_json_and_on_the_page(
    arrests_portal: tuple[Store, TestClient],
) -> None:
    _, client = arrests_portal
    first = client.get(f"/api/views/{ARRESTS}/quality.json").json()
    assert (first["version"], first["rows"], first["warning_total"]) == (1, 1911, 0)
    assert first["completeness"]["arrest_id"] == 1.0
    assert 0.9 < first["completeness"]["age"] < 1.0  # 118 juveniles' ages withheld
    row = {k: v for k, v in _rows(client, 1)[0].items() if v}
    answer = client.post(
        f"/resource/{ARRESTS}.json", json=[{**row, "incident_ward": "Ward 9"}], auth=AUTH
    )
    assert answer.status_code == 200, answer.text
    report = client.get(f"/api/views/{ARRESTS}/quality.json").json()
    assert report["version"] == 2 and report["new_categories"] == {"incident_ward": ["Ward 9"]}
    page = client.get(f"/datasets/{ARRESTS}").text
    assert "For people under 18, the age (&#39;age&#39;) is withheld" in page
    assert "Version 2 (1,911 rows): its rows were checked as published." in page
    assert "New values in &#39;incident_ward&#39;: &#39;Ward 9&#39;." in page
