"""Rare words of ``$q`` answered by their candidates alone on DuckDB: the same rows, in the
same order, as the predicate scanned, for words rare, missing and in several columns, with
filters, orders, pages, offsets, counts and groups; the predicate dropped only when the
reader sees every indexed text column and every word is long and rare enough."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.store import search_index
from blotter.store.duckdb import DuckDBStore
from blotter.store.search_candidates import by_candidates, rare_candidates
from tests.store.test_search_index import _answers, _public

COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="offence", name="Offence", type=ColumnType.TEXT),
    Column(field_name="narrative", name="Narrative", type=ColumnType.TEXT),
    Column(field_name="officer", name="Officer", type=ColumnType.TEXT, internal=True),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
]
OFFENCES = ["Burglary", "THEFT", "Assault", "Café brawl", "Fraud 50% off", "hit_and_run"]
ROWS = 1200


def _row(i: int) -> dict[str, Any]:
    narrative = f"Report taken near {i * 7} MAIN ST&WOOD ST."
    if i % 50 == 3:
        narrative = "Unable to locate\u00a0suspect at AITKEN dr\t(rare)"
    if i % 300 == 7:
        narrative = "Zephyr seen, aitken\nnearby"
    if i % 97 == 5:
        narrative = None
    return {
        "case_no": f"C-{i:04d}",
        "offence": OFFENCES[i % len(OFFENCES)],
        "narrative": narrative,
        "officer": "Ofc. Zebediah" if i % 11 == 0 else "Ofc. Smith",
        "age": float(i % 80),
    }


WORDS = [
    "aitken",  # 28 rows: more than a small page, fewer than a big one
    "AiTkEn zephyr",  # two rare words, one row set inside the other
    "zephyr",
    "itke",  # inside a term
    "zzqx",  # no row
    "theft aitken",  # a rare word and a common one
    "aitken dr",  # a rare word and a short one: the predicate stays
    "c-0003",  # in the case number
    "zebediah",  # only in the internal column
    "locate\u00a0suspect",
]
PARAMS = [
    {"$select": ":id"},
    {"$limit": "5"},
    {"$limit": "5", "$offset": "7"},
    {"$order": ":id DESC", "$limit": "3"},
    {"$order": "age DESC, case_no", "$limit": "4", "$select": "case_no, age"},
    {"$order": "offence", "$limit": "6"},
    {"$where": "age > 10", "$order": "age", "$limit": "10"},
    {"$select": "age AS case_no, offence", "$order": "case_no", "$limit": "3"},
    {"$select": "count(*)"},
    {"$select": "offence, count(*)", "$group": "offence"},
    {"$limit": "1000"},
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path / "blotter.duckdb")
    yield store
    store.close()


def _publish(store: DuckDBStore) -> Dataset:
    ds = store.create_dataset(DatasetMeta(name="Search", row_identifier="case_no"), COLUMNS)
    kinds = {ColumnType.TEXT: pa.string(), ColumnType.NUMBER: pa.float64()}
    schema = pa.schema([(c.field_name, kinds[c.type]) for c in COLUMNS])
    rows = [_row(i) for i in range(1, ROWS + 1)]
    store.publish(ds.id, COLUMNS, [pa.RecordBatch.from_pylist(rows, schema=schema)])
    return store.get_dataset(ds.id)


@pytest.mark.parametrize("params", PARAMS)
def test_rare_words_answer_as_the_scan(store: DuckDBStore, params: dict[str, str]) -> None:
    dataset = _publish(store)
    for reader in (dataset, _public(dataset)):
        for words in WORDS:
            indexed, scanned, _ = _answers(store, reader, {"$q": words, **params})
            assert indexed == scanned, (words, reader is dataset)


@pytest.mark.parametrize(
    ("words", "params", "late"),
    [
        ("aitken", {"$order": "age DESC, case_no", "$limit": "4"}, True),
        ("aitken", {"$where": "age > 1", "$limit": "5", "$offset": "7"}, True),
        ("aitken", {"$limit": "5", "$offset": "7"}, False),  # the first candidates by _id
        ("aitken", {"$limit": "100"}, False),  # the page holds every candidate
        ("aitken zephyr", {"$order": "case_no DESC", "$limit": "2"}, True),
        ("zephyr", {"$select": "count(*)"}, False),
        ("c-0003", {}, False),
    ],
)
def test_staff_read_rare_words_by_their_candidates_alone(
    store: DuckDBStore, words: str, params: dict[str, str], late: bool
) -> None:
    dataset = _publish(store)
    indexed, scanned, sql = _answers(store, dataset, {"$q": words, **params})
    assert indexed == scanned and indexed
    assert "lower(" not in sql.lower() and "__words" not in sql, sql  # no predicate
    assert '"_id" IN (' in sql or "_id IN (" in sql, sql
    assert ("IN (SELECT" in sql) == late, sql
    if late:  # the page read in two steps keeps its sort, even by _id alone
        assert "ORDER BY" in sql[sql.rindex(")") :], sql


@pytest.mark.parametrize(
    ("params", "listed"),
    [
        (
            {"$limit": "5", "$offset": "7"},
            [3, 53, 103, 153, 203, 253, 303, 353, 403, 453, 503, 553],
        ),
        ({"$order": ":id DESC", "$limit": "2"}, [1153, 1103]),
        ({"$where": "age > 1", "$limit": "2"}, None),  # another filter: every candidate
        ({"$select": "count(*)", "$limit": "2"}, None),
    ],
)
def test_a_page_by_id_lists_only_its_first_candidates(
    store: DuckDBStore, params: dict[str, str], listed: list[int] | None
) -> None:
    dataset = _publish(store)
    indexed, scanned, sql = _answers(store, dataset, {"$q": "unable", **params})
    assert indexed == scanned and indexed
    within = sql.split("_id IN (")[-1].split(")")[0]
    ids = sorted(int(i) for i in within.replace('"', "").split(", "))
    unable = [i for i in range(1, ROWS + 1) if i % 50 == 3 and i % 97 != 5]
    assert ids == (unable if listed is None else sorted(listed))


@pytest.mark.parametrize(
    ("words", "reader_sees_all"),
    [
        ("aitken", False),  # the public does not see the internal column the index holds
        ("aitken dr", True),  # a word too short for the index
        ("theft aitken", True),  # a common word
    ],
)
def test_the_predicate_stays_unless_every_word_is_rare_and_exact(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch, words: str, reader_sees_all: bool
) -> None:
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 100)
    dataset = _publish(store)
    reader = dataset if reader_sees_all else _public(dataset)
    indexed, scanned, sql = _answers(store, reader, {"$q": words, "$limit": "5"})
    assert indexed == scanned and indexed
    assert "lower(" in sql.lower(), sql


def test_rare_candidates_needs_every_word_long_and_rare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    postings = {"abc": [1, 2, 2], "bcd": [2, 3], "many": [1, 2, 3, 4], "zzz": []}

    def fetch(word: str, most: int) -> list[int] | None:
        return postings[word] if len(postings[word]) <= most else None

    assert rare_candidates(["abc"], fetch) == {1, 2}
    assert rare_candidates(["abc", "bcd", "abc"], fetch) == {2}
    assert rare_candidates(["abc", "zzz"], fetch) == set()
    assert rare_candidates(["abc", "many"], fetch) is None
    assert rare_candidates(["abc", "ab"], fetch) is None
    assert rare_candidates([], fetch) is None


def test_no_candidate_makes_the_answer_empty() -> None:
    from sqlglot import exp

    from blotter.schema import WordSearch

    mark = WordSearch(this=exp.Paren(this=exp.true()), word=exp.Literal.string("zzz"))
    select = exp.select("*").from_("_dataset").where(mark).order_by("_id").limit(5)
    assert by_candidates(select, set(), {"a"}).args["where"].this == exp.false()
