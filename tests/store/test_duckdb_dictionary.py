"""A word's candidates and terms read from one scan of the DuckDB dictionary
(``store/duckdb_dictionary.py``) are what the two scans it replaces read: the same ids with
the same repeats, the same terms, and None exactly where those found too many; on an index
built in one pass and in many (a term then has a row per pass), with the scan's own limit
reached and not."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from blotter.schema import version_table
from blotter.store import search_index
from blotter.store.duckdb import DuckDBStore
from blotter.store.duckdb_dictionary import WordDictionary
from blotter.store.duckdb_writes import memory_limit
from blotter.store.search_index import at_most, candidates_statement, terms_statement
from tests.store.test_search_terms import ROWS, _publish

WORDS = ["burglary", "aitken", "zzqx", "itke", "repo", "glary", "main", "c-01", "%", "_", "x1"]


def _old_ids(cur: Any, table: str, word: str, most: int) -> list[int] | None:
    rows = cur.execute(candidates_statement(table, "duckdb"), [word, most + 1]).fetchall()
    return at_most([r[0] for r in rows], most)


def _old_terms(cur: Any, table: str, word: str, most: int) -> list[str] | None:
    rows = cur.execute(terms_statement(table), [word, most + 1]).fetchall()
    return at_most([r[0] for r in rows], most)


@pytest.mark.parametrize("passes", [False, True])
@pytest.mark.parametrize("most_terms", [256, 3, 1])
def test_one_scan_reads_what_the_two_scans_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, passes: bool, most_terms: int
) -> None:
    store = DuckDBStore(tmp_path / "words.duckdb", memory_limit_mb=256)
    try:
        if passes:  # about twenty passes for the 240 rows (tests/store/test_word_passes.py)
            limit = memory_limit(store._cursor())
            monkeypatch.setattr(search_index, "POSTING_BYTES", limit // 2 // 150)
        monkeypatch.setattr(search_index, "MOST_TERMS", most_terms)
        dataset = _publish(store, ROWS)
        table = version_table(dataset.id, dataset.version)
        cur = store._cursor()
        rows, terms = cur.execute(
            f'SELECT count(*), count(DISTINCT term) FROM "{table}__words"'  # noqa: S608 - ours
        ).fetchone()
        assert (rows > terms) is passes
        counted = {"ids": 0, "none": 0, "scanned": 0}
        for word in WORDS:
            dictionary = WordDictionary(cur, table)
            for most in (1, 3, 40, 100_000):
                ids, old = dictionary.ids(word, most), _old_ids(cur, table, word, most)
                assert (ids is None) == (old is None), (word, most)
                if ids is not None and old is not None:
                    assert Counter(ids) == Counter(old), (word, most)
                    counted["ids"] += 1
                else:
                    counted["none"] += 1
                found, was = dictionary.terms(word, most), _old_terms(cur, table, word, most)
                assert (found is None) == (was is None), (word, most)
                if found is not None and was is not None:
                    assert sorted(found) == sorted(was), (word, most)
            counted["scanned"] += dictionary._terms_of(word) is not None
        # Both sides of each choice were met: ids read and too many, the one scan enough
        # and past its limit (with one term allowed, "burglary" has several).
        assert counted["ids"] and counted["none"]
        assert counted["scanned"] and (most_terms == 256 or counted["scanned"] < len(WORDS))
    finally:
        store.close()
