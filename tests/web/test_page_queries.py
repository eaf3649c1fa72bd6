"""How many queries the dataset page runs, counted on a real store of each engine.

The store is the real one with its two read methods counted (nothing answered for it). The
page of the Rutland use-of-force sample (incidents counted by case number, list columns,
checkboxes, a date) and of the Takoma Park calls (a map, an area filter) may run at most 6
queries for any view, the first view of a version too (which also learns the filter form's
shape and which columns hold many values), and none for a view already answered. What it
shows is checked against counts made straight on the store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlglot import exp, parse_one

from blotter.app import create_app
from blotter.schema import DATASET_TABLE
from blotter.settings import Settings
from blotter.store import Store, open_store
from tests.samples import publish_samples

FORCE, CALLS = "e2x9-2kgt", "tkpk-clls"
MAX_QUERIES = 6


class Counted:
    """The store's reads, counted as they pass."""

    def __init__(self, store: Store) -> None:
        self.calls = 0
        execute, execute_csv = store.execute, store.execute_csv

        def counted_execute(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return execute(*args, **kwargs)

        def counted_csv(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return execute_csv(*args, **kwargs)

        store.execute = counted_execute  # type: ignore[method-assign]
        store.execute_csv = counted_csv  # type: ignore[method-assign]


@pytest.fixture
def force(engine_config: Settings) -> Iterator[tuple[Store, TestClient, Counted]]:
    store = open_store(engine_config)
    try:
        publish_samples(store)
        counted = Counted(store)
        with TestClient(create_app(engine_config, store=store)) as client:
            yield store, client, counted
    finally:
        store.close()


def _count(store: Store, sql: str, where: str) -> int:
    """A count made on the store without the portal's read path (constant test SQL)."""
    select = exp.select(parse_one(sql)).from_(DATASET_TABLE).where(parse_one(where))
    rows = list(store.execute(store.get_dataset(FORCE), select))
    return int(rows[0][0])


def _counts(page: str, param: str, value: str) -> set[int]:
    """The counts the filter form shows beside ``value`` in the select of ``param``."""
    found = re.search(rf'<select[^>]*name="{param}"[^>]*>(.*?)</select>', page, re.S)
    assert found, param
    shown = re.findall(rf'<option value="{value}"[^>]*>[^<]*\(([\d,]+)\)</option>', found[1])
    return {int(n.replace(",", "")) for n in shown}


def _queries(client: TestClient, counted: Counted, url: str) -> tuple[int, str]:
    before = counted.calls
    page = client.get(url)
    assert page.status_code == 200, page.text[:500]
    ran = counted.calls - before
    # The answer tells the same count in its Server-Timing header (the benchmark reads it).
    told = re.search(r'store;desc="(\d+) quer(?:y|ies)"', page.headers["server-timing"])
    assert told and int(told[1]) == ran, (page.headers["server-timing"], ran)
    return ran, page.text


def test_the_dataset_page_runs_at_most_six_queries_per_view(
    force: tuple[Store, TestClient, Counted],
) -> None:
    store, client, counted = force
    first, _ = _queries(client, counted, f"/datasets/{FORCE}")
    # The first view also learns what depends on the version alone (kept with it).
    assert first <= MAX_QUERIES
    one, page_one = _queries(client, counted, f"/datasets/{FORCE}?subject_race=black")
    two, page_two = _queries(
        client, counted, f"/datasets/{FORCE}?subject_race=black&subject_sex=male"
    )
    assert one <= MAX_QUERIES and two <= MAX_QUERIES, (one, two)
    again, same = _queries(
        client, counted, f"/datasets/{FORCE}?subject_race=black&subject_sex=male"
    )
    assert again == 0 and same == page_two

    # What the pages say, against counts made straight on the store.
    black = "subject_race = 'black'"
    both = f"{black} AND subject_sex = 'male'"
    rows_two = _count(store, "count(*)", both)
    assert f"of {rows_two:,} matching" in page_two
    incidents_one = _count(store, "count(DISTINCT case_number)", black)
    assert f"{incidents_one:,} incidents" in page_one
    # The form counts each sex's incidents under the race filter only (not its own).
    for sex in ("male", "female"):
        expected = _count(
            store, "count(DISTINCT case_number)", f"{black} AND subject_sex = '{sex}'"
        )
        assert _counts(page_two, "subject_sex", sex) == {expected}, sex
    # A list column's values, one by one, as its chart counts them (each once per incident).
    found = re.search(r'<select[^>]*name="force_type__has"[^>]*>(.*?)</select>', page_two, re.S)
    assert found
    values = re.findall(r'<option value="([a-z_]+)"', found[1])
    assert len(values) >= 2
    for value in values:
        expected = _count(
            store,
            "count(DISTINCT case_number)",
            f"{both} AND ('; ' || force_type || ';') LIKE '%; {value};%'",
        )
        assert expected > 0 and _counts(page_two, "force_type__has", value) == {expected}, value


def test_a_mapped_dataset_page_runs_at_most_six_queries_from_its_first_view(
    force: tuple[Store, TestClient, Counted],
) -> None:
    """The calls' page (a map, a checkbox, an area filter): at most 6 queries for each
    view, the version's first among them (which also writes the version's export file, to
    cite its checksum: one query more)."""
    _, client, counted = force
    views = ["", "?location__area=Ward%204", "?call_type=Traffic%20Stop&beat=8T3", "?beat=8T3"]
    for view in views:
        ran, page = _queries(client, counted, f"/datasets/{CALLS}{view}")
        assert ran <= MAX_QUERIES, (view, ran)
        assert "matching." in page, view
