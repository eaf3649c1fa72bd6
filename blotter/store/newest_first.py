"""A page of rows newest first, read from the newest rows alone (DuckDB).

A version table is stored in the order of its main timestamp (``store/ordering.py``), so
DuckDB's per-row-group minimum and maximum let a date range skip what it excludes, and a
top-N oldest first stops at its first row groups. Newest first it does not: the scan starts
at the oldest row group and its threshold only rises, so every row group is read. So a page
whose order starts with the main timestamp descending is first asked of the rows at or after
a cutoff (``ts >= cutoff``, ``OR ts IS NULL`` when nulls come first and the version has
some: DuckDB skips row groups by the comparison alone, not by the two together), chosen from
the version's rollup of rows per month (``store/rollup_tables.py``, which counts the rows
without a timestamp too) so that those months very likely hold the page.

Why the answer is the plain query's whatever the cutoff: every row the restriction leaves
out sorts after every row it keeps (its timestamp is older than the cutoff, and it is not a
null placed first), so the plain query's rows in order are the kept rows in order, then the
others. When the kept rows number at least offset + limit, the page lies among them and the
restricted query returns exactly it, ``limit`` rows; when it returns fewer, the plain query
is run instead. Only for shapes where that holds: rows (no group, aggregate, DISTINCT or
window), one ORDER BY ending with ``_id`` (a total order, so one answer) whose first key is
the main timestamp itself, descending, and a LIMIT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlglot import exp

from blotter.schema import DATASET_TABLE, ROW_ID
from blotter.store.search_index import aggregated, number, renamed_over

# A page of at most this many rows (offset included) is read this way: the restricted
# answer is held in memory until it is known to fill the page.
MOST_ROWS = 10_000
# With a filter, how many rows the cutoff keeps per row the page needs (the filter's share
# of them is unknown); without one, the rollup's counts say exactly whether the page is there.
# Keeping more costs little (1M rows: a month's rows read in about 3 ms, half a year's in 4).
SPARE = 64


@dataclass(frozen=True)
class NewestPage:
    """A query of rows newest first by the main timestamp, as the rewrite needs it."""

    key: exp.Column  # the first ORDER BY key: the main timestamp's column
    nulls_first: bool
    rows: int  # LIMIT: the rows a page holds when the kept rows hold it
    needed: int  # offset + limit
    filtered: bool  # the query has a WHERE


def newest_page(select: exp.Select, stored_by: str | None) -> NewestPage | None:
    """``select`` as a page newest first by ``stored_by`` (the version's main timestamp),
    or None when the rewrite is not provably exact for it (or would not pay)."""
    # The ORDER BY and LIMIT first: nearly every query fails there, before any walk of the tree.
    order, limit, offset = (select.args.get(k) for k in ("order", "limit", "offset"))
    if stored_by is None or order is None or limit is None or len(order.expressions) < 2:
        return None
    first, last = order.expressions[0], order.expressions[-1].this
    key = first.this
    if not (isinstance(key, exp.Column) and not key.table and key.name == stored_by):
        return None
    if not (isinstance(last, exp.Column) and not last.table and last.name == ROW_ID):
        return None
    nulls_first = first.args.get("nulls_first")
    if not first.args.get("desc") or not isinstance(nulls_first, bool):
        return None
    if any(select.args.get(k) for k in ("distinct", "having", "joins", "group")):
        return None
    source = select.args.get("from_")
    if not (isinstance(source, exp.From) and isinstance(source.this, exp.Table)):
        return None
    if source.this.name != DATASET_TABLE:
        return None
    if aggregated(select) or select.find(exp.Window) is not None:
        return None
    if renamed_over(select, {stored_by, ROW_ID}):
        return None
    rows = number(limit.expression)
    skipped = 0 if offset is None else number(offset.expression)
    if rows is None or skipped is None or rows + skipped > MOST_ROWS:
        return None
    return NewestPage(key, nulls_first, rows, rows + skipped, select.args.get("where") is not None)


def cutoff(months: Sequence[tuple[datetime | None, int]], page: NewestPage) -> datetime | None:
    """The newest month whose start, as a cutoff, keeps enough rows for ``page``: at least
    the rows it needs (``SPARE`` times as many under a filter), counted from the version's
    rows per month (``months``; None: a null timestamp). None when no month keeps enough,
    or the cutoff would keep more than half the rows (the plain query then costs little
    more, and a miss would cost both)."""
    wanted = page.needed * (SPARE if page.filtered else 1)
    total = sum(n for _, n in months)
    kept = sum(n for month, n in months if month is None) if page.nulls_first else 0
    for month, n in sorted(((m, n) for m, n in months if m is not None), reverse=True):
        kept += n
        if kept >= wanted:
            return month if kept * 2 <= total else None
    return None


def restricted(select: exp.Select, page: NewestPage, start: datetime, nulls: bool) -> exp.Select:
    """``select`` kept to the rows at or after ``start`` (and the nulls, when they come first
    and the version has some, ``nulls``): the rows its page is drawn from whenever they hold
    offset + limit rows."""
    at = exp.Literal.string(start.isoformat(sep=" "))
    after = exp.GTE(this=page.key.copy(), expression=exp.cast(at, exp.DataType.Type.TIMESTAMP))
    kept: exp.Expression = after
    if page.nulls_first and nulls:
        null = exp.Is(this=page.key.copy(), expression=exp.Null())
        kept = exp.Paren(this=exp.Or(this=after, expression=null))
    return select.where(kept, copy=True)
