"""A common word's page in the row identifier's order, found from its postings (DuckDB).

A page of ``$q`` rows sorted by the declared row identifier (``$order=id``) cannot stop
early: rows are stored in time order, so the identifier is scattered through them, and
joining a word's postings against every row's identifier cost the engine 11–15 ms at 1M
rows for a word in 5 % of them. Each version therefore gets a table
``<version table>__order`` of its ``_id``s with their rank in the identifier's order (the
column holding the rank is named after the identifier's field, so a version read after
the dataset named another identifier is not taken for one in that order), written in that
order. The page's ``_id``s are then the first postings by rank: the engine builds a hash of
the word's postings and reads the ranks from the table's start, its top-N skipping the row
groups that cannot hold the page (their ranks' min/max), whatever the offset; only the
page's rows are then fetched, sorted again by the same order.

Hashing a common word's postings still costs in proportion to them (about 6 ms of the
engine's time at 1M rows for a word in 5 % of them, ten times that at 10M). So each such
version also gets ``<version table>__order_words``: the word index of its first
``PREFIX_ROWS`` rows by rank alone (``search_index``'s terms, split the same way). When the
rows of that prefix holding every word are at least the page's last row (its offset and
limit: counted once, when the query's SQL is written), the page lies in the prefix (every
other row holding the words ranks after all of them), so the page's ``_id``s are read from
the prefix's postings, whose size is bounded by the prefix, not by the table; otherwise from
the whole index as above.

The rank is ``row_number()`` over exactly the order the compiler writes for the
identifier ascending (``"<field>" ASC, "_id"``), a total order, so the first ranks among
the postings are the first rows of the answer in that order, and the page's rows come in
it. Only when the postings are the answer (``search_index.exact_for``), ``$q`` is the
query's only filter, every word has three characters or more, and the query reads rows
(no count, group or distinct); any other query keeps its plan.
"""

from __future__ import annotations

from sqlglot import exp

from blotter.schema import ROW_ID
from blotter.store.search_index import (
    SHORTEST_WORD,
    _runs,
    aggregated,
    in_postings,
    number,
    only_words,
    renamed_over,
    search_words,
)

# The rows by rank the prefix's word index holds: a word in one row in 600 of them or more
# fills a page of 100 there (about 0.4 s of the publish's CPU at 1M rows).
PREFIX_ROWS = 65_536


def order_table(table: str) -> str:
    """The rows of a version in its row identifier's order."""
    return f"{table}__order"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def order_statement(table: str, field: str) -> str:
    """DuckDB: the version's ``_id``s with their rank by ``field`` (ascending, then ``_id``:
    the compiler's order for ``$order=<field>``), in a column named ``field``, written in
    rank order so each row group holds a run of ranks."""
    rank = f"row_number() OVER (ORDER BY {_ident(field)} ASC, {ROW_ID}) AS ranked"
    ranked = f"SELECT {ROW_ID}, {rank} FROM {_ident(table)}"  # noqa: S608 - checked identifiers
    return (
        f"CREATE TABLE {_ident(order_table(table))} AS "  # noqa: S608 - checked identifiers
        f"SELECT {ROW_ID}, ranked AS {_ident(field)} FROM ({ranked}) AS r ORDER BY ranked"
    )


def prefix_table(table: str) -> str:
    """The word index of the first ``PREFIX_ROWS`` rows of a version by rank."""
    return f"{table}__order_words"


def prefix_statements(table: str, text_fields: list[str], field: str) -> list[str]:
    """DuckDB: the word index of the version's first ``PREFIX_ROWS`` rows by ``field``'s
    rank (after ``order_statement``), with an index on ``term``."""
    first = (
        f"SELECT {ROW_ID} FROM {_ident(order_table(table))} "  # noqa: S608 - checked identifiers
        f"WHERE {_ident(field)} <= {PREFIX_ROWS}"
    )
    runs = _runs(table, text_fields, "duckdb", f"WHERE {ROW_ID} IN ({first})")
    words = _ident(prefix_table(table))
    return [
        f"CREATE TABLE {words} AS SELECT term, list({ROW_ID}) AS ids "  # noqa: S608 - ours
        f"FROM ({runs}) AS runs WHERE term <> '' GROUP BY term",
        f"CREATE INDEX {_ident(prefix_table(table) + '_term')} ON {words} (term)",
    ]


def order_field_statement() -> str:
    """DuckDB: the field a version's order table ranks by (its column other than ``_id``)."""
    return (
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? AND column_name <> '_id'"
    )


def _by_field(select: exp.Select, field: str) -> bool:
    """Whether ``select`` is ordered by ``field`` ascending (nulls last), then ``_id``."""
    order = select.args.get("order")
    keys = order.expressions if order is not None else []
    if len(keys) != 2 or renamed_over(select, {field, ROW_ID}):
        return False
    for key, name in zip(keys, (field, ROW_ID), strict=True):
        column = key.this
        if not (isinstance(column, exp.Column) and not column.table and column.name == name):
            return False
        if key.args.get("desc") or key.args.get("nulls_first"):
            return False
    return True


def page_rows(select: exp.Select, field: str) -> tuple[int, int] | None:
    """The limit and offset of a page of rows in ``field``'s order filtered by words of three
    characters or more alone (a page ``ordered_page`` reads); None for any other query."""
    limit = select.args.get("limit")
    offset = select.args.get("offset")
    page = number(limit.expression) if limit is not None else None
    skipped = 0 if offset is None else number(offset.expression)
    if page is None or skipped is None or aggregated(select) or select.args.get("distinct"):
        return None
    if not only_words(select) or not _by_field(select, field):
        return None
    if any(len(w) < SHORTEST_WORD for w in search_words(select)):
        return None
    return page, skipped


def _prefix_postings(word: str, table: str, terms: list[str] | None) -> exp.Select:
    """The ids (with repeats) of the prefix's rows holding ``word``, read by its ``terms``
    when known (every term of the prefix is one of the version's), else by matching."""
    term = exp.column("term")
    found: exp.Expression
    if terms is not None:
        found = exp.In(this=term, expressions=[exp.Literal.string(t) for t in terms])
    else:
        position = exp.StrPosition(this=term, substr=exp.Literal.string(word))
        found = exp.GT(this=position, expression=exp.Literal.number(0))
    ids = exp.Anonymous(this="unnest", expressions=[exp.column("ids")])
    return exp.select(ids).from_(exp.to_table(prefix_table(table), quoted=True)).where(found)


def prefix_count_statement(select: exp.Select, table: str, terms: dict[str, list[str]]) -> str:
    """DuckDB: how many rows of the prefix hold every word of ``select`` (each once)."""
    words = list(dict.fromkeys(search_words(select)))
    parts = [_prefix_postings(w, table, terms.get(w)) for w in words]
    hits = parts[0].distinct() if len(parts) == 1 else exp.intersect(*parts, distinct=True)
    return f"SELECT count(*) FROM ({hits.sql(dialect='duckdb')}) AS hits"  # noqa: S608 - ours


def ordered_page(
    select: exp.Select,
    table: str,
    field: str,
    terms: dict[str, list[str]],
    in_prefix: bool = False,
) -> exp.Select | None:
    """``select`` read in two steps through the order table of ``table`` (ranked by
    ``field``): the page's ``_id``s, the first ranks (after the offset) among the ids in
    every word's postings (read by the word's ``terms`` where known; from the prefix's
    index when ``in_prefix``: the prefix holds the page's last row), then the page's rows
    by those ids, sorted again. None when the query is not such a page."""
    shape = page_rows(select, field)
    if shape is None:
        return None
    page, skipped = shape
    words = list(dict.fromkeys(search_words(select)))
    held: list[exp.Expression] = []
    for word in words:
        if in_prefix and terms.get(word) != []:  # a word in no term: FALSE below
            prefix = exp.Subquery(this=_prefix_postings(word, table, terms.get(word)))
            held.append(exp.In(this=exp.column(ROW_ID), query=prefix))
        else:
            held.append(in_postings(word, table, "duckdb", terms.get(word)))
    ranked = exp.column(field, quoted=True)
    ids = (
        exp.select(exp.column(ROW_ID))
        .from_(exp.to_table(order_table(table), quoted=True))
        .where(exp.and_(*held, copy=False))
        .order_by(exp.Ordered(this=ranked, desc=False, nulls_first=False))
        .limit(page)
    )
    if skipped:
        ids = ids.offset(skipped)
    rows = select.copy()
    rows.set("where", exp.Where(this=exp.In(this=exp.column(ROW_ID), query=exp.Subquery(this=ids))))
    rows.set("offset", None)
    return rows
