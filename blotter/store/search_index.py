"""A word index per version, so ``$q`` reads the few rows that can match instead of all.

``$q`` keeps a row when every word of the query (``str.split()``: split on any Unicode
whitespace) appears, lower-cased, as a substring of the engine's ``lower()`` of some text
column. A word holds no whitespace at all, so each place it appears lies inside one run of
the value without ASCII whitespace (space, tab, newline, vertical tab, form feed, carriage
return: all of them whitespace to ``str.split()`` too). Each version therefore gets a table
``<version table>__words`` of those runs ("terms", split in the engine from the same
``lower()`` the query uses) with the ``_id`` of every row holding each one. A word's
candidate rows are the ids of the terms containing it: a scan of the small dictionary, not
of the rows. The candidates are a superset of the answer; the query still applies the
compiler's predicate to them, so the answer is exactly the unindexed one (and a word found
only in a column the reader may not see selects nothing: the predicate names only the
columns the reader sees).

The compiler marks each word (``schema.WordSearch``); ``narrowed`` rewrites the marks. When
some word has at most ``MOST_CANDIDATES`` candidates, the query gains ``_id IN (…)`` with
those ids, which both engines answer from an index on ``_id``; a word in no row makes the
answer empty without reading the version; when every word is common (or shorter than three
characters, or the version has no index) the predicate is scanned as before.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from blotter.schema import ROW_ID, WordSearch

# Above this many candidate rows a word is common: reading its rows one by one through the
# index would cost more than the scan, which can stop at the first page.
MOST_CANDIDATES = 2048
# Shorter words are in too many terms for the dictionary to narrow them (and trigrams need 3).
SHORTEST_WORD = 3
# ASCII whitespace other than the space (tab, newline, vertical tab, form feed, carriage
# return), each turned into a space before splitting on spaces; chr() reads alike on both engines.
_OTHER_SPACES = " || ".join(f"chr({n})" for n in (9, 10, 11, 12, 13))


def words_table(table: str) -> str:
    """The word index of a version table."""
    return f"{table}__words"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def index_statements(table: str, text_fields: list[str], engine: str) -> list[str]:
    """The statements building a version's word index (and its ``_id`` index). Each row's
    lower-cased values are joined by spaces (a run never crosses one) and split once."""
    lowered = ", ".join(f"lower({_ident(f)})" for f in text_fields) or "NULL"
    joined = f"translate(concat_ws(' ', {lowered}), {_OTHER_SPACES}, '     ')"
    split = "string_split" if engine == "duckdb" else "string_to_array"
    ids = f"list({ROW_ID})" if engine == "duckdb" else f"array_agg({ROW_ID})"
    runs = f"SELECT {ROW_ID}, unnest({split}({joined}, ' ')) AS term FROM {_ident(table)}"  # noqa: S608 - checked identifiers
    return [
        f"CREATE TABLE {_ident(words_table(table))} AS SELECT term, {ids} AS ids "  # noqa: S608 - checked identifiers
        f"FROM ({runs}) AS runs WHERE term <> '' GROUP BY term",
        f"CREATE INDEX {_ident(table + '__id')} ON {_ident(table)} ({ROW_ID})",
    ]


def candidates_statement(table: str, engine: str) -> str:
    """Up to a given number of ids (with repeats) of rows holding a term that contains a
    word: not distinct, so a common word stops the lookup at the limit instead of gathering
    every id first. DuckDB scans the dictionary with ``strpos``; PostgreSQL matches ``LIKE``
    (escaped), which a trigram index answers when ``pg_trgm`` is there."""
    if engine == "duckdb":
        found, mark = "strpos(term, ?) > 0", "?"
    else:
        found, mark = "term LIKE %s", "%s"
    return (
        f"SELECT unnest(ids) FROM {_ident(words_table(table))} "  # noqa: S608 - checked identifiers
        f"WHERE {found} LIMIT {mark}"
    )


def like_pattern(word: str) -> str:
    """``%word%`` for LIKE, with LIKE's own characters escaped (PostgreSQL's escape is ``\\``)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_words(select: exp.Expression) -> list[str]:
    """The lower-cased words the compiler marked in a query."""
    return [node.args["word"].this for node in select.find_all(WordSearch)]


def candidates(words: list[str], fetch: Callable[[str, int], list[int]]) -> set[int] | None:
    """The ids of every row that may hold all ``words`` (``fetch(word, most)`` reads at most
    ``most`` ids for one word, repeats counted), or None when no word narrows the rows enough."""
    narrowed: set[int] | None = None
    for word in dict.fromkeys(words):
        if len(word) < SHORTEST_WORD:
            continue
        ids = fetch(word, MOST_CANDIDATES + 1)
        if len(ids) > MOST_CANDIDATES:
            continue
        narrowed = set(ids) if narrowed is None else narrowed & set(ids)
        if not narrowed:
            return set()
    return narrowed


def narrowed(select: exp.Select, ids: set[int] | None) -> exp.Select:
    """``select`` with its word marks written as SQL: each becomes its predicate, and the
    first also requires ``_id`` among ``ids`` (the marks are terms of the WHERE's conjunction,
    so every row of the answer holds every word). ``ids`` None: the predicates alone."""
    if select.find(WordSearch) is None:
        return select
    first = True

    def swap(node: exp.Expression) -> exp.Expression:
        nonlocal first
        if not isinstance(node, WordSearch):
            return node
        predicate = exp.Paren(this=node.this)
        if ids is None or not first:
            return predicate
        first = False
        if not ids:
            return exp.false()
        among = exp.In(
            this=exp.column(ROW_ID),
            expressions=[exp.Literal.number(i) for i in sorted(ids)],
        )
        return exp.Paren(this=exp.and_(among, predicate, copy=False))

    rewritten = select.transform(swap, copy=True)
    assert isinstance(rewritten, exp.Select)
    return rewritten
