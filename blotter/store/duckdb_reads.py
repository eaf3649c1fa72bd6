"""DuckDB's reads: ``$q``'s words narrowed by a version's word index, an ``_id`` order left to
the table's own, a page newest first read from the newest rows, rows fetched in chunks on
cursors kept for reuse."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
from sqlglot import exp

from blotter.model import Dataset
from blotter.schema import ROW_ID, version_table
from blotter.store.duckdb_dictionary import WordDictionary, first_column
from blotter.store.duckdb_watchdog import run_watched
from blotter.store.newest_first import cutoff, newest_page, restricted
from blotter.store.ordering import order_column
from blotter.store.rollup_tables import Rollup, Run, month_counts
from blotter.store.search_candidates import by_candidates, rare_candidates
from blotter.store.search_index import (
    by_postings,
    candidates,
    counted_postings,
    exact_for,
    late_rows,
    narrowed,
    reads_every_row,
    word_terms,
    words_table,
)
from blotter.store.search_order import (
    order_field_statement,
    order_table,
    ordered_page,
    page_rows,
    prefix_count_statement,
    prefix_table,
)


def has_word_index(cur: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the version table has a word index (``store/search_index.py``)."""
    return has_table(cur, words_table(table))


def has_table(cur: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the database has a table of that name."""
    return bool(
        cur.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name = ?",
            [name],
        ).fetchone()[0]  # type: ignore[index]
    )


def by_word_index(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    dataset: Dataset,
    select: exp.Select,
    words: list[str],
    get_dataset: Callable[[str], Dataset],
) -> exp.Select:
    """``$q``'s ``words`` narrowed by the word index of ``table``, the version's own: rare
    words by their candidates alone when that is exact (the reader sees what is served,
    ``get_dataset``), else rows by the candidates' ids and the predicate, else a count or a
    page read from the postings when that is exact (in the row identifier's order, through
    the version's order table)."""
    dictionary = WordDictionary(cur, table)
    exact = exact_for(dataset, get_dataset(dataset.id))
    rare = rare_candidates(words, dictionary.ids) if exact else None
    if rare is not None:  # store/search_candidates.py
        return by_candidates(select, rare, {c.field_name for c in dataset.columns})
    ids = candidates(words, dictionary.ids)
    stored_by = order_column(dataset.columns, dataset.meta.main_date)
    if ids is None and reads_every_row(select, stored_by) and exact:
        known = word_terms(words, dictionary.terms)
        counted = counted_postings(select, table, "duckdb", known)
        if counted is not None:
            return counted
        page = _ordered_page(cur, select, table, known)
        if page is not None:
            return page
        postings = by_postings(select, table, "duckdb", known)
        return late_rows(postings, {c.field_name for c in dataset.columns})
    return narrowed(select, ids)


def _ordered_page(
    cur: duckdb.DuckDBPyConnection, select: exp.Select, table: str, terms: dict[str, list[str]]
) -> exp.Select | None:
    """A page in the row identifier's order read through the version's order table, from
    the prefix's postings when the prefix holds the page (``store/search_order.py``)."""
    for field in first_column(cur, order_field_statement(), [order_table(table)]):
        shape = page_rows(select, field)
        if shape is None:
            continue
        in_prefix = has_table(cur, prefix_table(table))
        if in_prefix:
            (held,) = first_column(cur, prefix_count_statement(select, table, terms), [])
            in_prefix = held >= sum(shape)
        return ordered_page(select, table, field, terms, in_prefix)
    return None


def sorted_by_id_alone(select: exp.Select) -> bool:
    """Whether the ORDER BY is only ``_id`` ascending, which the store drops: a version table
    is written in ``_id`` order and DuckDB keeps insertion order for unsorted scans
    (preserve_insertion_order is on by default), so the rows come in that order anyway, and
    streaming instead of sorting keeps a full export in constant memory. ``$order=:id`` is
    compiled as ``_id, _id`` (the tie-break the compiler adds to every order): a key after
    ``_id``, unique, orders nothing, so it is the same order (a common ``$q`` word by ``:id``
    at 1M rows: a sort of every matching row, 150 ms of the engine's CPU, against a scan that
    stops at the page, 10 ms). A page read in two steps keeps its sort."""
    order = select.args.get("order")
    keys = order.expressions if order is not None else []
    return (
        bool(keys)
        and all(isinstance(k.this, exp.Column) and k.this.name == ROW_ID for k in keys)
        and not keys[0].args.get("desc")
        and not select.args.get("group")
        and not _joins(select)
    )


def _joins(select: exp.Select) -> bool:
    """Whether ``select`` filters by a subquery (a page read in two steps, ``late_rows``):
    the engine joins it, and a join's rows need not come in the table's order."""
    where = select.args.get("where")
    return where is not None and where.find(exp.Subquery) is not None


# What a page newest first is asked first: the restricted query's SQL and parameters, and
# the rows it returns when it holds the page (``store/newest_first.py``).
NewestSql = tuple[str, Any, int]


def newest_first_sql(
    dataset: Dataset,
    select: exp.Select,
    rollup: Callable[[], Rollup | None],
    run: Run,
    write: Callable[[exp.Select], tuple[str, Any]],
) -> NewestSql | None:
    """The restricted query of a page newest first by the main timestamp of ``dataset`` (the
    current version, read from its own table), written by ``write``; None when the page's
    shape or the version's rollup (``rollup``, its months read by ``run``) does not allow it."""
    page = newest_page(select, order_column(dataset.columns, dataset.meta.main_date))
    described = rollup() if page is not None else None
    if page is None or described is None:
        return None
    table = version_table(dataset.id, dataset.version)
    try:
        months = month_counts(run, table, described, page.key.name)
    except duckdb.CatalogException:  # replaced meanwhile, its rollup dropped: the plain query
        return None
    start = cutoff(months, page) if months else None
    if start is None:
        return None
    nulls = any(month is None and n for month, n in months or ())
    sql, params = write(restricted(select, page, start, nulls))
    return sql, params, page.rows


def newest_rows(
    cursors: ReadCursors, planned: NewestSql, timeout_s: float | None
) -> tuple[list[tuple[Any, ...]] | None, float | None]:
    """The page of a restricted query when it holds one (else None, and the plain query
    answers), and what is left of ``timeout_s`` for the plain query."""
    sql, params, rows = planned
    started = time.monotonic()
    cur = cursors.take()
    run_watched(cur, sql, params, timeout_s)
    page = list(fetch_rows(cur, cursors))
    if len(page) == rows:
        return page, timeout_s
    left = None if timeout_s is None else max(timeout_s - (time.monotonic() - started), 0.001)
    return None, left


class ReadCursors:
    """Cursors of reads read to their end, kept for the next reads. A cursor is a connection
    of its own to the database, and a query on a new one cost about a quarter of a
    millisecond more than on one already used (a point lookup takes about one); one runs
    one query at a time, taken from here and given back only once its rows are all read.
    A read that failed, was interrupted or was left unfinished closes its cursor instead."""

    def __init__(self, con: duckdb.DuckDBPyConnection, most: int = 16) -> None:
        self._con = con
        self._most = most
        self._idle: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()

    def take(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._con.cursor()

    def give_back(self, cur: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if len(self._idle) < self._most:
                self._idle.append(cur)
                return
        cur.close()


def fetch_rows(
    cur: duckdb.DuckDBPyConnection, cursors: ReadCursors | None = None, size: int = 2048
) -> Iterator[tuple[Any, ...]]:
    """The rows of the query ``cur`` ran; the cursor is given back to ``cursors`` once they
    are all read (closed otherwise)."""
    read = False
    try:
        while chunk := cur.fetchmany(size):
            yield from chunk
        read = True
    finally:
        if read and cursors is not None:
            cursors.give_back(cur)
        else:
            cur.close()
