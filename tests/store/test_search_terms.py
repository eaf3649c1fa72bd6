"""``$q``'s common words read by their terms (``store/search_index.py``: ``word_terms``,
``late_rows``), on both engines: the same rows in the same order as the predicate scanned
without the index, for a table of words and of queries, after every write path; and the new
path taken on DuckDB where intended (PostgreSQL keeps its plans)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from blotter.ingest.rows import stage_changes
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.queries import parse_request
from blotter.schema import version_table
from blotter.soql.compiler import compile_query
from blotter.store import Store, search_index
from blotter.store.search_index import late_rows, narrowed, words_table

COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="offence", name="Offence", type=ColumnType.TEXT),
    Column(field_name="narrative", name="Narrative", type=ColumnType.TEXT),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
]
OFFENCES = ["Burglary", "THEFT/burglary", "Assault", "Café brawl", "50% off_sale", "O'Neil \\ co"]


def _row(i: int) -> dict[str, Any]:
    narrative = f"Report near {i * 7} MAIN ST, prior-burglary x{i % 9}"
    if i % 13 == 4:
        narrative = "Unable to locate\tsuspect at AITKEN dr (rare) ÉCOLE"
    if i % 31 == 6:
        narrative = None  # type: ignore[assignment]
    return {
        "case_no": f"C-{i:04d}",
        "offence": OFFENCES[i % len(OFFENCES)],
        "narrative": narrative,
        "age": float((i * 37) % 23),  # many ties, not in row order
    }


ROWS = [_row(i) for i in range(1, 241)]
WORDS = [
    "burglary",  # common, a whole term and inside terms ("theft/burglary", "prior-burglary")
    "aitken",  # rare (with MOST_CANDIDATES lowered: common too)
    "zzqx",  # missing
    "st",  # shorter than three characters
    "%",
    "50%",
    "off_",
    "_sale",
    "\\",
    "o'neil",
    "'",
    "café",
    "école",
    "report burglary",  # several words, both common
    "burglary aitken",  # one common, one rare
    "itke",  # inside a term
    "repo",  # a term's start
    "glary",  # a term's end
    "c-01 report",  # words in different columns
    "theft zzqx",
]
QUERIES = [
    {"$select": "case_no, age", "$order": "age, case_no", "$limit": "7"},
    {"$select": "case_no, age", "$order": "age DESC", "$limit": "5", "$offset": "3"},
    {"$order": "age DESC", "$limit": "6", "$where": "age > 4"},
    {"$select": "case_no, age", "$order": "case_no DESC", "$limit": "200"},
    {"$select": "count(*)"},
    {"$select": "offence, count(*)", "$group": "offence", "$order": "offence"},
]


def _publish(store: Store, rows: list[dict[str, Any]]) -> Dataset:
    ds = store.create_dataset(DatasetMeta(name="Terms", row_identifier="case_no"), COLUMNS)
    store.publish(ds.id, COLUMNS, [_batch(rows)])
    return store.get_dataset(ds.id)


def _batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    kinds = {ColumnType.TEXT: pa.string(), ColumnType.NUMBER: pa.float64()}
    schema = pa.schema([(c.field_name, kinds[c.type]) for c in COLUMNS])
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def _answers(store: Store, dataset: Dataset, params: dict[str, str]) -> tuple[Any, Any, str]:
    query, filters = parse_request(params)
    select = compile_query(query, dataset, filters=filters).select
    indexed = list(store.execute(dataset, select))
    scanned = list(store.execute(dataset, narrowed(select, None)))
    return indexed, scanned, store.engine_sql(dataset, select)[0]


def _hits(words: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fields = ["case_no", "offence", "narrative"]
    return [
        r
        for r in rows
        if all(any(w in (r[f] or "").lower() for f in fields) for w in words.lower().split())
    ]


@pytest.mark.parametrize("most_terms", [256, 1])
@pytest.mark.parametrize("words", WORDS)
def test_common_words_answer_as_the_scan(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch, words: str, most_terms: int
) -> None:
    """Every word common (candidates above a lowered limit), its postings read by its terms
    or, past ``MOST_TERMS``, by matching every term: each query answers as the scan, and rows
    in order as Python sorts them."""
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    monkeypatch.setattr(search_index, "MOST_TERMS", most_terms)
    dataset = _publish(engine_store, ROWS)
    hits = _hits(words, ROWS)
    for params in QUERIES:
        indexed, scanned, _ = _answers(engine_store, dataset, {"$q": words, **params})
        assert indexed == scanned, params
        if params is QUERIES[0] and words.isascii():  # Python's lower() is the engines' there
            want = sorted(hits, key=lambda r: (r["age"], r["case_no"]))[:7]
            assert [(r[0], r[1]) for r in indexed] == [(r["case_no"], r["age"]) for r in want]
        if params is QUERIES[4] and words.isascii():
            assert [int(r[0]) for r in indexed] == [len(hits)]


@pytest.mark.parametrize(
    ("params", "late"),
    [
        ({"$order": "age DESC", "$limit": "5"}, True),
        ({"$select": "case_no, age", "$order": "age", "$limit": "4", "$offset": "2"}, True),
        ({"$select": "count(*)"}, False),  # a count: postings, nothing to fetch late
        ({"$select": "age + 1 AS age", "$order": "age"}, False),  # an output renamed over age
        ({"$select": "offence", "$group": "offence", "$order": "offence"}, False),
    ],
)
def test_duckdb_reads_a_common_words_postings_by_its_terms(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch, params: dict[str, str], late: bool
) -> None:
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    dataset = _publish(engine_store, ROWS)
    indexed, scanned, sql = _answers(engine_store, dataset, {"$q": "burglary", **params})
    assert indexed == scanned
    duck = engine_store.engine == "duckdb"
    assert ("term IN (" in sql) == duck, sql
    assert ("STRPOS(term" in sql) is False
    assert ('"_id" IN (SELECT "_id"' in sql or "_id IN (SELECT _id" in sql) == (duck and late), sql


def test_too_many_terms_match_every_term(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    monkeypatch.setattr(search_index, "MOST_TERMS", 1)
    dataset = _publish(engine_store, ROWS)
    params = {"$q": "burglary", "$order": "age", "$limit": "4"}
    indexed, scanned, sql = _answers(engine_store, dataset, params)
    assert indexed == scanned
    assert "term IN (" not in sql
    assert ("STRPOS(term" in sql) == (engine_store.engine == "duckdb")


def test_every_write_path_indexes_its_terms(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an upsert, a delete and a replace, each new version answers from its own terms."""
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    ds = _publish(engine_store, ROWS)
    params = {"$select": "case_no, age", "$order": "age DESC", "$limit": "50"}
    rows = {r["case_no"]: dict(r) for r in ROWS}

    def check(dataset: Dataset) -> None:
        if engine_store.engine == "duckdb":  # the new version's dictionary has its term index
            index = words_table(version_table(dataset.id, dataset.version)) + "_term"
            found = "SELECT count(*) FROM duckdb_indexes() WHERE index_name = ?"
            assert engine_store._query(found, [index]) == [(1,)]
        for words in ("burglary", "quokka", "aitken", "café"):
            indexed, scanned, sql = _answers(engine_store, dataset, {"$q": words, **params})
            assert indexed == scanned
            if words == "burglary":
                assert ("term IN (" in sql) == (engine_store.engine == "duckdb")
            if not words.isascii():
                continue
            hits = sorted(_hits(words, list(rows.values())), key=lambda r: r["case_no"])
            want = sorted(hits, key=lambda r: -r["age"])[:50]  # stable: ties by case_no = :id
            assert [r[0] for r in indexed] == [r["case_no"] for r in want]

    upsert = [
        {"case_no": "C-0004", "narrative": "Quokka burglary"},
        {"case_no": "C-0017", "narrative": "nothing here"},
        {"case_no": "C-9999", "offence": "quokka", "narrative": "new", "age": 99},
    ]
    staged = stage_changes(ds, upsert)
    engine_store.apply_changes(ds.id, staged.key, staged.table, source="test")
    for change in upsert:
        rows.setdefault(change["case_no"], {"offence": None, "age": None}).update(change)
    check(engine_store.get_dataset(ds.id))

    dataset = engine_store.get_dataset(ds.id)
    staged = stage_changes(dataset, [{"case_no": "C-0004", ":deleted": True}])
    engine_store.apply_changes(ds.id, staged.key, staged.table, source="test")
    del rows["C-0004"]
    check(engine_store.get_dataset(ds.id))

    replaced = [dict(r, narrative="Quokka!") if r["age"] == 3 else r for r in ROWS[:120]]
    engine_store.publish(ds.id, COLUMNS, [_batch(replaced)])
    rows = {r["case_no"]: dict(r) for r in replaced}
    assert engine_store.get_dataset(ds.id).version == 4
    check(engine_store.get_dataset(ds.id))


def test_late_rows_keeps_queries_it_cannot_split() -> None:
    from sqlglot import exp

    fields = {"age", "case_no"}
    rows = exp.select("case_no").from_("_dataset")
    paged = rows.order_by("age", "_id").limit(5)
    assert late_rows(paged, fields) is not paged
    untouched = [
        rows.order_by("age").limit(5),  # not total: ties could pick other rows
        rows.order_by("age", "_id"),  # no limit
        rows.order_by("upper(case_no)", "_id").limit(5),  # not a column
        rows.order_by("other", "_id").limit(5),  # not the version's column
        exp.select("count(*)").from_("_dataset").order_by("age", "_id").limit(5),
        exp.select("age + 1 AS age").from_("_dataset").order_by("age", "_id").limit(5),
        rows.distinct().order_by("age", "_id").limit(5),
        rows.order_by("age", "_id").limit(200).offset(57),  # past LATE_MOST rows
    ]
    for select in untouched:
        assert late_rows(select, fields) is select, select.sql()


@pytest.mark.parametrize(
    ("params", "counted"),
    [
        ({"$select": "count(*)"}, True),
        ({"$select": "count(*) AS n", "$offset": "1"}, True),
        ({"$select": "count(*)", "$where": "age > 4"}, False),  # another filter
        ({"$select": "count(*), max(age)"}, False),
        ({"$select": "offence, count(*)", "$group": "offence"}, False),
    ],
)
@pytest.mark.parametrize("words", ["burglary", "report burglary", "glary repo", "burglary st"])
def test_a_count_of_common_words_counts_their_postings(
    engine_store: Store,
    monkeypatch: pytest.MonkeyPatch,
    params: dict[str, str],
    counted: bool,
    words: str,
) -> None:
    """Only words, only a count: the rows are not read, the postings' ids are counted (each
    once, every word's in common); the same answer as the scan and as Python."""
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    dataset = _publish(engine_store, ROWS)
    indexed, scanned, sql = _answers(engine_store, dataset, {"$q": words, **params})
    assert indexed == scanned
    if params == {"$select": "count(*)"}:
        assert int(indexed[0][0]) == len(_hits(words, ROWS))
    short = any(len(w) < 3 for w in words.split())
    assert (" AS hits" in sql) == (counted and not short), sql
