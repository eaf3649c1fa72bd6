"""Every role against every endpoint, on both engines: who sees which datasets and columns,
who may write, and that refusals change nothing."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from tests.portal import (
    INTERNAL,
    OTHER,
    PASSWORD,
    PRIVATE,
    PUBLIC,
    Portal,
    sign_in,
)

# Who asks: (session account, token name) — at most one of them.
VIEWERS = {
    "anonymous": (None, None),
    "analyst": ("ana", None),
    "publisher_a": ("pub_a", None),
    "publisher_b": ("pub_b", None),
    "admin": ("boss", None),
    "token_write_public": (None, "write_public"),
    "token_read_internal": (None, "read_internal"),
}

# Which datasets each viewer can see at all (the others are 404, as if they did not exist).
SEES = {
    "anonymous": {PUBLIC, OTHER},
    "analyst": {PUBLIC, OTHER, INTERNAL},
    "publisher_a": {PUBLIC, OTHER, INTERNAL, PRIVATE},  # owns the private one
    "publisher_b": {PUBLIC, OTHER, INTERNAL},
    "admin": {PUBLIC, OTHER, INTERNAL, PRIVATE},
    "token_write_public": {PUBLIC, OTHER},
    "token_read_internal": {PUBLIC, OTHER, INTERNAL},
}
# Who sees the internal column of the public dataset.
SEES_INTERNAL_COLUMN = {
    "analyst",
    "publisher_a",
    "publisher_b",
    "admin",
    "token_write_public",  # it may write the dataset, so it reads all of it
    "token_read_internal",
}
# Who may upsert into the public dataset (agency A).
WRITES_PUBLIC = {"publisher_a", "admin", "token_write_public"}


def _client(portal: Portal, viewer: str) -> tuple[TestClient, dict[str, str]]:
    account, token = VIEWERS[viewer]
    client = TestClient(portal.client.app)
    headers: dict[str, str] = {}
    if account:
        headers["X-CSRF-Token"] = sign_in(client, account)
    if token:
        headers["X-App-Token"] = portal.tokens[token]
    return client, headers


@pytest.mark.parametrize("viewer", sorted(VIEWERS))
def test_each_read_endpoint_shows_exactly_what_the_viewer_may_see(
    portal: Portal, viewer: str
) -> None:
    client, headers = _client(portal, viewer)
    sees = SEES[viewer]
    for dataset_id in (PUBLIC, INTERNAL, PRIVATE, OTHER):
        expected = 200 if dataset_id in sees else 404
        for path in (
            f"/resource/{dataset_id}.json",
            f"/resource/{dataset_id}.csv",
            f"/api/views/{dataset_id}.json",
            f"/api/views/{dataset_id}/rows.csv?accessType=DOWNLOAD",
            f"/api/v3/views/{dataset_id}/query.json?query=SELECT%20*",
            f"/api/v3/views/{dataset_id}/export.csv",
            f"/datasets/{dataset_id}",
        ):
            answer = client.get(path, headers=headers)
            assert answer.status_code == expected, (viewer, path, answer.text[:200])
    listed = {v["id"] for v in client.get("/api/views.json", headers=headers).json()}
    assert listed == sees
    catalog = client.get("/api/catalog/v1", headers=headers).json()
    assert {r["resource"]["id"] for r in catalog["results"]} == sees
    assert catalog["resultSetSize"] == len(sees)
    # The public DCAT catalog lists public datasets only, whoever asks.
    dcat = client.get("/data.json", headers=headers).json()
    assert {d["identifier"].rsplit("/", 1)[-1] for d in dcat["dataset"]} >= {PUBLIC, OTHER}
    assert not any(
        INTERNAL in d["identifier"] or PRIVATE in d["identifier"] for d in dcat["dataset"]
    )
    home = client.get("/", headers=headers).text
    assert (INTERNAL in home) == (INTERNAL in sees)


@pytest.mark.parametrize("viewer", sorted(VIEWERS))
def test_an_internal_column_is_invisible_everywhere_to_those_without_the_right(
    portal: Portal, viewer: str
) -> None:
    client, headers = _client(portal, viewer)
    sees = viewer in SEES_INTERNAL_COLUMN
    row = client.get(f"/resource/{PUBLIC}.json?$limit=1", headers=headers).json()[0]
    assert ("officer_name" in row) == sees
    csv_head = client.get(f"/resource/{PUBLIC}.csv", headers=headers).text.splitlines()[0]
    assert ("officer_name" in csv_head) == sees
    export = client.get(f"/api/views/{PUBLIC}/rows.csv", headers=headers).text
    assert ("Smith" in export) == sees
    fields = [
        c["fieldName"]
        for c in client.get(f"/api/views/{PUBLIC}.json", headers=headers).json()["columns"]
    ]
    assert ("officer_name" in fields) == sees
    asked = client.get(f"/resource/{PUBLIC}.json?$select=officer_name", headers=headers)
    assert asked.status_code == (200 if sees else 400)
    # Filtering, grouping, searching or counting by it cannot leak it either.
    for params in (
        "$where=officer_name='Smith'",
        "$group=officer_name&$select=officer_name,count(*)",
        "officer_name=Smith",
    ):
        answer = client.get(f"/resource/{PUBLIC}.json?{params}", headers=headers)
        assert answer.status_code == (200 if sees else 400), params
    found = client.get(f"/resource/{PUBLIC}.json?$q=Smith", headers=headers).json()
    assert (len(found) == 2) == sees
    soda3 = client.post(
        f"/api/v3/views/{PUBLIC}/query.json", json={"query": "SELECT officer_name"}, headers=headers
    )
    assert soda3.status_code == (200 if sees else 400)
    page = client.get(f"/datasets/{PUBLIC}", headers=headers).text
    assert ("Officer name" in page) == sees and ("Smith" in page) == sees
    search = client.get("/api/catalog/v1?q=officer_name", headers=headers).json()
    assert (PUBLIC in {r["resource"]["id"] for r in search["results"]}) == sees


@pytest.mark.parametrize("viewer", sorted(VIEWERS))
def test_writes_need_the_right_role_agency_and_scope_and_refusals_change_nothing(
    portal: Portal, viewer: str
) -> None:
    client, headers = _client(portal, viewer)
    before = portal.rows(PUBLIC)
    answer = client.post(
        f"/resource/{PUBLIC}.json", json=[{"case_no": "c2", "age": 35}], headers=headers
    )
    if viewer in WRITES_PUBLIC:
        assert answer.status_code == 200, answer.text
        assert answer.json()["Rows Updated"] == 1
        assert portal.rows(PUBLIC)[1]["age"] == 35.0
    else:
        assert answer.status_code == (401 if viewer == "anonymous" else 403), answer.text
        assert portal.rows(PUBLIC) == before
    # A dataset the viewer cannot see is not found, not forbidden.
    hidden = client.post(f"/resource/{PRIVATE}.json", json=[{"case_no": "x"}], headers=headers)
    if viewer in ("publisher_a", "admin"):
        assert hidden.status_code == 200
    elif viewer == "anonymous":
        assert hidden.status_code == 401
    else:
        assert hidden.status_code == 404
    audit = client.get("/api/audit.json", headers=headers)
    assert audit.status_code == {"anonymous": 401, "admin": 200}.get(viewer, 403)


def test_a_session_alone_cannot_write_through_the_api_without_its_csrf_token(
    portal: Portal,
) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    refused = client.post(f"/resource/{PUBLIC}.json", json=[{"case_no": "c9"}])
    assert refused.status_code == 403
    accepted = client.post(
        f"/resource/{PUBLIC}.json", json=[{"case_no": "c9"}], headers={"X-CSRF-Token": csrf}
    )
    assert accepted.status_code == 200 and accepted.json()["Rows Created"] == 1


def test_basic_auth_with_password_or_token_and_clear_401s(portal: Portal) -> None:
    client = portal.client
    row = [{"case_no": "c1", "offense": "burglary"}]
    assert (
        client.post(f"/resource/{PUBLIC}.json", json=row, auth=("pub_a", PASSWORD)).status_code
        == 200
    )
    token = portal.tokens["write_public"]
    assert (
        client.post(f"/resource/{PUBLIC}.json", json=row, auth=("pub_a", token)).status_code == 200
    )
    wrong = client.post(f"/resource/{PUBLIC}.json", json=row, auth=("pub_a", "not the password"))
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Basic")
    assert "wrong" in wrong.json()["message"]
    stolen = client.post(f"/resource/{PUBLIC}.json", json=row, auth=("pub_b", token))
    assert stolen.status_code == 401
    bearer = client.post(
        f"/resource/{PUBLIC}.json", json=row, headers={"Authorization": f"Bearer {token}"}
    )
    assert bearer.status_code == 200


def test_repeated_wrong_passwords_lock_the_account_for_a_while(portal: Portal) -> None:
    client = portal.client
    codes = [
        client.get(f"/resource/{PUBLIC}.json", auth=("ana", f"guess {i}")).status_code
        for i in range(6)
    ]
    assert codes == [401] * 5 + [429]
    locked = client.get(f"/resource/{PUBLIC}.json", auth=("ana", PASSWORD))
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    actions = [e.action for e in portal.store.audit_log(limit=10)]
    assert actions.count("login.failed") == 5 and "login.refused-locked" in actions


def test_forged_cross_site_posts_cannot_ride_on_remembered_credentials(portal: Portal) -> None:
    """A foreign page can post a form with a browser's remembered Basic credentials but
    cannot set a JSON content type or read our CSRF token: both kinds of post are refused."""
    client = portal.client
    before = portal.rows(PUBLIC)
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        forged = client.post(
            f"/resource/{PUBLIC}.json",
            content=b'[{"case_no": "c1", "offense": "forged"}]',
            headers={"Content-Type": content_type},
            auth=("pub_a", PASSWORD),
        )
        assert forged.status_code == 415, forged.text
    page_form = client.post(
        "/manage/users",
        data={"name": "mallory", "role": "admin", "password": PASSWORD},
        auth=("boss", PASSWORD),
    )
    assert page_form.status_code == 401
    assert portal.rows(PUBLIC) == before
    assert portal.store.user_credentials("mallory") is None


def test_a_write_token_publishes_rows_but_cannot_open_change_or_delete_its_dataset(
    portal: Portal,
) -> None:
    client = portal.client
    writer = {"X-App-Token": portal.tokens["write_public"]}
    before = portal.store.get_dataset(PUBLIC)
    refusals = [
        client.put(f"/api/views/{PUBLIC}?method=setPermission&value=private", headers=writer),
        client.patch(f"/api/views/{PUBLIC}", json={"name": "Renamed"}, headers=writer),
        client.patch(
            f"/api/views/{PUBLIC}",
            json={"columns": [{"fieldName": "officer_name", "flags": []}]},
            headers=writer,
        ),
        client.delete(f"/api/views/{PUBLIC}", headers=writer),
    ]
    for refused in refusals:
        assert refused.status_code == 403, refused.text
        assert f"manage:{PUBLIC}" in refused.json()["message"]
    after = portal.store.get_dataset(PUBLIC)
    assert (after.meta, after.columns) == (before.meta, before.columns)
    rows = client.post(f"/resource/{PUBLIC}.json", json=[{"case_no": "c9"}], headers=writer)
    assert rows.status_code == 200 and rows.json()["Rows Created"] == 1
    assert client.delete(f"/resource/{PUBLIC}/c9", headers=writer).status_code == 200


def test_a_manage_token_changes_and_deletes_its_dataset_and_no_other(portal: Portal) -> None:
    client = portal.client
    manager = {"X-App-Token": portal.tokens["manage_public"]}
    assert (
        client.post(
            f"/resource/{PUBLIC}.json", json=[{"case_no": "c9"}], headers=manager
        ).status_code
        == 200
    )
    renamed = client.patch(f"/api/views/{PUBLIC}", json={"name": "Renamed"}, headers=manager)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    hidden = client.put(f"/api/views/{PUBLIC}?method=setPermission&value=internal", headers=manager)
    assert hidden.status_code == 200
    assert portal.store.get_dataset(PUBLIC).meta.visibility == "internal"
    other = client.patch(f"/api/views/{OTHER}", json={"name": "x"}, headers=manager)
    assert other.status_code == 403
    assert client.delete(f"/api/views/{PUBLIC}", headers=manager).status_code == 200
    assert PUBLIC not in [d.id for d in portal.store.list_datasets()]


def test_the_token_page_offers_and_creates_manage_tokens(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    page = client.get("/manage/tokens").text
    assert f'value="manage:{PUBLIC}"' in page and f'value="write:{PUBLIC}"' in page
    made = client.post(
        "/manage/tokens", data={"csrf": csrf, "label": "site admin", "scope": f"manage:{PUBLIC}"}
    )
    assert made.status_code == 200 and "shown only once" in made.text
    (record,) = [t for t in portal.store.list_tokens("pub_a") if t.label == "site admin"]
    assert record.scopes == [f"manage:{PUBLIC}"]


def test_a_lockout_answers_the_same_for_known_and_unknown_names(portal: Portal) -> None:
    """Six wrong passwords for an account and for a name no account has: the same statuses,
    messages and waits, so a lockout cannot tell whether an account exists."""
    client = portal.client

    def attempts(name: str) -> list[tuple[int, str, bool]]:
        answers = [
            client.get(f"/resource/{PUBLIC}.json", auth=(name, f"guess {i}")) for i in range(7)
        ]
        return [(a.status_code, a.json()["message"], "retry-after" in a.headers) for a in answers]

    known, unknown = attempts("ana"), attempts(f"nobody-{uuid.uuid4().hex[:8]}")
    assert known == unknown
    assert [status for status, _, _ in known] == [401] * 5 + [429] * 2


def test_a_refused_sign_in_keeps_no_more_of_a_huge_name_than_an_account_name(
    portal: Portal,
) -> None:
    """Anyone may try to sign in with a name of any length. A refusal's audit entry and the
    unknown name's lockout count keep 64 characters of it, more than any account name has:
    tens of kilobytes kept per try would grow the audit log (which the portal's feed reads)
    and the server's memory by whatever strangers send."""
    huge = uuid.uuid4().hex + "n" * 40_000  # within the sign-in form's 64 KB
    basic = portal.client.get(f"/resource/{PUBLIC}.json", auth=(huge, "guess one"))
    assert basic.status_code == 401
    client = TestClient(portal.client.app)
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/login").text)
    assert login_csrf
    form = client.post(
        "/login",
        data={"name": huge + "x", "password": "guess two", "login_csrf": login_csrf.group(1)},
    )
    assert form.status_code == 401
    entries = portal.store.audit_log(limit=2)
    assert [e.action for e in entries] == ["login.failed"] * 2
    assert {e.detail["user"] for e in entries} == {huge[:64]}
    # Both counted against the same cut name, as any unknown name's failures are.
    assert sorted(e.detail["failures"] for e in entries) == [1, 2]


def test_the_public_metadata_never_names_the_account_owning_a_dataset(portal: Portal) -> None:
    """Account names are staff's to know: the public history names only the agency (unless a
    dataset sets name_publishers), and sign-in answers never tell whether a name is an
    account; the metadata of a dataset made public by its owner must not hand it out."""
    opened = portal.client.put(
        f"/api/views/{PRIVATE}.json?method=setPermission&value=public.read",
        auth=("pub_a", PASSWORD),
    )
    assert opened.status_code == 200 and opened.json()["blotter"]["owner"] == "pub_a"
    anonymous = TestClient(portal.client.app)
    one = anonymous.get(f"/api/views/{PRIVATE}.json")
    every = anonymous.get("/api/views.json")
    assert one.status_code == every.status_code == 200
    assert one.json()["blotter"]["owner"] is None
    assert "pub_a" not in one.text and "pub_a" not in every.text
    staff = anonymous.get(f"/api/views/{PRIVATE}.json", auth=("ana", PASSWORD))
    assert staff.json()["blotter"]["owner"] == "pub_a"
