"""DuckDB builds a version's word index in passes over ranges of ``_id`` sized to its memory
limit (``search_index.word_spans``): ten million rows hold some 200 million postings, which
one grouping cannot hold in the default 1 GB. Built in many passes, the index answers every
``$q`` as the scan does, on every write path; a write that still runs out of memory is
reported as such and leaves the served version as it was."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from blotter.errors import StoreOutOfMemory
from blotter.ingest.rows import stage_changes
from blotter.schema import version_table
from blotter.store import Store, search_index
from blotter.store.duckdb import DuckDBStore
from blotter.store.duckdb_writes import memory_limit
from blotter.store.search_index import setting_bytes, word_spans, words_table
from tests.store.test_search_terms import (
    COLUMNS,
    QUERIES,
    ROWS,
    WORDS,
    _answers,
    _batch,
    _hits,
    _publish,
)

PASS_POSTINGS = 150  # postings a pass holds here: ~20 passes for the 240 rows


@pytest.fixture
def duck(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    store = DuckDBStore(tmp_path / "passes.duckdb", memory_limit_mb=256)
    limit = memory_limit(store._cursor())
    monkeypatch.setattr(search_index, "POSTING_BYTES", limit // 2 // PASS_POSTINGS)
    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)  # every word common: postings read
    yield store
    store.close()


def _passes(store: Store, dataset_id: str, version: int) -> tuple[int, int]:
    """The word index's rows and its distinct terms."""
    words = words_table(version_table(dataset_id, version))
    counting = f'SELECT count(*), count(DISTINCT term) FROM "{words}"'  # noqa: S608 - ours
    found = store._query(counting, [])  # type: ignore[attr-defined]
    rows, terms = found[0]
    return int(rows), int(terms)


@pytest.mark.parametrize("words", WORDS)
def test_an_index_built_in_passes_answers_as_the_scan(duck: DuckDBStore, words: str) -> None:
    dataset = _publish(duck, ROWS)
    rows, terms = _passes(duck, dataset.id, dataset.version)
    assert rows > terms  # a common term has a row in each pass
    hits = _hits(words, ROWS)
    for params in QUERIES:
        indexed, scanned, _ = _answers(duck, dataset, {"$q": words, **params})
        assert indexed == scanned, params
        if params is QUERIES[4] and words.isascii():
            assert [int(r[0]) for r in indexed] == [len(hits)]


def test_every_write_path_builds_its_index_in_passes(duck: DuckDBStore) -> None:
    ds = _publish(duck, ROWS)
    upsert = [
        {"case_no": "C-0004", "narrative": "Quokka burglary"},
        {"case_no": "C-9999", "offence": "quokka", "narrative": "new", "age": 99},
    ]
    staged = stage_changes(ds, upsert)
    duck.apply_changes(ds.id, staged.key, staged.table, source="test")
    replaced = [dict(r, narrative="Quokka!") if r["age"] == 3 else r for r in ROWS[:120]]
    for write in ("upsert", "replace"):
        if write == "replace":
            duck.publish(ds.id, COLUMNS, [_batch(replaced)])
        dataset = duck.get_dataset(ds.id)
        rows, terms = _passes(duck, dataset.id, dataset.version)
        assert rows > terms, write
        for words in ("quokka", "burglary", "report burglary", "zzqx"):
            for params in QUERIES:
                indexed, scanned, _ = _answers(duck, dataset, {"$q": words, **params})
                assert indexed == scanned, (write, words, params)
    counted = _answers(duck, duck.get_dataset(ds.id), {"$q": "quokka", **QUERIES[4]})[0]
    assert counted == [(sum(1 for r in replaced if r["age"] == 3),)]


def test_spans_cover_every_id_once_within_the_memory() -> None:
    spans = word_spans(1, 1000, 1000, 20.0, 2 * 24 * 2000)  # 2,000 postings a pass
    assert spans[0][0] == 1 and spans[-1][1] == 1000
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(spans))
    assert len(spans) == 10  # 20,000 postings
    assert word_spans(1, 1000, 1000, 20.0, 10**12) == [(1, 1000)]
    assert word_spans(7, 7, 1, 0.0, 1) == [(7, 7)]
    assert word_spans(1, 0, 0, 20.0, 10**9) == []
    ids = [i for first, last in word_spans(5, 105, 60, 3.0, 2 * 24 * 17) for i in (first, last)]
    assert ids[0] == 5 and ids[-1] == 105 and ids == sorted(ids)


def test_duckdb_memory_settings_read_in_bytes() -> None:
    assert setting_bytes("976.5 MiB") == int(976.5 * 1024**2)
    assert setting_bytes("18.8 GiB") == int(18.8 * 1024**3)
    assert setting_bytes("292.9 KiB") == int(292.9 * 1024)
    assert setting_bytes("2.0 GB") == 2 * 1000**3
    with pytest.raises(ValueError, match="not a DuckDB memory size"):
        setting_bytes("lots")


def test_a_write_out_of_memory_says_so_and_keeps_the_served_version(duck: DuckDBStore) -> None:
    """In 16 MB a replace of 200,000 rows cannot run: the publish fails with a message naming
    the limit and the setting, and the version served before is served still, whole."""
    ds = _publish(duck, ROWS)
    duck._query("SET memory_limit = '16MB'", [])
    many = [dict(ROWS[i % len(ROWS)], case_no=f"M-{i:06d}") for i in range(200_000)]
    schema = _batch(ROWS[:1]).schema
    batches = [
        pa.RecordBatch.from_pylist(many[i : i + 50_000], schema=schema)
        for i in range(0, len(many), 50_000)
    ]
    with pytest.raises(StoreOutOfMemory) as raised:
        duck.publish(ds.id, COLUMNS, batches)
    assert raised.value.status == 503
    assert "BLOTTER_DUCKDB_MEMORY_MB" in str(raised.value) and "15.2 MiB" in str(
        raised.value
    )  # 16 MB
    served = duck.get_dataset(ds.id)
    assert served.version == 1 and served.row_count == len(ROWS)
    tables = duck._query(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE ?",
        [version_table(ds.id, 2) + "%"],
    )
    assert tables == []  # nothing of the failed version is left
    assert _answers(duck, served, {"$q": "burglary", **QUERIES[4]})[0] == [
        (len(_hits("burglary", ROWS)),)
    ]
