"""A small portal with every kind of dataset and account, for access-control tests.

Datasets (agency A unless said): a public one with an internal column and a row identifier,
an internal one, a private one owned by publisher ``pub_a``, and a public one of agency B.
Accounts: an admin, a publisher of each agency, an analyst; tokens with narrow scopes.
"""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from blotter.accounts import create_token, hash_password
from blotter.app import create_app
from blotter.model import Column, ColumnType, DatasetMeta, Role, User, Visibility
from blotter.settings import Settings
from blotter.store import Store, open_store
from blotter.store.common import now

AGENCY_A = "Testville Police"
AGENCY_B = "Otherton Police"
PUBLIC, INTERNAL, PRIVATE, OTHER = "pblc-0001", "ntrn-0002", "prvt-0003", "othr-0004"
PASSWORD = "a long test passphrase"
COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="offense", name="Offense", type=ColumnType.TEXT),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
    Column(field_name="officer_name", name="Officer name", type=ColumnType.TEXT, internal=True),
]
ROWS = {
    "case_no": ["c1", "c2", "c3"],
    "offense": ["theft", "assault", "theft"],
    "age": [19.0, 34.0, 51.0],
    "officer_name": ["Smith", "Jones", "Smith"],
}


@dataclass
class Portal:
    store: Store
    settings: Settings
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def rows(self, dataset_id: str) -> list[dict[str, object]]:
        """Every row as the store holds it (no access rules): the answer key."""
        from sqlglot import exp

        from blotter.schema import DATASET_TABLE

        dataset = self.store.get_dataset(dataset_id)
        select = exp.select("_id", "case_no", "offense", "age", "officer_name")
        result = self.store.execute(dataset, select.from_(DATASET_TABLE).order_by("_id"))
        return [
            dict(zip(["id", "case_no", "offense", "age", "officer_name"], r, strict=True))
            for r in result
        ]


def _dataset(store: Store, dataset_id: str, **meta: object) -> None:
    fields: dict[str, object] = {"name": dataset_id, "agency": AGENCY_A, **meta}
    store.create_dataset(DatasetMeta.model_validate(fields), COLUMNS, dataset_id=dataset_id)
    store.publish(dataset_id, COLUMNS, [pa.record_batch(ROWS)])


@functools.cache
def _password_hash() -> str:
    """The accounts' Argon2 hash, made once per test process: a hash costs a few hundred
    milliseconds by design, and every test of this fixture would otherwise pay four.
    (``accounts.add_user`` itself is tested in tests/test_accounts.py.)"""
    return hash_password(PASSWORD)


def _account(store: Store, name: str, role: Role, agency: str = "") -> None:
    store.add_user(User(name=name, role=role, agency=agency, created_at=now()), _password_hash())


def build(store: Store, settings: Settings) -> Portal:
    _dataset(store, PUBLIC, row_identifier="case_no", description="Thefts and assaults")
    _dataset(store, INTERNAL, visibility=Visibility.INTERNAL)
    _dataset(store, PRIVATE, visibility=Visibility.PRIVATE, owner="pub_a")
    _dataset(store, OTHER, agency=AGENCY_B)
    _account(store, "boss", Role.ADMIN)
    _account(store, "pub_a", Role.PUBLISHER, AGENCY_A)
    _account(store, "pub_b", Role.PUBLISHER, AGENCY_B)
    _account(store, "ana", Role.ANALYST)
    portal = served(store, settings)
    portal.tokens["write_public"] = create_token(store, "pub_a", "w", [f"write:{PUBLIC}"])[1]
    portal.tokens["manage_public"] = create_token(store, "pub_a", "m", [f"manage:{PUBLIC}"])[1]
    portal.tokens["read_internal"] = create_token(store, "ana", "r", ["read-internal"])[1]
    portal.tokens["admin"] = create_token(store, "boss", "a", ["admin"])[1]
    return portal


def served(store: Store, settings: Settings, tokens: dict[str, str] | None = None) -> Portal:
    """The real app over ``store``, with a test client, holding ``tokens``."""
    return Portal(
        store, settings, TestClient(create_app(settings, store=store)), dict(tokens or {})
    )


@pytest.fixture(scope="session")
def built_duckdb_portal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The DuckDB portal built once per test process, closed: its data dir and tokens. A
    build commits a few dozen times (a third of a second); a copy of its files is the same
    portal, and each test that asks for one gets its own copy. It is written with the default
    settings: a module whose settings change how a publish writes builds its own (``build``)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("portal-built"))
    store = open_store(settings)
    try:
        tokens = build(store, settings).tokens
    finally:
        store.close()
    return settings.data_dir, tokens


@pytest.fixture
def portal(engine_config: Settings, request: pytest.FixtureRequest) -> Iterator[Portal]:
    """The portal on each engine, as :func:`build` makes it (on DuckDB, a copy of the one
    built for the process: the same files)."""
    tokens: dict[str, str] | None = None
    if not engine_config.database_url:
        built_dir, tokens = request.getfixturevalue("built_duckdb_portal")
        shutil.copytree(built_dir, engine_config.data_dir, dirs_exist_ok=True)
    store = open_store(engine_config)
    try:
        built = (
            build(store, engine_config) if tokens is None else served(store, engine_config, tokens)
        )
        with built.client:
            yield built
    finally:
        store.close()


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form as a browser would; returns the session's CSRF token."""
    page = client.get("/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert login_csrf, page.text
    answer = client.post(
        "/login",
        data={"name": name, "password": password, "login_csrf": login_csrf.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/manage").text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)
