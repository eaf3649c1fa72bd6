"""A dataset's privacy rules hold on every way in, on both engines: set through the metadata
API, then a juvenile's row sent by SODA upsert and replace, the upload API (add and replace),
the staff upload page and ``blotter load`` (with and without a profile) is never published
with anything that reveals the age; each write counts what the rules changed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from blotter.app import create_app
from blotter.cli import app as cli
from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.settings import Settings
from blotter.store import open_store
from tests.engines import cli_env
from tests.portal import PASSWORD, PUBLIC, Portal, csrf_of, sign_in

RULES = {
    "juveniles": {"column": "age", "under": 18, "withhold": ["officer_name"]},
    "sensitive_offences": {"column": "offense", "matches": ["sexual"], "withhold": ["case_no"]},
}
AUTH = ("pub_a", PASSWORD)
JUVENILE = {"case_no": "c9", "offense": "theft", "age": 16, "officer_name": "Lee"}


def _set_rules(portal: Portal, rules: dict[str, object]) -> None:
    answer = portal.client.patch(f"/api/views/{PUBLIC}", json={"privacy": rules}, auth=AUTH)
    assert answer.status_code == 200, answer.text
    assert portal.store.get_dataset(PUBLIC).meta.privacy.juveniles is not None


def _nothing_reveals_the_juvenile(portal: Portal) -> None:
    """No published row has an age under 18, and the juvenile's row keeps no named field."""
    found = portal.client.get(f"/resource/{PUBLIC}.json", params={"$where": "age < 18"})
    assert found.status_code == 200 and found.json() == []
    row = next(r for r in portal.rows(PUBLIC) if r["case_no"] == "c9")
    assert (row["age"], row["officer_name"]) == (None, None)


@pytest.fixture
def ruled(portal: Portal) -> Portal:
    _set_rules(portal, RULES)
    return portal


def test_rules_are_set_through_the_metadata_api_and_checked_against_the_columns(
    portal: Portal,
) -> None:
    _set_rules(portal, RULES)
    view = portal.client.get(f"/api/views/{PUBLIC}.json").json()
    assert view["blotter"]["privacy"]["juveniles"]["under"] == 18
    assert view["blotter"]["privacyRules"][0].startswith("For people under 18, the age ('age')")
    wrong = portal.client.patch(
        f"/api/views/{PUBLIC}", json={"privacy": {"hundred_block": ["street"]}}, auth=AUTH
    )
    assert wrong.status_code == 400
    assert "'street', which is not a column" in wrong.json()["message"]
    typo = portal.client.patch(
        f"/api/views/{PUBLIC}", json={"privacy": {"juvenile": {"column": "age"}}}, auth=AUTH
    )
    assert typo.status_code == 400 and "privacy" in typo.json()["message"]
    assert portal.store.get_dataset(PUBLIC).meta.privacy.juveniles is not None


def test_soda_upsert_withholds_a_juveniles_age_and_named_fields(ruled: Portal) -> None:
    answer = ruled.client.post(f"/resource/{PUBLIC}.json", json=[JUVENILE], auth=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.json()["Rows Created"] == 1
    _nothing_reveals_the_juvenile(ruled)
    entry = ruled.store.audit_log(limit=1, dataset_id=PUBLIC)[0]
    assert entry.action == "rows.upsert" and entry.detail["privacy"] == {"juveniles_withheld": 1}


def test_an_update_that_makes_a_row_a_juveniles_empties_its_named_fields(ruled: Portal) -> None:
    # c1 exists with officer Smith; an update sending only the age must not keep the name.
    answer = ruled.client.post(
        f"/resource/{PUBLIC}.json", json=[{"case_no": "c1", "age": 15}], auth=AUTH
    )
    assert answer.status_code == 200 and answer.json()["Rows Updated"] == 1
    row = next(r for r in ruled.rows(PUBLIC) if r["case_no"] == "c1")
    assert (row["age"], row["officer_name"], row["offense"]) == (None, None, "theft")


def test_soda_replace_withholds_and_a_drop_rule_leaves_the_row_out(ruled: Portal) -> None:
    answer = ruled.client.put(
        f"/resource/{PUBLIC}.json",
        json=[JUVENILE, {"case_no": "c10", "offense": "theft", "age": 30}],
        auth=AUTH,
    )
    assert answer.status_code == 200, answer.text
    _nothing_reveals_the_juvenile(ruled)
    _set_rules(ruled, {"juveniles": {"column": "age", "action": "drop"}})
    ruled.client.put(f"/resource/{PUBLIC}.json", json=[JUVENILE], auth=AUTH)
    assert ruled.rows(PUBLIC) == []
    ruled.client.put(f"/resource/{PUBLIC}.json", json=[{**JUVENILE, "age": 40}], auth=AUTH)
    ruled.client.post(f"/resource/{PUBLIC}.json", json=[{"case_no": "c9", "age": 12}], auth=AUTH)
    assert ruled.rows(PUBLIC) == []  # the update made it a juvenile's row: removed


@pytest.mark.parametrize("mode", ["upsert", "replace"])
def test_the_upload_api_applies_the_rules_and_reports_them(ruled: Portal, mode: str) -> None:
    body = "case_no,offense,age,officer_name\nc9,theft,16,Lee\nc11,sexual assault,40,Ray\n"
    answer = ruled.client.post(
        f"/api/views/{PUBLIC}/upload",
        # A replace removes the three published rows: it must say so.
        params={
            "filename": "may.csv",
            "mode": mode,
            **({"confirm": "3"} if mode == "replace" else {}),
        },
        content=body.encode(),
        headers={"Content-Type": "text/csv"},
        auth=AUTH,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["privacy"] == {"juveniles_withheld": 1, "locations_withheld": 1}
    _nothing_reveals_the_juvenile(ruled)
    sensitive = [r for r in ruled.rows(PUBLIC) if r["offense"] == "sexual assault"]
    assert [r["case_no"] for r in sensitive] == [None]
    entry = ruled.store.audit_log(limit=1, dataset_id=PUBLIC)[0]
    assert entry.detail["privacy"] == {"juveniles_withheld": 1, "locations_withheld": 1}


def test_the_staff_upload_page_applies_the_rules(ruled: Portal) -> None:
    client = TestClient(ruled.client.app)
    csrf = sign_in(client, "pub_a")
    preview = client.post(
        "/manage/upload",
        data={"csrf": csrf, "dataset": PUBLIC, "mode": "upsert"},
        files={"file": ("may.csv", b"case_no,offense,age,officer_name\nc9,theft,16,Lee\n")},
    )
    assert preview.status_code == 200
    token = csrf_of(preview.text) and preview.text.split('name="token" value="')[1].split('"')[0]
    published = client.post(
        "/manage/publish",
        data={"csrf": csrf, "token": token, "dataset": PUBLIC, "mode": "upsert"},
        follow_redirects=False,
    )
    assert published.status_code == 303
    notice = client.get(published.headers["location"]).text
    assert "Privacy rules: 1 record of a juvenile with the age withheld." in notice
    _nothing_reveals_the_juvenile(ruled)


def _reopened(settings: Settings) -> Iterator[Portal]:
    """The portal as a fresh process sees it after the CLI wrote (DuckDB caches datasets)."""
    store = open_store(settings)
    try:
        with TestClient(create_app(settings, store=store)) as client:
            yield Portal(store, settings, client)
    finally:
        store.close()


def test_blotter_load_with_and_without_a_profile_applies_the_rules(
    ruled: Portal, tmp_path: Path
) -> None:
    ruled.store.close()
    runner = CliRunner()
    env = cli_env(ruled.settings)
    month = tmp_path / "may.csv"
    month.write_text("case_no,offense,age,officer_name\nc9,theft,16,Lee\n")
    plain = runner.invoke(cli, ["load", str(month), "--dataset", PUBLIC], env=env)
    assert plain.exit_code == 0, plain.output
    assert "1 record of a juvenile with the age withheld" in plain.output
    for fresh in _reopened(ruled.settings):
        _nothing_reveals_the_juvenile(fresh)
    profile = tmp_path / "rms.yaml"
    # A profile's own rules never replace the dataset's, and keeping a raw copy of the
    # age does not publish it.
    profile.write_text(
        "name: RMS\ncolumns:\n"
        "  - {field: case_no, source: CASE}\n  - {field: offense, source: OFFENSE}\n"
        "  - {field: age, type: number, source: AGE, keep_raw: age_raw}\n"
        "  - {field: officer_name, source: OFFICER}\n"
        "privacy: {hundred_block: [offense]}\n"
    )
    saved = runner.invoke(cli, ["profile", "save", "rms", str(profile)], env=env)
    assert saved.exit_code == 0, saved.output
    june = tmp_path / "june.csv"
    june.write_text("CASE,OFFENSE,AGE,OFFICER\nc9,123 theft,16,Lee\n")
    loaded = runner.invoke(
        cli, ["load", str(june), "--dataset", PUBLIC, "--profile", "rms"], env=env
    )
    assert loaded.exit_code == 0, loaded.output
    for fresh in _reopened(ruled.settings):
        _nothing_reveals_the_juvenile(fresh)
        assert fresh.rows(PUBLIC)[0]["offense"] == "123 theft"  # the profile's rule: ignored
        dataset = fresh.store.get_dataset(PUBLIC)
        assert dataset.column("age_raw").internal  # type: ignore[union-attr]
        assert "age_raw" not in fresh.client.get(f"/resource/{PUBLIC}.json").text


def test_an_update_setting_a_withheld_field_without_the_age_is_refused(ruled: Portal) -> None:
    """A juvenile's age is stored withheld, so an update naming the officer without the age
    cannot be judged: it is refused whole, with its row and field, and nothing changes."""
    assert (
        ruled.client.post(f"/resource/{PUBLIC}.json", json=[JUVENILE], auth=AUTH).status_code == 200
    )
    before = ruled.rows(PUBLIC)
    answer = ruled.client.post(
        f"/resource/{PUBLIC}.json",
        json=[
            {"case_no": "c1", "offense": "theft"},
            {"case_no": JUVENILE["case_no"], "officer_name": "Doe"},
        ],
        auth=AUTH,
    )
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["data"]["problems"]
    assert (problem["row"], problem["column"]) == (2, "officer_name")
    assert "without age" in problem["reason"]
    assert ruled.rows(PUBLIC) == before
    with_age = ruled.client.post(
        f"/resource/{PUBLIC}.json",
        json=[{"case_no": JUVENILE["case_no"], "officer_name": "Doe", "age": 16}],
        auth=AUTH,
    )
    assert with_age.status_code == 200, with_age.text
    _nothing_reveals_the_juvenile(ruled)


def test_an_update_setting_scrubbed_text_without_the_names_is_refused(portal: Portal) -> None:
    """Free text is scrubbed of the names in the row's own name fields; the stored names
    are not read back, so text sent without them would be published with the name in it
    (officer Smith is an internal field of c1): such an update is refused, and with the
    names it is scrubbed as a whole file's row would be."""
    rules = {"scrub": {"columns": ["offense"], "names": ["officer_name"]}}
    answer = portal.client.patch(f"/api/views/{PUBLIC}", json={"privacy": rules}, auth=AUTH)
    assert answer.status_code == 200, answer.text
    before = portal.rows(PUBLIC)
    refused = portal.client.post(
        f"/resource/{PUBLIC}.json", json=[{"case_no": "c1", "offense": "Smith saw it"}], auth=AUTH
    )
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["data"]["problems"]
    assert (problem["row"], problem["column"]) == (1, "offense")
    assert "without officer_name" in problem["reason"]
    assert portal.rows(PUBLIC) == before
    assert portal.client.get(f"/resource/{PUBLIC}.json", params={"$q": "smith"}).json() == []
    sent = {"case_no": "c1", "offense": "Smith saw it", "officer_name": "Smith"}
    assert portal.client.post(f"/resource/{PUBLIC}.json", json=[sent], auth=AUTH).status_code == 200
    row = next(r for r in portal.rows(PUBLIC) if r["case_no"] == "c1")
    assert row["offense"] == "[withheld] saw it"


def test_a_raw_copy_of_a_protected_field_cannot_be_made_public(
    portal: Portal, tmp_path: Path
) -> None:
    """A dataset file's ``keep_raw`` copy of a protected field is published internal, and
    a new version keeps it so; the data dictionary must not open it either, or every
    juvenile's exact age stored in it is public at once."""
    spec = tmp_path / "ages.yaml"
    spec.write_text(
        "name: Ages\nid: ages-0001\nsource: ages.csv\nrow_identifier: case_no\n"
        "columns:\n  - {field: case_no, source: case_no}\n"
        "  - {field: age, type: number, source: age, keep_raw: age_raw}\n"
        "privacy: {juveniles: {column: age, under: 18}}\n"
    )
    (tmp_path / "ages.csv").write_text("case_no,age\nc1,15\nc2,40\n")
    load_file(portal.store, tmp_path / "ages.csv", spec=load_spec_file(spec))
    assert "age_raw" not in portal.client.get("/resource/ages-0001.json").text
    opened = portal.client.patch(
        "/api/views/ages-0001",
        json={"columns": [{"fieldName": "age_raw", "internal": False}]},
        auth=("boss", PASSWORD),
    )
    assert opened.status_code == 400, opened.text
    assert "age_raw" in opened.json()["message"]
    assert "15" not in portal.client.get("/resource/ages-0001.json").text


def test_row_ids_do_not_follow_an_internal_timestamp(portal: Portal) -> None:
    """The exact time is internal (the public gets the day): ``:id``, and so the rows'
    default order, must not rank the rows by it."""
    columns = [
        Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
        Column(field_name="day", name="Day", type=ColumnType.TEXT),
        Column(
            field_name="occurred",
            name="Occurred",
            type=ColumnType.FLOATING_TIMESTAMP,
            internal=True,
        ),
    ]
    portal.store.create_dataset(DatasetMeta(name="Times"), columns, dataset_id="time-0009")
    rows = {
        "case_no": ["c1", "c2", "c3"],
        "day": ["2020-01-01"] * 3,
        "occurred": pa.array([datetime(2020, 1, 1, h) for h in (22, 3, 12)], pa.timestamp("us")),
    }
    portal.store.publish("time-0009", columns, [pa.record_batch(rows)])
    for params in ({}, {"$order": ":id"}):
        read = portal.client.get("/resource/time-0009.json", params=params)
        assert [r["case_no"] for r in read.json()] == ["c1", "c2", "c3"], params
    staff = portal.client.get(
        "/resource/time-0009.json", params={"$order": "occurred"}, auth=("ana", PASSWORD)
    )
    assert [r["case_no"] for r in staff.json()] == ["c2", "c3", "c1"]


def test_metadata_does_not_name_a_row_identifier_the_reader_may_not_see(portal: Portal) -> None:
    """The case number identifies rows in upserts but is internal: the public's metadata
    named it as ``rowIdentifier``, the one place a hidden column's name was given."""
    columns = [
        Column(field_name="case_no", name="Case", type=ColumnType.TEXT, internal=True),
        Column(field_name="offense", name="Offense", type=ColumnType.TEXT),
    ]
    meta = DatasetMeta(name="Cases", row_identifier="case_no")
    portal.store.create_dataset(meta, columns, dataset_id="case-0012")
    rows = {"case_no": ["19-0001"], "offense": ["theft"]}
    portal.store.publish("case-0012", columns, [pa.record_batch(rows)])
    public = portal.client.get("/api/views/case-0012.json")
    assert public.json()["metadata"]["rowIdentifier"] == ":id"
    assert "case_no" not in public.text
    staff = portal.client.get("/api/views/case-0012.json", auth=("ana", PASSWORD))
    assert staff.json()["metadata"]["rowIdentifier"] == "case_no"


def test_the_public_reads_the_rules_without_the_names_of_internal_columns(
    portal: Portal,
) -> None:
    """The officer's name is an internal column that three rules name: the public's
    metadata (one dataset's and the list's) and dataset page say "an unpublished column"
    where staff read its name, so the rules reveal no column the columns list hides."""
    rules = {
        "juveniles": {"column": "age", "withhold": ["officer_name"]},
        "sensitive_offences": {
            "column": "offense",
            "matches": ["sexual"],
            "withhold": ["case_no", "officer_name"],
        },
        "scrub": {"columns": ["offense"], "names": ["officer_name"]},
    }
    answer = portal.client.patch(f"/api/views/{PUBLIC}", json={"privacy": rules}, auth=AUTH)
    assert answer.status_code == 200, answer.text
    assert "officer_name" in answer.text  # the publisher's own answer names it

    public = portal.client.get(f"/api/views/{PUBLIC}.json")
    assert public.status_code == 200
    assert "officer_name" not in public.text
    privacy = public.json()["blotter"]["privacy"]
    assert privacy["juveniles"]["withhold"] == ["an unpublished column"]
    assert privacy["sensitive_offences"]["withhold"] == ["case_no", "an unpublished column"]
    assert public.json()["blotter"]["privacyRules"][-1] == (
        "Free text ('offense') is cleared of the names in an unpublished column, phone "
        "numbers, e-mail addresses and social-security-like numbers."
    )
    assert "officer_name" not in portal.client.get("/api/views.json").text
    page = portal.client.get(f"/datasets/{PUBLIC}")
    assert page.status_code == 200
    assert "officer_name" not in page.text
    assert "the names in an unpublished column" in page.text

    staff = portal.client.get(f"/api/views/{PUBLIC}.json", auth=("ana", PASSWORD)).json()
    assert staff["blotter"]["privacy"]["scrub"]["names"] == ["officer_name"]
    assert "the names in 'officer_name'" in staff["blotter"]["privacyRules"][-1]
    browser = TestClient(portal.client.app)
    sign_in(browser, "ana")
    assert "the names in &#39;officer_name&#39;" in browser.get(f"/datasets/{PUBLIC}").text
