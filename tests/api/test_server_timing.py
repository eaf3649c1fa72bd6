"""Every answer tells, in its ``Server-Timing`` header, the store queries it ran and the time
the portal took: over real HTTP, on both engines."""

from __future__ import annotations

import re

import httpx

from bench.pages import store_queries
from tests.api.conftest import DATASET_ID
from tests.conftest import LiveServer


def _timing(live: LiveServer, path: str, params: dict[str, str]) -> tuple[int, float]:
    answer = httpx.get(live.url + path, params=params, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    header = answer.headers["server-timing"]
    spent = re.search(r"\bapp;dur=(\d+\.\d)\b", header)
    assert spent, header
    return store_queries(header), float(spent[1])


def test_a_query_says_it_ran_one_store_query_and_a_kept_answer_none(live: LiveServer) -> None:
    # A question of its own (nothing else in this module asks it), so the first is computed.
    params = {"$select": "subject_race, count(*) AS n", "$group": "subject_race", "$limit": "7"}
    path = f"/resource/{DATASET_ID}.json"
    first, spent = _timing(live, path, params)
    assert (first, spent > 0) == (1, True)
    again, _ = _timing(live, path, params)
    assert again == 0  # the version's kept answer: no store query at all


def test_pages_and_answers_without_queries_say_zero(live: LiveServer) -> None:
    queries, _ = _timing(live, "/healthz", {})
    assert queries == 0


def test_the_count_is_read_only_from_a_well_formed_header() -> None:
    assert store_queries('app;dur=1.0, store;desc="1 query"') == 1
    assert store_queries('app;dur=1.0, store;desc="12 queries"') == 12
    try:
        store_queries("app;dur=1.0")
    except ValueError as err:
        assert "no store query count" in str(err)
    else:
        raise AssertionError("a header without the count was read as a count")
