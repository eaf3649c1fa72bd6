"""A version's unfiltered page answers stored at publish (``web/first_view.py``), read back by
a server's first view (``queries.answers``). On both engines: every page (unfiltered and
filtered, the public's and an analyst's who sees an internal column, an older version) is
the same bytes as when every answer is computed from the rows; the unfiltered public page
runs fewer queries, the others as many; nothing stored names an internal column; a dataset
the public may not see stores nothing; its key chart and map are not drawn again."""

from __future__ import annotations

import re
import time

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from blotter.app import create_app
from blotter.portal import Portal
from blotter.queries.stored_answers import from_text
from blotter.settings import Settings
from blotter.store import open_store
from blotter.web.first_view import store_first_view
from blotter.web.kept_drawings import forget, recording
from tests.portal import COLUMNS, PRIVATE, PUBLIC, build
from tests.samples import publish_samples

FORCE, CALLS = "e2x9-2kgt", "tkpk-clls"
UNFILTERED = [f"/datasets/{FORCE}", f"/datasets/{CALLS}", f"/datasets/{PUBLIC}"]
OTHERS = [
    f"/datasets/{FORCE}?subject_race=black",
    f"/datasets/{CALLS}?call_type=Traffic%20Stop&beat=8T3",
    f"/datasets/{CALLS}?location__area=Ward%204",
    f"/datasets/{PUBLIC}?offense=theft",
    f"/datasets/{PUBLIC}?version=1",
]
NEWER = {
    "case_no": ["c1", "c2", "c4", "c5"],
    "offense": ["theft", None, "fraud", "fraud"],
    "age": [19.0, None, 40.0, 22.0],
    "officer_name": ["Smith", "Jones", "Lee", None],
}


@pytest.fixture
def loaded(engine_config: Settings) -> tuple[Settings, str, dict[str, int]]:
    """The samples and the access portal's datasets, the public one in two versions, each
    version's first view stored as a publish stores it; the analyst's token; how many
    answers each dataset stored."""
    store = open_store(engine_config)
    try:
        publish_samples(store)
        token = build(store, engine_config).tokens["read_internal"]
        portal = Portal(settings=engine_config, store=store)
        store_first_view(portal, PUBLIC)  # version 1, stored before version 2 is published
        store.publish(PUBLIC, COLUMNS, [pa.record_batch(NEWER)])
        stored = {d: store_first_view(portal, d) for d in (FORCE, CALLS, PUBLIC, PRIVATE)}
    finally:
        store.close()
    return engine_config, token, stored


DRAWN: dict[str, bool] = {}


def _pages(settings: Settings, token: str) -> dict[str, tuple[int, int, str]]:
    """Each page as a server's first answer (a store of its own and no drawing kept:
    nothing in memory), to the public and to the analyst: status, store queries, text
    (``drawn``: whether any drawing was drawn for it rather than read back)."""
    store = open_store(settings)
    forget()
    found = {}
    try:
        with TestClient(create_app(settings, store=store)) as client:
            for url in UNFILTERED + OTHERS:
                for headers in ({}, {"X-App-Token": token}):
                    with recording() as made:
                        page = client.get(url, headers=headers)
                    timing = page.headers["server-timing"]
                    queries = int(re.search(r'"(\d+) quer', timing)[1])  # type: ignore[index]
                    # The drawing's gradients are numbered in the order a process draws them.
                    text = re.sub(r"gradient_\d+", "gradient", page.text)
                    # A staff page carries its session's form tokens.
                    text = re.sub(r'name="csrf" value="[^"]*"', "csrf", text)
                    who = "analyst" if headers else "public"
                    found[f"{url} {who}"] = (page.status_code, queries, text)
                    DRAWN[f"{url} {who} {settings.stored_answers}"] = bool(made)
    finally:
        store.close()
    return found


def test_pages_from_stored_answers_are_the_pages_from_the_rows(
    loaded: tuple[Settings, str, dict[str, int]],
) -> None:
    settings, token, stored = loaded
    assert stored[FORCE] and stored[CALLS] and stored[PUBLIC]
    assert stored[PRIVATE] == 0  # the public may not see it: nothing computed, nothing stored
    with_stored = _pages(settings, token)
    from_rows = _pages(settings.model_copy(update={"stored_answers": False}), token)
    assert list(with_stored) == list(from_rows)
    # Unfiltered views of a version whose answers were stored, in the public's columns (an
    # older version's too: its rows have not changed). The analyst, asking next, sees the
    # samples' columns as the public does (their answers are then kept either way), and the
    # public dataset's internal column besides (computed from the rows either way).
    read_back = {f"{url} public" for url in UNFILTERED} | {f"/datasets/{PUBLIC}?version=1 public"}
    for page, (status, queries, text) in with_stored.items():
        _, queries_rows, text_rows = from_rows[page]
        assert (status, text) == (200, text_rows), page
        if page in read_back:
            assert queries < queries_rows, page
            # Its key chart and map drawn at publish: nothing drawn now (the others are
            # images, asked apart).
            assert not DRAWN[f"{page} True"] and DRAWN[f"{page} False"], page
        else:
            assert queries == queries_rows, page  # filters, other columns: from the rows
    # What only the analyst may see reaches the analyst's page, never the public's.
    assert "Smith" in with_stored[f"/datasets/{PUBLIC} analyst"][2]
    assert "Smith" not in with_stored[f"/datasets/{PUBLIC} public"][2]
    # The older version's page reads its own rows: no fraud then.
    assert "fraud" not in with_stored[f"/datasets/{PUBLIC}?version=1 public"][2]
    assert "fraud" in with_stored[f"/datasets/{PUBLIC} public"][2]


def test_nothing_stored_names_an_internal_column(
    loaded: tuple[Settings, str, dict[str, int]],
) -> None:
    settings, _, _ = loaded
    store = open_store(settings)
    try:
        dataset = store.get_dataset(PUBLIC)
        for version in (1, 2):
            text = store.stored_answers(PUBLIC, version, dataset.created_at)
            assert text is not None
            entries = from_text(text)
            assert entries
            for key, answer in entries:
                assert "officer_name" not in repr(key)
                assert "Smith" not in repr(answer) and "Jones" not in repr(answer)
        assert store.stored_answers(PRIVATE, 1, store.get_dataset(PRIVATE).created_at) is None
    finally:
        store.close()


def test_a_write_through_the_api_stores_the_new_versions_first_view(
    engine_config: Settings,
) -> None:
    """A publisher's upserts, over HTTP to a real server, store the new version's first view
    in the background once their burst pauses: the newest version's, not each one's, and
    the writer's answer does not wait for it."""
    import httpx

    from tests.conftest import serve_in_thread
    from tests.portal import PASSWORD

    store = open_store(engine_config)
    try:
        build(store, engine_config)
        for server in serve_in_thread(create_app(engine_config, store=store)):
            with httpx.Client(base_url=server.url, auth=("pub_a", PASSWORD)) as client:
                for offense in ("fraud", "arson"):  # a burst: two versions within the pause
                    sent = client.post(
                        f"/resource/{PUBLIC}.json", json=[{"case_no": "c9", "offense": offense}]
                    )
                    assert sent.status_code == 200, sent.text
            newest = store.get_dataset(PUBLIC)
            deadline = time.monotonic() + 120
            while store.stored_answers(PUBLIC, newest.version, newest.created_at) is None:
                assert time.monotonic() < deadline, "the first view was never stored"
                time.sleep(0.2)
            text = store.stored_answers(PUBLIC, newest.version, newest.created_at)
            assert text is not None and from_text(text)
            assert "officer_name" not in text and "Smith" not in text  # the public's view
            between = store.stored_answers(PUBLIC, newest.version - 1, newest.created_at)
            assert between is None  # the burst stored once, for the newest version
    finally:
        store.close()


def test_nothing_is_stored_after_the_server_stops(engine_config: Settings) -> None:
    """A write's first view due when the server stops is dropped, not stored on a store
    about to close; the next start stores again."""
    from blotter.web.first_view import StoredAfterWrites

    store = open_store(engine_config)
    try:
        build(store, engine_config)
        portal = Portal(settings=engine_config, store=store)
        after = StoredAfterWrites(portal, quiet_s=0.5)
        after(PUBLIC)
        after.close()
        after(PUBLIC)  # a write answered while stopping
        dataset = store.get_dataset(PUBLIC)
        time.sleep(1.5)
        assert store.stored_answers(PUBLIC, dataset.version, dataset.created_at) is None
        after.start()
        after(PUBLIC)
        deadline = time.monotonic() + 120
        while store.stored_answers(PUBLIC, dataset.version, dataset.created_at) is None:
            assert time.monotonic() < deadline, "not stored after the start"
            time.sleep(0.2)
        after.close()
    finally:
        store.close()
