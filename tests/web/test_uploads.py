"""Uploads cost bounded work and leave nothing behind: a zip bomb is refused from its
directory, previews check a bounded part, work stops when the client leaves, and upload
files of failed previews, and of servers stopped mid-publish, are removed."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from blotter.app import create_app
from blotter.ingest import columnar, pipeline
from blotter.settings import Settings
from blotter.store import open_store
from tests.conftest import serve_in_thread
from tests.ingest.test_bounds import zip_bomb
from tests.portal import PUBLIC, Portal, build, sign_in

HEADER = "case_no,offense,age,officer_name\n"


@pytest.fixture
def bounded(engine_config: Settings) -> Iterator[Portal]:
    """The access-test portal with small bounds: 40 rows checked per preview, 500 rows per
    file."""
    settings = engine_config.model_copy(update={"preview_check_rows": 40, "max_upload_rows": 500})
    store = open_store(settings)
    try:
        built = build(store, settings)
        with built.client:
            yield built
    finally:
        store.close()


def uploads(portal: Portal) -> list[Path]:
    folder = portal.settings.data_dir / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


def _preview(client: TestClient, csrf: str, name: str, content: bytes) -> str:
    answer = client.post(
        "/manage/upload",
        data={"csrf": csrf, "dataset": PUBLIC, "mode": "upsert"},
        files={"file": (name, content, "text/csv")},
    )
    return answer.text


def test_a_zip_bomb_is_refused_at_once_through_the_api_and_the_page(
    bounded: Portal, tmp_path: Path
) -> None:
    bomb = zip_bomb(tmp_path / "bomb.xlsx", 300).read_bytes()
    api = bounded.client.post(
        f"/api/views/{PUBLIC}/upload?filename=bomb.xlsx",
        content=bomb,
        headers={"X-App-Token": bounded.tokens["admin"]},
    )
    assert api.status_code == 413
    body = api.json()
    assert body["code"] == "ingest.too-large" and "it was not opened" in body["message"]
    assert body["data"]["part"] == "xl/worksheets/sheet1.xml"
    # The file is named as it was sent, never by where the server saved it.
    assert body["message"].startswith("bomb.xlsx: ") and body["data"]["file"] == "bomb.xlsx"
    assert "uploads" not in api.text
    client = TestClient(bounded.client.app)
    page = _preview(client, sign_in(client, "pub_a"), "bomb.xlsx", bomb)
    assert "unpacks" in page and "it was not opened" in page
    assert uploads(bounded) == []  # neither attempt left its file behind
    assert bounded.store.get_dataset(PUBLIC).version == 1


def test_a_file_past_the_row_cap_stops_with_a_clear_error(bounded: Portal) -> None:
    rows = "".join(f"c{i},theft,{20 + i % 50},Lee\n" for i in range(501))
    answer = bounded.client.post(
        f"/api/views/{PUBLIC}/upload?filename=many.csv",
        content=(HEADER + rows).encode(),
        headers={"X-App-Token": bounded.tokens["admin"]},
    )
    assert answer.status_code == 413
    assert answer.json()["code"] == "ingest.too-large"
    assert "more than 500 data rows" in answer.json()["message"]
    assert bounded.store.get_dataset(PUBLIC).version == 1 and uploads(bounded) == []


def test_a_preview_checks_a_bounded_part_and_publishing_checks_the_rest(
    bounded: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 256)
    monkeypatch.setattr(columnar, "BATCH_BYTES", 600)
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 10)
    client = TestClient(bounded.client.app)
    csrf = sign_in(client, "pub_a")
    good = "".join(f"c{i},theft,{20 + i % 50},Lee\n" for i in range(300))
    content = (HEADER + good + "c999,theft,old,Lee\n").encode()  # a problem at row 302
    page = _preview(client, csrf, "late.csv", content)
    checked = int(page.split("The first ")[1].split(" rows checked")[0].replace(",", ""))
    assert 40 <= checked < 300
    assert "the rest of the file is checked when you publish" in page
    token = page.split('name="token" value="')[1].split('"')[0]
    published = client.post(
        "/manage/publish",
        data={"csrf": csrf, "token": token, "dataset": PUBLIC, "mode": "upsert"},
    )
    # The publish reads the whole file and finds the problem the preview did not reach.
    assert published.status_code == 422
    assert "1 problem in" in published.text and "nothing was published" in published.text
    assert bounded.store.get_dataset(PUBLIC).version == 1  # nothing was published
    assert uploads(bounded) == []


def test_a_preview_with_problems_or_an_unreadable_file_leaves_no_upload(
    bounded: Portal,
) -> None:
    client = TestClient(bounded.client.app)
    csrf = sign_in(client, "pub_a")
    report = _preview(client, csrf, "bad.csv", (HEADER + "c5,theft,old,Lee\n").encode())
    assert "1 problem: this file cannot be published yet" in report
    unclosed = _preview(client, csrf, "open.csv", (HEADER + 'c6,"theft,40,Lee\n').encode())
    assert "open.csv row 2: a quoted value opens in this row and is never closed" in unclosed
    assert uploads(bounded) == []
    fine = _preview(client, csrf, "ok.csv", (HEADER + "c7,theft,40,Lee\n").encode())
    assert "1 rows checked, no problems found" in fine
    assert len(uploads(bounded)) == 1  # kept for the publish button


def test_server_start_removes_uploads_older_than_their_lifetime(engine_config: Settings) -> None:
    folder = engine_config.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    stale, fresh = folder / "0123456789abcdef-killed.csv", folder / "fedcba9876543210-new.csv"
    stale.write_text("case\nc1\n")
    fresh.write_text("case\nc2\n")
    day_ago = time.time() - 25 * 3600
    os.utime(stale, (day_ago, day_ago))
    app = create_app(engine_config)
    assert stale.exists()  # nothing happens until the server starts
    with TestClient(app):
        assert not stale.exists() and fresh.exists()
    shorter = engine_config.model_copy(update={"upload_lifetime_h": 0.0})
    with TestClient(create_app(shorter)):
        assert not fresh.exists()


def test_a_client_that_leaves_stops_its_preview_and_its_upload_is_removed(
    bounded: Portal,
) -> None:
    settings = bounded.settings.model_copy(update={"preview_check_rows": 10_000_000})
    for live in serve_in_thread(create_app(settings, store=bounded.store)):
        client = TestClient(bounded.client.app)
        csrf = sign_in(client, "pub_a")
        cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        rows = "".join(
            f"c{i},theft {i % 7},{20 + i % 50},Officer {i % 13}\n" for i in range(200_000)
        )
        boundary = uuid.uuid4().hex
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="dataset"\r\n\r\n{PUBLIC}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n{HEADER}{rows}\r\n'
            f"--{boundary}--\r\n"
        ).encode()
        url = urlsplit(live.url)
        with socket.create_connection((url.hostname, url.port), timeout=30) as conn:
            conn.sendall(
                f"POST /manage/upload HTTP/1.1\r\nHost: {url.netloc}\r\nCookie: {cookies}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            folder = bounded.settings.data_dir / "uploads"
            deadline = time.monotonic() + 60
            while not list(folder.glob("*-big.csv")) and time.monotonic() < deadline:
                time.sleep(0.01)  # the upload is saved; its preview is under way
        # The client has gone: the preview stops and its file is removed.
        deadline = time.monotonic() + 60
        while list(folder.glob("*-big.csv")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(folder.glob("*-big.csv")) == []
