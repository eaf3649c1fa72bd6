"""The edge, through real HTTP on both engines: writes from other sites' pages refused
whatever their type, security headers on every answer, and absolute links that come from
the configured address, never from the request's Host."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from blotter.app import create_app
from blotter.settings import Settings
from tests.portal import INTERNAL, PASSWORD, PUBLIC, Portal, sign_in

ROW = b'[{"case_no": "c1", "offense": "forged"}]'
# What a browser sends with a post from a page of another site.
FOREIGN = [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},  # a sandboxed frame or a file
    {"Origin": "http://testserver.evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"},
]


@pytest.mark.parametrize(
    "headers", FOREIGN, ids=lambda h: "+".join(f"{k}={v}" for k, v in h.items())
)
def test_a_write_from_another_sites_page_is_refused_whatever_its_type(
    portal: Portal, headers: dict[str, str]
) -> None:
    before = portal.rows(PUBLIC)
    for content_type in (None, "application/json", "text/csv", "text/plain"):
        sent = dict(headers)
        if content_type:
            sent["Content-Type"] = content_type
        answer = portal.client.post(
            f"/resource/{PUBLIC}.json", content=ROW, headers=sent, auth=("pub_a", PASSWORD)
        )
        assert answer.status_code == 403, (content_type, answer.text)
        body = answer.json()
        assert body["code"] == "permission_denied" and body["error"] is True
        assert "another site" in body["message"]
    assert portal.rows(PUBLIC) == before


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://testserver", "testserver", True),
        ("https://data.example.gov", "data.example.gov:443", True),  # a proxy added the port
        ("http://127.0.0.1:8100", "127.0.0.1:8100", True),
        ("HTTP://Data.Example.GOV", "data.example.gov", True),
        ("http://127.0.0.1:8100", "127.0.0.1:8101", False),
        ("http://127.0.0.1:8100", "127.0.0.1", False),
        ("https://data.example.gov", "data.example.gov:80", False),
        ("https://evil.example", "data.example.gov", False),
        ("https://data.example.gov.evil.example", "data.example.gov", False),
        ("http://testserver", "testserver:x", False),
        ("null", "testserver", False),
    ],
)
def test_an_origin_is_this_site_only_when_it_names_the_requests_host(
    origin: str, host: str, same: bool
) -> None:
    from blotter.security import origin_of, same_host

    sent = origin_of(origin)
    assert (bool(sent) and same_host(sent, host)) is same


def test_deletes_and_dataset_changes_from_another_site_are_refused_too(portal: Portal) -> None:
    evil = {"Origin": "https://evil.example"}
    auth = ("boss", PASSWORD)
    client = portal.client
    assert client.delete(f"/resource/{PUBLIC}/c1", headers=evil, auth=auth).status_code == 403
    assert client.delete(f"/api/views/{PUBLIC}", headers=evil, auth=auth).status_code == 403
    opened = client.put(
        f"/api/views/{PUBLIC}?method=setPermission&value=private", headers=evil, auth=auth
    )
    assert opened.status_code == 403
    assert portal.store.get_dataset(PUBLIC).meta.visibility == "public"
    assert [r["case_no"] for r in portal.rows(PUBLIC)] == ["c1", "c2", "c3"]


def test_a_staff_form_posted_from_another_site_gets_the_error_page(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    csrf = sign_in(client, "boss")
    answer = client.post(
        "/manage/users",
        data={"csrf": csrf, "name": "mallory", "role": "admin", "password": PASSWORD},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "another site" in answer.text
    assert portal.store.user_credentials("mallory") is None


def test_scripts_and_this_sites_own_pages_still_write(portal: Portal) -> None:
    client = portal.client
    auth = ("pub_a", PASSWORD)
    # sodapy and curl: no Origin, no Sec-Fetch-Site, and sodapy sends no Content-Type.
    plain = client.post(f"/resource/{PUBLIC}.json", content=ROW, auth=auth)
    assert plain.status_code == 200, plain.text
    for same in (
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed into the address bar, a bookmark
    ):
        answer = client.post(
            f"/resource/{PUBLIC}.json",
            json=[{"case_no": "c2", "offense": "theft"}],
            headers=same,
            auth=auth,
        )
        assert answer.status_code == 200, (same, answer.text)
    # Reads are never refused: other sites' pages read the API, as with Socrata.
    read = client.get(f"/resource/{PUBLIC}.json", headers={"Origin": "https://evil.example"})
    assert read.status_code == 200 and read.headers["access-control-allow-origin"] == "*"


def test_the_configured_public_address_counts_as_this_site(engine_config: Settings) -> None:
    from blotter.store import open_store
    from tests.portal import build

    settings = engine_config.model_copy(update={"public_url": "https://data.testville.gov"})
    store = open_store(settings)
    try:
        portal = build(store, settings)
        with portal.client as client:
            answer = client.post(
                f"/resource/{PUBLIC}.json",
                content=ROW,
                headers={"Origin": "https://data.testville.gov"},
                auth=("pub_a", PASSWORD),
            )
            assert answer.status_code == 200, answer.text
    finally:
        store.close()


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/xml", 415),
        ("application/x-www-form-urlencoded", 415),
        ("multipart/form-data; boundary=x", 415),
        ("text/plain", 415),
        ("application/json; charset=utf-8", 200),
        ("application/vnd.api+json", 200),
    ],
)
def test_row_writes_take_json_or_csv_only(portal: Portal, content_type: str, status: int) -> None:
    answer = portal.client.post(
        f"/resource/{PUBLIC}.json",
        content=b'[{"case_no": "c1", "offense": "robbery"}]',
        headers={"Content-Type": content_type},
        auth=("pub_a", PASSWORD),
    )
    assert answer.status_code == status, answer.text
    if status == 415:
        assert answer.json()["code"] == "request.unsupported-media-type"
        assert portal.rows(PUBLIC)[0]["offense"] == "theft"


def test_json_rows_refuse_non_finite_numbers_naming_row_and_field(portal: Portal) -> None:
    before = portal.rows(PUBLIC)
    for literal in ("NaN", "Infinity", "-Infinity", "1e999"):
        for field in ("age", "offense"):
            body = f'[{{"case_no": "c1", "age": 20}}, {{"case_no": "c2", "{field}": {literal}}}]'
            answer = portal.client.post(
                f"/resource/{PUBLIC}.json", content=body.encode(), auth=("pub_a", PASSWORD)
            )
            assert answer.status_code == 422, answer.text
            problem = answer.json()["data"]["problems"][0]
            assert (problem["row"], problem["column"]) == (2, field)
            assert "finite" in problem["reason"]
    assert portal.rows(PUBLIC) == before
    # The CSV path refuses the same value the same way.
    csv = portal.client.post(
        f"/resource/{PUBLIC}.json",
        content=b"case_no,age\nc2,NaN\n",
        headers={"Content-Type": "text/csv"},
        auth=("pub_a", PASSWORD),
    )
    assert csv.status_code == 422
    assert csv.json()["data"]["problems"][0]["column"] == "age"


# --- headers -------------------------------------------------------------------------


def _policy(header: str) -> dict[str, str]:
    directives = (d.strip().split(" ", 1) for d in header.split(";") if d.strip())
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


def test_every_page_sends_a_policy_forbidding_inline_script_and_other_origins(
    portal: Portal,
) -> None:
    client = portal.client
    for path in ("/", f"/datasets/{PUBLIC}", "/api", "/login", "/nothing-here"):
        answer = client.get(path)
        assert answer.headers["content-type"].startswith("text/html"), path
        policy = _policy(answer.headers["content-security-policy"])
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'", path
        assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'"
        assert policy["base-uri"] == "'none'" and policy["form-action"] == "'self'"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert ("frame-ancestors" in policy) == (path == "/login"), path


def test_staff_pages_cannot_be_framed(portal: Portal) -> None:
    client = TestClient(portal.client.app)
    sign_in(client, "boss")
    for path in ("/manage", "/manage/users", "/manage/tokens", f"/manage/d/{PUBLIC}", "/login"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert _policy(answer.headers["content-security-policy"])["frame-ancestors"] == "'none'"
        assert answer.headers["x-frame-options"] == "DENY"
    public = client.get("/")
    assert "x-frame-options" not in public.headers  # newsrooms embed the public pages


def test_api_answers_are_never_sniffed(portal: Portal) -> None:
    for path in (f"/resource/{PUBLIC}.json", f"/resource/{PUBLIC}.csv", "/data.json"):
        answer = portal.client.get(path)
        assert answer.status_code == 200
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in answer.headers  # not a page
    refused = portal.client.get("/resource/nope-0000.json")
    assert refused.headers["x-content-type-options"] == "nosniff"


def test_a_tile_server_is_the_only_other_origin_pages_may_load_images_from(
    engine_config: Settings,
) -> None:
    settings = engine_config.model_copy(
        update={"tile_url": "https://{s}.tiles.example/{z}/{x}/{y}.png"}
    )
    with TestClient(create_app(settings)) as client:
        policy = _policy(client.get("/").headers["content-security-policy"])
    assert policy["img-src"].split() == ["'self'", "data:", "blob:", "https://*.tiles.example"]
    assert policy["script-src"] == "'self'" and policy["connect-src"] == "'self'"


# --- absolute links ------------------------------------------------------------------


SPOOFED = {"Host": "evil.example"}


def test_absolute_links_ignore_a_spoofed_host(portal: Portal) -> None:
    """With no public address set, links name the server's own host and port."""
    base = f"http://{portal.settings.host}:{portal.settings.port}"
    client = portal.client
    catalog = client.get("/data.json", headers=SPOOFED)
    assert catalog.status_code == 200
    assert "evil.example" not in catalog.text
    entry = next(d for d in catalog.json()["dataset"] if d["identifier"].endswith(PUBLIC))
    assert entry["identifier"] == f"{base}/api/views/{PUBLIC}"
    discovery = client.get("/api/catalog/v1", headers=SPOOFED)
    assert "evil.example" not in discovery.text
    assert discovery.json()["results"][0]["metadata"]["domain"] == base.removeprefix("http://")
    for page in ("/api", f"/datasets/{PUBLIC}"):
        html = client.get(page, headers=SPOOFED).text
        assert "evil.example" not in html and base in html, page


def test_absolute_links_use_the_configured_public_address(engine_config: Settings) -> None:
    from blotter.store import open_store
    from tests.portal import build

    settings = engine_config.model_copy(update={"public_url": "https://data.testville.gov/"})
    store = open_store(settings)
    try:
        with build(store, settings).client as client:
            catalog = client.get("/data.json", headers=SPOOFED).json()
            ids = [d["identifier"] for d in catalog["dataset"]]
            assert f"https://data.testville.gov/api/views/{PUBLIC}" in ids
            api = client.get("/api", headers=SPOOFED).text
            assert "https://data.testville.gov/resource/" in api and "evil.example" not in api
    finally:
        store.close()


@pytest.mark.parametrize("value", ["data.testville.gov", "javascript:alert(1)", "ftp://x.example"])
def test_the_public_address_must_be_a_web_address(value: str) -> None:
    with pytest.raises(ValueError, match="public_url"):
        Settings(public_url=value)


def test_without_a_public_address_a_wildcard_host_links_to_localhost() -> None:
    assert Settings(host="0.0.0.0", port=8080).base_url == "http://localhost:8080"
    assert Settings(host="::1", port=80).base_url == "http://[::1]:80"
    assert Settings(public_url="https://d.example/portal/").base_url == "https://d.example/portal"


def test_no_answer_to_credentials_may_be_kept_by_a_shared_cache(portal: Portal) -> None:
    """Rows, pages and charts asked with credentials say ``private, no-store``; so must every
    other answer to them (metadata with internal columns, an internal dataset's, a diff of
    an internal column's values, versions, quality), or a proxy caching by URL hands staff's
    answer to the public. Anonymous answers are left as they were."""
    changed = portal.client.post(
        f"/resource/{PUBLIC}.json",
        json=[{"case_no": "c1", "officer_name": "Brown"}],
        auth=("pub_a", PASSWORD),
    )
    assert changed.status_code == 200
    paths = [
        f"/api/views/{PUBLIC}.json",
        f"/api/views/{INTERNAL}.json",
        f"/api/views/{PUBLIC}/versions/2/diff.json",
        f"/api/views/{PUBLIC}/versions.json",
        f"/api/views/{PUBLIC}/quality.json",
        "/api/views.json",
    ]
    staff = TestClient(portal.client.app)
    sign_in(staff, "boss")
    for path in paths:
        for answer in (
            portal.client.get(path, auth=("boss", PASSWORD)),
            portal.client.get(path, headers={"X-App-Token": portal.tokens["read_internal"]}),
            staff.get(path),
        ):
            assert answer.status_code == 200, (path, answer.text)
            assert answer.headers.get("cache-control") == "private, no-store", path
    assert "cache-control" not in portal.client.get(f"/api/views/{PUBLIC}.json").headers
