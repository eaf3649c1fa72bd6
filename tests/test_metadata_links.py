"""Metadata links, on both engines: only web addresses (and an email address for the
contact) are accepted on every write path, and pages re-check what is stored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from blotter.model import safe_link, safe_mailto
from tests.portal import PASSWORD, PUBLIC, Portal, sign_in

BAD_LINKS = [
    "javascript:fetch('/manage/users',{method:'POST'})",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "/manage/users",
    "https://",
    "http://exa mple.org",
]


@pytest.mark.parametrize(
    ("value", "link"),
    [
        ("https://creativecommons.org/licenses/by/4.0/", True),
        ("HTTP://Records.Testville.example/a?b=c#d", True),
        *((bad, False) for bad in BAD_LINKS),
    ],
)
def test_only_absolute_web_addresses_are_links(value: str, link: bool) -> None:
    assert (safe_link(value) == value) is link


@pytest.mark.parametrize(
    ("value", "link"),
    [
        ("records@testville.example", "mailto:records@testville.example"),
        ("mailto:records@testville.example", "mailto:records@testville.example"),
        ("records@testville.example?subject=x", None),  # no headers smuggled into mail
        ("javascript:alert(1)//@x.example", None),
        ("Records Unit", None),
    ],
)
def test_a_contact_is_a_mailto_link_only_for_an_email_address(value: str, link: str | None) -> None:
    assert safe_mailto(value) == link


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("attributionLink", "attribution_url"),
        ("attribution_url", "attribution_url"),
        ("license_url", "license_url"),
        ("source_url", "source_url"),
    ],
)
def test_the_publisher_api_refuses_a_link_that_is_not_a_web_address(
    portal: Portal, key: str, field: str
) -> None:
    client = portal.client
    before = portal.store.get_dataset(PUBLIC).meta
    for bad in ("javascript:alert(document.cookie)", "data:text/html,hi"):
        edited = client.patch(f"/api/views/{PUBLIC}", json={key: bad}, auth=("boss", PASSWORD))
        assert edited.status_code == 400, edited.text
        assert edited.json()["data"]["field"] == field
        assert f"'{field}'" in edited.json()["message"]
        created = client.post(
            "/api/views.json",
            json={"name": "Linked", key: bad, "columns": []},
            auth=("boss", PASSWORD),
        )
        assert created.status_code == 400 and created.json()["data"]["field"] == field
    assert portal.store.get_dataset(PUBLIC).meta == before
    assert [d.meta.name for d in portal.store.list_datasets()].count("Linked") == 0
    good = client.patch(
        f"/api/views/{PUBLIC}", json={key: "https://testville.example/x"}, auth=("boss", PASSWORD)
    )
    assert good.status_code == 200
    assert getattr(portal.store.get_dataset(PUBLIC).meta, field) == "https://testville.example/x"


def test_the_staff_page_refuses_a_link_or_contact_that_is_not_one(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "pub_a")
    for field, bad in (("source_url", "javascript:alert(1)"), ("contact_email", "x@y.z?cc=a")):
        answer = client.post(
            f"/manage/d/{PUBLIC}", data={"csrf": csrf, "name": "Thefts", field: bad}
        )
        assert answer.status_code == 400
        assert f"Metadata field &#39;{field}&#39;" in answer.text
    meta = portal.store.get_dataset(PUBLIC).meta
    assert (meta.name, meta.source_url, meta.contact_email) == (PUBLIC, "", "")


def test_a_bad_link_stored_before_the_checks_is_shown_as_text(portal: Portal) -> None:
    dataset = portal.store.get_dataset(PUBLIC)
    stored = "javascript:fetch('/manage/users')"
    # Written past the checks, as by an older version of the portal.
    old = dataset.meta.model_copy(
        update={
            "attribution": "Records",
            "attribution_url": stored,
            "license_url": stored,
            "source_url": stored,
            "contact_email": "javascript:x//@y.example",
        }
    )
    portal.store.update_metadata(PUBLIC, old)
    page = portal.client.get(f"/datasets/{PUBLIC}")
    assert page.status_code == 200
    assert 'href="javascript' not in page.text.lower()
    assert "javascript:fetch(&#39;/manage/users&#39;)" in page.text  # shown, as text
    catalog = portal.client.get("/data.json").text
    assert "javascript" not in catalog.lower()
    # The dataset stays readable and editable; the edit asks for a real link.
    assert portal.client.get(f"/resource/{PUBLIC}.json").status_code == 200
    fixed = portal.client.patch(
        f"/api/views/{PUBLIC}",
        json={
            "attributionLink": "",
            "license_url": "",
            "source_url": "https://testville.example/",
            "contact_email": "",
        },
        auth=("boss", PASSWORD),
    )
    assert fixed.status_code == 200, fixed.text
