"""Answers kept per version, and conditional requests, over real HTTP on both engines.

The portal of tests/portal.py: a public dataset with an internal column (officer_name), read
by the public and by staff. Every expected row comes from the store itself or the fixture's
own table, never from the answer under test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pyarrow as pa
import pytest

from blotter.queries import answers
from tests.conftest import LiveServer, serve_in_thread
from tests.portal import COLUMNS, PUBLIC, Portal

RESOURCE = f"/resource/{PUBLIC}.json"


@pytest.fixture
def live(portal: Portal) -> Iterator[LiveServer]:
    yield from serve_in_thread(portal.client.app)


def _get(live: LiveServer, path: str = RESOURCE, **kw: object) -> httpx.Response:
    return httpx.get(live.url + path, timeout=30, **kw)  # type: ignore[arg-type]


def _expected(portal: Portal, fields: list[str]) -> list[dict[str, str]]:
    """The rows as SODA writes them (numbers as text), from the fixture's own table."""
    rows = []
    for row in portal.rows(PUBLIC):
        out = {":id": f"row-{row['id']}"} if ":id" in fields else {}
        for f in fields:
            if f != ":id" and row[f] is not None:
                value = row[f]
                out[f] = f"{value:g}" if isinstance(value, float) else str(value)
        rows.append(out)
    return rows


def test_a_publish_is_seen_by_the_next_request(portal: Portal, live: LiveServer) -> None:
    params = {"$select": "case_no, offense, age", "$order": "case_no"}
    first = _get(live, params=params)
    assert first.json() == _expected(portal, ["case_no", "offense", "age"])
    again = _get(live, params=params)
    assert again.json() == first.json()
    cache = answers(portal.store, portal.settings)
    assert cache.hits >= 1  # the second answer came from memory
    portal.store.publish(
        PUBLIC,
        COLUMNS,
        [
            pa.record_batch(
                {
                    "case_no": ["d1", "d2"],
                    "offense": ["fraud", "theft"],
                    "age": [40.0, 22.0],
                    "officer_name": ["Lee", "Ray"],
                }
            )
        ],
    )
    after = _get(live, params=params)
    assert after.json() == [
        {"case_no": "d1", "offense": "fraud", "age": "40"},
        {"case_no": "d2", "offense": "theft", "age": "22"},
    ]
    assert after.headers["etag"] != first.headers["etag"]
    # The old tag names an answer that is no longer served: a full answer, not a 304.
    stale = _get(live, params=params, headers={"If-None-Match": first.headers["etag"]})
    assert stale.status_code == 200 and stale.json() == after.json()


def test_staff_and_the_public_never_share_a_kept_answer(portal: Portal, live: LiveServer) -> None:
    staff = {"X-App-Token": portal.tokens["read_internal"]}
    params = {"$order": "case_no"}
    public = _get(live, params=params)
    inside = _get(live, params=params, headers=staff)
    public_again = _get(live, params=params)
    inside_again = _get(live, params=params, headers=staff)
    assert [r["case_no"] for r in public.json()] == [r["case_no"] for r in portal.rows(PUBLIC)]
    assert all("officer_name" not in r for r in public.json() + public_again.json())
    assert [r["officer_name"] for r in inside.json()] == [
        r["officer_name"] for r in portal.rows(PUBLIC)
    ]
    assert inside_again.json() == inside.json() and public_again.json() == public.json()
    assert public.headers["etag"] != inside.headers["etag"]
    # The public's tag never validates the staff answer, nor the other way round.
    crossed = _get(live, params=params, headers={**staff, "If-None-Match": public.headers["etag"]})
    assert crossed.status_code == 200 and "officer_name" in crossed.json()[0]
    assert inside.headers["cache-control"] == "private, no-store"


def test_page_rows_are_kept_apart_for_staff_and_public(portal: Portal, live: LiveServer) -> None:
    """The pages read through the same cache: the staff page shows the internal column's
    values, the public one never, in whichever order they are asked."""
    cookies_free = _get(live, f"/datasets/{PUBLIC}")
    staff = _get(live, f"/datasets/{PUBLIC}", headers={"X-App-Token": portal.tokens["admin"]})
    public_again = _get(live, f"/datasets/{PUBLIC}")
    assert staff.status_code == 200 and "Smith" in staff.text and "Jones" in staff.text
    for page in (cookies_free, public_again):
        assert page.status_code == 200
        assert "Smith" not in page.text and "Officer name" not in page.text


def test_if_none_match_lists_weak_tags_and_star(live: LiveServer) -> None:
    first = _get(live)
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["last-modified"]
    cases = [
        (etag, 304),
        (f'"other", {etag}', 304),
        (f'"a,b", W/{etag}', 304),  # weak comparison; a comma inside a tag is part of it
        ("*", 304),
        ('"other", W/"nope"', 200),
        (etag[:-2] + '"', 200),
    ]
    for header, status in cases:
        answer = _get(live, headers={"If-None-Match": header})
        assert answer.status_code == status, header
        if status == 304:
            assert answer.content == b""
            assert answer.headers["etag"] == etag
            assert answer.headers["last-modified"] == first.headers["last-modified"]
            assert "authorization" in answer.headers["vary"].lower()
            assert "content-type" not in answer.headers
        else:
            assert answer.json() == first.json()


def test_if_modified_since(live: LiveServer) -> None:
    first = _get(live)
    modified = parsedate_to_datetime(first.headers["last-modified"])
    later = format_datetime(modified + timedelta(hours=1), usegmt=True)
    earlier = format_datetime(modified - timedelta(seconds=1), usegmt=True)
    assert (
        _get(live, headers={"If-Modified-Since": first.headers["last-modified"]}).status_code == 304
    )
    assert _get(live, headers={"If-Modified-Since": later}).status_code == 304
    assert _get(live, headers={"If-Modified-Since": earlier}).status_code == 200
    assert _get(live, headers={"If-Modified-Since": "not a date"}).status_code == 200
    # RFC 850 and asctime dates are HTTP dates too.
    asctime = (modified + timedelta(hours=1)).astimezone(UTC).strftime("%a %b %d %H:%M:%S %Y")
    assert _get(live, headers={"If-Modified-Since": asctime}).status_code == 304
    # If-None-Match, when sent, decides alone.
    both = {"If-None-Match": '"other"', "If-Modified-Since": later}
    assert _get(live, headers=both).status_code == 200


def test_the_tag_changes_with_the_dictionary_and_the_metadata(
    portal: Portal, live: LiveServer
) -> None:
    page = f"/datasets/{PUBLIC}"
    api_tag = _get(live).headers["etag"]
    page_tag = _get(live, page).headers["etag"]
    assert _get(live, page, headers={"If-None-Match": page_tag}).status_code == 304
    dataset = portal.store.get_dataset(PUBLIC)
    described = [
        c.model_copy(update={"description": "What the person was charged with."})
        if c.field_name == "offense"
        else c
        for c in dataset.columns
    ]
    portal.store.update_columns(PUBLIC, described)
    new_page = _get(live, page, headers={"If-None-Match": page_tag})
    assert new_page.status_code == 200 and "What the person was charged with." in new_page.text
    assert _get(live, headers={"If-None-Match": api_tag}).status_code == 200
    meta = portal.store.get_dataset(PUBLIC).meta.model_copy(update={"name": "Renamed thefts"})
    portal.store.update_metadata(PUBLIC, meta)
    renamed = _get(live, page, headers={"If-None-Match": new_page.headers["etag"]})
    assert renamed.status_code == 200 and "Renamed thefts" in renamed.text


def test_a_page_answers_304_to_its_own_validators(live: LiveServer) -> None:
    page = f"/datasets/{PUBLIC}?offense=theft"
    first = _get(live, page)
    assert first.status_code == 200 and first.headers["etag"]
    again = _get(live, page, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    since = _get(live, page, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert since.status_code == 304
    other_view = _get(live, f"/datasets/{PUBLIC}?offense=assault")
    assert other_view.headers["etag"] != first.headers["etag"]


def test_the_cache_keeps_its_bounds() -> None:
    from blotter.queries import AnswerCache

    cache = AnswerCache(entries=3, max_bytes=16 * 100)  # one answer at most 100 bytes
    for i in range(5):
        assert cache.put(("k", i), f"answer {i}", 10)
    assert len(cache) == 3 and cache.get(("k", 0)) is None and cache.get(("k", 4)) == "answer 4"
    assert not cache.put("too big", "x", 101) and cache.get("too big") is None
    cache.get(("k", 2))  # used: the least recently used is now 3
    for i in range(5, 7):
        cache.put(("k", i), "x" * 90, 90)
    assert cache.bytes <= 16 * 100 and len(cache) == 3
    assert cache.get(("k", 2)) is not None and cache.get(("k", 3)) is None
    big = AnswerCache(entries=100, max_bytes=16 * 100)
    for i in range(20):
        big.put(i, "y", 100)
    assert big.bytes == 1600 and len(big) == 16  # the byte bound, not the entry bound


def test_a_large_export_streams_and_is_not_kept(portal: Portal, live: LiveServer) -> None:
    cache = answers(portal.store, portal.settings)
    cache.max_bytes, cache.item_bytes = 16 * 8, 8  # every answer here is larger
    before = len(cache)
    first = _get(live, f"/api/views/{PUBLIC}/rows.csv")
    assert first.status_code == 200 and first.text.count("\n") == 1 + len(portal.rows(PUBLIC))
    assert len(cache) == before, list(cache._kept)
    assert _get(live, f"/api/views/{PUBLIC}/rows.csv").text == first.text


def test_last_modified_is_the_later_of_rows_and_metadata(portal: Portal, live: LiveServer) -> None:
    dataset = portal.store.get_dataset(PUBLIC)
    newest = max(t for t in (dataset.rows_updated_at, dataset.updated_at) if t is not None)
    expected = newest.replace(tzinfo=UTC) if newest.tzinfo is None else newest
    shown = parsedate_to_datetime(_get(live).headers["last-modified"])
    assert shown == expected.replace(microsecond=0)
    assert shown <= datetime.now(UTC)


def test_a_streamed_answer_within_the_bound_is_kept(portal: Portal, live: LiveServer) -> None:
    """Answers past 256 KB stream; one that ends within the cache's bound for an answer is
    kept all the same, and the next is the same bytes from memory."""
    import blotter.api.responses as responses

    cache = answers(portal.store, portal.settings)
    whole = responses.WHOLE_ANSWER_BYTES
    responses.WHOLE_ANSWER_BYTES = 16  # every answer here streams
    try:
        params = {"$order": "case_no", "$$test": "streamed"}
        first = _get(live, params=params)
        assert "content-length" not in first.headers  # it streamed
        hits = cache.hits
        again = _get(live, params=params)
        assert again.content == first.content and cache.hits == hits + 1
        assert [r["case_no"] for r in first.json()] == sorted(
            r["case_no"] for r in portal.rows(PUBLIC)
        )
    finally:
        responses.WHOLE_ANSWER_BYTES = whole
