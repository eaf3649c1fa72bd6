"""Counts answered from a version's rollup (``store/rollup_tables.py``) when, and only when,
the answer is provably the one the rows give.

A compiled query qualifies when it reads only ``_dataset``, every column it names (in
``$select``, ``$where``, ``$group``, ``$having``, ``$order``) is a column of one grouping
set of the rollup (or the month of its main timestamp, ``date_trunc_ym``), its only aggregate
is ``count(*)``, and its order decides every row (each group key is ordered by, so rows tied
on a count come in the same order whatever was read). Then each rollup row of that set
stands for ``_n`` rows sharing every value the query can look at: ``$where`` keeps all of
them or none, a group gets all of them, and ``count(*)`` is the sum of their ``_n``. The
query is rewritten to read the set's rows (``_g``) with ``count(*)`` as that sum, cast back to
the count's type (and 0 over no rows, as a count is).

Refused: ``$q`` (its words are searched in any text column), any other aggregate or a
distinct count (units), a column outside the rollup, a raw timestamp, windows, subqueries.
The compiler only ever names the columns the viewer may see, so a public answer reveals what
the same query on the rows would, nothing more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import cast

from sqlglot import exp

from blotter.model import Dataset
from blotter.schema import DATASET_TABLE, PolygonTest, WordSearch
from blotter.settings import Settings
from blotter.store.base import RowStream, Store
from blotter.store.rollup_tables import (
    COUNT_COLUMN,
    GROUPING_COLUMN,
    MONTH_PREFIX,
    ROLLUP_TABLE,
    Rollup,
    RollupGone,
)

# What a compiled query may hold for a rollup to answer it.
# (sqlglot names the FROM clause ``from_``.)
_FROM = "from_" if "from_" in exp.Select.arg_types else "from"
_CLAUSES = {"expressions", _FROM, "where", "group", "having", "order", "limit", "offset"}
_NEVER = (
    exp.Subquery,
    exp.Select,
    exp.Window,
    exp.Table,
    exp.Star,
    WordSearch,
    PolygonTest,  # a point's columns: never a rollup's
    exp.Rand,
)


def select_for(
    store: Store, dataset: Dataset, select: exp.Select, settings: Settings
) -> exp.Select:
    """The query to run for ``select``: its rollup form when one answers it exactly."""
    if not settings.rollups:
        return select
    return _MEMO.rolled(store, dataset, select) or select


def execute(
    store: Store,
    dataset: Dataset,
    select: exp.Select,
    chosen: exp.Select,
    *,
    timeout_s: float | None = None,
) -> RowStream:
    """``store.execute`` of ``chosen`` (:func:`select_for` of ``select``); of ``select``, over
    the rows, when the version was replaced meanwhile (its rollup went with its table)."""
    if chosen is not select:
        try:
            return store.execute(dataset, chosen, timeout_s=timeout_s)
        except RollupGone:
            pass
    return store.execute(dataset, select, timeout_s=timeout_s)


class _Memo:
    """Each compiled tree's rollup form, by tree and version: the read path hands the same
    tree again for the same question (``queries.CompiledCache``), and the store writes a
    tree's SQL once (``store.common.SqlMemo``, by the tree's identity)."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: dict[tuple[int, str, object, int], tuple[exp.Select, exp.Select | None]]
        self._entries = {}
        self._lock = threading.Lock()

    def rolled(self, store: Store, dataset: Dataset, select: exp.Select) -> exp.Select | None:
        rollup = store.rollup(dataset)
        if rollup is None:
            return None
        key = (id(select), dataset.id, dataset.created_at, dataset.version)
        kept = self._entries.get(key)
        if kept is not None and kept[0] is select:  # the tree is kept: its id is not reused
            return kept[1]
        found = rewrite(select, rollup)
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (select, found)
        return found


_MEMO = _Memo()


def rewrite(select: exp.Select, rollup: Rollup) -> exp.Select | None:
    """``select`` over the rollup, or None when the rollup cannot answer it exactly."""
    if any(value for name, value in select.args.items() if name not in _CLAUSES):
        return None  # DISTINCT, joins, WITH…: not ours to reason about
    source = select.args.get(_FROM)
    if source is None or not _is_dataset(source.this):
        return None
    if not all(isinstance(e, exp.Alias) for e in select.expressions):
        return None  # the compiler names every output; keep those names
    if not select.args.get("group") and select.find(exp.Count) is None:
        return None  # rows, not counts (found below too, after a copy and a walk)
    tree = select.copy()
    tree.set(_FROM, None)
    tree = cast(exp.Select, tree.transform(_months(rollup), copy=False))
    used: set[str] = set()
    counted = False
    for node in tree.walk():
        if isinstance(node, exp.Count):
            if not isinstance(node.this, exp.Star) or node.args.get("distinct"):
                return None
            counted = True
        elif isinstance(node, exp.Star):
            if not isinstance(node.parent, exp.Count):
                return None
        elif (isinstance(node, _NEVER) and node is not tree) or isinstance(node, exp.AggFunc):
            return None
        elif isinstance(node, exp.Column):
            if node.table or node.name not in rollup.columns:
                return None
            used.add(node.name)
    groups = list(tree.args["group"].expressions) if tree.args.get("group") else []
    if not groups and not counted:
        return None  # rows, not counts
    if groups and not _ordered_by_all(tree, groups):
        return None
    mask = _smallest_set(rollup, used)
    if mask is None:
        return None
    tree = cast(exp.Select, tree.transform(_summed, copy=False))
    tree.set(_FROM, exp.From(this=exp.Table(this=exp.to_identifier(ROLLUP_TABLE))))
    in_set = exp.EQ(
        this=exp.column(GROUPING_COLUMN, quoted=True), expression=exp.Literal.number(mask)
    )
    where = tree.args.get("where")
    condition = in_set if where is None else exp.and_(in_set, exp.Paren(this=where.this))
    tree.set("where", exp.Where(this=condition))
    return tree


def _is_dataset(node: exp.Expression) -> bool:
    return isinstance(node, exp.Table) and node.name == DATASET_TABLE and not node.args.get("db")


def _months(rollup: Rollup) -> Callable[[exp.Expression], exp.Expression]:
    """The compiler's ``date_trunc_ym`` of a timestamp the rollup holds by month, swapped
    for its month column (the same sqlglot node the rollup was built from)."""
    sources = {rollup.month_source(c): c for c in rollup.columns if c.startswith(MONTH_PREFIX)}

    def swap(node: exp.Expression) -> exp.Expression:
        if (
            isinstance(node, exp.TimestampTrunc)
            and set(k for k, v in node.args.items() if v is not None) == {"this", "unit"}
            and isinstance(node.this, exp.Column)
            and not node.this.table
            and node.this.name in sources
            and isinstance(node.args["unit"], exp.Var)
            and node.args["unit"].name == "MONTH"
        ):
            return exp.column(sources[node.this.name], quoted=True)
        return node

    return swap


def _ordered_by_all(tree: exp.Select, groups: list[exp.Expression]) -> bool:
    """Whether the order names every group key (directly or by its output's alias): rows
    then differ in some ordered key, so no two tie and their order is decided."""
    order = tree.args.get("order")
    if order is None:
        return False
    aliases = {e.alias: e.this for e in tree.expressions if isinstance(e, exp.Alias)}
    keys: list[exp.Expression] = []
    for ordered in order.expressions:
        key = ordered.this
        if isinstance(key, exp.Column) and not key.table and key.name in aliases:
            keys.append(aliases[key.name])
        keys.append(key)
    return all(any(g == k for k in keys) for g in groups)


def _smallest_set(rollup: Rollup, used: set[str]) -> int | None:
    """``_g`` of the smallest grouping set holding every column in ``used``."""
    fitting = [
        (len(grouped), mask) for mask in rollup.sets if used <= (grouped := _grouped(rollup, mask))
    ]
    return min(fitting)[1] if fitting else None


def _grouped(rollup: Rollup, mask: int) -> set[str]:
    last = len(rollup.columns) - 1
    return {c for i, c in enumerate(rollup.columns) if not mask & (1 << (last - i))}


def _summed(node: exp.Expression) -> exp.Expression:
    """``count(*)`` as the sum of the counts of the rollup's rows: a BIGINT like a count,
    and 0 over no rows like a count."""
    if isinstance(node, exp.Count):
        total = exp.Sum(this=exp.column(COUNT_COLUMN, quoted=True))
        zero = exp.Literal.number(0)
        return exp.cast(exp.Coalesce(this=total, expressions=[zero]), exp.DataType.Type.BIGINT)
    return node
