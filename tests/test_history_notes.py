"""The publisher's note, every way a version is made: ``blotter load --note`` (a new dataset,
a replace, an upsert through a profile-less file) and the upload page's note field; each
note is kept with its version and shown in the history. Both engines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from blotter.cli import app
from blotter.settings import Settings
from blotter.store import open_store
from tests.portal import PUBLIC, Portal, sign_in


def test_blotter_load_keeps_each_versions_note(
    engine_config: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = ["--data-dir", str(engine_config.data_dir)]
    if engine_config.database_url:
        where = ["--database-url", engine_config.database_url]
        monkeypatch.setenv("BLOTTER_DATABASE_SCHEMA", engine_config.database_schema)
    runner = CliRunner()
    first = tmp_path / "a.csv"
    first.write_text("Case,Offense\nx1,theft\nx2,fraud\n", encoding="utf-8")
    made = runner.invoke(
        app, ["load", str(first), "--new", "--name", "Cases", "--note", "First extract", *where]
    )
    assert made.exit_code == 0, made.output
    found = re.search(r"of dataset (\w{4}-\w{4})", made.output)
    assert found, made.output
    dataset_id = found.group(1)
    second = tmp_path / "b.csv"
    second.write_text("Case,Offense\nx1,theft\nx2,arson\n", encoding="utf-8")
    replaced = runner.invoke(
        app, ["load", str(second), "--dataset", dataset_id, "--note", "x2 corrected", *where]
    )
    assert replaced.exit_code == 0, replaced.output
    added = runner.invoke(
        app, ["load", str(first), "--dataset", dataset_id, "--upsert", "--note", "Again", *where]
    )
    assert added.exit_code == 0, added.output
    store = open_store(engine_config)
    try:
        versions = store.versions(dataset_id)
        assert [(v.number, v.note) for v in versions] == [
            (3, "Again"),
            (2, "x2 corrected"),
            (1, "First extract"),
        ]
        # Without a row identifier a changed row is one removed and one added.
        assert (versions[1].rows_added, versions[1].rows_changed, versions[1].rows_removed) == (
            1,
            0,
            1,
        )
    finally:
        store.close()


def test_the_upload_pages_note_reaches_the_history(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    preview = client.post(
        "/manage/upload",
        data={"csrf": csrf, "dataset": PUBLIC, "mode": "upsert"},
        files={"file": ("june.csv", b"case_no,offense,age,officer_name\nc7,theft,40,Lee\n")},
    )
    assert 'name="note"' in preview.text
    token = preview.text.split('name="token" value="')[1].split('"')[0]
    published = client.post(
        "/manage/publish",
        data={
            "csrf": csrf,
            "token": token,
            "dataset": PUBLIC,
            "mode": "upsert",
            "note": "  June's arrests  ",
        },
        follow_redirects=False,
    )
    assert published.status_code == 303, published.text
    assert portal.store.versions(PUBLIC)[0].note == "June's arrests"
    listed = client.get(f"/api/views/{PUBLIC}/versions.json").json()["versions"]
    assert (listed[0]["version"], listed[0]["note"], listed[0]["rowsAdded"]) == (
        2,
        "June's arrests",
        1,
    )
    history = client.get(f"/datasets/{PUBLIC}/versions").text
    assert "Publisher’s note: June&#39;s arrests" in history
