"""Staff accounts on both engines: roles, agencies, Argon2 hashes, clear refusals."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from blotter.accounts import add_user, verify_password
from blotter.cli import app
from blotter.errors import Conflict, InvalidRequest
from blotter.model import Role
from blotter.settings import Settings
from blotter.store import Store

PASSWORD = "correct horse battery staple"


@pytest.fixture
def settings(engine_config: Settings) -> Settings:
    return engine_config


@pytest.fixture
def store(engine_store: Store) -> Store:
    return engine_store


def test_an_account_is_stored_with_a_hash_and_verified(store: Store) -> None:
    user = add_user(store, "jsmith", Role.PUBLISHER, PASSWORD, agency="Rutland City PD")
    assert (user.name, user.role, user.agency) == ("jsmith", Role.PUBLISHER, "Rutland City PD")
    found = store.user_credentials("jsmith")
    assert found is not None
    stored_hash = found[1]
    assert stored_hash.startswith("$argon2") and PASSWORD not in stored_hash
    assert verify_password(store, "jsmith", PASSWORD) == user
    assert verify_password(store, "jsmith", PASSWORD + "!") is None
    assert verify_password(store, "nobody", PASSWORD) is None
    assert [u.name for u in store.list_users()] == ["jsmith"]


@pytest.mark.parametrize(
    ("name", "role", "password", "agency", "words"),
    [
        ("J Smith", Role.ANALYST, PASSWORD, "", "not an account name"),
        ("jsmith", Role.ANALYST, "short", "", "at least 12 characters"),
        ("jsmith", Role.PUBLISHER, PASSWORD, "", "needs an agency"),
    ],
)
def test_bad_accounts_are_refused_with_the_reason(
    store: Store, name: str, role: Role, password: str, agency: str, words: str
) -> None:
    with pytest.raises(InvalidRequest, match=words):
        add_user(store, name, role, password, agency)
    assert store.list_users() == []


def test_a_name_cannot_be_taken_twice(store: Store) -> None:
    add_user(store, "admin", Role.ADMIN, PASSWORD)
    with pytest.raises(Conflict):
        add_user(store, "admin", Role.ANALYST, PASSWORD)


def test_blotter_user_add_and_list(settings: Settings) -> None:
    runner = CliRunner()
    target = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        target = ["--database-url", settings.database_url]
    env = {"BLOTTER_DATABASE_SCHEMA": settings.database_schema}
    added = runner.invoke(
        app,
        [
            "user",
            "add",
            "mjones",
            "--role",
            "publisher",
            "--agency",
            "Takoma Park PD",
            "--password-stdin",
            *target,
        ],
        input=PASSWORD + "\n",
        env=env,
    )
    assert added.exit_code == 0, added.output
    assert "Created publisher account 'mjones' for Takoma Park PD." in added.output
    listed = runner.invoke(app, ["user", "list", *target], env=env)
    assert "mjones" in listed.output and PASSWORD not in listed.output
    weak = runner.invoke(
        app,
        ["user", "add", "x1", "--role", "analyst", "--password-stdin", *target],
        input="short\n",
        env=env,
    )
    assert weak.exit_code == 1 and "at least 12 characters" in weak.output


def test_a_token_is_shown_once_stored_hashed_scoped_and_revocable(store: Store) -> None:
    from blotter.accounts import USE_RECORDED_EVERY, check_token, create_token, revoke_token

    add_user(store, "jsmith", Role.PUBLISHER, PASSWORD, agency="Rutland City PD")
    record, secret = create_token(
        store, "jsmith", "monthly upload", ["write:e2x9-2kgt", "read-internal"]
    )
    assert secret.startswith(f"blt_{record.id}_") and record.scopes == [
        "read-internal",
        "write:e2x9-2kgt",
    ]
    found = store.token_with_hash(record.id)
    assert found is not None and secret.split("_", 2)[2] not in found[1]
    assert store.list_tokens("jsmith")[0].last_used_at is None
    checked = check_token(store, secret)
    assert checked is not None and checked.user_name == "jsmith"
    first_use = store.list_tokens("jsmith")[0].last_used_at
    assert first_use is not None
    # Used again within the minute its last use is shown to: nothing is written.
    assert check_token(store, secret) is not None
    assert store.list_tokens("jsmith")[0].last_used_at == first_use
    # A use recorded more than a minute ago is recorded again.
    store.mark_token(record.id, used_at=first_use - USE_RECORDED_EVERY)
    assert check_token(store, secret) is not None
    assert store.list_tokens("jsmith")[0].last_used_at > first_use - USE_RECORDED_EVERY
    assert check_token(store, secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert check_token(store, "not a token") is None
    revoke_token(store, record.id)
    assert check_token(store, secret) is None
    assert store.list_tokens()[0].revoked_at is not None


@pytest.mark.parametrize(
    ("user", "scopes", "words"),
    [
        ("ghost", ["admin"], "no account 'ghost'"),
        ("jsmith", ["write:everything"], "Unknown scope"),
        ("jsmith", [], "Unknown scope"),
    ],
)
def test_bad_tokens_are_refused(store: Store, user: str, scopes: list[str], words: str) -> None:
    from blotter.accounts import create_token

    add_user(store, "jsmith", Role.ANALYST, PASSWORD)
    with pytest.raises(InvalidRequest, match=words):
        create_token(store, user, "x", scopes)
    assert store.list_tokens() == []


def test_blotter_token_create_list_revoke(settings: Settings) -> None:
    runner = CliRunner()
    target = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        target = ["--database-url", settings.database_url]
    env = {"BLOTTER_DATABASE_SCHEMA": settings.database_schema}
    runner.invoke(
        app,
        ["user", "add", "ana", "--role", "analyst", "--password-stdin", *target],
        input=PASSWORD + "\n",
        env=env,
    )
    made = runner.invoke(
        app,
        ["token", "create", "ana", "--scope", "read-internal", "--label", "notebook", *target],
        env=env,
    )
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]
    assert secret.startswith("blt_")
    token_id = secret.split("_")[1]
    listed = runner.invoke(app, ["token", "list", *target], env=env)
    assert token_id in listed.output and secret not in listed.output
    revoked = runner.invoke(app, ["token", "revoke", token_id, *target], env=env)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    missing = runner.invoke(app, ["token", "revoke", "000000000000", *target], env=env)
    assert missing.exit_code == 1 and "no token" in missing.output
