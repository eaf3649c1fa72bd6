"""A dataset's history over real HTTP on both engines: the issue's scenario (a sodapy upsert
that adds, changes and deletes one row each), versions.json and its checksums, $$version on
every read, diffs under the access rules, and the Atom feeds parsed by a real parser."""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import cast

import feedparser
import pyarrow as pa
import pytest
import requests
from sodapy import Socrata

from blotter.model import AuditEntry
from blotter.store.retention import Retention
from blotter.web import feeds
from tests.conftest import LiveServer, serve_in_thread
from tests.portal import COLUMNS, INTERNAL, PASSWORD, PRIVATE, PUBLIC, Portal


@pytest.fixture
def live(portal: Portal) -> Iterator[LiveServer]:
    yield from serve_in_thread(portal.client.app)


def _sodapy(live: LiveServer) -> Socrata:
    return Socrata(
        live.url.removeprefix("http://"),
        None,
        username="pub_a",
        password=PASSWORD,
        session_adapter={"prefix": "http://", "adapter": requests.adapters.HTTPAdapter()},
    )


def _get(live: LiveServer, path: str, **kwargs: object) -> requests.Response:
    return requests.get(f"{live.url}{path}", timeout=30, **kwargs)  # type: ignore[arg-type]


def _edit(live: LiveServer, dataset_id: str, change: dict[str, object]) -> None:
    """A metadata edit by the administrator, through the API."""
    answer = requests.patch(
        f"{live.url}/api/views/{dataset_id}.json",
        data=json.dumps(change),
        auth=("boss", PASSWORD),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def test_the_issue_scenario_an_upsert_seen_in_versions_reads_diffs_and_feeds(
    portal: Portal, live: LiveServer
) -> None:
    before_json = _get(live, f"/resource/{PUBLIC}.json").json()
    before_csv = _get(live, f"/api/views/{PUBLIC}/rows.csv").content
    before_v1 = _get(live, f"/api/views/{PUBLIC}/versions.json").json()["versions"]
    assert [v["version"] for v in before_v1] == [1]
    client = _sodapy(live)
    client.upsert(
        PUBLIC,
        [
            {"case_no": "c4", "offense": "fraud", "age": 40},
            {"case_no": "c2", "offense": "assault (corrected)"},
            {"case_no": "c1", ":deleted": True},
        ],
    )
    client.close()

    listed = _get(live, f"/api/views/{PUBLIC}/versions.json").json()
    assert listed["newest"] == 2
    newest, first = listed["versions"]
    assert (newest["version"], newest["rowsAdded"], newest["rowsChanged"]) == (2, 1, 1)
    assert (newest["rowsRemoved"], newest["rows"], newest["agency"]) == (1, 3, "Testville Police")
    assert "publishedBy" not in newest  # the dataset does not name its publishers
    assert newest["publishedAt"].endswith("Z") and not newest["pruned"]
    now_csv = _get(live, f"/api/views/{PUBLIC}/rows.csv").content
    v2_csv = _get(live, newest["links"]["rows"]).content
    assert v2_csv == now_csv
    assert newest["sha256"] == hashlib.sha256(now_csv).hexdigest()
    assert first["sha256"] == hashlib.sha256(before_csv).hexdigest()
    assert b"officer_name" not in now_csv  # the checksum is of the public's columns

    # The previous version, exactly as it was served, in every format and generation.
    old = _get(live, f"/resource/{PUBLIC}.json", params={"$$version": "1"})
    assert old.json() == before_json
    assert old.headers["X-Blotter-Version"] == "1"
    assert old.headers["X-Blotter-Newest-Version"] == "2"
    assert old.headers["X-SODA2-Data-Out-Of-Date"] == "true"
    assert _get(live, f"/api/views/{PUBLIC}/rows.csv?$$version=1").content == before_csv
    assert _get(live, f"/resource/{PUBLIC}.csv?$$version=1").content == before_csv
    geo = _get(live, f"/resource/{PUBLIC}.geojson?$$version=1").json()
    assert len(geo["features"]) == len(before_json) == 3
    soda3 = requests.post(
        f"{live.url}/api/v3/views/{PUBLIC}/query.json",
        json={"query": "SELECT case_no, offense ORDER BY case_no", "version": 1},
        timeout=30,
    )
    assert soda3.json() == [
        {"case_no": "c1", "offense": "theft"},
        {"case_no": "c2", "offense": "assault"},
        {"case_no": "c3", "offense": "theft"},
    ]
    assert soda3.headers["X-Blotter-Version"] == "1"
    current = _get(live, f"/resource/{PUBLIC}.json")
    assert current.headers["X-SODA2-Data-Out-Of-Date"] == "false"
    assert current.headers["X-Blotter-Version"] == "2"
    assert [r["case_no"] for r in current.json()] == ["c2", "c3", "c4"]

    # The dataset page's sodapy snippet of version 1, pasted and run, reads version 1.
    page = html.unescape(_get(live, f"/datasets/{PUBLIC}?version=1").text)
    found = re.search(r"<pre><code>(import requests\nfrom sodapy.*?)</code></pre>", page, re.S)
    assert found, "no sodapy snippet"
    ours = portal.settings.base_url.split("://", 1)[-1].rstrip("/")
    code = found.group(1).replace(repr(ours), repr(live.url.removeprefix("http://")))
    assert "**{'$$version': '1'}" in code
    namespace: dict[str, object] = {}
    exec(code, namespace)  # the page's own example, as a reader runs it
    rows = cast(Iterable[dict[str, str]], namespace["rows"])
    assert [r["case_no"] for r in rows] == ["c1", "c2", "c3"]
    api_page = html.unescape(_get(live, f"/datasets/{PUBLIC}/api?version=1").text)
    assert f"/resource/{PUBLIC}.json?$$version=1" in api_page
    assert "Version 1</strong>, not the newest (2)" in api_page
    assert "$$version" not in _get(live, f"/datasets/{PUBLIC}/api").text

    # The diff names the three rows, field by field, as the JSON rows write values.
    diff = _get(live, newest["links"]["diff"]).json()
    assert (diff["from"], diff["to"], diff["added"], diff["changed"], diff["removed"]) == (
        1,
        2,
        1,
        1,
        1,
    )
    assert diff["fields"] == ["case_no", "offense", "age"]  # never the internal column
    by_kind = {r["kind"]: r for r in diff["rows"]}
    assert by_kind["added"]["values"] == {"case_no": "c4", "offense": "fraud", "age": "40"}
    assert by_kind["removed"]["values"] == {"case_no": "c1", "offense": "theft", "age": "19"}
    assert by_kind["changed"]["changes"] == [
        {"field": "offense", "before": "assault", "after": "assault (corrected)"}
    ]
    assert by_kind["changed"][":id"] == "row-2"

    # The dataset's feed has an entry for the new version, linking to what changed.
    feed = feedparser.parse(_get(live, f"/datasets/{PUBLIC}/history.atom").content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == f"Changes to {PUBLIC}"
    assert {link["rel"] for link in feed.feed.links} == {"self", "alternate"}
    entry = feed.entries[0]
    assert entry.title == f"{PUBLIC}: version 2"
    assert "1 row added, 1 changed, 1 removed" in entry.summary
    base = portal.settings.base_url.rstrip("/")
    assert entry.link == f"{base}/datasets/{PUBLIC}/versions/2/changes"
    assert entry.id == f"{base}/datasets/{PUBLIC}/versions/2"
    assert [e.title for e in feed.entries] == [f"{PUBLIC}: version 2", f"{PUBLIC}: version 1"]


def test_version_errors_say_what_is_wrong(portal: Portal, live: LiveServer) -> None:
    missing = _get(live, f"/resource/{PUBLIC}.json?$$version=9")
    assert missing.status_code == 404
    assert missing.json()["code"] == "version.not-found"
    assert "no version 9" in missing.json()["message"]
    for bad in ("abc", "0", "-1", "1e3", " 2"):
        answer = _get(live, f"/resource/{PUBLIC}.json", params={"$$version": bad})
        assert answer.status_code == 400, bad
        assert "$$version" in answer.json()["message"]
    # Socrata's clients ask for an API generation with $$version=2.1: that reads the newest.
    generation = _get(live, f"/resource/{PUBLIC}.json", params={"$$version": "2.1"})
    assert generation.status_code == 200 and generation.headers["X-Blotter-Version"] == "1"
    soda3 = requests.post(
        f"{live.url}/api/v3/views/{PUBLIC}/query.json", json={"version": "x"}, timeout=30
    )
    assert soda3.status_code == 400 and "version" in soda3.json()["message"]
    # The pages read the version too (the table, the API page, each chart's file).
    for page in ("", "/api", "/charts/offense.svg", "/versions/9", "/versions/9/changes"):
        answer = _get(live, f"/datasets/{PUBLIC}{page}", params={"version": "9"})
        assert answer.status_code == 404, page
        assert "no version 9" in html.unescape(answer.text), page
    assert _get(live, f"/datasets/{PUBLIC}?version=x").status_code == 400
    first = _get(live, f"/api/views/{PUBLIC}/versions/1/diff.json")
    assert first.status_code == 400 and "first" in first.json()["message"]
    assert _get(live, f"/api/views/{PUBLIC}/versions/7/diff.json?from=1").status_code == 404
    # Datasets the public may not see have no history for them either.
    for hidden in (INTERNAL, PRIVATE):
        assert _get(live, f"/api/views/{hidden}/versions.json").status_code == 404
        assert _get(live, f"/datasets/{hidden}/history.atom").status_code == 404


def test_a_change_to_an_internal_column_only_is_invisible_to_the_public(
    portal: Portal, live: LiveServer
) -> None:
    changed = requests.post(
        f"{live.url}/resource/{PUBLIC}.json",
        params={"note": "Officer names corrected"},
        data=json.dumps([{"case_no": "c3", "officer_name": "Brown"}]),
        auth=("pub_a", PASSWORD),
        timeout=30,
    )
    assert changed.status_code == 200, changed.text
    public = _get(live, f"/api/views/{PUBLIC}/versions.json").json()["versions"][0]
    assert (public["rowsAdded"], public["rowsChanged"], public["rowsRemoved"]) == (0, 0, 0)
    assert public["note"] == "Officer names corrected"
    diff = _get(live, f"/api/views/{PUBLIC}/versions/2/diff.json").json()
    assert (diff["changed"], diff["rows"]) == (0, [])
    staff = _get(live, f"/api/views/{PUBLIC}/versions/2/diff.json", auth=("boss", PASSWORD))
    assert staff.json()["changed"] == 1
    assert staff.json()["rows"][0]["changes"] == [
        {"field": "officer_name", "before": "Smith", "after": "Brown"}
    ]
    listed = _get(live, f"/api/views/{PUBLIC}/versions.json", auth=("boss", PASSWORD)).json()
    assert listed["versions"][0]["rowsChanged"] == 1


def test_a_hidden_change_stays_invisible_once_a_version_drops_the_internal_column(
    portal: Portal,
) -> None:
    """Once no current column is internal, the counts of versions that held one must still
    be counted over the public's fields: versions.json said 1 row changed where the public's
    diff showed none (a change to an internal column revealed)."""
    auth = ("pub_a", PASSWORD)
    changed = portal.client.post(
        f"/resource/{PUBLIC}.json", json=[{"case_no": "c3", "officer_name": "Brown"}], auth=auth
    )
    assert changed.status_code == 200, changed.text
    rows = {"case_no": ["c1", "c2", "c3"], "offense": ["theft", "assault", "theft"]}
    rows["age"] = [19.0, 34.0, 51.0]
    portal.store.publish(PUBLIC, COLUMNS[:3], [pa.record_batch(rows)])
    listed = portal.client.get(f"/api/views/{PUBLIC}/versions.json").json()["versions"]
    counts = {v["version"]: (v["rowsAdded"], v["rowsChanged"], v["rowsRemoved"]) for v in listed}
    assert counts == {3: (0, 0, 0), 2: (0, 0, 0), 1: (3, 0, 0)}
    for number in (2, 3):
        diff = portal.client.get(f"/api/views/{PUBLIC}/versions/{number}/diff.json").json()
        assert (diff["added"], diff["changed"], diff["removed"]) == counts[number]
    staff = portal.client.get(f"/api/views/{PUBLIC}/versions.json", auth=("boss", PASSWORD))
    assert staff.json()["versions"][1]["rowsChanged"] == 1


def test_an_internal_column_a_later_file_brings_back_stays_hidden_in_every_version(
    portal: Portal,
) -> None:
    """The officer's name is internal. A file without it, then one with it again (declared
    as files declare columns: public): the data dictionary had forgotten the column, so it
    came back public, and every earlier version's officer names with it."""
    rows = {"case_no": ["c1", "c2", "c3"], "offense": ["theft", "assault", "theft"]}
    rows["age"] = [19.0, 34.0, 51.0]
    portal.store.publish(PUBLIC, COLUMNS[:3], [pa.record_batch(rows)])
    back = [*COLUMNS[:3], COLUMNS[3].model_copy(update={"internal": False})]
    again = {**rows, "officer_name": ["Lee", "Ray", "Lee"]}
    portal.store.publish(PUBLIC, back, [pa.record_batch(again)])
    for path in (
        f"/resource/{PUBLIC}.json",
        f"/resource/{PUBLIC}.json?$$version=1",
        f"/api/views/{PUBLIC}/rows.csv?$$version=1",
        f"/api/views/{PUBLIC}/versions/3/diff.json",
        f"/api/views/{PUBLIC}.json",
    ):
        answer = portal.client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        for name in ("Smith", "Jones", "Lee", "officer_name"):
            assert name not in answer.text, (path, name)
    staff = portal.client.get(f"/resource/{PUBLIC}.json?$$version=1", auth=("boss", PASSWORD))
    assert sorted(r["officer_name"] for r in staff.json()) == ["Jones", "Smith", "Smith"]


def test_diff_pages_and_publishers_named_when_the_dataset_says_so(
    portal: Portal, live: LiveServer
) -> None:
    rows = [{"case_no": f"n{i}", "offense": "theft", "age": 20 + i} for i in range(55)]
    answer = requests.post(
        f"{live.url}/resource/{PUBLIC}.json",
        data=json.dumps(rows),
        auth=("pub_a", PASSWORD),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    path = f"/api/views/{PUBLIC}/versions/2/diff.json"
    pages = [
        _get(live, path, params={"$limit": "2", "$offset": str(o)}).json()["rows"]
        for o in (0, 2, 4)
    ]
    assert [[r["values"]["case_no"] for r in p] for p in pages] == [
        ["n0", "n1"],
        ["n2", "n3"],
        ["n4", "n5"],
    ]
    assert _get(live, path, params={"$limit": "x"}).status_code == 400
    # The page in words: fifty rows a page, each named by its row identifier.
    second = html.unescape(_get(live, f"/datasets/{PUBLIC}/versions/2/changes?page=2").text)
    assert "From version 1 to version 2: 55 added, 0 corrected, 0 removed." in second
    assert "Page 2 of 2" in second
    named = [f"row n{i}: Case ‘n{i}’" for i in range(55)]
    assert [n for n in named if n in second] == named[50:]
    assert _get(live, f"/datasets/{PUBLIC}/versions/2/changes?page=0").status_code == 400
    _edit(live, PUBLIC, {"name_publishers": True})
    listed = _get(live, f"/api/views/{PUBLIC}/versions.json").json()["versions"]
    assert [v.get("publishedBy") for v in listed] == ["pub_a", None]  # v1: loaded directly


def test_the_portal_feed_lists_public_datasets_only(portal: Portal, live: LiveServer) -> None:
    meta = portal.store.get_dataset(PUBLIC).meta
    described = "Thefts\x01 and <assaults> & more"  # markup and a character XML cannot hold
    portal.store.update_metadata(PUBLIC, meta.model_copy(update={"description": described}))
    feed = feedparser.parse(_get(live, "/history.atom").content)
    assert not feed.bozo, feed.get("bozo_exception")
    titles = [e.title for e in feed.entries]
    assert f"New dataset: {PUBLIC}" in titles and f"{PUBLIC}: version 1" in titles
    assert not any(INTERNAL in t or PRIVATE in t for t in titles)
    assert all(e.link.startswith(portal.settings.base_url.rstrip("/")) for e in feed.entries)
    (opened,) = [e for e in feed.entries if e.title == f"New dataset: {PUBLIC}"]
    assert opened.summary == f"Testville Police opened “{PUBLIC}”. Thefts  and <assaults> & more"
    # A change to the data dictionary is an entry of its own, for public datasets only.
    for dataset_id in (PUBLIC, INTERNAL):
        _edit(live, dataset_id, {"columns": [{"fieldName": "age", "description": "At arrest"}]})
    feed = feedparser.parse(_get(live, "/history.atom").content)
    titles = [e.title for e in feed.entries]
    assert titles[0] == f"{PUBLIC}: data dictionary changed"
    assert not any(INTERNAL in t for t in titles)
    assert feed.entries[0].summary.startswith(f"The column ‘Age’ of “{PUBLIC}” changed")


def test_the_portal_feed_does_not_announce_an_edit_of_internal_columns(
    portal: Portal, live: LiveServer
) -> None:
    def edit(columns: list[dict[str, object]]) -> None:
        _edit(live, PUBLIC, {"columns": columns})

    def announced() -> list[str]:
        feed = feedparser.parse(_get(live, "/history.atom").content)
        return [e.summary for e in feed.entries if e.title.endswith("data dictionary changed")]

    edit([{"fieldName": "officer_name", "description": "As written on the report"}])
    assert announced() == []  # staff corrected a hidden column: not the public's news
    edit([{"fieldName": "officer_name", "name": "Officer"}])
    assert announced() == []
    edit([{"fieldName": "age", "internal": True}])  # hiding a public column is news
    assert announced() == [
        f"The column ‘Age’ of “{PUBLIC}” changed; its data dictionary is on the dataset's page."
    ]
    edit([{"fieldName": "age", "internal": False}, {"fieldName": "offense", "name": "Offence"}])
    assert announced()[0].startswith(f"The columns ‘Offence’ and ‘Age’ of “{PUBLIC}” changed")


def test_the_portal_feed_keeps_a_dictionary_change_under_many_later_audit_entries(
    portal: Portal, live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff reads and sign-ins fill the audit log far faster than dictionary edits: an edit
    followed by more entries than the feed reads is still announced. (The feed's read is
    made small here so that the entries that would push the edit out are few to write.)"""
    monkeypatch.setattr(feeds, "DICTIONARY_ENTRIES_READ", 20)
    _edit(live, PUBLIC, {"columns": [{"fieldName": "age", "description": "At arrest"}]})
    (edited,) = portal.store.audit_log(limit=1, action="dataset.dictionary")
    for i in range(feeds.DICTIONARY_ENTRIES_READ + 1):
        portal.store.add_audit(
            AuditEntry(
                at=edited.at + timedelta(seconds=1 + i),
                actor="pub_a",
                address="127.0.0.1",
                action="read.internal",
                dataset_id=PUBLIC,
            )
        )
    feed = feedparser.parse(_get(live, "/history.atom").content)
    assert f"{PUBLIC}: data dictionary changed" in [e.title for e in feed.entries]


def test_versions_are_listed_a_page_at_a_time(portal: Portal, live: LiveServer) -> None:
    """Years of daily versions are not listed, nor their checksums computed, in one request:
    a page of 100 by default, ``$limit`` up to 1,000, and a link to the next page."""
    rows = {"case_no": ["c1"], "offense": ["theft"], "age": [30.0], "officer_name": ["Smith"]}
    for _ in range(4):  # versions 2-5
        portal.store.publish(PUBLIC, COLUMNS, [pa.record_batch(rows)])
    path = f"/api/views/{PUBLIC}/versions.json"
    whole = _get(live, path).json()
    assert (whole["total"], whole["limit"], whole["offset"]) == (5, 100, 0)
    assert [v["version"] for v in whole["versions"]] == [5, 4, 3, 2, 1] and "next" not in whole
    seen, page = [], _get(live, path + "?$limit=2").json()
    while True:
        assert page["total"] == 5 and page["newest"] == 5
        seen.append([v["version"] for v in page["versions"]])
        if "next" not in page:
            break
        page = _get(live, page["next"]).json()
    assert seen == [[5, 4], [3, 2], [1]]
    assert [v["sha256"] for v in page["versions"]] == [whole["versions"][-1]["sha256"]]
    for bad in ("$limit=0", "$limit=1001", "$offset=-1", "$limit=ten"):
        refused = _get(live, f"{path}?{bad}")
        assert refused.status_code == 400, bad
        assert refused.json()["data"]["parameter"] == bad.split("=")[0], bad
    assert _get(live, path + "?$offset=9").json()["versions"] == []


def test_a_pruned_version_is_listed_but_answers_410(portal: Portal, live: LiveServer) -> None:
    answer = requests.post(
        f"{live.url}/resource/{PUBLIC}.json",
        data=json.dumps([{"case_no": "c9", "offense": "theft", "age": 30}]),
        auth=("pub_a", PASSWORD),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    portal.store.prune_versions(Retention(last=1), dataset_id=PUBLIC)
    listed = _get(live, f"/api/views/{PUBLIC}/versions.json").json()["versions"]
    assert [(v["version"], v["pruned"], v["sha256"] is None) for v in listed] == [
        (2, False, False),
        (1, True, True),
    ]
    for path in (
        f"/resource/{PUBLIC}.json?$$version=1",
        f"/api/views/{PUBLIC}/rows.csv?$$version=1",
        f"/api/views/{PUBLIC}/versions/2/diff.json",
    ):
        gone = _get(live, path)
        assert gone.status_code == 410, path
        assert gone.json()["code"] == "version.gone"
        assert "retention setting" in gone.json()["message"]
    assert _get(live, f"/datasets/{PUBLIC}?version=1").status_code == 410
    history = html.unescape(_get(live, f"/datasets/{PUBLIC}/versions").text)
    assert "removed by the portal's retention setting" in history
    assert f"/datasets/{PUBLIC}/versions/2/changes" not in history  # nothing to compare with
    feed = feedparser.parse(_get(live, f"/datasets/{PUBLIC}/history.atom").content)
    assert [e.title for e in feed.entries] == [f"{PUBLIC}: version 2", f"{PUBLIC}: version 1"]


def test_a_checksum_given_before_a_column_was_hidden_can_still_be_found(
    portal: Portal, live: LiveServer
) -> None:
    def listed() -> dict[str, object]:
        (only,) = _get(live, f"/api/views/{PUBLIC}/versions.json").json()["versions"]
        return cast(dict[str, object], only)

    def served() -> str:
        csv = _get(live, f"/api/views/{PUBLIC}/rows.csv?$$version=1").content
        return hashlib.sha256(csv).hexdigest()

    first = listed()
    assert first["sha256"] == served() and first["earlierSha256"] == []
    _edit(live, PUBLIC, {"columns": [{"fieldName": "age", "internal": True}]})
    hidden = listed()
    assert hidden["sha256"] == served() != first["sha256"]  # the public's bytes changed
    (earlier,) = cast(list[dict[str, str]], hidden["earlierSha256"])
    assert earlier["sha256"] == first["sha256"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", earlier["firstGiven"])
    page = _get(live, f"/datasets/{PUBLIC}/versions/1").text
    assert f'<code class="checksum">{hidden["sha256"]}</code>' in page
    assert "withdrawn a column" in page and str(first["sha256"]) in page
    _edit(live, PUBLIC, {"columns": [{"fieldName": "age", "internal": False}]})
    shown = listed()
    assert shown["sha256"] == first["sha256"] == served()
    assert [e["sha256"] for e in cast(list[dict[str, str]], shown["earlierSha256"])] == [
        hidden["sha256"]
    ]
