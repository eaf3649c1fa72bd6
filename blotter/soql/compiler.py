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
from blotter.schema import DATASET_TABLE, SYSTEM_FIELDS, WordSearch, number
from blotter.soql import ast
from blotter.soql.expressions import Scope, parse_timestamp, timestamp_literal
from blotter.soql.functions import FUNCTIONS
from blotter.soql.positions import positioned
from blotter.soql.typed import NULL, POINT, ROW_ID, Typed


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


@dataclass
class _Build:
    """What the clause steps share: the request, one scope, the select being built, and
    what earlier clauses decided (output names, aliases, group keys)."""

    query: ast.Query
    dataset: Dataset
    filters: Mapping[str, str]
    default_limit: int | None
    max_limit: int | None
    scope: Scope
    compiled: CompiledQuery
    taken: set[str] = field(default_factory=set)
    selected: list[tuple[ast.Expr | None, Typed]] = field(default_factory=list)
    alias_nodes: dict[str, ast.Expr] = field(default_factory=dict)
    groups: list[Typed] = field(default_factory=list)
    grouped: list[ast.Expr | None] = field(default_factory=list)
    aggregated: bool = False

    @property
    def select(self) -> exp.Select:
        return self.compiled.select

    def at(self, clause: str, *, aliases: bool = True) -> Scope:
        """The scope, now reading ``clause``; $where runs before $select and sees no alias."""
        self.scope.clause = clause
        self.scope.use_aliases = aliases
        return self.scope

    def error(self, message: str, pos: ast.Pos | None) -> SoQLError:
        return positioned(SoQLError, message, self.scope.clause, pos)

    def not_a_constant(self, node: ast.Expr) -> None:
        # SQL reads `ORDER BY 2` as "the second column"; SoQL has no such rule, so say so.
        if isinstance(node, ast.Literal):
            value = node.value
            shown = int(value) if isinstance(value, float) and value.is_integer() else value
            raise self.error(
                f"{self.scope.clause} needs a column or an expression, not the constant {shown!r}",
                node.pos,
            )

    def check_grouped(self, node: ast.Expr) -> None:
        """In a grouped query, a column outside an aggregate must be a group key or an alias."""
        if node in self.grouped:
            return
        match node:
            case ast.Column():
                if node.name in self.alias_nodes:
                    return
                raise self.error(
                    f"{node.name} must be in $group, or inside an aggregate such as count()",
                    node.pos,
                )
            case ast.SystemColumn():
                raise self.error(
                    f"{node.name} cannot be used in a grouped {self.scope.clause}", node.pos
                )
            case ast.Call() if node.name in FUNCTIONS and FUNCTIONS[node.name].aggregate:
                return
        for child in ast.children(node):
            self.check_grouped(child)


def compile_query(
    query: ast.Query,
    dataset: Dataset,
    *,
    filters: Mapping[str, str] | None = None,
    default_limit: int | None = 1000,
    max_limit: int | None = 50000,
) -> CompiledQuery:
    """Type-check ``query`` against ``dataset`` and build its SQL over ``_dataset``."""
    # Every step changes the select in place (copy=False): the select is ours, and a copy
    # per clause cost seconds on a query holding a large polygon.
    build = _Build(
        query,
        dataset,
        filters or {},
        default_limit,
        max_limit,
        Scope(dataset, "$select", None),
        # Built, not parsed: sqlglot parses a table's name or a LIMIT's number given as text.
        CompiledQuery(select=exp.select().from_(exp.Table(this=exp.to_identifier(DATASET_TABLE)))),
    )
    for step in _STEPS:
        step(build)
    return build.compiled


def _select(build: _Build) -> None:
    """The output columns, named as Socrata names them; an alias is seen by later clauses."""
    scope = build.at("$select")
    items: Sequence[ast.SelectItem | ast.Star] = build.query.select or (ast.Star(),)
    for position, item in enumerate(items, start=1):
        if isinstance(item, ast.Star):
            entries = (
                [(ast.SystemColumn(s.soql_name), s.soql_name) for s in SYSTEM_FIELDS]
                if item.system
                else [(ast.Column(c.field_name), c.field_name) for c in build.dataset.columns]
            )
            for node, name in entries:
                typed = scope.compile(node)
                _add_output(build.compiled, _unique(name, build.taken), typed)
                build.selected.append((node, typed))
            continue
        typed = scope.compile(item.expr)
        name = _unique(item.alias or output_name(item.expr, position), build.taken)
        _add_output(build.compiled, name, typed)
        build.selected.append((item.expr, typed))
        if item.alias:
            scope.aliases[item.alias] = typed
            build.alias_nodes[item.alias] = item.expr


def _where(build: _Build) -> None:
    """$where, the ``column=value`` filters and $q, all of which a row must pass."""
    query, dataset = build.query, build.dataset
    conditions: list[exp.Expression] = []
    if query.where is not None:
        where = build.at("$where", aliases=False).boolean(query.where, "$where")
        if where.aggregate:
            raise build.error("Aggregates belong in $having, not $where", query.where.pos)
        conditions.append(where.sql)
    for field_name, value in build.filters.items():
        conditions.append(_filter(dataset, field_name, value))
    if query.search:
        conditions.extend(_search(dataset, query.search))
    if conditions:
        build.select.where(exp.and_(*conditions, copy=False), copy=False)


def _group(build: _Build) -> None:
    """$group (or DISTINCT without aggregates), and the rule that every selected column is
    then grouped or aggregated."""
    query, scope = build.query, build.at("$group")
    for g in query.group:
        build.not_a_constant(g)
    build.groups = [scope.compile(g) for g in query.group]
    build.aggregated = bool(build.groups) or any(t.aggregate for _, t in build.selected)
    # A group key may name a select alias: `$group=month` for `date_trunc_ym(d) AS month`.
    build.grouped = [
        build.alias_nodes[g.name]
        if isinstance(g, ast.Column)
        and build.dataset.column(g.name) is None
        and g.name in build.alias_nodes
        else g
        for g in query.group
    ]
    if query.distinct:
        # Without aggregates, SELECT DISTINCT a, b is also GROUP BY a, b: the grouped rules
        # then decide what may be ordered by, the same on every engine.
        build.select.distinct(copy=False)
        if not build.aggregated:
            distinct = _distinct(build)
            build.groups = [typed for _, typed in distinct]
            build.grouped = [node for node, _ in distinct]
            build.aggregated = True
    for typed in build.groups:
        build.select.group_by(*(typed.parts or (typed.sql,)), copy=False)
    if build.aggregated:
        build.at("$select")  # the fault is in what $select holds
        for picked, typed in build.selected:
            if not typed.aggregate and picked not in build.grouped and not _constant(typed):
                shown = picked.name if isinstance(picked, ast.Column) else "an expression"
                raise build.error(
                    f"{shown} must be in $group, or inside an aggregate such as count()",
                    picked.pos if picked is not None else ast.Pos(),
                )


def _having(build: _Build) -> None:
    having = build.query.having
    if having is None:
        return
    scope = build.at("$having")
    if not build.aggregated:
        raise build.error(
            "$having filters groups: it needs $group or an aggregate in $select", having.pos
        )
    build.check_grouped(having)
    build.select.having(scope.boolean(having, "$having").sql, copy=False)


def _order(build: _Build) -> None:
    """$order, with explicit null placement, or an order that keeps pages stable."""
    query, scope = build.query, build.at("$order")
    orders: list[exp.Expression] = []
    for key in query.order:
        build.not_a_constant(key.expr)
        if query.distinct:
            _check_selected(build, key.expr)
        if build.aggregated:
            build.check_grouped(key.expr)
        typed = scope.compile(key.expr)
        if typed.type == POINT:
            raise scope.error(TypeMismatch, "Points cannot be ordered", key)
        # Explicit null placement so every engine agrees (PostgreSQL's rule, as Socrata's).
        nulls_first = key.desc if key.nulls_first is None else key.nulls_first
        orders.append(exp.Ordered(this=typed.sql, desc=key.desc, nulls_first=nulls_first))
    if not orders and not build.aggregated:
        orders.append(exp.Ordered(this=exp.column("_id", quoted=True), nulls_first=False))
    elif build.groups:
        # Groups ordered by their keys; after an explicit order, the keys break its ties, so
        # `$order=count DESC&$limit=5` keeps the same five groups on every engine and run.
        # With DISTINCT an engine may order only by what is selected.
        keys = [typed for _, typed in _distinct(build)] if query.distinct else build.groups
        ordered = {o.this for o in orders}
        orders.extend(
            exp.Ordered(this=p, nulls_first=False)
            for g in keys
            for p in (g.parts or (g.sql,))
            if p not in ordered
        )
    elif not build.aggregated:
        # A tiebreak on :id keeps pages stable when the order has equal keys.
        orders.append(exp.Ordered(this=exp.column("_id", quoted=True), nulls_first=False))
    if orders:
        build.select.order_by(*orders, copy=False)


def _limit(build: _Build) -> None:
    """$limit (or the default) within the maximum, and $offset."""
    query = build.query
    build.at("$limit")
    limit = query.limit if query.limit is not None else build.default_limit
    if limit is not None and build.max_limit is not None and limit > build.max_limit:
        raise build.error(
            f"$limit may be at most {build.max_limit:,}; page with $offset for more",
            query.limit_pos if query.limit is not None else None,
        )
    if limit is not None:
        build.select.set("limit", exp.Limit(expression=exp.Literal.number(limit)))
    if query.offset:
        build.select.set("offset", exp.Offset(expression=exp.Literal.number(query.offset)))


_STEPS = (_select, _where, _group, _having, _order, _limit)


def _distinct(build: _Build) -> list[tuple[ast.Expr | None, Typed]]:
    """What SELECT DISTINCT tells rows apart by: the selected outputs that are not constants."""
    return [(node, typed) for node, typed in build.selected if not _constant(typed)]


def _check_selected(build: _Build, node: ast.Expr) -> None:
    """With DISTINCT, rows are told apart only by what is selected: order by that alone."""
    if node in [n for n, _ in build.selected] or (
        isinstance(node, ast.Column) and node.name in build.alias_nodes
    ):
        return
    raise build.error("With DISTINCT, $order may use only what $select holds", node.pos)


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
    """``$q``: every word must appear, case-insensitively, in some text column. Each word's
    predicate is marked (``WordSearch``) so a store with a word index can narrow it first."""
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
        conditions.append(
            WordSearch(
                this=exp.Paren(this=exp.or_(*found, copy=False)),
                word=exp.Literal.string(word.lower()),
            )
        )
    return conditions
