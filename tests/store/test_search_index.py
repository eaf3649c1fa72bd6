"""``$q`` through the per-version word index, on both engines: the same rows as the predicate
scanned without it, for words common, rare and missing, parts of words, any case, Unicode,
punctuation, LIKE's own characters, words in different columns and words only in an internal
column; after a publish and after an upsert; with $where, $order and $limit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from blotter.ingest.rows import stage_changes
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.queries import parse_request
from blotter.schema import version_table
from blotter.settings import Settings
from blotter.soql.compiler import compile_query
from blotter.store import Store, open_store, search_index
from blotter.store.search_index import narrowed, words_table

COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="offence", name="Offence", type=ColumnType.TEXT),
    Column(field_name="narrative", name="Narrative", type=ColumnType.TEXT),
    Column(field_name="officer", name="Officer", type=ColumnType.TEXT, internal=True),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
]
OFFENCES = ["Burglary", "THEFT", "Assault", "Café brawl", "Fraud 50% off", "hit_and_run"]


def _row(i: int) -> dict[str, Any]:
    narrative = f"Report taken near {i * 7} MAIN ST&WOOD ST."
    if i % 50 == 3:
        narrative = "Unable to locate\u00a0suspect at AITKEN dr\t(rare)"
    if i % 97 == 5:
        narrative = None  # type: ignore[assignment]
    return {
        "case_no": f"C-{i:04d}",
        "offence": OFFENCES[i % len(OFFENCES)],
        "narrative": narrative,
        "officer": "Ofc. Zebediah" if i % 11 == 0 else "Ofc. Smith",
        "age": float(i % 80),
    }


ROWS = [_row(i) for i in range(1, 301)]
WORDS = [
    "report",  # nearly every row
    "aitken",  # a few rows
    "AiTkEn",  # case
    "itke",  # inside a term
    "zzqx",  # no row
    "st&wood",  # punctuation inside a term
    "(rare)",
    "café",  # Unicode
    "locate suspect",  # split on a non-breaking space in the value, two words in the query
    "locate\u00a0suspect",  # the query splits on it too
    "50%",  # LIKE's own characters, matched as themselves
    "hit_and",
    "h%t",
    "burglary c-0001",  # words in different columns
    "theft aitken",  # both present, never in one row
    "zebediah",  # only in the internal column
    "st",  # shorter than three characters: not narrowed, still answered
    "c-02 report",
]


def _publish(store: Store) -> Dataset:
    ds = store.create_dataset(DatasetMeta(name="Search", row_identifier="case_no"), COLUMNS)
    batch = pa.RecordBatch.from_pylist(ROWS, schema=_schema())
    store.publish(ds.id, COLUMNS, [batch])
    return store.get_dataset(ds.id)


def _schema() -> pa.Schema:
    kinds = {ColumnType.TEXT: pa.string(), ColumnType.NUMBER: pa.float64()}
    return pa.schema([(c.field_name, kinds[c.type]) for c in COLUMNS])


def _public(dataset: Dataset) -> Dataset:
    """The dataset as the public sees it: internal columns removed (as ``access`` does)."""
    return dataset.model_copy(update={"columns": [c for c in dataset.columns if not c.internal]})


def _answers(store: Store, dataset: Dataset, params: dict[str, str]) -> tuple[Any, Any, str]:
    query, filters = parse_request(params)
    select = compile_query(query, dataset, filters=filters).select
    indexed = list(store.execute(dataset, select))
    scanned = list(store.execute(dataset, narrowed(select, None)))
    return indexed, scanned, store.engine_sql(dataset, select)[0]


def _expected_ids(words: str, rows: list[dict[str, Any]], fields: list[str]) -> list[int]:
    """Row numbers (``:id``) of rows holding every word in some of ``fields``, in Python."""
    return [
        i
        for i, row in enumerate(rows, start=1)
        if all(any(w in (row[f] or "").lower() for f in fields) for w in words.lower().split())
    ]


@pytest.mark.parametrize("words", WORDS)
def test_search_answers_as_the_scan_and_as_python(engine_store: Store, words: str) -> None:
    dataset = _public(_publish(engine_store))
    indexed, scanned, _ = _answers(engine_store, dataset, {"$q": words, "$select": ":id"})
    assert indexed == scanned
    if words.isascii():  # Python's lower() is the engines' for ASCII text
        want = _expected_ids(words, ROWS, ["case_no", "offence", "narrative"])
        assert [int(r[0]) for r in indexed] == want


@pytest.mark.parametrize(
    ("words", "narrows"),
    [("aitken", "IN ("), ("zzqx", "FALSE"), ("fraud aitken", "FALSE"), ("st", None)],
)
def test_rare_and_missing_words_read_only_their_candidates(
    engine_store: Store, words: str, narrows: str | None
) -> None:
    dataset = _public(_publish(engine_store))
    _, _, sql = _answers(engine_store, dataset, {"$q": words})
    if narrows is None:
        assert "_id IN (" not in sql and "FALSE" not in sql.upper()
    else:
        assert narrows in sql.upper()


def test_a_word_only_in_an_internal_column_finds_nothing_for_the_public(
    engine_store: Store,
) -> None:
    dataset = _publish(engine_store)
    public, _, _ = _answers(engine_store, _public(dataset), {"$q": "zebediah", "$select": ":id"})
    staff, _, _ = _answers(engine_store, dataset, {"$q": "zebediah", "$select": ":id"})
    assert public == []
    assert [int(r[0]) for r in staff] == [i for i in range(1, 301) if i % 11 == 0]


def test_common_words_scan_when_no_word_narrows(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    dataset = _public(_publish(engine_store))
    for words in ("aitken", "report aitken", "report"):
        indexed, scanned, sql = _answers(engine_store, dataset, {"$q": words, "$select": ":id"})
        assert indexed == scanned
        assert [int(r[0]) for r in indexed] == _expected_ids(
            words, ROWS, ["case_no", "offence", "narrative"]
        )
        assert "_id IN (" not in sql


def test_search_with_where_order_and_limit(engine_store: Store) -> None:
    dataset = _public(_publish(engine_store))
    params = {
        "$q": "aitken",
        "$where": "age > 10",
        "$order": "age DESC, case_no",
        "$limit": "3",
        "$select": "case_no, age",
    }
    indexed, scanned, _ = _answers(engine_store, dataset, params)
    assert indexed == scanned
    hits = [r for r in ROWS if "aitken" in (r["narrative"] or "").lower() and r["age"] > 10]
    want = sorted(hits, key=lambda r: (-r["age"], r["case_no"]))[:3]
    assert [(r[0], r[1]) for r in indexed] == [(r["case_no"], r["age"]) for r in want]


def test_an_upsert_indexes_its_new_version(engine_store: Store) -> None:
    ds = _publish(engine_store)
    records = [
        {"case_no": "C-0004", "narrative": "Quokka sighted"},  # the word arrives
        {"case_no": "C-0053", "narrative": "nothing left"},  # "aitken" leaves this row
        {"case_no": "C-9999", "offence": "quokka theft", "narrative": "new row"},
    ]
    staged = stage_changes(ds, records)
    engine_store.apply_changes(ds.id, staged.key, staged.table, source="test")
    dataset = _public(engine_store.get_dataset(ds.id))
    assert dataset.version == 2
    for words, want in (("quokka", ["C-0004", "C-9999"]), ("aitken", None)):
        indexed, scanned, sql = _answers(
            engine_store, dataset, {"$q": words, "$select": "case_no", "$order": "case_no"}
        )
        assert indexed == scanned
        assert "_id IN (" in sql
        if want is not None:
            assert [r[0] for r in indexed] == want
    got = [r[0] for r in _answers(engine_store, dataset, {"$q": "aitken", "$select": "case_no"})[0]]
    assert "C-0053" not in got and len(got) == 5


def test_deleting_a_dataset_drops_its_word_indexes(engine_store: Store) -> None:
    dataset = _publish(engine_store)
    table = words_table(version_table(dataset.id, dataset.version))
    count = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    assert engine_store._query(count, [table]) == [(1,)]
    engine_store.delete_dataset(dataset.id)
    assert engine_store._query(count, [table]) == [(0,)]


def test_a_dataset_made_again_under_its_id_is_searched_in_its_own_rows(
    engine_store: Store,
) -> None:
    """The read path hands the same compiled tree for the same id, version, columns and
    parameters (``queries.CompiledCache``), and the store keeps the tree's SQL, which holds
    the word's candidate ids: a dataset deleted and made again under its id starts its
    versions over, so the SQL kept for the first one must not answer for the second."""
    columns = [Column(field_name="note", name="Note", type=ColumnType.TEXT)]

    def made(notes: list[str]) -> Dataset:
        engine_store.create_dataset(DatasetMeta(name="Again"), columns, dataset_id="agan-0001")
        engine_store.publish("agan-0001", columns, [pa.record_batch({"note": notes})])
        return engine_store.get_dataset("agan-0001")

    first = made(["zebra crossing", "plain", "other"])
    query, filters = parse_request({"$q": "zebra"})
    select = compile_query(query, first, filters=filters).select
    assert list(engine_store.execute(first, select)) == [("zebra crossing",)]
    engine_store.delete_dataset("agan-0001")
    second = made(["plain", "other", "zebra here", "more"])
    assert second.version == first.version
    assert list(engine_store.execute(second, select)) == [("zebra here",)]


def test_a_publish_killed_after_its_word_index_leaves_no_index(engine_config: Settings) -> None:
    """Killed between building the new version's index and registering the version: the
    next start serves the old version and keeps no index of the unregistered table."""
    script = textwrap.dedent(
        f"""
        import os, signal
        import pyarrow as pa
        from blotter.model import DatasetMeta
        from blotter.settings import Settings
        from blotter.store import duckdb as duck, open_store, postgres_writes
        from tests.store.test_search_index import COLUMNS, ROWS, _schema

        store = open_store(Settings.model_validate_json({engine_config.model_dump_json()!r}))
        ds = store.create_dataset(DatasetMeta(name="A"), COLUMNS, dataset_id="abcd-1234")
        batch = pa.RecordBatch.from_pylist(ROWS, schema=_schema())
        store.publish(ds.id, COLUMNS, [batch])

        def power_cut(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)

        duck.register_version = postgres_writes.register_version = power_cut
        store.publish(ds.id, COLUMNS, [batch])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).parents[2], capture_output=True
    )
    assert done.returncode == -9, done.stderr.decode()
    store = open_store(engine_config)
    try:
        assert store.get_dataset("abcd-1234").version == 1
        count = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
        for number, present in ((1, 1), (2, 0)):
            table = words_table(version_table("abcd-1234", number))
            assert store._query(count, [table]) == [(present,)]
        store.publish("abcd-1234", COLUMNS, [pa.RecordBatch.from_pylist(ROWS, schema=_schema())])
        dataset = _public(store.get_dataset("abcd-1234"))
        indexed, scanned, sql = _answers(store, dataset, {"$q": "aitken", "$select": ":id"})
        assert indexed == scanned and len(indexed) == 6 and "_id IN (" in sql
    finally:
        store.close()


AGGREGATES = [
    {"$select": "count(*)"},
    {"$select": "count(*)", "$where": "age > 10"},
    {"$select": "offence, count(*)", "$group": "offence", "$order": "offence"},
    {"$select": "max(age), min(case_no)"},
]


@pytest.mark.parametrize("params", AGGREGATES)
@pytest.mark.parametrize(
    "words", ["report", "report st&wood", "ofc", "report st", "café", "50%", "hit_and"]
)
def test_common_words_in_counts_and_groups_read_postings_when_exact(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch, words: str, params: dict[str, str]
) -> None:
    """Every word common: a count or a group is answered from the words' postings, without
    the predicate, when the reader sees every indexed column (staff); the public, who do not
    see the internal column the index also holds, keep the predicate. Both answer as the scan
    and as Python."""
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    dataset = _publish(engine_store)
    for reader, fields in (
        (dataset, ["case_no", "offence", "narrative", "officer"]),
        (_public(dataset), ["case_no", "offence", "narrative"]),
    ):
        indexed, scanned, sql = _answers(engine_store, reader, {"$q": words, **params})
        assert indexed == scanned
        hits = [ROWS[i - 1] for i in _expected_ids(words, ROWS, fields)]
        if params == AGGREGATES[0]:
            assert [int(r[0]) for r in indexed] == [len(hits)]
        if params == AGGREGATES[1] and words.isascii():
            assert [int(r[0]) for r in indexed] == [sum(1 for r in hits if r["age"] > 10)]
        uses_postings = "__words" in sql
        # PostgreSQL joins the postings only when no other filter may pick its own index.
        other_filter = "$where" in params and engine_store.engine == "postgres"
        assert uses_postings == (reader is dataset and not other_filter), sql


def test_rows_in_the_default_order_keep_the_scan_for_common_words(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    dataset = _publish(engine_store)
    indexed, scanned, sql = _answers(engine_store, dataset, {"$q": "report", "$limit": "5"})
    assert indexed == scanned and len(indexed) == 5
    assert "__words" not in sql


@pytest.mark.parametrize("words", ["report", "report st&wood", "report st"])
def test_common_words_sorted_by_another_column_read_postings_on_duckdb(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch, words: str
) -> None:
    """A top-N by a column rows are not stored by reads every row anyway: on DuckDB it joins
    the postings (when exact); PostgreSQL's planner keeps its own plan (the predicate). The
    same rows as the scan and as Python, in order, on both."""
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    dataset = _publish(engine_store)
    params = {"$q": words, "$order": "age DESC, case_no", "$limit": "7", "$select": "case_no, age"}
    indexed, scanned, sql = _answers(engine_store, dataset, params)
    assert indexed == scanned
    fields = ["case_no", "offence", "narrative", "officer"]
    hits = [ROWS[i - 1] for i in _expected_ids(words, ROWS, fields)]
    want = sorted(hits, key=lambda r: (-r["age"], r["case_no"]))[:7]
    assert [(r[0], r[1]) for r in indexed] == [(r["case_no"], r["age"]) for r in want]
    assert ("__words" in sql) == (engine_store.engine == "duckdb")


def test_which_queries_read_every_row_and_which_hold_only_words() -> None:
    from sqlglot import exp

    from blotter.schema import WordSearch
    from blotter.store.search_index import only_words, reads_every_row

    def word(w: str) -> WordSearch:
        return WordSearch(this=exp.Paren(this=exp.true()), word=exp.Literal.string(w))

    rows = exp.select("*").from_("_dataset")
    assert not reads_every_row(rows, "at")  # default order: the scan stops at the page's end
    assert not reads_every_row(rows.order_by("_id"), "at")
    assert not reads_every_row(rows.order_by("at DESC", "_id"), "at")  # stored by it
    assert reads_every_row(rows.order_by("age DESC"), "at")
    assert reads_every_row(rows.order_by("at DESC"), None)
    assert reads_every_row(exp.select("count(*)").from_("_dataset"), "at")
    assert reads_every_row(exp.select("a").from_("_dataset").group_by("a"), "at")
    assert only_words(rows.where(exp.and_(word("x"), word("y"))))
    assert not only_words(rows.where(exp.and_(word("x"), exp.column("age").eq(3))))
    assert not only_words(rows)


# Every ASCII whitespace character other than the space, inside words and between them, and
# whitespace the terms are not split on (Python's str.split is: a word never holds it).
OTHER_SPACES = "\t\n\x0b\x0c\r"
CONTROL_ROWS = [
    {"case_no": "K-1", "offence": "Msg\tClerk", "narrative": "Ofc.\x0bOkafor\rat\x0cdesk\nEND"},
    {"case_no": "K-2", "offence": "msg", "narrative": "clerk\t\t \r\nokafor\x0b"},
    {"case_no": "K-3", "offence": "Theft", "narrative": "oka\x0bfor ms\x0cg\x1fclerk\x85x"},
    {"case_no": "K-4\r", "offence": None, "narrative": "\n\t\x0b\x0c\r"},
    {"case_no": "K-5", "offence": "Clerk msg", "narrative": None},
    {"case_no": "K-6", "offence": "\x1cfile\u00a0sep\u2028line", "narrative": "plain okafor"},
]
CONTROL_WORDS = [
    "okafor",
    "msg clerk",
    "clerk msg",
    "ofc. okafor",
    "desk end",
    "for",
    "oka",
    "k-4",
    "theft clerk",
    "file",
    "sep",
    "zzqx",
]


def _control_publish(store: Store) -> Dataset:
    columns = COLUMNS[:3]
    ds = store.create_dataset(DatasetMeta(name="Controls", row_identifier="case_no"), columns)
    schema = pa.schema([(c.field_name, pa.string()) for c in columns])
    store.publish(ds.id, columns, [pa.RecordBatch.from_pylist(CONTROL_ROWS, schema=schema)])
    return store.get_dataset(ds.id)


@pytest.mark.parametrize("words", CONTROL_WORDS)
def test_words_beside_control_characters_are_found_as_by_the_scan(
    engine_store: Store, words: str
) -> None:
    dataset = _control_publish(engine_store)
    indexed, scanned, _ = _answers(engine_store, dataset, {"$q": words, "$select": "case_no"})
    assert indexed == scanned
    fields = ["case_no", "offence", "narrative"]
    want = [CONTROL_ROWS[i - 1]["case_no"] for i in _expected_ids(words, CONTROL_ROWS, fields)]
    assert [r[0] for r in indexed] == want


def test_terms_are_split_on_ascii_whitespace_and_nothing_else(engine_store: Store) -> None:
    """The word index holds, for each row, the runs of its lower-cased values joined by
    spaces between the space and the five other ASCII whitespace characters."""
    dataset = _control_publish(engine_store)
    table = version_table(dataset.id, dataset.version)
    ids = dict(engine_store._query(f'SELECT case_no, _id FROM "{table}"', []))  # noqa: S608
    words = f'SELECT term, unnest(ids) FROM "{words_table(table)}"'  # noqa: S608
    got = sorted(engine_store._query(words, []))
    want = []
    for row in CONTROL_ROWS:
        joined = " ".join(v.lower() for v in row.values() if v is not None)
        spaced = joined.translate({ord(c): " " for c in OTHER_SPACES})
        want += [(term, ids[row["case_no"]]) for term in spaced.split(" ") if term]
    assert got == sorted(want)


def test_spaced_makes_spaces_of_exactly_the_other_ascii_whitespace(engine_store: Store) -> None:
    """``search_index.spaced`` on each engine: the five characters become spaces, every
    other character (Unicode whitespace too) stays, NULL stays NULL."""
    values = [f"a{chr(n)}b{chr(n)}" for n in range(1, 256)] + ["x\u2028\u3000y", "", None]
    text = "(SELECT CAST(? AS VARCHAR) AS t) AS s"
    query = f"SELECT {search_index.spaced('t', engine_store.engine)} FROM {text}"  # noqa: S608
    for value in values:
        want = None if value is None else value.translate({ord(c): " " for c in OTHER_SPACES})
        assert engine_store._query(query, [value]) == [(want,)], repr(value)
