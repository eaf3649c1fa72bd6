"""A word's candidates and terms on DuckDB, from one scan of a version's dictionary.

Narrowing ``$q`` (``store/search_index.py``) asks of each word first its candidate ids (are
there at most ``MOST_CANDIDATES`` postings?) and then, for a common word, its terms (at most
``MOST_TERMS``?). Each was a scan of the whole dictionary with ``strpos``, the first also
reading the postings lists of the terms it met: at a million rows the dictionary holds about
a million terms, and the two scans cost a word's first search 50–185 ms of the engine's CPU
(the benchmark's 1M-row version), against 20–30 ms for the query itself. Now the terms are
scanned once (their column alone, 25–33 ms of CPU); while there are at most
``MOST_TERMS`` of them, their postings are counted, and a rare word's read, through the index
on ``term`` (2–6 ms). A word in more terms is read as before, each answer with its limit.
"""

from __future__ import annotations

from typing import Any

import duckdb

from blotter.store import search_index
from blotter.store.duckdb_watchdog import engine_error
from blotter.store.search_index import (
    at_most,
    candidates_statement,
    postings_count_statement,
    postings_statement,
    terms_statement,
)


class WordDictionary:
    """One query's reads of the version dictionary of ``table``: each word scanned once."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, table: str) -> None:
        self._cur = cur
        self._table = table
        self._scanned: dict[str, list[str] | None] = {}
        self._read: dict[tuple[str, int], list[int] | None] = {}

    def ids(self, word: str, most: int) -> list[int] | None:
        """The ids (repeats counted) of the rows holding a term that contains ``word``, when
        there are at most ``most``; else None. Each is read once per query (rare words are
        asked for twice: as the whole answer, then as candidates)."""
        if (word, most) not in self._read:
            self._read[word, most] = self._ids(word, most)
        return self._read[word, most]

    def terms(self, word: str, most: int) -> list[str] | None:
        """The terms containing ``word``, each once, when there are at most ``most``."""
        terms = self._terms_of(word)
        if terms is None:  # more than MOST_TERMS: read again only if ``most`` allows more
            if most <= search_index.MOST_TERMS:
                return None
            found = first_column(self._cur, terms_statement(self._table), [word, most + 1])
            return at_most(found, most)
        return at_most(terms, most)

    def _ids(self, word: str, most: int) -> list[int] | None:
        terms = self._terms_of(word)
        if terms is None:
            statement = candidates_statement(self._table, "duckdb")
            return at_most(first_column(self._cur, statement, [word, most + 1]), most)
        if not terms:
            return []
        (count,) = first_column(self._cur, postings_count_statement(self._table), [terms])
        if (count or 0) > most:
            return None
        return first_column(self._cur, postings_statement(self._table), [terms])

    def _terms_of(self, word: str) -> list[str] | None:
        """Every term containing ``word``, sorted; None when there are more than
        ``MOST_TERMS`` (the scan stops there)."""
        if word not in self._scanned:
            most = search_index.MOST_TERMS  # read here: tests lower it
            found = first_column(self._cur, terms_statement(self._table), [word, most + 1])
            terms = at_most(found, most)
            self._scanned[word] = None if terms is None else sorted(terms)
        return self._scanned[word]


def first_column(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[Any]:
    """The first column of a word-index lookup's rows; its failure is the query's (out of
    memory: 503, not a bug's 500)."""
    try:
        return [row[0] for row in cur.execute(sql, params).fetchall()]
    except duckdb.Error as err:
        raise engine_error(err) from err
