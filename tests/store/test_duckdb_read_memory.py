"""A DuckDB read that runs out of the memory the embedded database may use (shared by every
query running at that moment) is a 503 that says so and when to ask again, on the plain
query and on the word index's own lookups: never a bug's 500; the store answers again once
memory is free."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from blotter import queries
from blotter.app import create_app
from blotter.errors import StoreOutOfMemory
from blotter.settings import Settings
from blotter.store.duckdb import DuckDBStore
from blotter.store.duckdb_dictionary import first_column
from tests.store.test_search_terms import ROWS, _hits, _publish

QUESTIONS = [
    {"$q": "burglary"},  # the word index's lookups first
    {"$select": "case_no, count(*)", "$group": "case_no", "$order": "count(*) DESC"},
]


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path / "memory.duckdb")
    yield store
    store.close()


def _starved(store: DuckDBStore) -> None:
    store._query("SET memory_limit = '8MB'", [])


@pytest.mark.parametrize("params", QUESTIONS)
def test_a_read_out_of_memory_says_so(duck: DuckDBStore, params: dict[str, str]) -> None:
    dataset = _publish(duck, ROWS)
    _starved(duck)
    with pytest.raises(StoreOutOfMemory) as raised:
        list(queries.run_query(duck, dataset, params, Settings(answer_cache_entries=0)).rows)
    err = raised.value
    assert err.status == 503 and err.headers == {"Retry-After": "5"}
    assert "to answer this question" in err.message and "BLOTTER_DUCKDB_MEMORY_MB" in err.message
    assert err.data["limit"] == "7.6 MiB", err.data  # 8 MB, as DuckDB names it
    duck._query("SET memory_limit = '256MB'", [])
    rows = list(queries.run_query(duck, dataset, params, Settings(answer_cache_entries=0)).rows)
    assert len(rows) == (len(_hits("burglary", ROWS)) if "$q" in params else len(ROWS))


def test_over_http_a_read_out_of_memory_is_a_503(duck: DuckDBStore, tmp_path: Path) -> None:
    dataset = _publish(duck, ROWS)
    settings = Settings(data_dir=tmp_path, answer_cache_entries=0)
    with TestClient(create_app(settings, store=duck)) as client:
        assert client.get(f"/resource/{dataset.id}.json", params=QUESTIONS[0]).status_code == 200
        _starved(duck)
        for params in QUESTIONS:
            answer = client.get(f"/resource/{dataset.id}.json", params=params)
            assert answer.status_code == 503, answer.text
            assert answer.json()["code"] == "store.out-of-memory"
            assert answer.headers["Retry-After"] == "5"


def test_a_word_index_lookup_out_of_memory_says_so() -> None:
    """The word index's lookups run before the query (``duckdb_dictionary.first_column``): one that
    runs out of memory (seen under 64 clients at 1M rows) is the same 503."""
    con = duckdb.connect()
    con.execute("SET memory_limit = '2MB'")
    with pytest.raises(StoreOutOfMemory) as raised:
        first_column(con, "SELECT list(range) FROM range(?)", [3_000_000])
    assert raised.value.status == 503 and raised.value.data["limit"] == "1.9 MiB"
    assert first_column(con, "SELECT range FROM range(?)", [3]) == [0, 1, 2]
