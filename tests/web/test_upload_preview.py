"""The staff upload page, before Publish: adding and updating is the default where rows have
an identifier, the preview says in words what would change and what the privacy rules do,
and a replace removing more than a fifth of the rows needs a box ticked naming the number."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.portal import PASSWORD, PUBLIC, Portal, sign_in

HEADER = "case_no,offense,age,officer_name\n"


def _preview(client: TestClient, csrf: str, body: str, mode: str | None) -> str:
    fields = {"csrf": csrf, "dataset": PUBLIC, **({"mode": mode} if mode else {})}
    answer = client.post(
        "/manage/upload", data=fields, files={"file": ("may.csv", body.encode(), "text/csv")}
    )
    assert answer.status_code == 200, answer.text
    return answer.text


def _token(page: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_the_form_adds_and_updates_by_default_and_never_replaces(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    sign_in(client, "pub_a")
    form = client.get(f"/manage/upload?dataset={PUBLIC}").text
    assert re.search(r'id="mode-upsert"[^>]*checked', form)
    assert not re.search(r'id="mode-replace"[^>]*checked', form)


def test_the_preview_says_what_would_change_and_what_the_rules_withhold(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    answer = portal.client.patch(
        f"/api/views/{PUBLIC}",
        json={"privacy": {"juveniles": {"column": "age"}}},
        auth=("pub_a", PASSWORD),
    )
    assert answer.status_code == 200
    # Rules added to published rows are applied to them at once: version 2.
    assert portal.store.get_dataset(PUBLIC).version == 2
    page = _preview(
        client, csrf, HEADER + "c1,theft,19,Smith\nc2,fraud,34,Jones\nc9,theft,16,Lee\n", None
    )
    assert "Publishing would leave 1 row added, 1 changed, 0 removed, 1 unchanged." in page
    assert "1 record of a juvenile with the age withheld" in page
    assert 'name="mode" value="upsert"' in page
    assert portal.store.get_dataset(PUBLIC).version == 2  # the preview published nothing


def test_a_replace_removing_most_rows_needs_the_number_ticked(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    page = _preview(client, csrf, HEADER + "c1,theft,19,Smith\n", "replace")
    assert "would remove 2 of the 3 published rows" in page
    assert re.search(r'name="confirm" value="2" required', page)
    fields = {"csrf": csrf, "token": _token(page), "dataset": PUBLIC, "mode": "replace"}
    unticked = client.post("/manage/publish", data=fields, follow_redirects=False)
    assert unticked.status_code == 409 and "would remove 2 of its 3" in unticked.text
    assert portal.store.get_dataset(PUBLIC).row_count == 3
    page = _preview(client, csrf, HEADER + "c1,theft,19,Smith\n", "replace")
    ticked = client.post(
        "/manage/publish",
        data={**fields, "token": _token(page), "confirm": "2"},
        follow_redirects=False,
    )
    assert ticked.status_code == 303
    assert portal.store.get_dataset(PUBLIC).row_count == 1


def test_the_settings_page_sets_the_privacy_rules_and_refuses_bad_ones(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    rules = "juveniles:\n  column: age\n  withhold: [officer_name]\n"
    saved = client.post(
        f"/manage/d/{PUBLIC}",
        data={"csrf": csrf, "privacy": rules, "quality": "future_dates: error\n"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    meta = portal.store.get_dataset(PUBLIC).meta
    assert meta.privacy.juveniles is not None and meta.privacy.juveniles.withhold == [
        "officer_name"
    ]
    assert meta.quality.future_dates == "error"
    page = client.get(f"/manage/d/{PUBLIC}").text
    assert "withhold:\n  - officer_name" in page.replace("&#39;", "'")
    bad = client.post(
        f"/manage/d/{PUBLIC}",
        data={"csrf": csrf, "privacy": "hundred_block: [street]\n"},
        follow_redirects=False,
    )
    assert bad.status_code == 400 and "&#39;street&#39;, which is not a column" in bad.text
    broken = client.post(f"/manage/d/{PUBLIC}", data={"csrf": csrf, "privacy": "juveniles: [\n"})
    assert broken.status_code == 400 and "not valid YAML" in broken.text
    assert portal.store.get_dataset(PUBLIC).meta.privacy.juveniles is not None
