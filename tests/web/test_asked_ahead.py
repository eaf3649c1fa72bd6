"""The dataset page asks ahead of its parts (``web/asked_ahead.py``): its summary's query
beside the version's sample of values, then its summary's shares and its filter form's
values in one ``UNION ALL``; each part then reads its own answers kept. Every page must be
the same bytes as when each part asks its own questions, on both engines: the
samples (nulls, ties, list columns, a checkbox beside text), one and two filters, an area
filter, an older version read from history, and a reader who sees an internal column."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

import blotter.web.dataset_page as dataset_page
from blotter.app import create_app
from blotter.settings import Settings
from blotter.store import open_store
from tests.portal import COLUMNS, PUBLIC, build
from tests.samples import publish_samples

FORCE, CALLS = "e2x9-2kgt", "tkpk-clls"
PAGES = [
    f"/datasets/{FORCE}",
    f"/datasets/{FORCE}?subject_race=black",
    f"/datasets/{FORCE}?subject_race=black&subject_sex=male",
    f"/datasets/{FORCE}?force_type__has=physical&arrested=true",
    f"/datasets/{CALLS}",
    f"/datasets/{CALLS}?call_type=Traffic%20Stop",
    f"/datasets/{CALLS}?call_type=Traffic%20Stop&beat=8T3",
    f"/datasets/{CALLS}?criminal_report=true&sort=received_at&dir=desc",
    f"/datasets/{CALLS}?location__area=Ward%204",
    f"/datasets/{PUBLIC}",
    f"/datasets/{PUBLIC}?offense=theft",
    f"/datasets/{PUBLIC}?version=1",
    f"/datasets/{PUBLIC}?version=1&offense=theft",
]
NEWER = {  # the public dataset's second version: the first is then read from history
    "case_no": ["c1", "c2", "c4", "c5"],
    "offense": ["theft", None, "fraud", "fraud"],
    "age": [19.0, None, 40.0, 22.0],
    "officer_name": ["Smith", "Jones", "Lee", None],
}


@pytest.fixture
def loaded(engine_config: Settings) -> tuple[Settings, str]:
    """Both samples and the access portal's datasets (one with an internal column) in two
    versions; the token of an analyst who may read internal columns."""
    store = open_store(engine_config)
    try:
        publish_samples(store)
        token = build(store, engine_config).tokens["read_internal"]
        store.publish(PUBLIC, COLUMNS, [pa.record_batch(NEWER)])
    finally:
        store.close()
    return engine_config, token


def _pages(settings: Settings, token: str) -> Iterator[tuple[str, int, str]]:
    """Each page as a first answer (a store of its own: no answer kept from before), to
    the public and to the analyst."""
    store = open_store(settings)
    try:
        with TestClient(create_app(settings, store=store)) as client:
            for url in PAGES:
                for headers in ({}, {"X-App-Token": token}):
                    page = client.get(url, headers=headers)
                    # The drawing's gradients are numbered in the order a process draws them.
                    text = re.sub(r"gradient_\d+", "gradient", page.text)
                    # A staff page carries its session's form tokens.
                    text = re.sub(r'name="csrf" value="[^"]*"', "csrf", text)
                    yield f"{url} {sorted(headers)}", page.status_code, text
    finally:
        store.close()


def test_pages_asked_ahead_are_the_pages_each_part_asks_alone(
    loaded: tuple[Settings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, token = loaded
    ahead = list(_pages(settings, token))
    monkeypatch.setattr(dataset_page, "ask_page_ahead", lambda *args: None)
    alone = list(_pages(settings, token))
    assert [(u, s) for u, s, _ in ahead] == [(u, 200) for u, _, _ in ahead]
    for (url, _, page), (_, _, whole) in zip(ahead, alone, strict=True):
        assert page == whole, url
    # What the pages show that only the analyst may see.
    staff = dict((u, p) for u, _, p in ahead)
    assert "Smith" in staff[f"/datasets/{PUBLIC} ['X-App-Token']"]
    assert "Smith" not in staff[f"/datasets/{PUBLIC} []"]
    # The older version reads its own rows: no fraud then, one theft fewer now.
    assert "fraud" not in staff[f"/datasets/{PUBLIC}?version=1 []"]
    assert "fraud" in staff[f"/datasets/{PUBLIC} []"]
