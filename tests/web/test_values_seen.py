"""The pages learn from a few thousand rows which columns hold more values than a filter's
list or a summary's share can show (``queries.values_at_least``), instead of grouping every
row by them. The pages must be the same bytes as when every column is grouped in full
(the sample read as nothing: ``SAMPLE_ROWS = 0``), on both engines."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlglot import exp, parse_one

import blotter.queries as queries
import blotter.queries.compiled as compiled
import blotter.queries.reads as reads
from blotter.app import create_app
from blotter.schema import DATASET_TABLE
from blotter.settings import Settings
from blotter.store import Store, open_store
from blotter.web.filter_form import MAX_CHOICES
from tests.samples import publish_samples

FORCE, CALLS = "e2x9-2kgt", "tkpk-clls"
PAGES = [
    f"/datasets/{FORCE}",
    f"/datasets/{FORCE}?subject_race=black",
    f"/dashboards/{FORCE}",
    f"/datasets/{CALLS}",
    f"/datasets/{CALLS}?call_type=Traffic%20Stop",
    f"/datasets/{CALLS}?beat=8T3&sort=received_at&dir=desc",
    f"/dashboards/{CALLS}",
]


@pytest.fixture
def loaded(engine_config: Settings) -> Settings:
    store = open_store(engine_config)
    try:
        publish_samples(store)
    finally:
        store.close()
    return engine_config


def _pages(settings: Settings) -> Iterator[tuple[str, int, str]]:
    """Each page as a first answer: a store of its own, so no answer is kept from before."""
    store = open_store(settings)
    try:
        with TestClient(create_app(settings, store=store)) as client:
            for url in PAGES:
                page = client.get(url)
                # The drawing's gradients are numbered in the order a process draws them.
                yield url, page.status_code, re.sub(r"gradient_\d+", "gradient", page.text)
    finally:
        store.close()


def _distinct(store: Store, dataset_id: str, column: str) -> int:
    select = exp.select(parse_one(f'count(DISTINCT "{column}")')).from_(DATASET_TABLE)
    return int(next(iter(store.execute(store.get_dataset(dataset_id), select)))[0])


def test_at_least_is_never_more_than_the_whole(loaded: Settings) -> None:
    store = open_store(loaded)
    try:
        for dataset_id in (FORCE, CALLS):
            dataset = store.get_dataset(dataset_id)
            seen = queries.values_at_least(store, dataset, loaded)
            assert seen, dataset_id
            for column, least in seen.items():
                assert 0 < least <= _distinct(store, dataset_id, column), column
        # The calls hold columns with more values than a list shows: the sample sees them.
        calls = queries.values_at_least(store, store.get_dataset(CALLS), loaded)
        assert any(n > MAX_CHOICES for n in calls.values()), calls
    finally:
        store.close()


def test_pages_are_the_same_as_when_every_column_is_grouped(
    loaded: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = list(_pages(loaded))
    monkeypatch.setattr(reads, "SAMPLE_ROWS", 0)  # no rows read: every column grouped
    monkeypatch.setattr(compiled, "_COMPILED", queries.CompiledCache())
    grouped = list(_pages(loaded))
    assert [(u, s) for u, s, _ in seen] == [(u, 200) for u in PAGES]
    for (url, _, page), (_, _, whole) in zip(seen, grouped, strict=True):
        assert page == whole, url
