"""Rare words of ``$q`` answered by their candidates alone, without the predicate (DuckDB).

A word's candidates (the ids of every term containing it, ``search_index.candidates``) are
exactly the rows its predicate keeps when the reader sees every text column the version's
index holds (``search_index.exact_for``): the terms are split from the same ``lower()`` of
the same columns. So when every word of ``$q`` has three characters or more and at most
``MOST_CANDIDATES`` postings, the words' marks become ``_id IN (the ids they share)`` alone:
the engine fetches those rows through the ``_id`` index and tests no text column. A page of
rows (with its offset) smaller than the candidates is read in two steps
(``search_index.late_rows``): the page's ids from the candidates and the sort columns alone,
then the page's rows by those ids, so the wide text columns are read for the page only; a
page sorted by ``_id`` of a query filtered by its words alone needs no first step: its ids
are the first candidates in that order.
"""

from __future__ import annotations

from sqlglot import exp

from blotter.schema import ROW_ID, WordSearch
from blotter.store import search_index
from blotter.store.search_index import (
    aggregated,
    late_rows,
    number,
    only_words,
    renamed_over,
)


def rare_candidates(words: list[str], fetch: search_index.FetchIds) -> set[int] | None:
    """The ids of the rows holding every one of ``words``, read from each word's postings
    (``fetch(word, most)``: at most ``most`` ids for one word, repeats counted, or None when
    there are more), or None when some word is shorter than three characters or has more
    than ``MOST_CANDIDATES`` postings (its postings were not all read)."""
    unique = list(dict.fromkeys(words))
    if not unique or any(len(w) < search_index.SHORTEST_WORD for w in unique):
        return None
    found: set[int] | None = None
    for word in unique:
        most = search_index.MOST_CANDIDATES  # read here: tests lower it
        ids = fetch(word, most)
        if ids is None:
            return None
        found = set(ids) if found is None else found & set(ids)
    return found


def by_candidates(select: exp.Select, ids: set[int], fields: set[str]) -> exp.Select:
    """``select`` with its word marks answered by ``ids`` alone (the rows holding every word,
    from ``rare_candidates``; only when ``exact_for`` holds): the first mark becomes
    ``_id IN (ids)``, the others TRUE (the marks are terms of the WHERE's conjunction). A page
    of fewer rows than ``ids`` is read in two steps (``late_rows``, ``fields`` the version's
    columns)."""
    page = _page_rows(select)
    if page is not None and len(ids) > page:
        ids = _first_by_id(select, ids, page)
    first = True

    def swap(node: exp.Expression) -> exp.Expression:
        nonlocal first
        if not isinstance(node, WordSearch):
            return node
        if not first:
            return exp.true()
        first = False
        if not ids:
            return exp.false()
        listed = [exp.Literal.number(i) for i in sorted(ids)]
        return exp.In(this=exp.column(ROW_ID), expressions=listed)

    rewritten = select.transform(swap, copy=True)
    assert isinstance(rewritten, exp.Select)
    return late_rows(rewritten, fields) if page is not None and len(ids) > page else rewritten


def _first_by_id(select: exp.Select, ids: set[int], page: int) -> set[int]:
    """The ``page`` first of ``ids`` in the query's order when it sorts by ``_id`` first and
    filters by the words alone: every candidate is then a row of the answer, so the page's
    rows are known without reading any (otherwise ``ids`` as they are)."""
    order = select.args.get("order")
    key = order.expressions[0] if order is not None and order.expressions else None
    if key is None or not only_words(select) or aggregated(select) or select.args.get("distinct"):
        return ids
    if renamed_over(select, {ROW_ID}):
        return ids
    if not (isinstance(key.this, exp.Column) and key.this.name == ROW_ID and not key.this.table):
        return ids
    return set(sorted(ids, reverse=bool(key.args.get("desc")))[:page])


def _page_rows(select: exp.Select) -> int | None:
    """The rows a query's page reads (its limit and its offset); None without a limit."""
    limit = select.args.get("limit")
    offset = select.args.get("offset")
    page = number(limit.expression) if limit is not None else None
    skipped = 0 if offset is None else number(offset.expression)
    return None if page is None or skipped is None else page + skipped
