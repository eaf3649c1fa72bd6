"""A common word's page in the row identifier's order read through the version's order table
(``store/search_order.py``) on DuckDB: the same rows in the same order as the predicate
scanned, for common, rare and missing words and phrases, pages with and without offsets,
identifiers with ties and nulls, the public (internal columns) and staff; the new path taken
only where intended; the order table built on every write and dropped with its version."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from bench.generate import write_csv
from blotter.ingest.pipeline import load_file
from blotter.ingest.rows import stage_changes
from blotter.ingest.spec import load_spec_file
from blotter.model import ColumnType, Dataset, DatasetMeta
from blotter.schema import version_table
from blotter.store import search_index, search_order
from blotter.store.duckdb import DuckDBStore
from blotter.store.search_order import PREFIX_ROWS, order_statement, order_table, prefix_table
from tests.store.test_search_index import COLUMNS, _answers, _public

OFFENCES = ["Burglary", "THEFT/burglary", "Assault", "Café brawl", "50% off_sale"]
ROWS = 600


def _row(i: int) -> dict[str, Any]:
    narrative = f"Report near {i * 7} MAIN ST, prior-burglary x{i % 9}"
    if i % 13 == 4:
        narrative = "Unable to locate\tsuspect at AITKEN dr (rare) ÉCOLE"
    if i % 31 == 6:
        narrative = None
    return {
        "case_no": f"C-{(i * 389) % 601:04d}",  # unique, out of storage order
        "offence": OFFENCES[i % len(OFFENCES)],
        "narrative": narrative,
        "officer": "Ofc. Zebediah burglar" if i % 11 == 0 else "Ofc. Smith",
        "age": float((i * 37) % 23),
    }


WORDS = [
    "burglary",  # in most rows, in several terms ("theft/burglary", "prior-burglary")
    "aitken",  # in one row in 13
    "zzqx",  # in no row
    "report burglary",  # two common words
    "glary repo",  # inside terms
    "burglary zzqx",
    "café",
    "burglar",  # also in the internal column: the public's answer differs from staff's
    "zebediah",  # only in the internal column
    "burglary st",  # a short word: the predicate stays
]
PAGES = [
    {"$limit": "5"},
    {"$limit": "100"},
    {"$limit": "7", "$offset": "3"},
    {"$limit": "50", "$offset": "100"},
    {"$limit": "10", "$offset": "590"},  # past the last row
    {"$limit": "1000"},
    {"$select": "case_no, age", "$limit": "4", "$offset": "2"},
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path / "blotter.duckdb")
    yield store
    store.close()


def _batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    kinds = {ColumnType.TEXT: pa.string(), ColumnType.NUMBER: pa.float64()}
    schema = pa.schema([(c.field_name, kinds[c.type]) for c in COLUMNS])
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def _publish(store: DuckDBStore, rows: list[dict[str, Any]] | None = None) -> Dataset:
    ds = store.create_dataset(DatasetMeta(name="Order", row_identifier="case_no"), COLUMNS)
    store.publish(ds.id, COLUMNS, [_batch(rows or [_row(i) for i in range(1, ROWS + 1)])])
    return store.get_dataset(ds.id)


def _hits(words: str, rows: list[dict[str, Any]], fields: list[str]) -> list[int]:
    """Row numbers of rows holding every word in some of ``fields``, in Python."""
    return [
        i
        for i, row in enumerate(rows, start=1)
        if all(any(w in (row[f] or "").lower() for f in fields) for w in words.lower().split())
    ]


@pytest.mark.parametrize("prefix", [PREFIX_ROWS, 40])
@pytest.mark.parametrize("page", PAGES)
def test_pages_by_the_identifier_answer_as_the_scan(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch, page: dict[str, str], prefix: int
) -> None:
    """Every word made common (candidates above a lowered limit): staff's pages read through
    the order table (from the prefix's postings when it holds the page), the public's keep
    the predicate; each the scan's rows in its order."""
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    monkeypatch.setattr(search_order, "PREFIX_ROWS", prefix)
    dataset = _publish(store)
    for reader in (dataset, _public(dataset)):
        for words in WORDS:
            params = {"$q": words, "$order": "case_no", **page}
            indexed, scanned, sql = _answers(store, reader, params)
            assert indexed == scanned, (words, reader is dataset)
            short = any(len(w) < 3 for w in words.split())
            missing = "zzqx" in words  # no candidate: no row read at all
            assert ("__order" in sql) == (reader is dataset and not short and not missing), sql


@pytest.mark.parametrize(
    ("words", "params", "in_prefix"),
    [
        ("burglary", {"$limit": "5"}, True),
        ("burglary", {"$limit": "5", "$offset": "20"}, True),
        ("burglary", {"$limit": "30", "$offset": "20"}, False),  # past the prefix's rows
        ("report burglary", {"$limit": "3", "$offset": "1"}, True),
        ("report zebediah", {"$limit": "3"}, False),  # two rows in the prefix hold both
        ("aitken", {"$limit": "3"}, True),
        ("aitken", {"$limit": "4"}, False),  # three rows in the prefix hold it
    ],
)
def test_a_page_within_the_prefix_reads_its_postings(
    store: DuckDBStore,
    monkeypatch: pytest.MonkeyPatch,
    words: str,
    params: dict[str, str],
    in_prefix: bool,
) -> None:
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    monkeypatch.setattr(search_order, "PREFIX_ROWS", 40)
    rows = [_row(i) for i in range(1, ROWS + 1)]
    dataset = _publish(store, rows)
    ranked = sorted(range(1, ROWS + 1), key=lambda i: rows[i - 1]["case_no"])[:40]
    fields = ["case_no", "offence", "narrative", "officer"]
    held = [i for i in ranked if i in set(_hits(words, rows, fields))]
    assert (len(held) >= int(params["$limit"]) + int(params.get("$offset", 0))) == in_prefix
    indexed, scanned, sql = _answers(store, dataset, {"$q": words, "$order": "case_no", **params})
    assert indexed == scanned and indexed
    assert "__order" in sql
    assert ("__order_words" in sql) == in_prefix, sql
    assert ("__words" in sql.replace("__order_words", "")) != in_prefix, sql


def test_the_page_is_the_first_rows_in_the_identifiers_order(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against Python, the offset skipped."""
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    rows = [_row(i) for i in range(1, ROWS + 1)]
    dataset = _publish(store, rows)
    fields = ["case_no", "offence", "narrative", "officer"]
    for words in ("burglary", "report burglary", "aitken"):
        hits = _hits(words, rows, fields)
        # Stored in file order here (no timestamp), so :id is the row number.
        ordered = sorted(hits, key=lambda i: rows[i - 1]["case_no"])
        params = {
            "$q": words,
            "$order": "case_no",
            "$limit": "20",
            "$offset": "5",
            "$select": ":id",
        }
        indexed, _, sql = _answers(store, dataset, params)
        assert "__order" in sql
        assert [int(r[0]) for r in indexed] == ordered[5:25]


@pytest.mark.parametrize(
    "params",
    [
        {"$order": "case_no DESC", "$limit": "5"},  # descending: ties would come reversed
        {"$order": "case_no", "$limit": "5", "$where": "age > 4"},  # another filter
        {"$order": "age", "$limit": "5"},  # not the identifier
        {"$order": "case_no, age", "$limit": "5"},  # a second key
        {"$select": "count(*)"},
        {"$select": "case_no", "$group": "case_no", "$order": "case_no", "$limit": "5"},
        {"$select": "age AS case_no", "$order": "case_no", "$limit": "5"},  # renamed over it
    ],
)
def test_other_queries_keep_their_plan(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> None:
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    dataset = _publish(store)
    for words in ("burglary", "report burglary"):
        indexed, scanned, sql = _answers(store, dataset, {"$q": words, **params})
        assert indexed == scanned, params
        assert "__order" not in sql, sql


def test_a_rare_word_keeps_its_candidates(store: DuckDBStore) -> None:
    dataset = _publish(store)
    params = {"$q": "aitken", "$order": "case_no", "$limit": "5"}
    indexed, scanned, sql = _answers(store, dataset, params)
    assert indexed == scanned and indexed
    assert "__order" not in sql and "__words" not in sql


def test_every_write_path_ranks_its_own_rows(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upsert, a delete and a replace: each new version has its order table, the one it
    replaced is dropped with its table, and pages answer from the new rows."""
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    rows = [dict(_row(i), case_no=f"C-{i:04d}") for i in range(1, 241)]  # unique to upsert
    ds = _publish(store, rows)
    count = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"

    def check(dataset: Dataset, replaced: Dataset) -> None:
        for table in (order_table, prefix_table):
            assert store._query(count, [table(version_table(dataset.id, dataset.version))]) == [
                (1,)
            ]
            assert store._query(count, [table(version_table(replaced.id, replaced.version))]) == [
                (0,)
            ]
        for words in ("burglary", "quokka", "report burglary"):
            params = {"$q": words, "$order": "case_no", "$limit": "30", "$offset": "2"}
            indexed, scanned, sql = _answers(store, dataset, params)
            assert indexed == scanned
            assert ("__order" in sql) == (words != "quokka"), sql  # quokka: rare or missing

    upsert = [
        {"case_no": "C-0004", "narrative": "Quokka burglary"},
        {"case_no": "A-0001", "offence": "quokka", "narrative": "new burglary", "age": 99},
    ]
    staged = stage_changes(ds, upsert)
    store.apply_changes(ds.id, staged.key, staged.table, source="test")
    upserted = store.get_dataset(ds.id)
    check(upserted, ds)
    staged = stage_changes(upserted, [{"case_no": "C-0005", ":deleted": True}])
    store.apply_changes(ds.id, staged.key, staged.table, source="test")
    deleted = store.get_dataset(ds.id)
    check(deleted, upserted)
    store.publish(ds.id, COLUMNS, [_batch(rows[:120])])
    check(store.get_dataset(ds.id), deleted)
    store.delete_dataset(ds.id)
    orders = "SELECT count(*) FROM duckdb_tables() WHERE ends_with(table_name, ?)"
    assert store._query(orders, ["__order"]) == [(0,)]
    assert store._query(orders, ["__order_words"]) == [(0,)]


def test_a_new_row_identifier_is_not_read_from_the_old_order(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The identifier named after the version was written: the version's order table ranks by
    the old one, so a page by the new one keeps its plan, and by the old one still reads it."""
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    dataset = _publish(store)
    renamed = store.update_metadata(
        dataset.id, dataset.meta.model_copy(update={"row_identifier": "offence"})
    )
    for field, through in (("offence", False), ("case_no", True)):
        params = {"$q": "burglary", "$order": field, "$limit": "9", "$offset": "4"}
        indexed, scanned, sql = _answers(store, renamed, params)
        assert indexed == scanned
        assert ("__order" in sql) == through, sql


def test_the_rank_is_the_compilers_order_with_ties_and_nulls(tmp_path: Path) -> None:
    """A version's identifier is unique and never null, but a rank over values that are not
    follows the page's order all the same: value ascending, nulls last, then ``_id``."""
    import duckdb

    con = duckdb.connect(str(tmp_path / "ranks.duckdb"))
    values = [None, 3.0, 1.0, 3.0, None, -0.0, 0.0, float("nan"), 1.0, 2.5]
    con.execute("CREATE TABLE t (_id BIGINT, n DOUBLE)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [[30 - i, v] for i, v in enumerate(values)])
    con.execute(order_statement("t", "n"))  # "t__order"
    assert order_table("t") == "t__order"
    ranked = con.execute('SELECT _id FROM "t__order" ORDER BY "n"').fetchall()
    assert ranked == con.execute('SELECT _id FROM t ORDER BY "n" ASC, "_id"').fetchall()
    stored = con.execute('SELECT _id FROM "t__order"').fetchall()
    assert stored == ranked  # written in rank order


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DuckDBStore, Dataset]]:
    """The benchmark's generated calls (6,000 rows, stored in time order, ``id`` in file
    order), loaded with its dataset file."""
    folder = tmp_path_factory.mktemp("generated")
    path = write_csv(folder / "calls.csv", 6_000, seed=11)
    store = DuckDBStore(folder / "blotter.duckdb")
    spec = load_spec_file(Path(__file__).parents[2] / "bench" / "incidents.yaml")
    with pytest.MonkeyPatch.context() as patch:  # a prefix of half the rows
        patch.setattr(search_order, "PREFIX_ROWS", 3_000)
        result = load_file(store, path, spec=spec)
    yield store, store.get_dataset(result.dataset_id)
    store.close()


@pytest.mark.parametrize(
    "words", ["burglary", "pedestrian", "zeppelin", "burglary reported", "stolen vehicle", "ave"]
)
@pytest.mark.parametrize(
    "page",
    [{"$limit": "100"}, {"$limit": "100", "$offset": "100"}, {"$limit": "25", "$offset": "1000"}],
)
def test_generated_calls_answer_as_the_scan(
    generated: tuple[DuckDBStore, Dataset],
    monkeypatch: pytest.MonkeyPatch,
    words: str,
    page: dict[str, str],
) -> None:
    """A word in 5 % of the rows is common at 1M (above 2,048 rows); here, above 50."""
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 50)
    store, dataset = generated
    indexed, scanned, sql = _answers(store, dataset, {"$q": words, "$order": "id", **page})
    assert indexed == scanned
    if words in ("burglary", "burglary reported"):  # common: through the order table
        assert "__order" in sql
        assert bool(indexed) == ("$offset" not in page or page["$offset"] == "100"), len(indexed)
        # 5 % of the prefix's 3,000 rows hold "burglary": a first page, not the second.
        if words == "burglary" and page != {"$limit": "25", "$offset": "1000"}:
            assert ("__order_words" in sql) == ("$offset" not in page), sql


def test_a_publish_killed_after_its_order_table_leaves_none(tmp_path: Path) -> None:
    """Killed between building the new version's tables and registering it: the next start
    keeps the served version's order table and drops the unregistered one's."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from blotter.store import duckdb as duck
        from tests.store.test_search_order import _batch, _publish, _row, COLUMNS

        store = duck.DuckDBStore({str(tmp_path / "blotter.duckdb")!r})
        ds = _publish(store)

        def power_cut(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)

        duck.register_version = power_cut
        store.publish(ds.id, COLUMNS, [_batch([_row(i) for i in range(1, 50)])])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).parents[2], capture_output=True
    )
    assert done.returncode == -9, done.stderr.decode()
    store = DuckDBStore(tmp_path / "blotter.duckdb")
    try:
        (dataset,) = store.list_datasets()
        assert dataset.version == 1
        count = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
        for number, present in ((1, 1), (2, 0)):
            for table in (order_table, prefix_table):
                found = store._query(count, [table(version_table(dataset.id, number))])
                assert found == [(present,)]
    finally:
        store.close()


def test_a_version_without_its_order_tables_keeps_the_plain_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file written before the order tables, or opened by code that dropped them as
    unknown: each missing table only takes its shortcut away (checked when the SQL is written,
    so by a store opened afresh)."""
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    path = tmp_path / "blotter.duckdb"
    params = {"$q": "burglary", "$order": "case_no", "$limit": "5"}
    for dropped, through in ((prefix_table, "__order"), (order_table, "__words")):
        store = DuckDBStore(path)
        try:
            if dropped is prefix_table:
                dataset = _publish(store)
            else:
                (dataset,) = store.list_datasets()
            table = dropped(version_table(dataset.id, dataset.version))
            store._con.execute(f'DROP TABLE "{table}"')
            indexed, scanned, sql = _answers(store, dataset, params)
            assert indexed == scanned and indexed
            assert "__order_words" not in sql and through in sql, sql
            assert ("__order" in sql) == (dropped is prefix_table), sql
        finally:
            store.close()
