"""Our SoQL AST → a type-checked sqlglot ``Select`` over a dataset's physical columns.

Socrata's rules applied here: output names, ``:id`` order for stable paging, default
limits, text literals read as timestamps or numbers where the column needs one.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from blotter.errors import NoSuchColumn, SoQLError, TypeMismatch
from blotter.model import ColumnType, Dataset
from blotter.schema import DATASET_TABLE, SYSTEM_FIELDS
from blotter.soql import ast
from blotter.soql.expressions import Scope, parse_timestamp, timestamp_literal
from blotter.soql.functions import FUNCTIONS
from blotter.soql.typed import NULL, POINT, ROW_ID, Typed, number


@dataclass(frozen=True)
class Output:
    """One output column: its name, SoQL type (None for ``:id``), physical width."""

    name: str
    type: ColumnType | None
    width: int = 1
    shape: str | None = None  # how physical values make a geometry: point, box or hull
    fixed: bool = False  # a fixed timestamp, written with Socrata's trailing Z


@dataclass
class CompiledQuery:
    select: exp.Select
    outputs: list[Output] = field(default_factory=list)


def output_name(node: ast.Expr, position: int) -> str:
    """Socrata's name for an unaliased output: ``count(*)`` → count, ``sum(x)`` → sum_x."""
    match node:
        case ast.Column():
            return node.name
        case ast.SystemColumn():
            return node.name
        case ast.Call() if node.star:
            return node.name
        case ast.Call():
            inner = [
                output_name(a, position)
                for a in node.args
                if isinstance(a, ast.Column | ast.Call | ast.SystemColumn)
            ]
            return "_".join([node.name, *inner])
        case ast.Cast():
            return output_name(node.operand, position)
    return f"_col{position}"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


def _output_type(typed: Typed) -> ColumnType | None:
    if typed.type == ROW_ID:
        return None
    if typed.type == NULL:
        return ColumnType.TEXT
    return ColumnType(typed.type)


def compile_query(
    query: ast.Query,
    dataset: Dataset,
    *,
    filters: Mapping[str, str] | None = None,
    default_limit: int | None = 1000,
    max_limit: int | None = 50000,
) -> CompiledQuery:
    """Type-check ``query`` against ``dataset`` and build its SQL over ``_dataset``."""
    scope = Scope(dataset, "$select", None)
    # Every builder below changes the select in place (copy=False): the select is ours, and a
    # copy per clause cost seconds on a query holding a large polygon.
    compiled = CompiledQuery(select=exp.select().from_(exp.to_table(DATASET_TABLE)))
    taken: set[str] = set()
    selected: list[tuple[ast.Expr | None, Typed]] = []
    alias_nodes: dict[str, ast.Expr] = {}

    items: Sequence[ast.SelectItem | ast.Star] = query.select or (ast.Star(),)
    for position, item in enumerate(items, start=1):
        if isinstance(item, ast.Star):
            entries = (
                [(ast.SystemColumn(s.soql_name), s.soql_name) for s in SYSTEM_FIELDS]
                if item.system
                else [(ast.Column(c.field_name), c.field_name) for c in dataset.columns]
            )
            for node, name in entries:
                typed = scope.compile(node)
                _add_output(compiled, _unique(name, taken), typed)
                selected.append((node, typed))
            continue
        typed = scope.compile(item.expr)
        name = _unique(item.alias or output_name(item.expr, position), taken)
        _add_output(compiled, name, typed)
        selected.append((item.expr, typed))
        if item.alias:
            scope.aliases[item.alias] = typed
            alias_nodes[item.alias] = item.expr

    select = compiled.select
    conditions: list[exp.Expression] = []
    if query.where is not None:
        where_scope = Scope(dataset, "$where", None)
        where = where_scope.boolean(query.where, "$where")
        if where.aggregate:
            raise where_scope.error(
                SoQLError, "Aggregates belong in $having, not $where", query.where
            )
        conditions.append(where.sql)
    for field_name, value in (filters or {}).items():
        conditions.append(_filter(dataset, field_name, value))
    if query.search:
        conditions.extend(_search(dataset, query.search))
    if conditions:
        select = select.where(exp.and_(*conditions, copy=False), copy=False)

    group_scope = Scope(dataset, "$group", None)
    group_scope.aliases = scope.aliases
    for g in query.group:
        _not_a_constant(g, "$group")
    groups = [group_scope.compile(g) for g in query.group]
    aggregated = bool(groups) or any(t.aggregate for _, t in selected)
    # A group key may name a select alias: `$group=month` for `date_trunc_ym(d) AS month`.
    grouped: list[ast.Expr | None] = [
        alias_nodes[g.name]
        if isinstance(g, ast.Column) and dataset.column(g.name) is None and g.name in alias_nodes
        else g
        for g in query.group
    ]
    distinct = [(node, typed) for node, typed in selected if not _constant(typed)]
    if query.distinct:
        # Without aggregates, SELECT DISTINCT a, b is also GROUP BY a, b: the grouped rules
        # then decide what may be ordered by, the same on every engine.
        select = select.distinct(copy=False)
        if not aggregated:
            groups = [typed for _, typed in distinct]
            grouped = [node for node, _ in distinct]
            aggregated = True
    for typed in groups:
        select = select.group_by(*(typed.parts or (typed.sql,)), copy=False)
    if aggregated:
        for picked, typed in selected:
            if not typed.aggregate and picked not in grouped and not _constant(typed):
                shown = picked.name if isinstance(picked, ast.Column) else "an expression"
                raise scope.error(
                    SoQLError,
                    f"{shown} must be in $group, or inside an aggregate such as count()",
                    picked or ast.Column(""),
                )

    if query.having is not None:
        if not aggregated:
            raise SoQLError(
                "$having filters groups: it needs $group or an aggregate in $select.",
                clause="$having",
                line=1,
                column=1,
            )
        _check_grouped(query.having, grouped, alias_nodes, "$having")
        having_scope = Scope(dataset, "$having", None)
        having_scope.aliases = scope.aliases
        select = select.having(having_scope.boolean(query.having, "$having").sql, copy=False)

    order_scope = Scope(dataset, "$order", None)
    order_scope.aliases = scope.aliases
    orders: list[exp.Expression] = []
    for key in query.order:
        _not_a_constant(key.expr, "$order")
        if query.distinct:
            _check_selected(key.expr, [node for node, _ in selected], alias_nodes)
        if aggregated:
            _check_grouped(key.expr, grouped, alias_nodes, "$order")
        typed = order_scope.compile(key.expr)
        if typed.type == POINT:
            raise order_scope.error(TypeMismatch, "Points cannot be ordered", key)
        # Explicit null placement so every engine agrees (PostgreSQL's rule, as Socrata's).
        nulls_first = key.desc if key.nulls_first is None else key.nulls_first
        orders.append(exp.Ordered(this=typed.sql, desc=key.desc, nulls_first=nulls_first))
    if not orders and not aggregated:
        orders.append(exp.Ordered(this=exp.column("_id", quoted=True), nulls_first=False))
    elif not orders and groups:
        # With DISTINCT an engine may order only by what is selected.
        keys = [typed for _, typed in distinct] if query.distinct else groups
        orders = [
            exp.Ordered(this=p, nulls_first=False) for g in keys for p in (g.parts or (g.sql,))
        ]
    elif not aggregated:
        # A tiebreak on :id keeps pages stable when the order has equal keys.
        orders.append(exp.Ordered(this=exp.column("_id", quoted=True), nulls_first=False))
    if orders:
        select = select.order_by(*orders, copy=False)

    limit = query.limit if query.limit is not None else default_limit
    if limit is not None and max_limit is not None and limit > max_limit:
        raise SoQLError(
            f"$limit may be at most {max_limit:,}; page with $offset for more.",
            clause="$limit",
            line=1,
            column=1,
        )
    if limit is not None:
        select = select.limit(limit, copy=False)
    if query.offset:
        select = select.offset(query.offset, copy=False)
    compiled.select = select
    return compiled


def _not_a_constant(node: ast.Expr, clause: str) -> None:
    # SQL reads `ORDER BY 2` as "the second column"; SoQL has no such rule, so say so.
    if isinstance(node, ast.Literal):
        value = node.value
        shown = int(value) if isinstance(value, float) and value.is_integer() else value
        raise SoQLError(
            f"{clause} needs a column or an expression, not the constant {shown!r} "
            f"(at line {node.pos.line}, column {node.pos.column})",
            clause=clause,
            line=node.pos.line,
            column=node.pos.column,
        )


def _check_selected(
    node: ast.Expr, selected: Sequence[ast.Expr | None], aliases: dict[str, ast.Expr]
) -> None:
    """With DISTINCT, rows are told apart only by what is selected: order by that alone."""
    if node in selected or (isinstance(node, ast.Column) and node.name in aliases):
        return
    raise SoQLError(
        f"With DISTINCT, $order may use only what $select holds "
        f"(at line {node.pos.line}, column {node.pos.column})",
        clause="$order",
        line=node.pos.line,
        column=node.pos.column,
    )


def _check_grouped(
    node: ast.Expr, grouped: Sequence[ast.Expr | None], aliases: dict[str, ast.Expr], clause: str
) -> None:
    """In a grouped query, a column outside an aggregate must be a group key or an alias."""
    if node in grouped:
        return
    match node:
        case ast.Column():
            if node.name in aliases:
                return
            raise SoQLError(
                f"{node.name} must be in $group, or inside an aggregate such as count() "
                f"(in {clause} at line {node.pos.line}, column {node.pos.column})",
                clause=clause,
                line=node.pos.line,
                column=node.pos.column,
            )
        case ast.SystemColumn():
            raise SoQLError(
                f"{node.name} cannot be used in a grouped {clause}",
                clause=clause,
                line=node.pos.line,
                column=node.pos.column,
            )
        case ast.Call() if node.name in FUNCTIONS and FUNCTIONS[node.name].aggregate:
            return
    for child in ast.children(node):
        _check_grouped(child, grouped, aliases, clause)


def _constant(typed: Typed) -> bool:
    return isinstance(typed.sql, exp.Literal | exp.Null | exp.Boolean)


def _add_output(compiled: CompiledQuery, name: str, typed: Typed) -> None:
    if typed.parts is not None:
        compiled.select = compiled.select.select(
            *(exp.alias_(part, f"{name}.{i}", quoted=True) for i, part in enumerate(typed.parts)),
            copy=False,
        )
        kind = ColumnType.POINT if typed.shape == "point" else ColumnType.MULTIPOLYGON
        compiled.outputs.append(Output(name, kind, width=len(typed.parts), shape=typed.shape))
        return
    compiled.select = compiled.select.select(exp.alias_(typed.sql, name, quoted=True), copy=False)
    compiled.outputs.append(Output(name, _output_type(typed), fixed=typed.fixed))


def _filter(dataset: Dataset, field_name: str, value: str) -> exp.Expression:
    """A simple ``?column=value`` filter: equality, the value read as the column's type."""
    column = dataset.column(field_name)
    if column is None:
        names = [c.field_name for c in dataset.columns]
        close = difflib.get_close_matches(field_name, names, n=3)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise NoSuchColumn(f"Filter '{field_name}': no such column.{hint}", clause=field_name)
    target = exp.column(field_name, quoted=True)
    bad = TypeMismatch(
        f"Filter '{field_name}': '{value}' is not a {column.type} value.",
        clause=field_name,
        value=value,
    )
    match column.type:
        case ColumnType.TEXT:
            literal: exp.Expression = exp.Literal.string(value)
        case ColumnType.NUMBER:
            try:
                literal = number(float(value))
            except ValueError:
                raise bad from None
        case ColumnType.CHECKBOX:
            if value.lower() not in ("true", "false"):
                raise bad
            literal = exp.true() if value.lower() == "true" else exp.false()
        case ColumnType.FLOATING_TIMESTAMP:
            stamp = parse_timestamp(value)
            if stamp is None:
                raise bad
            literal = timestamp_literal(stamp)
        case _:
            raise TypeMismatch(
                f"Filter '{field_name}': points cannot be filtered by equality; use "
                "$where=within_circle(…).",
                clause=field_name,
            )
    return exp.EQ(this=target, expression=literal)


def _search(dataset: Dataset, text: str) -> list[exp.Expression]:
    """``$q``: every word must appear, case-insensitively, in some text column."""
    columns = [c.field_name for c in dataset.columns if c.type is ColumnType.TEXT]
    if not columns:
        return [exp.false()]
    conditions: list[exp.Expression] = []
    for word in text.split():
        found = [
            exp.GT(
                this=exp.StrPosition(
                    this=exp.Lower(this=exp.column(c, quoted=True)),
                    substr=exp.Literal.string(word.lower()),
                ),
                expression=exp.Literal.number(0),
            )
            for c in columns
        ]
        conditions.append(exp.Paren(this=exp.or_(*found, copy=False)))
    return conditions
