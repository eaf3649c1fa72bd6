"""Questions of one shape answered by one query: a ``UNION ALL`` built with sqlglot from each
question's compiled tree, each row marked with its branch and its place in the branch's
order, a ``$where`` several branches share written once; each branch kept as its own answer.
A page asks ahead, in one such query, what several of its parts will ask later."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlglot import exp

from blotter import rollups
from blotter.errors import QueryTimeout
from blotter.model import ColumnType, Dataset
from blotter.queries.answer_cache import answer_key, answers, query_key, row_bytes
from blotter.queries.compiled import PreparedQuery, prepare_query
from blotter.schema import DATASET_TABLE
from blotter.settings import Settings
from blotter.soql.compiler import Output
from blotter.store.base import Store
from blotter.store.common import timeout_error
from blotter.store.rollup_tables import RollupGone


def run_together(
    store: Store,
    dataset: Dataset,
    questions: Sequence[Mapping[str, str]],
    settings: Settings,
) -> list[list[tuple[Any, ...]]]:
    """Several SoQL questions with the same outputs (the filter form's ``value`` and ``n``)
    answered by at most one engine query, each question's rows apart, in order.

    Each question is compiled alone (its own ``$where``, ``$group``, ``$order``, ``$limit``)
    and looked up among the kept answers as if asked alone; the others become the branches of
    one ``UNION ALL`` built with sqlglot from their compiled trees, each row marked with its
    branch and its place in the branch's order. Each branch's rows are then kept as that
    question's answer, so the same question asked alone later (a chart's counts) is answered
    from memory."""
    started = time.monotonic()
    prepared = [prepare_query(store, dataset, q, settings, started=started) for q in questions]
    cache = answers(store, settings, dataset)
    keys = [answer_key(dataset, query_key(store, p), "rows") for p in prepared]
    found: list[tuple[tuple[Any, ...], ...] | None] = [cache.get(k) for k in keys]
    missing = [i for i, rows in enumerate(found) if rows is None]
    if missing:
        rows = _run_together(store, dataset, questions, prepared, missing, settings)
        apart: dict[int, list[tuple[Any, ...]]] = {i: [] for i in missing}
        as_text = _mixed(prepared, missing)
        for branch, _place, *values in rows:
            i = int(branch)
            if as_text:
                values = _typed(values, prepared[i].outputs, as_text)
            apart[i].append(tuple(values))
        for i, branch_rows in apart.items():
            found[i] = tuple(branch_rows)
            cache.put(keys[i], found[i], sum(row_bytes(r) for r in branch_rows))
    return [list(rows or ()) for rows in found]


def kept_together(
    store: Store,
    dataset: Dataset,
    questions: Sequence[Mapping[str, str]],
    settings: Settings,
) -> list[list[tuple[Any, ...]]] | None:
    """The questions' kept answers, as :func:`run_together` gives them, or None when any
    is not kept; nothing is run."""
    cache = answers(store, settings, dataset)
    found = []
    for question in questions:
        prepared = prepare_query(store, dataset, question, settings)
        rows = cache.get(answer_key(dataset, query_key(store, prepared), "rows"))
        if rows is None:
            return None
        found.append(list(rows))
    return found


def ask_ahead(
    store: Store,
    dataset: Dataset,
    questions: Sequence[Mapping[str, str]],
    settings: Settings,
) -> None:
    """Answer now, in one query with :func:`run_together`, questions of one shape that
    several parts of a page will ask apart (the summary's shares, the filter form's
    values): each is kept as its own answer, so each part then finds its answers kept and
    runs no query of its own. Nothing is asked when answers are not kept (the parts would
    ask again)."""
    if questions and answers(store, settings, dataset).entries > 0:
        run_together(store, dataset, questions, settings)


def _run_together(
    store: Store,
    dataset: Dataset,
    questions: Sequence[Mapping[str, str]],
    prepared: list[PreparedQuery],
    which: list[int],
    settings: Settings,
) -> list[tuple[Any, ...]]:
    """The rows of the questions' union (:func:`_together`), each branch from the version's
    rollup where it answers exactly (``rollups.py``), else from the rows."""
    rolled: dict[int, exp.Select] = {}
    for i in which:
        select = prepared[i].compiled.select
        chosen = rollups.select_for(store, dataset, select, settings)
        if chosen is not select:
            rolled[i] = chosen
    try:
        try:
            together = _together(store, dataset, questions, prepared, which, settings, rolled)
            timeout_s = prepared[0].remaining_s(settings)
            return list(store.execute(dataset, together, timeout_s=timeout_s))
        except RollupGone:  # replaced meanwhile: its rollup went with its table
            together = _together(store, dataset, questions, prepared, which, settings, {})
            timeout_s = prepared[0].remaining_s(settings)
            return list(store.execute(dataset, together, timeout_s=timeout_s))
    except QueryTimeout:
        raise timeout_error(settings.query_timeout_s) from None


def _reading(table: str) -> Callable[[exp.Expression], exp.Expression]:
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name == DATASET_TABLE:
            return exp.table_(table)
        return node

    return swap


def _mixed(prepared: list[PreparedQuery], which: list[int]) -> set[int]:
    """The outputs whose type differs between branches (a text column's values beside a
    checkbox's): they travel as text, which every engine can union."""
    mixed: set[int] = set()
    first = prepared[which[0]].outputs
    for i in which:
        for place, (a, b) in enumerate(zip(first, prepared[i].outputs, strict=True)):
            if a.type is not b.type:
                if {a.type, b.type} - {ColumnType.TEXT, ColumnType.CHECKBOX}:
                    raise ValueError("questions answered together must have alike outputs")
                mixed.add(place)
    return mixed


def _typed(values: list[Any], outputs: list[Output], as_text: set[int]) -> list[Any]:
    """A row's values as its own branch would have returned them: checkboxes sent as text
    ('true', 'false') become booleans again."""
    return [
        (v == "true" if v is not None else None)
        if place in as_text and outputs[place].type is ColumnType.CHECKBOX
        else v
        for place, v in enumerate(values)
    ]


def _together(
    store: Store,
    dataset: Dataset,
    questions: Sequence[Mapping[str, str]],
    prepared: list[PreparedQuery],
    which: list[int],
    settings: Settings,
    rolled: Mapping[int, exp.Select],
) -> exp.Select:
    """The questions' union; a ``$where`` several branches share (the summary's shares,
    most of the filter form's counts) is written once, as ``WITH _matching0 AS (SELECT *
    FROM _dataset WHERE …)`` that each of them reads, not once per branch: a polygon's test
    is thousands of nodes, which each branch copied, bound and wrote again. A branch the
    version's rollup answers (``rolled``) reads the rollup, with its own ``$where``."""
    sharing: dict[str, list[int]] = {}
    for i in which:
        where = questions[i].get("$where", "")
        if where and i not in rolled:
            sharing.setdefault(where, []).append(i)
    reads: dict[int, str] = {}
    matching: list[tuple[str, exp.Select]] = []
    unfiltered = list(prepared)
    for branches in sharing.values():
        condition = prepared[branches[0]].compiled.select.args.get("where")
        if len(branches) < 2 or condition is None:
            continue
        table = f"{_MATCHING}{len(matching)}"
        rows = exp.select("*").from_(DATASET_TABLE).where(condition.this.copy(), copy=False)
        matching.append((table, rows))
        for i in branches:
            reads[i] = table
            unfiltered[i] = prepare_query(
                store,
                dataset,
                {k: v for k, v in questions[i].items() if k != "$where"},
                settings,
                started=prepared[i].started,
            )
    union = _union(unfiltered, which, reads, rolled=rolled)
    for table, rows in matching:
        union = union.with_(table, as_=rows, copy=False)
    return union


_MATCHING = "_matching"


def _union(
    prepared: list[PreparedQuery],
    which: list[int],
    reads: Mapping[int, str] | None = None,
    rolled: Mapping[int, exp.Select] | None = None,
) -> exp.Select:
    """``SELECT * FROM (q0 UNION ALL q1 …) ORDER BY branch, place``: each branch's compiled
    tree (or its rollup form, in ``rolled``; reading the shared rows named in ``reads``)
    with its number and each row's place in the tree's own order (a window over the same
    ORDER BY, evaluated after its grouping), so the rows come back apart and in order."""
    rolled = rolled or {}
    reads = reads or {}
    names = [e.alias_or_name for e in prepared[which[0]].compiled.select.expressions]
    as_text = _mixed(prepared, which)
    branches: list[exp.Select] = []
    for i in which:
        inner = rolled[i].copy() if i in rolled else prepared[i].compiled.select.copy()
        if i in reads and i not in rolled:  # the branch reads the shared rows
            inner = cast(exp.Select, inner.transform(_reading(reads[i]), copy=False))
        if [e.alias_or_name for e in inner.expressions] != names:
            raise ValueError("questions answered together must have the same outputs")
        order = inner.args.get("order")
        place: exp.Expression = (
            exp.Window(this=exp.RowNumber(), order=order.copy())
            if order is not None
            else exp.Literal.number(0)
        )
        inner = inner.select(exp.alias_(place, "_place", quoted=True), copy=False)
        branches.append(
            exp.select(
                exp.alias_(exp.Literal.number(i), "_branch", quoted=True),
                exp.column("_place", quoted=True),
                *(
                    exp.alias_(
                        exp.cast(exp.column(n, quoted=True), exp.DataType.Type.TEXT), n, quoted=True
                    )
                    if place in as_text
                    else exp.column(n, quoted=True)
                    for place, n in enumerate(names)
                ),
            ).from_(inner.subquery(f"q{i}", copy=False), copy=False)
        )
    # Each tree was copied once above; building on it needs no further copies (a polygon's
    # test is thousands of nodes, and each copy of every branch cost milliseconds).
    union: exp.Query = branches[0]
    for branch in branches[1:]:
        union = exp.union(union, branch, distinct=False, copy=False)
    return (
        exp.select("*")
        .from_(union.subquery("together", copy=False), copy=False)
        .order_by(exp.column("_branch", quoted=True), exp.column("_place", quoted=True), copy=False)
    )
