"""Data-quality checks at publish, on both engines, against the real Takoma Park arrests: a
file with a repeated arrest id, a 2031 date, race 'Blck' and age -4 is refused with each
problem named by row, column and value (on every way in); a clean one publishes, and its
report (completeness, new values, warnings) is kept and shown as JSON and on the page."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from blotter.app import create_app
from blotter.ingest.pipeline import load_file
from blotter.ingest.rows import stage_changes
from blotter.ingest.spec import load_spec_file
from blotter.settings import Settings
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


def test_a_row_a_privacy_rule_leaves_out_is_never_named_in_the_report(
    engine_store: Store, engine_config: Settings, tmp_path: Path
) -> None:
    """A juvenile's row that a drop rule leaves out is still checked for errors, but the
    kept report is public: a warning would name the row and its date, so it gets none (nor
    a count), on a file's publish and on an upsert."""
    (tmp_path / "a.yaml").write_text(
        "name: A\nid: aaaa-0001\nsource: a.csv\nrow_identifier: case_no\ncolumns:\n"
        "  - {field: case_no, source: case_no}\n"
        "  - {field: at, type: floating_timestamp, source: at}\n"
        "  - {field: age, type: number, source: age}\n"
        "privacy: {juveniles: {column: age, under: 18, action: drop}}\n"
    )
    (tmp_path / "a.csv").write_text("case_no,at,age\nc1,2020-01-01,30\nc2,2031-05-05,15\n")
    load_file(engine_store, tmp_path / "a.csv", spec=load_spec_file(tmp_path / "a.yaml"))
    with TestClient(create_app(engine_config, store=engine_store)) as client:
        assert [r["case_no"] for r in client.get("/resource/aaaa-0001.json").json()] == ["c1"]
        report = client.get("/api/views/aaaa-0001/quality.json").json()
        assert (report["warnings"], report["warning_total"], report["rows_per_check"]) == (
            [],
            0,
            {},
        )
        sent = [{"case_no": "c3", "at": "2032-01-01T00:00:00", "age": 12}]
        changed = engine_store.get_dataset("aaaa-0001")
        staged = stage_changes(changed, sent)
        engine_store.apply_changes("aaaa-0001", staged.key, staged.table, source="api")
        report = client.get("/api/views/aaaa-0001/quality.json").json()
        assert "2032" not in str(report) and report["warning_total"] == 0
        # An adult's row in the future is still a warning.
        sent = [{"case_no": "c4", "at": "2033-01-01T00:00:00", "age": 40}]
        staged = stage_changes(engine_store.get_dataset("aaaa-0001"), sent)
        engine_store.apply_changes("aaaa-0001", staged.key, staged.table, source="api")
        report = client.get("/api/views/aaaa-0001/quality.json").json()
        assert [w["value"][:4] for w in report["warnings"]] == ["2033"]
