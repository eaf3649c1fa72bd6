"""A word index per version, so ``$q`` reads the few rows that can match instead of all.

``$q`` keeps a row when every word of the query (``str.split()``: split on any Unicode
whitespace) appears, lower-cased, as a substring of the engine's ``lower()`` of some text
column. A word holds no whitespace at all, so each place it appears lies inside one run of
the value without ASCII whitespace (space, tab, newline, vertical tab, form feed, carriage
return: all of them whitespace to ``str.split()`` too). Each version therefore gets a table
``<version table>__words`` of those runs ("terms", split in the engine from the same
``lower()`` the query uses) with the ``_id`` of every row holding each one. On DuckDB the
table is built in passes over ranges of ``_id`` sized to the engine's memory limit
(``word_spans``): a term's ids are gathered in memory and cannot spill, and ten million rows
hold some 200 million postings. A term then has one row per pass it occurs in; every reader
takes the union of a term's rows (each id in exactly one). A word's
candidate rows are the ids of the terms containing it: a scan of the small dictionary, not
of the rows. The candidates are a superset of the answer; the query still applies the
compiler's predicate to them, so the answer is exactly the unindexed one (and a word found
only in a column the reader may not see selects nothing: the predicate names only the
columns the reader sees).

The compiler marks each word (``schema.WordSearch``); ``narrowed`` rewrites the marks. When
some word has at most ``MOST_CANDIDATES`` candidates, the query gains ``_id IN (…)`` with
those ids, which both engines answer from an index on ``_id``; a word in no row makes the
answer empty without reading the version; when every word is common (or shorter than three
characters, or the version has no index) the predicate is scanned as before, except in one
case (``by_postings``): a query that aggregates (a count, a group), read by someone who sees
every text column the index holds. There the candidates are the answer exactly (the terms are
split from the same columns the predicate reads), so each word becomes ``_id IN (its
postings)`` without the predicate: the engine joins ids instead of testing every text column
of every row. On DuckDB so does a query of rows sorted by anything but the order rows are
stored in (``reads_every_row``: a top-N by another column reads every row anyway). Rows in the
default order or by the main timestamp keep the scan, which stops early.

On DuckDB a common word's postings are read by its terms, not by a scan of the dictionary:
narrowing finds once (the engine SQL is kept per version) the terms holding the word, at most
``MOST_TERMS`` of them, and the postings become ``term IN (those terms)``, which the
dictionary's index on ``term`` answers. A page of rows sorted by another column is read in two
steps (``late_rows``): the page's ``_id``s from the postings and the sort columns alone, then
the page's rows by those ids, so the wide text columns are read for the page only; a page in
the row identifier's order finds its ``_id``s through the version's order table instead
(``search_order.py``), without reading the identifier of every row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from blotter.model import ColumnType, Dataset
from blotter.schema import ROW_ID, WordSearch

# Above this many candidate rows a word is common: reading its rows one by one through the
# index would cost more than the scan, which can stop at the first page.
MOST_CANDIDATES = 2048
# Above this many terms holding a word, its postings are read by scanning the dictionary.
MOST_TERMS = 256
# A page of at most this many rows (offset included) is read in two steps (``late_rows``).
LATE_MOST = 256
# Shorter words are in too many terms for the dictionary to narrow them (and trigrams need 3).
SHORTEST_WORD = 3
# ASCII whitespace other than the space (tab, newline, vertical tab, form feed, carriage
# return), each turned into a space before splitting on spaces; chr() reads alike on both engines.
OTHER_SPACES = (9, 10, 11, 12, 13)


def words_table(table: str) -> str:
    """The word index of a version table."""
    return f"{table}__words"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _runs(table: str, text_fields: list[str], engine: str, rows: str = "") -> str:
    """Each row's terms, one per row of the answer: its lower-cased values joined by spaces (a
    run never crosses one), other whitespace made spaces (``spaced``), split once; ``rows``
    narrows or samples the rows read."""
    lowered = ", ".join(f"lower({_ident(f)})" for f in text_fields) or "NULL"
    joined = f"concat_ws(' ', {lowered})"
    if engine == "postgres":
        terms = f"unnest(string_to_array({spaced(joined, engine)}, ' '))"
        return f"SELECT {ROW_ID}, {terms} AS term FROM {_ident(table)} {rows}"  # noqa: S608 - checked identifiers
    # DuckDB: the joined text is computed once, as the test and the translation both read it.
    text = f"SELECT {ROW_ID}, {joined} AS joined FROM {_ident(table)} {rows}"  # noqa: S608 - checked identifiers
    terms = f"unnest(string_split({spaced('joined', engine)}, ' '))"
    return f"SELECT {ROW_ID}, {terms} AS term FROM ({text}) AS texts"  # noqa: S608 - ours


def spaced(text: str, engine: str) -> str:
    """``text`` (an SQL expression) with each of ``OTHER_SPACES`` made a space, as
    ``translate`` would, and NULL for NULL. DuckDB's ``translate`` costs as much as the rest
    of the split, and few values hold such a character: only those are translated (a test
    of each character is cheaper). PostgreSQL replaces each in turn: cheaper than its
    ``translate`` too, and the same, as a space is none of them."""
    if engine == "duckdb":
        found = " OR ".join(f"contains({text}, chr({n}))" for n in OTHER_SPACES)
        others = " || ".join(f"chr({n})" for n in OTHER_SPACES)
        spaces = " " * len(OTHER_SPACES)
        return f"CASE WHEN {found} THEN translate({text}, {others}, '{spaces}') ELSE {text} END"
    for n in OTHER_SPACES:
        text = f"replace({text}, chr({n}), ' ')"
    return text


def index_statements(
    table: str,
    text_fields: list[str],
    engine: str,
    spans: list[tuple[int, int]] | None = None,
) -> list[str]:
    """The statements building a version's word index (and its ``_id`` index): in one
    statement, or (DuckDB) one pass per ``(first, last)`` span of ``_id`` (``word_spans``)."""
    ids = f"list({ROW_ID})" if engine == "duckdb" else f"array_agg({ROW_ID})"
    words = _ident(words_table(table))
    grouped = "SELECT term, {ids} AS ids FROM ({runs}) AS runs WHERE term <> '' GROUP BY term"
    if spans is None:
        runs = _runs(table, text_fields, engine)
        statements = [f"CREATE TABLE {words} AS " + grouped.format(ids=ids, runs=runs)]
    else:
        statements = [f"CREATE TABLE {words} (term VARCHAR, ids BIGINT[])"]
        for first, last in spans:
            runs = _runs(table, text_fields, engine, f"WHERE {ROW_ID} BETWEEN {first} AND {last}")
            statements.append(f"INSERT INTO {words} " + grouped.format(ids=ids, runs=runs))
    statements.append(f"CREATE INDEX {_ident(table + '__id')} ON {_ident(table)} ({ROW_ID})")
    if engine == "duckdb":  # a common word's postings by its terms (PostgreSQL: pg_indexes.py)
        statements.append(f"CREATE INDEX {_ident(words_table(table) + '_term')} ON {words} (term)")
    return statements


# Rows read to learn how many terms a row holds; the memory a posting takes while a pass
# groups them (its id in a term's list, its share of the term's slot), measured on DuckDB 1.5
# with the benchmark's rows: 21 postings a row, a pass of 1M rows ran in 1 GB, of 2M barely.
SAMPLED_ROWS = 10_000
POSTING_BYTES = 24


def sampled_terms_statement(table: str, text_fields: list[str]) -> str:
    """DuckDB: the rows of a random sample and the terms they hold."""
    runs = _runs(table, text_fields, "duckdb", f"USING SAMPLE {SAMPLED_ROWS} ROWS")
    return f"SELECT count(DISTINCT {ROW_ID}), count(*) FILTER (WHERE term <> '') FROM ({runs}) AS r"  # noqa: S608 - ours


def word_spans(
    first: int, last: int, rows: int, terms_per_row: float, memory_bytes: int
) -> list[tuple[int, int]]:
    """Ranges of ``_id`` (``first`` to ``last``, ``rows`` rows) each holding about as many
    postings as half the memory limit can group at once."""
    if rows <= 0:
        return []
    per_pass = max(1, memory_bytes // 2 // POSTING_BYTES)
    passes = max(1, math.ceil(rows * max(terms_per_row, 1.0) / per_pass))
    width = math.ceil((last - first + 1) / passes)
    return [(start, min(start + width - 1, last)) for start in range(first, last + 1, width)]


_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4}
_UNITS |= {"bytes": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


def setting_bytes(value: str) -> int:
    """DuckDB's ``current_setting('memory_limit')`` (``976.5 MiB``) in bytes."""
    number, _, unit = value.strip().partition(" ")
    try:
        return int(float(number) * _UNITS[unit.strip().lower()])
    except (ValueError, KeyError):
        raise ValueError(f"not a DuckDB memory size: {value!r}") from None


def terms_statement(table: str) -> str:
    """DuckDB: up to a given number of the terms containing a word (``strpos``), each once
    (a term built in several passes has a row per pass)."""
    return (
        f"SELECT DISTINCT term FROM {_ident(words_table(table))} WHERE strpos(term, ?) > 0 LIMIT ?"  # noqa: S608 - checked identifiers
    )


def postings_count_statement(table: str) -> str:
    """DuckDB: how many postings (with repeats) the listed terms hold, read through the index
    on ``term``: only their lists' lengths, not a scan of the dictionary."""
    listed = "term IN (SELECT unnest(?::VARCHAR[]))"
    return f"SELECT sum(len(ids)) FROM {_ident(words_table(table))} WHERE {listed}"  # noqa: S608 - checked identifiers


def postings_statement(table: str) -> str:
    """DuckDB: the postings (with repeats) of the listed terms, found through the index on
    ``term`` instead of a scan of the dictionary."""
    listed = "term IN (SELECT unnest(?::VARCHAR[]))"
    return f"SELECT unnest(ids) FROM {_ident(words_table(table))} WHERE {listed}"  # noqa: S608 - checked identifiers


# Reads at most ``most`` ids (repeats counted) or terms holding a word: None when it is in
# more than that.
FetchIds = Callable[[str, int], list[int] | None]
FetchTerms = Callable[[str, int], list[str] | None]


def word_terms(words: list[str], fetch: FetchTerms) -> dict[str, list[str]]:
    """The terms holding each word of three characters or more, for the words held by at most
    ``MOST_TERMS`` terms (``fetch(word, most)`` reads at most ``most`` of them)."""
    found: dict[str, list[str]] = {}
    for word in dict.fromkeys(words):
        if len(word) < SHORTEST_WORD:
            continue
        terms = fetch(word, MOST_TERMS)
        if terms is not None:
            found[word] = sorted(terms)
    return found


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


def candidates(words: list[str], fetch: FetchIds) -> set[int] | None:
    """The ids of every row that may hold all ``words`` (``fetch(word, most)`` reads at most
    ``most`` ids for one word, repeats counted), or None when no word narrows the rows enough."""
    narrowed: set[int] | None = None
    for word in dict.fromkeys(words):
        if len(word) < SHORTEST_WORD:
            continue
        ids = fetch(word, MOST_CANDIDATES)
        if ids is None:
            continue
        narrowed = set(ids) if narrowed is None else narrowed & set(ids)
        if not narrowed:
            return set()
    return narrowed


def at_most(rows: list[Any], most: int) -> list[Any] | None:
    """``rows`` read with a limit of ``most + 1``: themselves when all fit, else None."""
    return rows if len(rows) <= most else None


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


def _text_fields(dataset: Dataset) -> set[str]:
    return {c.field_name for c in dataset.columns if c.type is ColumnType.TEXT}


def exact_for(reader: Dataset, served: Dataset) -> bool:
    """Whether the version's index holds exactly the text columns ``reader`` searches (the
    served version, every column: internal ones too), so a word's postings are its answer."""
    return reader.version == served.version and _text_fields(reader) == _text_fields(served)


def aggregated(select: exp.Select) -> bool:
    """A query answered by counting or grouping its rows: it reads every matching row anyway."""
    return bool(select.args.get("group")) or any(
        e.find(exp.AggFunc) is not None for e in select.expressions
    )


def only_words(select: exp.Select) -> bool:
    """Whether the WHERE holds the words of ``$q`` and nothing else (PostgreSQL: with another
    filter its planner may read that filter's index first, which the postings' join undoes)."""
    where = select.args.get("where")
    if where is None:
        return False
    terms = list(where.this.flatten()) if isinstance(where.this, exp.And) else [where.this]
    return all(isinstance(t, WordSearch) for t in terms)


def reads_every_row(select: exp.Select, stored_by: str | None) -> bool:
    """Whether the scan of ``select`` must test every row (DuckDB): it aggregates, or it
    sorts by something other than the order rows are stored in (``_id``, then the main
    timestamp ``stored_by``, whose top-N skips row groups by their min/max)."""
    if aggregated(select):
        return True
    order = select.args.get("order")
    if order is None or not order.expressions:
        return False
    first = order.expressions[0].this
    stored = {ROW_ID} | ({stored_by} if stored_by else set())
    return not (isinstance(first, exp.Column) and first.name in stored)


def in_postings(
    word: str, table: str, engine: str, terms: list[str] | None = None
) -> exp.Expression:
    """``_id IN (the ids of every term containing word)``, read from the version's index:
    by the word's ``terms`` when they are known, else by matching every term."""
    if terms is not None and not terms:
        return exp.false()
    ids = postings(word, table, engine, terms)
    if engine == "postgres":  # ids sorted into one walk of the _id index, not one probe each
        listed = exp.Paren(this=exp.Array(expressions=[ids]))
        return exp.EQ(this=exp.column(ROW_ID), expression=exp.Any(this=listed))
    return exp.In(this=exp.column(ROW_ID), query=exp.Subquery(this=ids))


def postings(word: str, table: str, engine: str, terms: list[str] | None) -> exp.Select:
    """The ids (with repeats) of the rows holding ``word``, read from the version's index."""
    term = exp.column("term")
    found: exp.Expression
    if terms is not None:
        found = exp.In(this=term, expressions=[exp.Literal.string(t) for t in terms])
    elif engine == "duckdb":
        position = exp.StrPosition(this=term, substr=exp.Literal.string(word))
        found = exp.GT(this=position, expression=exp.Literal.number(0))
    else:  # LIKE, so a trigram index on the terms answers it (escape: PostgreSQL's \\)
        found = exp.Like(this=term, expression=exp.Literal.string(like_pattern(word)))
    ids = exp.Anonymous(this="unnest", expressions=[exp.column("ids")])
    return exp.select(ids).from_(exp.to_table(words_table(table), quoted=True)).where(found)


def counted_postings(
    select: exp.Select, table: str, engine: str, terms: dict[str, list[str]] | None = None
) -> exp.Select | None:
    """``count(*)`` of the rows holding every word, as the number of ids in all the words'
    postings (each id once), without reading the version's rows: for a query that counts and
    does nothing else (no group, no other filter, every word of three characters or more;
    only when ``exact_for`` holds). None for any other query. Every id in the postings is a
    row of the version (the index is built from it), so the count is the rows'."""
    if len(select.expressions) != 1 or select.args.get("group") or select.args.get("having"):
        return None
    count = select.expressions[0].unalias()
    if not (isinstance(count, exp.Count) and isinstance(count.this, exp.Star)):
        return None
    if select.args.get("distinct") or not only_words(select):
        return None
    words = list(dict.fromkeys(search_words(select)))
    if any(len(w) < SHORTEST_WORD for w in words):
        return None
    found = [(terms or {}).get(w) for w in words]
    if any(t is not None and not t for t in found):  # a word in no term: no row
        hits: exp.Query = exp.select(exp.Literal.number(1)).where(exp.false())
    else:
        parts = [postings(w, table, engine, t) for w, t in zip(words, found, strict=True)]
        hits = parts[0].distinct() if len(parts) == 1 else exp.intersect(*parts, distinct=True)
    counted = select.copy()
    counted.set(
        "from_",
        exp.From(
            this=exp.Subquery(this=hits, alias=exp.TableAlias(this=exp.to_identifier("hits")))
        ),
    )
    counted.set("where", None)
    return counted


def by_postings(
    select: exp.Select, table: str, engine: str, terms: dict[str, list[str]] | None = None
) -> exp.Select:
    """``select`` with each word of three characters or more answered by its postings alone
    (only when ``exact_for`` holds), read by the word's terms where ``terms`` holds them;
    shorter words keep their predicate."""

    def swap(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, WordSearch):
            return node
        word = node.args["word"].this
        if len(word) < SHORTEST_WORD:
            return exp.Paren(this=node.this)
        return in_postings(word, table, engine, (terms or {}).get(word))

    rewritten = select.transform(swap, copy=True)
    assert isinstance(rewritten, exp.Select)
    return rewritten


def late_rows(select: exp.Select, fields: set[str]) -> exp.Select:
    """``select`` (rows, no aggregate) read in two steps: the ``_id``s of its page, found from
    its WHERE and the ORDER BY's columns alone, then the page's rows among those ids, sorted
    again. The same rows in the same order, as long as the order is total (it ends with
    ``_id``, which the compiler always adds) and names only the version's own columns
    (``fields``), never an output renamed over one, and the page holds at most ``LATE_MOST``
    rows (the store's join filters the second step's scan by that many ids); otherwise
    ``select`` is returned as is."""
    order = select.args.get("order")
    limit = select.args.get("limit")
    offset = select.args.get("offset")
    if aggregated(select) or select.args.get("distinct") or order is None or limit is None:
        return select
    keys = [o.this for o in order.expressions]
    if not keys or not all(isinstance(k, exp.Column) and not k.table for k in keys):
        return select
    if keys[-1].name != ROW_ID or not all(k.name in fields or k.name == ROW_ID for k in keys):
        return select
    if renamed_over(select, {k.name for k in keys}):
        return select
    page = number(limit.expression)
    skipped = 0 if offset is None else number(offset.expression)
    if page is None or skipped is None or page + skipped > LATE_MOST:
        return select
    ids = select.copy()
    ids.set("expressions", [exp.column(ROW_ID)])
    ids.set("limit", exp.Limit(expression=exp.Literal.number(page + skipped)))
    ids.set("offset", None)
    rows = select.copy()
    rows.set("where", exp.Where(this=exp.In(this=exp.column(ROW_ID), query=exp.Subquery(this=ids))))
    return rows


def renamed_over(select: exp.Select, names: set[str]) -> bool:
    """Whether an output of ``select`` is named like one of ``names`` without being that
    column: ORDER BY reads an output's alias before a column of the same name."""
    for output in select.expressions:
        if output.alias_or_name in names:
            inner = output.unalias()
            if not (isinstance(inner, exp.Column) and inner.name == output.alias_or_name):
                return True
    return False


def number(node: exp.Expression | None) -> int | None:
    """The value of an integer literal (a LIMIT, an OFFSET); None for anything else."""
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    return None
