"""Bounds on every request: long URLs get the portal's 414, large bodies its 413, in the
portal's error body (JSON for the API, a page otherwise), before a route reads them whole."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
from fastapi.testclient import TestClient

from blotter.accounts import add_user
from blotter.app import create_app
from blotter.model import Role
from blotter.settings import Settings
from blotter.store import open_store
from tests.api.conftest import DATASET_ID
from tests.conftest import serve_in_thread

PASSWORD = "a long enough passphrase"


def _chunks(total: int, size: int = 64 << 10) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked), as a script streaming it would."""
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def test_a_url_past_the_cap_gets_a_414_in_the_portals_body(settings: Settings) -> None:
    capped = settings.model_copy(update={"max_url_bytes": 2048})
    long_where = "subject_race='" + "x" * 3000 + "'"
    with TestClient(create_app(capped)) as client:
        api = client.get(f"/resource/{DATASET_ID}.json", params={"$where": long_where})
        assert api.status_code == 414
        body = api.json()
        assert body["code"] == "request.uri-too-long" and body["error"] is True
        assert "at most 2,048" in body["message"] and "SODA3" in body["message"]
        assert body["data"]["limit_bytes"] == 2048 and body["data"]["url_bytes"] > 3000
        page = client.get(f"/d/{DATASET_ID}", params={"q": "x" * 3000})
        assert page.status_code == 414 and page.headers["content-type"].startswith("text/html")
        assert "That address is too long" in page.text
        # Just under the cap is served as usual.
        assert client.get(f"/resource/{DATASET_ID}.json?$limit=1&x=" + "y" * 1900).status_code in (
            200,
            400,
        )


def test_a_long_url_to_a_live_server_gets_the_portals_414_not_the_servers(
    settings: Settings,
) -> None:
    """uvicorn's parser has its own limits; ours answers first, with our body."""
    for live in serve_in_thread(create_app(settings)):
        url = f"{live.url}/resource/{DATASET_ID}.json?$where=" + "a" * (settings.max_url_bytes)
        answer = httpx.get(url, timeout=30)
        assert answer.status_code == 414
        assert answer.json()["code"] == "request.uri-too-long"


def test_a_soda3_body_past_its_cap_is_refused_without_being_read_whole(
    settings: Settings,
) -> None:
    capped = settings.model_copy(update={"max_query_body_kb": 4})
    url = f"/api/v3/views/{DATASET_ID}/query.json"
    with TestClient(create_app(capped)) as client:
        fine = client.post(url, json={"query": "SELECT count(*)"})
        assert fine.status_code == 200
        padded = json.dumps({"query": "SELECT count(*)" + " " * 8192})
        declared = client.post(url, content=padded, headers={"content-type": "application/json"})
        assert declared.status_code == 413
        body = declared.json()
        assert body["code"] == "request.too-large" and "larger than 4 KB" in body["message"]
        streamed = client.post(url, content=_chunks(1 << 20))
        assert streamed.status_code == 413 and streamed.json()["code"] == "request.too-large"


def test_the_sign_in_form_takes_no_more_than_a_sign_in_needs(settings: Settings) -> None:
    """Anyone may post the sign-in form, before any account is known: its body is bounded
    by what a sign-in sends, not by the publisher API's 50 MB of rows."""
    with TestClient(create_app(settings)) as client:
        login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/login").text)
        assert login_csrf
        form = {"name": "nobody", "login_csrf": login_csrf.group(1)}
        padded = client.post("/login", data={**form, "password": "p" * (512 << 10)})
        assert padded.status_code == 413, padded.status_code
        assert padded.headers["content-type"].startswith("text/html")
        assert "That is too large" in padded.text
        declared = client.post("/logout", content=b" " * (1 << 20))
        assert declared.status_code == 413
        wrong = client.post("/login", data={**form, "password": "a wrong passphrase"})
        assert wrong.status_code == 401  # a sign-in itself is as before


def test_write_bodies_past_the_cap_are_refused_declared_or_streamed(settings: Settings) -> None:
    capped = settings.model_copy(update={"max_write_mb": 1, "max_upload_mb": 1})
    store = open_store(capped)
    try:
        if store.user_credentials("chief") is None:
            add_user(store, "chief", Role.ADMIN, PASSWORD)
        with TestClient(create_app(capped, store=store)) as client:
            # Without credentials a write is refused before its body is read at all.
            assert (
                client.post(f"/resource/{DATASET_ID}.json", content=_chunks(3 << 20)).status_code
                == 401
            )
            client.auth = ("chief", PASSWORD)
            for path in (f"/resource/{DATASET_ID}.json", "/api/views.json"):
                answer = client.post(path, content=_chunks(3 << 20))
                assert answer.status_code == 413, path
                assert answer.json()["code"] == "request.too-large"
                assert "1 MB" in answer.json()["message"]
            upload = client.post(
                f"/api/views/{DATASET_ID}/upload?filename=x.csv", content=b"x" * (3 << 20)
            )
            assert upload.status_code == 413 and upload.json()["code"] == "request.too-large"
            assert "Files up to 1 MB" in upload.json()["message"]
            assert not list((capped.data_dir / "uploads").glob("*"))  # nothing left behind
    finally:
        store.close()


def test_a_streamed_body_past_the_cap_stops_at_the_cap_on_a_live_server(
    settings: Settings,
) -> None:
    """A client that keeps sending is answered once the cap is passed, not at the end."""
    capped = settings.model_copy(update={"max_write_mb": 1})
    store = open_store(capped)
    if store.user_credentials("chief") is None:
        add_user(store, "chief", Role.ADMIN, PASSWORD)
    store.close()
    basic = base64.b64encode(f"chief:{PASSWORD}".encode()).decode()
    for live in serve_in_thread(create_app(capped)):
        host, port = urlsplit(live.url).hostname, urlsplit(live.url).port
        with socket.create_connection((host, port), timeout=30) as conn:
            conn.sendall(
                f"POST /resource/{DATASET_ID}.json HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Basic {basic}\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            )
            chunk = b" " * (64 << 10)
            answer = b""
            # Far more than the cap could be sent; the answer comes after about 1 MB.
            for _ in range(1000):
                try:
                    conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                except OSError:
                    break
                conn.settimeout(0.01)
                with contextlib.suppress(TimeoutError):
                    answer += conn.recv(65536)
                conn.settimeout(30)
                if answer:
                    break
            while b"\r\n\r\n" not in answer:
                answer += conn.recv(65536)
            head, _, body = answer.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += conn.recv(65536)
        assert head.startswith(b"HTTP/1.1 413")
        assert json.loads(body)["code"] == "request.too-large"
