"""Privacy rules tightened after rows were published hold at once for what the public can
read, now and before, on both engines over real HTTP: the published rows are written again
under the new rules as a new version, every earlier version is withdrawn (rows, $$version,
rows.csv, diffs, the word index, history pages, feeds, kept answers and exports), and the
answer says so. Loosening, or an edit that changes nothing about the rules, republishes
nothing; an invalid rule is refused and loses nothing. ``blotter load --spec`` with stricter
rules withdraws the earlier versions too."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests
from typer.testing import CliRunner

from blotter.cli import app as cli
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.settings import Settings
from blotter.store import open_store
from tests.conftest import LiveServer, serve_in_thread
from tests.engines import cli_env
from tests.portal import AGENCY_A, PASSWORD, Portal

ID = "addr-0005"
PUB = ("pub_a", PASSWORD)
STAFF = ("ana", PASSWORD)
COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="address", name="Address", type=ColumnType.TEXT),
    Column(field_name="offense", name="Offense", type=ColumnType.TEXT),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
    Column(field_name="officer_name", name="Officer", type=ColumnType.TEXT, internal=True),
]
ROWS = {
    "case_no": ["c1", "c2", "c3"],
    "address": ["1517 Main St", "88 Elm St", "Main St & 5th Ave"],
    "offense": ["theft", "assault", "theft"],
    "age": [16.0, 40.0, 30.0],
    "officer_name": ["Smith", "Jones", "Smith"],
}
# Exact places and the juvenile's age, as published before the rules: none may be read.
LEAKS = ["1517 Main", "88 Elm", "4375 Oak", "1517", "4375"]
TIGHT = {
    "hundred_block": ["address"],
    "juveniles": {"column": "age", "under": 18, "withhold": ["officer_name"]},
}


@pytest.fixture
def live(portal: Portal) -> Iterator[LiveServer]:
    meta = DatasetMeta(name="Addresses", agency=AGENCY_A, row_identifier="case_no")
    portal.store.create_dataset(meta, COLUMNS, dataset_id=ID)
    portal.store.publish(ID, COLUMNS, [pa.record_batch(ROWS)])
    yield from serve_in_thread(portal.client.app)


def _get(live: LiveServer, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(f"{live.url}{path}", timeout=30, **kwargs)


def _patch(
    live: LiveServer, body: dict[str, Any], dataset: str = ID, auth: tuple[str, str] = PUB
) -> requests.Response:
    """A metadata edit through the API (by the publisher unless ``auth`` says)."""
    url = f"{live.url}/api/views/{dataset}"
    return requests.patch(url, data=json.dumps(body), auth=auth, timeout=60)


def _versions(live: LiveServer) -> list[tuple[int, bool]]:
    listed = _get(live, f"/api/views/{ID}/versions.json", auth=STAFF).json()["versions"]
    return [(v["version"], v["pruned"]) for v in listed]


def _second_version(live: LiveServer) -> None:
    answer = requests.post(
        f"{live.url}/resource/{ID}.json",
        data=json.dumps(
            [{"case_no": "c4", "address": "4375 Oak Ave", "offense": "fraud", "age": 25}]
        ),
        auth=PUB,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


# Every public read that served the unprotected rows before the rules were tightened.
READS = [
    f"/resource/{ID}.json",
    f"/resource/{ID}.json?$$version=1",
    f"/resource/{ID}.json?$$version=2",
    f"/resource/{ID}.json?$q=1517",
    f"/resource/{ID}.json?$q=4375",
    f"/resource/{ID}.json?$where=age < 18",
    f"/resource/{ID}.json?$select=address,count(*)&$group=address",
    f"/api/views/{ID}/rows.csv",
    f"/api/views/{ID}/rows.csv?$$version=1",
    f"/api/views/{ID}/rows.csv?$$version=2",
    f"/api/views/{ID}/versions/2/diff.json",
    f"/api/views/{ID}/versions.json",
    f"/datasets/{ID}",
    f"/datasets/{ID}?version=1",
    f"/datasets/{ID}?version=2",
    f"/datasets/{ID}/versions",
    f"/datasets/{ID}/versions/1",
    f"/datasets/{ID}/versions/2",
    f"/datasets/{ID}/versions/2/changes",
    f"/datasets/{ID}/history.atom",
    "/history.atom",
]


def _shown(answer: requests.Response) -> str:
    return html.unescape(answer.text)


def test_tightened_rules_rewrite_the_published_rows_and_withdraw_every_earlier_version(
    portal: Portal, live: LiveServer
) -> None:
    _second_version(live)
    before = {path: _get(live, path) for path in READS}  # kept answers, exports, pages
    assert "1517 Main St" in _shown(before[f"/resource/{ID}.json?$$version=1"])
    assert "4375 Oak Ave" in _shown(before[f"/api/views/{ID}/versions/2/diff.json"])
    assert _get(live, f"/resource/{ID}.json?$q=1517").json() != []

    answer = _patch(live, {"privacy": TIGHT})
    assert answer.status_code == 200, answer.text
    for path in READS:
        read = _get(live, path)
        for leak in LEAKS:
            assert leak not in _shown(read), (path, leak)
        assert read.status_code in (200, 410), (path, read.status_code)
    for path in READS[1:3] + READS[8:11] + [f"/datasets/{ID}/versions/1"]:
        assert _get(live, path).status_code == 410, path
    applied = answer.json()["blotter"]["privacyApplied"]
    assert applied["version"] == 3 and applied["withdrawn"] == [1, 2]
    assert applied["message"].startswith("Privacy rules applied to the published rows: version 3,")
    assert "versions 1-2 withdrawn" in applied["message"]
    rows = {r["case_no"]: r for r in _get(live, f"/resource/{ID}.json").json()}
    assert rows["c1"]["address"] == "1500 block of Main St" and "age" not in rows["c1"]
    assert rows["c2"]["address"] == "0 block of Elm St"
    assert rows["c3"]["address"] == "Main St & 5th Ave"  # no house number: kept
    assert rows["c4"]["address"] == "4300 block of Oak Ave" and rows["c4"]["age"] == "25"
    assert _get(live, f"/resource/{ID}.json?$q=1500").json() != []  # the index is the new one
    page = _shown(_get(live, f"/datasets/{ID}"))
    assert "given to the hundred block" in page and "For people under 18" in page
    history = _shown(_get(live, f"/datasets/{ID}/versions"))
    assert "published before the privacy rules of" in history
    gone = _get(live, f"/resource/{ID}.json?$$version=1").json()["message"]
    assert "privacy rules" in gone

    # Staff see the new version, with the juvenile's named internal field withheld too.
    staff = _get(live, f"/resource/{ID}.json", auth=STAFF)
    assert staff.headers["X-Blotter-Version"] == "3"
    by_case = {r["case_no"]: r for r in staff.json()}
    assert "officer_name" not in by_case["c1"] and by_case["c2"]["officer_name"] == "Jones"
    assert _versions(live) == [(3, False), (2, True), (1, True)]
    entries = portal.store.audit_log(limit=20, dataset_id=ID)
    (entry,) = [e for e in entries if e.action == "dataset.privacy-applied"]
    assert (entry.actor, entry.detail["version"], entry.detail["withdrawn"]) == ("pub_a", 3, [1, 2])
    assert entry.detail["privacy"] == {"addresses_generalised": 3, "juveniles_withheld": 1}


def test_loosening_or_the_same_rules_republish_nothing_and_an_invalid_rule_loses_nothing(
    portal: Portal, live: LiveServer
) -> None:
    assert _patch(live, {"privacy": TIGHT}).status_code == 200
    after = _get(live, f"/resource/{ID}.json", auth=STAFF).json()
    assert _versions(live) == [(2, False), (1, True)]

    same = _patch(live, {"privacy": TIGHT, "description": "Edited"})
    assert same.status_code == 200 and "privacyApplied" not in same.json()["blotter"]
    loosened = _patch(live, {"privacy": {"hundred_block": ["address"]}})
    assert loosened.status_code == 200, loosened.text
    assert "privacyApplied" not in loosened.json()["blotter"]
    assert _versions(live) == [(2, False), (1, True)]
    assert _get(live, f"/resource/{ID}.json", auth=STAFF).json() == after
    # Rules stated now are looser than the rows were written under: the page says so.
    page = _shown(_get(live, f"/datasets/{ID}"))
    assert "given to the hundred block" in page and "For people under 18" not in page

    for wrong in (
        {"hundred_block": ["street"]},
        {"juvenile": {"column": "age"}},
        {"points": [{"column": "address"}]},
    ):
        refused = _patch(live, {"privacy": wrong})
        assert refused.status_code == 400, refused.text
    assert _versions(live) == [(2, False), (1, True)]
    assert _get(live, f"/resource/{ID}.json", auth=STAFF).json() == after
    stored = portal.store.get_dataset(ID).meta.privacy
    assert stored.hundred_block == ["address"] and stored.juveniles is None


def test_a_stricter_juvenile_rule_reaches_rows_whose_age_was_withheld_before(
    portal: Portal, live: LiveServer
) -> None:
    """The published rows keep no juvenile's age once it is withheld: a rule made stricter
    (drop) cannot tell them by age, so a row whose age and named fields the old rule
    emptied is treated as a juvenile's (the only safe reading), and said so."""
    withhold = {"juveniles": {"column": "age", "under": 18, "withhold": ["officer_name"]}}
    assert _patch(live, {"privacy": withhold}).status_code == 200
    drop = {"juveniles": {"column": "age", "under": 18, "action": "drop"}}
    answer = _patch(live, {"privacy": drop})
    assert answer.status_code == 200, answer.text
    message = answer.json()["blotter"]["privacyApplied"]["message"]
    assert "1 row left out" in message
    cases = sorted(r["case_no"] for r in _get(live, f"/resource/{ID}.json", auth=STAFF).json())
    assert cases == ["c2", "c3"]
    assert _versions(live) == [(3, False), (2, True), (1, True)]


def test_the_staff_edit_page_says_what_was_applied(portal: Portal, live: LiveServer) -> None:
    from fastapi.testclient import TestClient

    from tests.portal import sign_in

    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    saved = client.post(
        f"/manage/d/{ID}",
        data={
            "csrf": csrf,
            "privacy": "hundred_block: [address]\n",
            "col-officer_name-internal": "on",
        },
        follow_redirects=True,
    )
    assert saved.status_code == 200, saved.text
    assert "Privacy rules applied to the published rows: version 2, 2 rows changed" in (
        html.unescape(saved.text)
    )
    assert "version 1 withdrawn" in html.unescape(saved.text)
    assert _get(live, f"/resource/{ID}.json?$$version=1").status_code == 410


SPEC = (
    "name: Calls\nid: call-0006\nsource: calls.csv\nrow_identifier: case_no\n"
    "columns:\n  - {field: case_no, source: case_no}\n  - {field: address, source: address}\n"
    "  - {field: age, type: number, source: age}\n"
)


def test_blotter_load_with_stricter_rules_withdraws_the_earlier_versions(
    engine_config: Settings, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = cli_env(engine_config)
    data = tmp_path / "calls.csv"
    data.write_text("case_no,address,age\nc1,1517 Main St,16\nc2,88 Elm St,40\n")
    spec = tmp_path / "calls.yaml"
    spec.write_text(SPEC)
    for args in (["--new"], ["--dataset", "call-0006"]):
        done = runner.invoke(cli, ["load", str(data), *args, "--spec", str(spec)], env=env)
        assert done.exit_code == 0, done.output
    spec.write_text(SPEC + "privacy:\n  hundred_block: [address]\n")
    loaded = runner.invoke(
        cli, ["load", str(data), "--dataset", "call-0006", "--spec", str(spec)], env=env
    )
    assert loaded.exit_code == 0, loaded.output
    assert "versions 1-2 withdrawn" in loaded.output
    again = runner.invoke(
        cli, ["load", str(data), "--dataset", "call-0006", "--spec", str(spec)], env=env
    )
    assert again.exit_code == 0 and "withdrawn" not in again.output  # the same rules
    store = open_store(engine_config)
    try:
        listed = [(v.number, v.pruned) for v in store.versions("call-0006")]
        assert listed == [(4, False), (3, False), (2, True), (1, True)]
        from blotter.app import create_app

        with contextmanager(serve_in_thread)(create_app(engine_config, store=store)) as server:
            for path in (
                "/resource/call-0006.json",
                "/resource/call-0006.json?$$version=1",
                "/api/views/call-0006/rows.csv?$$version=2",
                "/resource/call-0006.json?$q=1517",
            ):
                read = _get(server, path)
                assert "1517 Main" not in read.text and "88 Elm" not in read.text, path
            assert _get(server, "/resource/call-0006.json?$$version=1").status_code == 410
    finally:
        store.close()


def _protect_address(live: LiveServer, dataset: str, *more: str) -> None:
    """The administrator sets a hundred-block rule on ``address`` through the API; then no
    public read (its JSON rows, CSV, page, and the paths in ``more``) shows the exact one."""
    answer = _patch(live, {"privacy": {"hundred_block": ["address"]}}, dataset, ("boss", PASSWORD))
    assert answer.status_code == 200, answer.text
    for path in (
        f"/resource/{dataset}.json",
        f"/api/views/{dataset}/rows.csv",
        *more,
        f"/datasets/{dataset}",
    ):
        assert "1517 Main" not in _shown(_get(live, path)), path


def test_the_as_recorded_copy_of_a_newly_protected_field_becomes_internal(
    portal: Portal, live: LiveServer, tmp_path: Path
) -> None:
    """A dataset file's ``keep_raw`` copy of an address holds the exact address: once a rule
    protects the address, the copy is staff-only, in the new version and for good."""
    from blotter.ingest.pipeline import load_file
    from blotter.ingest.spec import load_spec_file

    spec = tmp_path / "raw.yaml"
    spec.write_text(
        "name: Raw\nid: rawc-0007\nsource: raw.csv\nrow_identifier: case_no\n"
        "columns:\n  - {field: case_no, source: case_no}\n"
        "  - {field: address, source: address, keep_raw: address_raw}\n"
    )
    (tmp_path / "raw.csv").write_text("case_no,address\nc1,1517 Main St\n")
    load_file(portal.store, tmp_path / "raw.csv", spec=load_spec_file(spec))
    assert "1517 Main" in _get(live, "/resource/rawc-0007.json").text
    _protect_address(live, "rawc-0007")
    staff = _get(live, "/resource/rawc-0007.json", auth=STAFF).json()
    assert [(r["address"], r["address_raw"]) for r in staff] == [
        ("1500 block of Main St", "1517 Main St")  # kept, as a write keeps it: internal
    ]
    assert portal.store.get_dataset("rawc-0007").column("address_raw").internal  # type: ignore[union-attr]


def test_columns_carrying_a_newly_protected_field_become_internal(
    portal: Portal, live: LiveServer, tmp_path: Path
) -> None:
    """A second column reading the address's cells, and one derived from it (unmapped
    values kept), are the exact address too: a rule set later by an edit, which cannot see
    the dataset file, makes them staff-only with the address, for good."""
    from blotter.ingest.pipeline import load_file
    from blotter.ingest.spec import load_spec_file

    spec = tmp_path / "twins.yaml"
    spec.write_text(
        "name: Twins\nid: twin-0008\nsource: twins.csv\nrow_identifier: case_no\n"
        "columns:\n  - {field: case_no, source: case_no}\n"
        "  - {field: address, source: address}\n"
        "  - {field: address_again, source: ADDRESS}\n"  # headers match whatever their case
        "  - {field: place, derive_from: address, map: {Town Hall: Town Hall}}\n"
        "  - {field: place_again, derive_from: place}\n"
    )
    (tmp_path / "twins.csv").write_text("case_no,address\nc1,1517 Main St\n")
    load_file(portal.store, tmp_path / "twins.csv", spec=load_spec_file(spec))
    carried = ("address_again", "place", "place_again")
    assert _get(live, "/resource/twin-0008.json").json() == [
        {"case_no": "c1", "address": "1517 Main St", **dict.fromkeys(carried, "1517 Main St")}
    ]
    _protect_address(live, "twin-0008", "/resource/twin-0008.json?$q=1517")
    staff = _get(live, "/resource/twin-0008.json", auth=STAFF).json()
    assert [[r[f] for f in ("address", *carried)] for r in staff] == [
        ["1500 block of Main St", *["1517 Main St"] * 3]  # kept for staff, as a write keeps it
    ]
    dataset = portal.store.get_dataset("twin-0008")
    assert [c.field_name for c in dataset.columns if c.internal] == list(carried)
    # Nor can an edit make one public again while the rule holds.
    shown = _patch(
        live,
        {"columns": [{"fieldName": "place", "internal": False}]},
        "twin-0008",
        ("boss", PASSWORD),
    )
    assert shown.status_code == 400, shown.text
    assert (
        "holds what 'address' holds before the dataset's privacy rules" in shown.json()["message"]
    )


def test_age_bands_cannot_be_redrawn_on_published_rows(portal: Portal, live: LiveServer) -> None:
    band = {"column": "age", "into": "offense"}
    assert _patch(live, {"privacy": {"age_bands": [band]}}).status_code == 200
    after = _get(live, f"/resource/{ID}.json", auth=STAFF).json()
    assert sorted(r["offense"] for r in after) == ["25-34", "35-44", "under 18"]
    refused = _patch(live, {"privacy": {"age_bands": [{**band, "bounds": [21, 65]}]}})
    assert refused.status_code == 400, refused.text
    assert "cannot be drawn again" in refused.json()["message"]
    assert _versions(live) == [(2, False), (1, True)]
    assert _get(live, f"/resource/{ID}.json", auth=STAFF).json() == after


def test_rules_applied_more_strictly_after_an_upgrade_reach_the_published_rows(
    engine_config: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows published by a Blotter whose hundred-block rule missed ``1234-A Main St`` (as
    before 2026-12-03) are protected by `blotter versions reapply-privacy`: a new version,
    every earlier one withdrawn; --dry-run and a second run write nothing."""
    import blotter.store.protect as protect

    runner = CliRunner()
    env = cli_env(engine_config)
    data = tmp_path / "calls.csv"
    data.write_text("case_no,address,age\nc1,1234-A Main St,30\nc2,88 Elm St,40\n")
    spec = tmp_path / "calls.yaml"
    spec.write_text(SPEC + "privacy:\n  hundred_block: [address]\n")
    current = protect.hundred_block
    with monkeypatch.context() as older:  # the rule as an earlier Blotter applied it
        older.setattr(protect, "hundred_block", lambda a: a if "-" in a else current(a))
        for args in (["--new"], ["--dataset", "call-0006"]):
            done = runner.invoke(cli, ["load", str(data), *args, "--spec", str(spec)], env=env)
            assert done.exit_code == 0, done.output

    def run(*args: str) -> str:
        done = runner.invoke(cli, ["versions", "reapply-privacy", *args], env=env)
        assert done.exit_code == 0, done.output
        return " ".join(done.output.split())

    other = runner.invoke(cli, ["load", str(data), "--new", "--name", "No rules"], env=env)
    assert other.exit_code == 0, other.output
    dry = run("--dry-run")
    assert "call-0006: would change 1 row(s) and leave out 0." in dry
    assert "no privacy rules or no rows; nothing to do." in dry  # read no row of it
    store = open_store(engine_config)
    try:
        assert [(v.number, v.pruned) for v in store.versions("call-0006")] == [
            (2, False),
            (1, False),
        ]
    finally:
        store.close()
    applied = run("--dataset", "call-0006")
    assert "version 3, 1 row changed; versions 1-2 withdrawn" in applied, applied
    assert "call-0006: its rows already obey its rules; nothing written." in run()
    store = open_store(engine_config)
    try:
        listed = [(v.number, v.pruned) for v in store.versions("call-0006")]
        assert listed == [(3, False), (2, True), (1, True)]
        from blotter.app import create_app

        with contextmanager(serve_in_thread)(create_app(engine_config, store=store)) as server:
            rows = _get(server, "/resource/call-0006.json?$order=case_no").json()
            assert [r["address"] for r in rows] == ["1200 block of Main St", "0 block of Elm St"]
            for path in (
                "/resource/call-0006.json?$$version=1",
                "/api/views/call-0006/rows.csv?$$version=2",
            ):
                assert _get(server, path).status_code == 410, path
            assert "1234-A" not in _get(server, "/api/views/call-0006/rows.csv").text
    finally:
        store.close()
