"""Staff pages on both engines: sign-in and sign-out, CSRF on every form, users, dataset
editing, upload → preview → publish, tokens, profiles and the audit log; and the done-when
journey in a real browser."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from tests.conftest import LiveServer, serve_in_thread
from tests.portal import AGENCY_A, PASSWORD, PUBLIC, Portal, csrf_of, sign_in

MONTH = "case_no,offense,age,officer_name\nc3,theft,52,Smith\nc4,fraud,44,Lee\n"


def test_pages_need_an_account_and_send_visitors_to_sign_in(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    for path in ("/manage", "/manage/users", f"/manage/d/{PUBLIC}", "/manage/audit"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/login?next={path}"
    sign_in(client, "ana")
    assert client.get("/manage/users").status_code == 403
    assert client.get(f"/manage/d/{PUBLIC}").status_code == 403  # analysts only read


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    wrong = client.post(
        "/login", data={"name": "ana", "password": "nope nope nope", "login_csrf": token}
    )
    assert wrong.status_code == 401 and "wrong" in wrong.text
    forged = client.post("/login", data={"name": "ana", "password": PASSWORD, "login_csrf": "x"})
    assert forged.status_code == 403
    done = client.post(
        "/login",
        data={"name": "ana", "password": PASSWORD, "login_csrf": token, "next": "//evil.example"},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/manage"  # never an open redirect
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    csrf = csrf_of(client.get("/manage").text)
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert client.get("/manage", follow_redirects=False).status_code == 303
    assert [e.action for e in portal.store.audit_log(limit=3)][:2] == ["logout", "login"]


def test_an_admin_adds_and_disables_accounts_and_every_form_checks_csrf(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "boss")
    form = {"name": "newpub", "role": "publisher", "agency": AGENCY_A, "password": PASSWORD}
    assert client.post("/manage/users", data={**form, "csrf": "forged"}).status_code == 403
    assert portal.store.user_credentials("newpub") is None
    weak = client.post("/manage/users", data={**form, "password": "short", "csrf": csrf})
    assert weak.status_code == 400 and "12 characters" in weak.text
    added = client.post("/manage/users", data={**form, "csrf": csrf})
    assert added.status_code == 200 and "Account newpub added" in added.text
    other = TestClient(portal.client.app)
    sign_in(other, "newpub")
    client.post("/manage/users/newpub", data={"action": "disable", "csrf": csrf})
    # Disabling ends the account's sessions at once.
    assert other.get("/manage", follow_redirects=False).status_code == 303
    assert portal.store.user_credentials("newpub")[0].disabled  # type: ignore[index]


def test_a_publisher_edits_metadata_marks_a_column_internal_and_sets_visibility(
    portal: Portal,
) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    dataset = portal.store.get_dataset(PUBLIC)
    form = {"csrf": csrf, "name": "Thefts, Testville", "visibility": "public", "tags": "a, b"}
    for c in dataset.columns:
        form[f"col-{c.field_name}-name"] = c.name
        form[f"col-{c.field_name}-description"] = c.description
    form["col-age-internal"] = "on"  # and officer_name is no longer ticked: it becomes public
    saved = client.post(f"/manage/d/{PUBLIC}", data=form)
    assert saved.status_code == 200 and "Saved." in saved.text
    edited = portal.store.get_dataset(PUBLIC)
    assert edited.meta.name == "Thefts, Testville" and edited.meta.tags == ["a", "b"]
    assert [c.field_name for c in edited.columns if c.internal] == ["age"]
    public_row = portal.client.get(f"/resource/{PUBLIC}.json?$limit=1").json()[0]
    assert "age" not in public_row and public_row["officer_name"] == "Smith"
    bad = client.post(f"/manage/d/{PUBLIC}", data={**form, "row_identifier": "offense"})
    assert bad.status_code == 400 and "repeat" in bad.text
    other_agency = TestClient(portal.client.app)
    other_csrf = sign_in(other_agency, "pub_b")
    refused = other_agency.post(f"/manage/d/{PUBLIC}", data={**form, "csrf": other_csrf})
    assert refused.status_code == 403
    assert portal.store.get_dataset(PUBLIC).meta.name == "Thefts, Testville"


def _upload(client: TestClient, csrf: str, content: str, **fields: str) -> str:
    answer = client.post(
        "/manage/upload",
        data={"csrf": csrf, "dataset": PUBLIC, "mode": "upsert", **fields},
        files={"file": ("may.csv", content.encode(), "text/csv")},
    )
    return answer.text


def test_upload_previews_without_publishing_then_publishes_a_version(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    preview = _upload(client, csrf, MONTH)
    assert "2 rows checked, no problems found" in preview
    assert "fraud" in preview and '<th scope="col">Officer name</th>' in preview
    assert portal.store.get_dataset(PUBLIC).version == 1  # nothing published yet
    token = re.search(r'name="token" value="([^"]+)"', preview).group(1)  # type: ignore[union-attr]
    published = client.post(
        "/manage/publish",
        data={"csrf": csrf, "token": token, "dataset": PUBLIC, "mode": "upsert"},
        follow_redirects=False,
    )
    assert published.status_code == 303
    rows = portal.rows(PUBLIC)
    assert [(r["case_no"], r["age"]) for r in rows] == [
        ("c1", 19.0),
        ("c2", 34.0),
        ("c3", 52.0),
        ("c4", 44.0),
    ]
    # Its page's first view stored after the answer, in the background, in the public's
    # columns only.
    dataset = portal.store.get_dataset(PUBLIC)
    deadline = time.monotonic() + 120
    while not (stored := portal.store.stored_answers(PUBLIC, dataset.version, dataset.created_at)):
        assert time.monotonic() < deadline, "the first view was never stored"
        time.sleep(0.2)
    assert "officer_name" not in stored and "Smith" not in stored
    # The staged file is gone once published; publishing it again is refused.
    again = client.post("/manage/publish", data={"csrf": csrf, "token": token, "dataset": PUBLIC})
    assert again.status_code == 400


def test_a_file_with_problems_gets_a_full_report_and_no_publish_button(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    report = _upload(client, csrf, "case_no,offense,age,officer_name\nc5,theft,old,Lee\n")
    assert "1 problem: this file cannot be published yet" in report
    assert "<td>age</td><td>old</td>" in report.replace("\n", "")
    assert 'action="/manage/publish"' not in report
    assert portal.store.get_dataset(PUBLIC).version == 1


def test_tokens_are_shown_once_listed_with_last_use_and_revocable(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    made = client.post(
        "/manage/tokens", data={"csrf": csrf, "label": "script", "scope": [f"write:{PUBLIC}"]}
    )
    secret = re.search(r'class="secret">([^<]+)<', made.text).group(1)  # type: ignore[union-attr]
    assert secret not in client.get("/manage/tokens").text
    assert portal.client.get(f"/resource/{PUBLIC}.json", headers={"X-App-Token": secret}).is_success
    listing = client.get("/manage/tokens").text
    assert "never" not in listing.split("script", 1)[1].split("</tr>", 1)[0]
    token_id = secret.split("_")[1]
    client.post(f"/manage/tokens/{token_id}/revoke", data={"csrf": csrf})
    revoked = portal.client.get(f"/resource/{PUBLIC}.json", headers={"X-App-Token": secret})
    assert revoked.status_code == 401
    admin_scope = client.post(
        "/manage/tokens", data={"csrf": csrf, "label": "x", "scope": ["admin"]}
    )
    # The tokens page comes back saying why, not the bare error page.
    assert admin_scope.status_code == 403 and 'name="scope"' in admin_scope.text
    assert "Only administrators may make admin tokens." in admin_scope.text


def test_profiles_are_checked_before_saving(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    bad = client.post(
        "/manage/profiles",
        data={"csrf": csrf, "name": "rms", "text": "columns:\n  - {field: x, colour: red}\n"},
    )
    assert bad.status_code == 422 and "unknown key" in bad.text
    good = client.post(
        "/manage/profiles",
        data={
            "csrf": csrf,
            "name": "rms",
            "text": "columns:\n  - {field: case_no, source: CASE}\n",
        },
    )
    assert good.status_code == 200 and "Profile rms saved" in good.text
    assert [n for n, _, _ in portal.store.list_profiles()] == ["rms"]


def test_a_publisher_cannot_replace_another_agencys_profile(portal: Portal) -> None:
    """Agency A's uploads publish through the profile they name: a publisher of agency B
    who saved over it would change what A publishes (here, offenses read from the case numbers)."""
    mapping = (
        "columns:\n  - {field: case_no, source: CASE}\n  - {field: offense, source: OFFENSE}\n"
    )
    forged = "columns:\n  - {field: case_no, source: CASE}\n  - {field: offense, source: CASE}\n"
    own, other, admin = (TestClient(portal.client.app) for _ in range(3))
    own_csrf = sign_in(own, "pub_a")
    other_csrf, admin_csrf = sign_in(other, "pub_b"), sign_in(admin, "boss")
    saved = own.post("/manage/profiles", data={"csrf": own_csrf, "name": "rms", "text": mapping})
    assert saved.status_code == 200
    refused = other.post(
        "/manage/profiles", data={"csrf": other_csrf, "name": "rms", "text": forged}
    )
    assert refused.status_code == 403 and "another name" in refused.text
    assert portal.store.get_profile("rms") == mapping
    # Their own name is theirs; the owner and an administrator may still change "rms".
    theirs = other.post(
        "/manage/profiles", data={"csrf": other_csrf, "name": "rms-b", "text": forged}
    )
    assert theirs.status_code == 200
    again = own.post("/manage/profiles", data={"csrf": own_csrf, "name": "rms", "text": mapping})
    assert again.status_code == 200
    changed = admin.post(
        "/manage/profiles", data={"csrf": admin_csrf, "name": "rms", "text": forged}
    )
    assert changed.status_code == 200 and portal.store.get_profile("rms") == forged
    # Saved by an administrator now: no publisher replaces it.
    late = own.post("/manage/profiles", data={"csrf": own_csrf, "name": "rms", "text": mapping})
    assert late.status_code == 403 and portal.store.get_profile("rms") == forged


def test_the_audit_page_lists_each_step_for_admins_only(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    sign_in(client, "pub_a")
    client.get(f"/resource/{PUBLIC}.json")
    admin = TestClient(portal.client.app)
    sign_in(admin, "boss")
    page = admin.get(f"/manage/audit?dataset={PUBLIC}").text
    assert "read.internal" in page and "pub_a" in page
    assert client.get("/manage/audit").status_code == 403


# --- the done-when journey, in a real browser ----------------------------------------


@pytest.fixture
def live(portal: Portal) -> Iterator[LiveServer]:
    yield from serve_in_thread(portal.client.app)


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    yield context.new_page()
    context.close()


def _browser_sign_in(tab: Page, live: LiveServer, name: str) -> None:
    tab.goto(f"{live.url}/login")
    tab.get_by_label("Account name").fill(name)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", name="Manage")).to_be_visible()


@pytest.mark.browser
def test_a_publisher_uploads_previews_publishes_and_hides_a_column_in_the_browser(
    portal: Portal, live: LiveServer, tab: Page, tmp_path: Path
) -> None:
    month = tmp_path / "may.csv"
    month.write_text(MONTH)
    _browser_sign_in(tab, live, "pub_a")
    tab.get_by_role("row", name=re.compile(PUBLIC)).get_by_role(
        "link", name="Publish a file"
    ).click()
    tab.get_by_label("File", exact=True).set_input_files(str(month))
    tab.get_by_label(re.compile("New and changed rows")).check()
    tab.get_by_role("button", name="Upload and preview").click()
    expect(tab.get_by_text("2 rows checked, no problems found")).to_be_visible()
    tab.get_by_role("button", name="Publish").click()
    expect(tab.get_by_role("status")).to_contain_text("Published a new version.")
    assert len(portal.rows(PUBLIC)) == 4
    tab.get_by_label("officer_name is internal").uncheck()
    tab.get_by_label("offense is internal").check()
    tab.get_by_role("button", name="Save").click()
    expect(tab.get_by_role("status")).to_contain_text("Saved.")
    tab.get_by_role("button", name="Sign out").click()
    tab.goto(f"{live.url}/datasets/{PUBLIC}")
    expect(tab.get_by_role("columnheader", name="Officer name")).to_be_visible()
    expect(tab.get_by_role("columnheader", name="Offense")).to_have_count(0)
    assert "fraud" not in tab.content()


def test_an_admin_changes_a_role_and_resets_a_password(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "boss")
    changed = client.post(
        "/manage/users/ana",
        data={
            "csrf": csrf,
            "action": "update",
            "role": "publisher",
            "agency": AGENCY_A,
            "password": "a brand new passphrase",
        },
    )
    assert changed.status_code == 200
    user = portal.store.user_credentials("ana")[0]  # type: ignore[index]
    assert (user.role, user.agency) == ("publisher", AGENCY_A)
    sign_in(TestClient(portal.client.app), "ana", "a brand new passphrase")
    no_agency = client.post(
        "/manage/users/ana", data={"csrf": csrf, "action": "update", "role": "publisher"}
    )
    assert no_agency.status_code == 400
    demote_self = client.post(
        "/manage/users/boss", data={"csrf": csrf, "action": "update", "role": "analyst"}
    )
    assert demote_self.status_code == 400


def test_a_new_dataset_from_a_file_is_private_to_its_publisher_until_opened(
    portal: Portal,
) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    preview = client.post(
        "/manage/upload",
        data={"csrf": csrf, "dataset": "", "name": "Pursuits"},
        files={"file": ("pursuits.csv", b"pursuit,miles\np1,2.5\np2,7\n", "text/csv")},
    )
    assert "Publishing creates a new private dataset" in preview.text
    token = re.search(r'name="token" value="([^"]+)"', preview.text).group(1)  # type: ignore[union-attr]
    done = client.post(
        "/manage/publish",
        data={"csrf": csrf, "token": token, "dataset": "", "name": "Pursuits"},
        follow_redirects=False,
    )
    dataset_id = done.headers["location"].split("/")[3].split("?")[0]
    dataset = portal.store.get_dataset(dataset_id)
    assert (dataset.meta.name, dataset.meta.visibility) == ("Pursuits", "private")
    assert (dataset.meta.owner, dataset.meta.agency) == ("pub_a", AGENCY_A)
    assert dataset.row_count == 2
    # Not the public's to see: no first view computed for it.
    assert portal.store.stored_answers(dataset_id, 1, dataset.created_at) is None
    assert portal.client.get(f"/resource/{dataset_id}.json").status_code == 404
    analyst = TestClient(portal.client.app)
    sign_in(analyst, "ana")
    assert analyst.get(f"/datasets/{dataset_id}").status_code == 404
    assert client.get(f"/datasets/{dataset_id}").status_code == 200
