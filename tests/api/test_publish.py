"""The SODA publisher API through the real sodapy client and a live server, on both engines:
upsert, replace, delete, create, metadata and permissions; and every bad write refused with
the right status, saying where, and changing nothing."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import requests
from sodapy import Socrata

from tests.conftest import LiveServer, serve_in_thread
from tests.portal import INTERNAL, PASSWORD, PUBLIC, Portal


@pytest.fixture
def live(portal: Portal) -> Iterator[LiveServer]:
    yield from serve_in_thread(portal.client.app)


def _sodapy(live: LiveServer, username: str, password: str) -> Socrata:
    return Socrata(
        live.url.removeprefix("http://"),
        None,
        username=username,
        password=password,
        session_adapter={"prefix": "http://", "adapter": requests.adapters.HTTPAdapter()},
    )


def test_sodapy_upsert_replace_and_delete_each_make_a_version(
    portal: Portal, live: LiveServer
) -> None:
    client = _sodapy(live, "pub_a", portal.tokens["write_public"])
    result = client.upsert(
        PUBLIC,
        [
            {"case_no": "c2", "offense": "assault (corrected)"},
            {"case_no": "c4", "offense": "fraud", "age": 40},
            {"case_no": "c1", ":deleted": True},
        ],
    )
    assert result == {
        "By RowIdentifier": 2,
        "Rows Updated": 1,
        "Rows Deleted": 1,
        "Rows Created": 1,
        "Errors": 0,
        "By SID": 0,
    }
    rows = portal.rows(PUBLIC)
    assert [(r["case_no"], r["offense"], r["age"]) for r in rows] == [
        ("c2", "assault (corrected)", 34.0),  # the age was not sent, so it stays
        ("c3", "theft", 51.0),
        ("c4", "fraud", 40.0),
    ]
    assert rows[2]["id"] == 4  # a new row gets a new :id, after every earlier one
    csv_body = io.StringIO("case_no,offense,age\nc5,arson,22\nc3,theft,52\n")
    from_csv = client.upsert(PUBLIC, csv_body)
    assert (from_csv["Rows Created"], from_csv["Rows Updated"]) == (1, 1)
    deleted = client.delete(PUBLIC, row_id="c5")
    assert deleted["Rows Deleted"] == 1
    replaced = client.replace(PUBLIC, [{"case_no": "n1", "offense": "theft", "age": 30}])
    assert replaced["Rows Created"] == 1
    assert [r["case_no"] for r in portal.rows(PUBLIC)] == ["n1"]
    versions = portal.store.versions(PUBLIC)
    assert [v.number for v in versions] == [5, 4, 3, 2, 1]
    assert versions[-1].row_count == 3  # the first version is untouched
    actions = [e.action for e in portal.store.audit_log(dataset_id=PUBLIC)]
    assert actions[:4] == ["rows.replace", "rows.delete", "rows.upsert", "rows.upsert"]
    client.close()


def test_sodapy_creates_a_dataset_edits_its_metadata_and_opens_it(
    portal: Portal, live: LiveServer
) -> None:
    client = _sodapy(live, "pub_a", PASSWORD)
    created = client.create(
        "Vehicle pursuits",
        description="Every pursuit.",
        columns=[
            {"fieldName": "pursuit_id", "name": "Pursuit", "dataTypeName": "text"},
            {"fieldName": "miles", "name": "Miles", "dataTypeName": "number"},
        ],
        tags=["pursuits"],
        row_identifier="pursuit_id",
    )
    dataset_id = created["id"]
    assert created["metadata"]["rowIdentifier"] == "pursuit_id"
    assert created["blotter"]["visibility"] == "private"
    assert (
        created["metadata"]["custom_fields"]["Dataset Information"]["Agency"] == "Testville Police"
    )
    # Private: not there for the public until opened.
    assert requests.get(f"{live.url}/resource/{dataset_id}.json").status_code == 404
    client.upsert(dataset_id, [{"pursuit_id": "p1", "miles": 2.5}])
    updated = client.update_metadata(dataset_id, {"description": "Every vehicle pursuit."})
    assert updated["description"] == "Every vehicle pursuit."
    client.set_permission(dataset_id, "public")
    public = requests.get(f"{live.url}/resource/{dataset_id}.json").json()
    assert public == [{"pursuit_id": "p1", "miles": "2.5"}]
    client.delete(dataset_id)
    assert requests.get(f"{live.url}/api/views/{dataset_id}.json").status_code == 404
    client.close()


def _post(live: LiveServer, path: str, body: bytes, **headers: str) -> requests.Response:
    return requests.post(
        live.url + path,
        data=body,
        auth=("pub_a", PASSWORD),
        headers={"Content-Type": "application/json", **headers},
        timeout=30,
    )


def test_bad_payloads_get_clear_errors_and_change_nothing(portal: Portal, live: LiveServer) -> None:
    before = portal.rows(PUBLIC)
    malformed = _post(live, f"/resource/{PUBLIC}.json", b'[{"case_no": "c1",')
    assert malformed.status_code == 400 and "line 1" in malformed.json()["message"]
    not_rows = _post(live, f"/resource/{PUBLIC}.json", b"[1, 2]")
    assert not_rows.status_code == 400 and "Row 1" in not_rows.json()["message"]
    bad_values = _post(
        live,
        f"/resource/{PUBLIC}.json",
        json.dumps(
            [{"case_no": "c1", "age": "old"}, {"offense": "x"}, {"case_no": "c2", "rank": 3}]
        ).encode(),
    )
    assert bad_values.status_code == 422
    problems = bad_values.json()["data"]["problems"]
    assert [(p["row"], p["column"]) for p in problems] == [
        (1, "age"),
        (2, "case_no"),
        (3, "rank"),
    ]
    assert problems[0]["value"] == "old" and "number" in problems[0]["reason"]
    nul = _post(live, f"/resource/{PUBLIC}.json", b'[{"case_no": "c9", "offense": "a\\u0000b"}]')
    assert nul.status_code == 422, nul.text
    (problem,) = nul.json()["data"]["problems"]
    assert (problem["row"], problem["column"]) == (1, "offense") and "NUL" in problem["reason"]
    portal.settings.max_write_mb = 1
    too_big = _post(live, f"/resource/{PUBLIC}.json", b"[" + b" " * (2 * 1024 * 1024) + b"]")
    assert too_big.status_code == 413
    missing_row = requests.delete(
        f"{live.url}/resource/{PUBLIC}/nope.json", auth=("pub_a", PASSWORD), timeout=30
    )
    assert missing_row.status_code == 404
    wrong_type = requests.put(
        f"{live.url}/api/views/{PUBLIC}.json",
        json={"columns": [{"fieldName": "age", "dataTypeName": "text"}]},
        auth=("pub_a", PASSWORD),
        timeout=30,
    )
    assert wrong_type.status_code == 400
    duplicate_key = requests.put(
        f"{live.url}/api/views/{PUBLIC}.json",
        json={"metadata": {"rowIdentifier": "offense"}},
        auth=("pub_a", PASSWORD),
        timeout=30,
    )
    assert duplicate_key.status_code == 400 and "repeat" in duplicate_key.json()["message"]
    deep = b"[" * 100_000 + b"]" * 100_000  # nested past Python's stack
    for method, path in (("POST", f"/resource/{PUBLIC}.json"), ("PATCH", f"/api/views/{PUBLIC}")):
        nested = requests.request(
            method,
            live.url + path,
            data=deep,
            auth=("pub_a", PASSWORD),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert nested.status_code == 400 and "JSON" in nested.json()["message"], path
    assert portal.rows(PUBLIC) == before
    assert portal.store.get_dataset(PUBLIC).version == 1
    assert portal.store.get_dataset(PUBLIC).meta.row_identifier == "case_no"


def test_a_file_upload_through_the_api_with_a_profile(portal: Portal, live: LiveServer) -> None:
    from blotter.access import Viewer
    from blotter.management import save_profile
    from blotter.model import Role, User
    from blotter.store.common import now

    admin = Viewer(user=User(name="boss", role=Role.ADMIN, created_at=now()))
    save_profile(
        portal.store,
        admin,
        "rms-export",
        "name: RMS export\ncolumns:\n"
        "  - {field: case_no, source: CASE NUMBER}\n"
        "  - {field: offense, source: OFFENSE, case: lower}\n"
        "  - {field: age, type: number, source: AGE}\n"
        "  - {field: officer_name, source: OFFICER}\n",
    )
    body = b"CASE NUMBER,OFFENSE,AGE,OFFICER\nc7,ROBBERY,29,Brown\nc3,THEFT,52,Smith\n"
    answer = requests.post(
        f"{live.url}/api/views/{INTERNAL}/upload?filename=may.csv&profile=rms-export&mode=replace"
        "&confirm=3",  # every published row goes: the replace must say so
        data=body,
        auth=("pub_a", PASSWORD),
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == 2
    rows = portal.rows(INTERNAL)
    assert [(r["case_no"], r["offense"]) for r in rows] == [("c7", "robbery"), ("c3", "theft")]
    dataset = portal.store.get_dataset(INTERNAL)
    # The profile maps columns; access and the internal column stay as set in the portal.
    assert dataset.meta.visibility == "internal" and dataset.meta.name == INTERNAL
    assert dataset.column("officer_name").internal  # type: ignore[union-attr]
    bad = requests.post(
        f"{live.url}/api/views/{INTERNAL}/upload?filename=june.csv&profile=rms-export&mode=upsert",
        data=b"CASE NUMBER,OFFENSE,AGE,OFFICER\nc8,THEFT,young,Lee\n",
        auth=("pub_a", PASSWORD),
        timeout=30,
    )
    assert bad.status_code == 422
    assert bad.json()["data"]["problems"][0] == {
        "row": 2,
        "column": "AGE",
        "value": "young",
        "reason": bad.json()["data"]["problems"][0]["reason"],
    }
    assert [r["case_no"] for r in portal.rows(INTERNAL)] == ["c7", "c3"]
