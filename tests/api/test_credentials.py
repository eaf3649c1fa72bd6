"""Password checks cost bounded work: failures throttled per address before any hash,
and a verified Basic credential remembered briefly (sodapy sends it on every call)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Literal

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from blotter import accounts
from blotter.accounts import add_user, create_token
from blotter.app import create_app
from blotter.model import Role
from blotter.settings import Settings
from blotter.store import Store, open_store
from tests.api.conftest import DATASET_ID
from tests.conftest import TEST_HASHING

PASSWORD = "a long enough passphrase"
URL = f"/api/views/{DATASET_ID}.json"


def basic(name: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = open_store(settings)
    try:
        if store.user_credentials("clerk") is None:
            add_user(store, "clerk", Role.ANALYST, PASSWORD)
        yield store
    finally:
        store.close()


@pytest.fixture
def nobody() -> str:
    """A name no account has, new for each test: the database keeps failed sign-ins of
    unknown names for a day (to lock them as accounts are), so a shared one would lock
    across tests."""
    return f"nobody-{secrets.token_hex(4)}"


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Argon2 verify or hash the portal computes (the real ones still run)."""
    seen: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            seen.append("verify")
            return super().verify(hash, password)

        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            seen.append("hash")
            return super().hash(password, salt=salt)

    monkeypatch.setattr(accounts, "_hasher", Counting(**TEST_HASHING))
    return seen


def test_wrong_passwords_from_an_address_are_refused_before_any_hash(
    settings: Settings, store: Store, hashes: list[str], nobody: str
) -> None:
    limited = settings.model_copy(update={"password_failures_per_address": 3})
    with TestClient(create_app(limited, store=store)) as client:
        # Known and unknown names count alike, so the limit says nothing about who exists.
        tries = [("clerk", "wrong guess 1"), (nobody, "wrong guess 2"), ("clerk", "no 3")]
        assert [client.get(URL, headers=basic(*t)).status_code for t in tries] == [401] * 3
        assert len(hashes) == 3
        for name, secret in [("clerk", "wrong guess 4"), (nobody, "x"), ("clerk", PASSWORD)]:
            refused = client.get(URL, headers=basic(name, secret))
            assert refused.status_code == 429
            body = refused.json()
            assert body["code"] == "auth.too-many-failures" and body["error"] is True
            assert "from this address" in body["message"]
            assert 1 <= int(refused.headers["retry-after"]) <= 600
        assert len(hashes) == 3  # not one more hash once the address is past its limit
        # Reading without credentials is not affected.
        assert client.get(URL).status_code == 200


def test_the_sign_in_form_shares_the_address_limit(
    settings: Settings, store: Store, hashes: list[str], nobody: str
) -> None:
    limited = settings.model_copy(update={"password_failures_per_address": 2})
    with TestClient(create_app(limited, store=store)) as client:
        for _ in range(2):
            assert client.get(URL, headers=basic(nobody, "wrong guess")).status_code == 401
        form = client.get("/login")
        csrf = form.text.split('name="login_csrf" value="')[1].split('"')[0]
        page = client.post(
            "/login", data={"name": "clerk", "password": PASSWORD, "login_csrf": csrf}
        )
        assert page.status_code == 429 and "Too many wrong passwords from this address" in (
            page.text
        )
        assert "retry-after" in page.headers
        assert len(hashes) == 2


def test_a_verified_basic_credential_is_remembered_briefly(
    settings: Settings, store: Store, hashes: list[str]
) -> None:
    with TestClient(create_app(settings, store=store)) as client:
        for _ in range(5):
            answer = client.get("/api/audit.json", headers=basic("clerk", PASSWORD))
            assert answer.status_code == 403  # an analyst, recognised, not an admin
        assert hashes == ["verify"]  # one Argon2 check for five calls
        # A wrong password for the same account is not helped by the remembered one.
        assert client.get(URL, headers=basic("clerk", "wrong guess")).status_code == 401
        assert hashes == ["verify", "verify"]
    forgetful = settings.model_copy(update={"credential_cache_s": 0})
    with TestClient(create_app(forgetful, store=store)) as client:
        for _ in range(2):
            assert client.get(URL, headers=basic("clerk", PASSWORD)).status_code == 200
    assert hashes.count("verify") == 4


def test_revoking_a_token_on_the_staff_pages_forgets_its_remembered_basic_credential(
    settings: Settings, store: Store
) -> None:
    if store.user_credentials("chief") is None:
        add_user(store, "chief", Role.ADMIN, PASSWORD)
    record, secret = create_token(store, "chief", "script", ["admin"])
    with TestClient(create_app(settings, store=store)) as client:
        assert client.get("/api/audit.json", headers=basic("chief", secret)).status_code == 200
        form = client.get("/login")
        csrf = form.text.split('name="login_csrf" value="')[1].split('"')[0]
        client.post("/login", data={"name": "chief", "password": PASSWORD, "login_csrf": csrf})
        tokens = client.get("/manage/tokens")
        page_csrf = tokens.text.split('name="csrf" value="')[1].split('"')[0]
        revoked = client.post(
            f"/manage/tokens/{record.id}/revoke", data={"csrf": page_csrf}, follow_redirects=False
        )
        assert revoked.status_code == 303
        client.cookies.clear()
        again = client.get("/api/audit.json", headers=basic("chief", secret))
        assert again.status_code == 401 and "revoked" in again.json()["message"]
