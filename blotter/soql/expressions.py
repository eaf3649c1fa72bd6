"""SoQL expressions → typed sqlglot expressions, with Socrata's name and type rules.

One :class:`Scope` per clause resolves names against the dataset's columns (and select
aliases), checks types, and reports errors with the clause and the position.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlglot import exp

from blotter.errors import NoSuchColumn, NoSuchFunction, SoQLError, TypeMismatch
from blotter.model import ColumnType, Dataset
from blotter.schema import SYSTEM_FIELDS, number, point_parts
from blotter.soql import ast
from blotter.soql.functions import ANY, FUNCTIONS, NOT_YET
from blotter.soql.positions import positioned
from blotter.soql.typed import CHECKBOX, NULL, NUMBER, POINT, ROW_ID, TEXT, TIMESTAMP, Typed

_CASTS = {
    "number": (NUMBER, "DOUBLE"),
    "double": (NUMBER, "DOUBLE"),
    "text": (TEXT, "TEXT"),
    "floating_timestamp": (TIMESTAMP, "TIMESTAMP"),
    "checkbox": (CHECKBOX, "BOOLEAN"),
    "boolean": (CHECKBOX, "BOOLEAN"),
}
_COMPARE = {"=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}
_ARITH = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul, "/": exp.Div, "%": exp.Mod}


def _castable(source: str, target: str) -> bool:
    """Casts both engines make alike: to or from text, to the same type, a null anywhere."""
    if source == ROW_ID:
        source = NUMBER
    return source in (target, TEXT, NULL) or target == TEXT


def parse_timestamp(text: str) -> datetime | None:
    """A floating timestamp from Socrata's literal forms, or None."""
    try:
        return datetime.fromisoformat(text.strip().replace(" ", "T").removesuffix("Z"))
    except ValueError:
        return None


def timestamp_literal(value: datetime) -> exp.Expression:
    return exp.Cast(
        this=exp.Literal.string(value.isoformat(sep=" ")), to=exp.DataType.build("TIMESTAMP")
    )


class Scope:
    """Name resolution and type checking for one query against one dataset; ``clause``
    names the clause being read, for errors, and ``use_aliases`` whether select aliases
    resolve there."""

    def __init__(self, dataset: Dataset, clause: str, query: str | None) -> None:
        self.dataset = dataset
        self.clause = clause
        self.query = query
        self.aliases: dict[str, Typed] = {}
        self.use_aliases = True

    def error(self, cls: type[SoQLError], message: str, node: ast.Node) -> SoQLError:
        return positioned(cls, message, self.clause, node.pos, self.query)

    # --- names ---

    def column(self, node: ast.Column) -> Typed:
        col = self.dataset.column(node.name)
        if col is None:
            if self.use_aliases and node.name in self.aliases:
                return self.aliases[node.name]
            names = [c.field_name for c in self.dataset.columns]
            close = difflib.get_close_matches(node.name, names, n=3)
            hint = (
                f" Did you mean {' or '.join(close)}?"
                if close
                else (f" Columns are: {', '.join(names)}.")
            )
            raise self.error(NoSuchColumn, f"No column '{node.name}' in this dataset.{hint}", node)
        if col.type is ColumnType.POINT:
            lon, lat = point_parts(col.field_name)
            return Typed(
                exp.column(lon, quoted=True),
                POINT,
                parts=(exp.column(lon, quoted=True), exp.column(lat, quoted=True)),
                shape="point",
            )
        return Typed(exp.column(col.field_name, quoted=True), str(col.type))

    def system_column(self, node: ast.SystemColumn) -> Typed:
        for system in SYSTEM_FIELDS:
            if system.soql_name == node.name:
                kind = ROW_ID if system.type is None else str(system.type)
                # Socrata's system timestamps are fixed (UTC instants), written with a Z.
                fixed = kind == TIMESTAMP
                return Typed(exp.column(system.physical, quoted=True), kind, fixed=fixed)
        known = ", ".join(s.soql_name for s in SYSTEM_FIELDS)
        raise self.error(NoSuchColumn, f"No system field '{node.name}'; there are {known}.", node)

    # --- expressions ---

    def compile(self, node: ast.Expr) -> Typed:
        match node:
            case ast.Column():
                return self.column(node)
            case ast.SystemColumn():
                return self.system_column(node)
            case ast.Literal():
                return self.literal(node)
            case ast.BinOp():
                return self.binop(node)
            case ast.Not():
                operand = self.boolean(node.operand, "NOT")
                return Typed(exp.Not(this=exp.Paren(this=operand.sql)), CHECKBOX, operand.aggregate)
            case ast.Neg():
                operand = self.expect(node.operand, NUMBER, "unary minus")
                return Typed(exp.Neg(this=exp.Paren(this=operand.sql)), NUMBER, operand.aggregate)
            case ast.IsNull():
                operand = self.compile(node.operand)
                value = operand.lon if operand.type == POINT else operand.sql
                test: exp.Expression = exp.Is(this=value, expression=exp.Null())
                return Typed(
                    exp.Not(this=test) if node.negated else test, CHECKBOX, operand.aggregate
                )
            case ast.Between():
                return self.between(node)
            case ast.In():
                return self.in_(node)
            case ast.Like():
                operand = self.expect(node.operand, TEXT, "LIKE")
                pattern = self.expect(node.pattern, TEXT, "LIKE")
                like: exp.Expression = exp.Like(this=operand.sql, expression=pattern.sql)
                return Typed(
                    exp.Not(this=like) if node.negated else like, CHECKBOX, operand.aggregate
                )
            case ast.Cast():
                return self.cast(node)
            case ast.Call():
                return self.call(node)
        raise self.error(SoQLError, "This expression is not supported", node)  # pragma: no cover

    def literal(self, node: ast.Literal) -> Typed:
        if node.kind == "text":
            return Typed(exp.Literal.string(str(node.value)), TEXT)
        if node.kind == "number":
            return Typed(number(float(node.value or 0)), NUMBER)
        if node.kind == "checkbox":
            return Typed(exp.true() if node.value else exp.false(), CHECKBOX)
        return Typed(exp.Null(), NULL)

    def coerce(self, node: ast.Expr, typed: Typed, want: str, what: str) -> Typed:
        """Fit ``typed`` to ``want``: text literals become timestamps, numbers or booleans."""
        if typed.type == want or typed.type == NULL or want == ANY:
            return typed
        if want == ROW_ID and typed.type == NUMBER:
            return typed
        if isinstance(node, ast.Literal) and node.kind == "text":
            text = str(node.value)
            if want == TIMESTAMP and (stamp := parse_timestamp(text)) is not None:
                return Typed(timestamp_literal(stamp), TIMESTAMP)
            if want in (NUMBER, ROW_ID):
                digits = text.removeprefix("row-") if want == ROW_ID else text
                try:
                    return Typed(number(float(digits)), NUMBER)
                except ValueError:
                    pass
            if want == CHECKBOX and text.lower() in ("true", "false"):
                return Typed(exp.true() if text.lower() == "true" else exp.false(), CHECKBOX)
        shown = "row id" if typed.type == ROW_ID else typed.type
        wanted = "row id" if want == ROW_ID else want
        raise self.error(TypeMismatch, f"{what} needs {wanted}, not {shown}", node)

    def expect(self, node: ast.Expr, want: str, what: str) -> Typed:
        return self.coerce(node, self.compile(node), want, what)

    def boolean(self, node: ast.Expr, what: str) -> Typed:
        return self.expect(node, CHECKBOX, what)

    def _pair(self, left_node: ast.Expr, right_node: ast.Expr, what: str) -> tuple[Typed, Typed]:
        """Compile two operands that must share a type; a text literal adapts to the other."""
        left, right = self.compile(left_node), self.compile(right_node)
        if POINT in (left.type, right.type):
            raise self.error(
                TypeMismatch,
                f"{what} cannot compare points; use within_circle, within_box or within_polygon",
                left_node,
            )
        if left.type != right.type and NULL not in (left.type, right.type):
            if isinstance(right_node, ast.Literal):
                right = self.coerce(right_node, right, left.type, what)
            elif isinstance(left_node, ast.Literal):
                left = self.coerce(left_node, left, right.type, what)
            else:
                raise self.error(
                    TypeMismatch, f"{what} compares {left.type} with {right.type}", left_node
                )
        return left, right

    def binop(self, node: ast.BinOp) -> Typed:
        if node.op in ("and", "or"):
            left = self.boolean(node.left, node.op.upper())
            right = self.boolean(node.right, node.op.upper())
            build = exp.and_ if node.op == "and" else exp.or_
            return Typed(
                exp.Paren(this=build(left.sql, right.sql, copy=False)),
                CHECKBOX,
                left.aggregate or right.aggregate,
            )
        if node.op in _COMPARE:
            left, right = self._pair(node.left, node.right, f"'{node.op}'")
            compared = cast(exp.Expression, _COMPARE[node.op](this=left.sql, expression=right.sql))
            return Typed(compared, CHECKBOX, left.aggregate or right.aggregate)
        if node.op == "||":
            parts = [self.compile(node.left), self.compile(node.right)]
            as_text = [
                p.sql if p.type == TEXT else exp.Cast(this=p.sql, to=exp.DataType.build("TEXT"))
                for p in parts
            ]
            return Typed(
                exp.DPipe(this=as_text[0], expression=as_text[1], safe=True),
                TEXT,
                any(p.aggregate for p in parts),
            )
        left = self.expect(node.left, NUMBER, f"'{node.op}'")
        right = self.expect(node.right, NUMBER, f"'{node.op}'")
        if node.op == "/":
            # Division is always decimal, as in Socrata: 7 / 2 is 3.5 on every engine.
            divided = exp.Div(
                this=exp.Cast(this=left.sql, to=exp.DataType.build("DOUBLE")),
                expression=exp.Nullif(this=right.sql, expression=exp.Literal.number(0)),
            )
            return Typed(exp.Paren(this=divided), NUMBER, left.aggregate or right.aggregate)
        if node.op == "%":
            # PostgreSQL has no remainder of doubles; a wide decimal gives the same answer
            # on both engines.
            wide = exp.DataType.build("DECIMAL(38, 10)")
            # A remainder by zero is null, as a division by zero is (PostgreSQL would fail).
            divisor = exp.Nullif(this=right.sql, expression=exp.Literal.number(0))
            remainder = exp.Mod(
                this=exp.Cast(this=left.sql, to=wide), expression=exp.Cast(this=divisor, to=wide)
            )
            return Typed(
                exp.Cast(this=exp.Paren(this=remainder), to=exp.DataType.build("DOUBLE")),
                NUMBER,
                left.aggregate or right.aggregate,
            )
        op = _ARITH[node.op](this=left.sql, expression=right.sql)
        return Typed(exp.Paren(this=op), NUMBER, left.aggregate or right.aggregate)

    def between(self, node: ast.Between) -> Typed:
        operand, low = self._pair(node.operand, node.low, "BETWEEN")
        _, high = self._pair(node.operand, node.high, "BETWEEN")
        test: exp.Expression = exp.Between(this=operand.sql, low=low.sql, high=high.sql)
        return Typed(exp.Not(this=test) if node.negated else test, CHECKBOX, operand.aggregate)

    def in_(self, node: ast.In) -> Typed:
        operand = self.compile(node.operand)
        items = [self._pair(node.operand, item, "IN")[1].sql for item in node.items]
        test: exp.Expression = exp.In(this=operand.sql, expressions=items)
        return Typed(exp.Not(this=test) if node.negated else test, CHECKBOX, operand.aggregate)

    def cast(self, node: ast.Cast) -> Typed:
        if node.type_name not in _CASTS:
            known = ", ".join(sorted(_CASTS))
            raise self.error(
                TypeMismatch, f"Cannot cast to '{node.type_name}'; casts are to {known}", node
            )
        kind, sql_type = _CASTS[node.type_name]
        operand = self.compile(node.operand)
        if kind == TIMESTAMP and isinstance(node.operand, ast.Literal):
            stamp = parse_timestamp(str(node.operand.value))
            if stamp is None:
                raise self.error(
                    TypeMismatch,
                    f"'{node.operand.value}' is not a timestamp like '2015-01-31T00:00:00'",
                    node.operand,
                )
            return Typed(timestamp_literal(stamp), TIMESTAMP)
        if operand.type == POINT:
            raise self.error(TypeMismatch, "A point cannot be cast", node)
        if not _castable(operand.type, kind):
            # Engines disagree on these (DuckDB reads a number as seconds, PostgreSQL
            # refuses), so SoQL refuses them for both; text converts either way.
            raise self.error(TypeMismatch, f"Cannot cast {operand.type} to {node.type_name}", node)
        cast = exp.TryCast(this=operand.sql, to=exp.DataType.build(sql_type))
        return Typed(cast, kind, operand.aggregate)

    def call(self, node: ast.Call) -> Typed:
        function = FUNCTIONS.get(node.name)
        if function is None:
            if node.name in NOT_YET:
                raise self.error(
                    NoSuchFunction, f"Blotter does not support {node.name}() yet", node
                )
            close = difflib.get_close_matches(node.name, list(FUNCTIONS), n=3)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            raise self.error(NoSuchFunction, f"No function '{node.name}'.{hint}", node)
        if node.star:
            if node.name != "count":
                raise self.error(
                    TypeMismatch, f"{node.name}(*) is not allowed; only count(*)", node
                )
            return Typed(exp.Count(this=exp.Star()), NUMBER, aggregate=True)
        self.check_arity(node, function.args, function.variadic, function.min_args)
        args: list[Typed] = []
        for i, arg in enumerate(node.args):
            want = function.args[min(i, len(function.args) - 1)]
            if i in function.literal_args and not isinstance(arg, ast.Literal):
                raise self.error(
                    TypeMismatch, f"Argument {i + 1} of {node.name}() must be a literal", arg
                )
            typed = self.compile(arg)
            if want == ANY:
                if typed.type == POINT and node.name != "count":
                    raise self.error(TypeMismatch, f"{node.name}() does not take a point", arg)
            else:
                typed = self.coerce(arg, typed, want, f"Argument {i + 1} of {node.name}()")
            if function.aggregate and typed.aggregate:
                raise self.error(SoQLError, f"{node.name}() cannot hold another aggregate", arg)
            args.append(typed)
        try:
            result = function.build(args)
        except ValueError as err:
            raise self.error(TypeMismatch, f"{node.name}(): {err}", node) from None
        if node.distinct:
            if node.name != "count":
                raise self.error(SoQLError, "DISTINCT is allowed in count() only", node)
            value = args[0].lon if args[0].type == POINT else args[0].sql
            result = Typed(exp.Count(this=exp.Distinct(expressions=[value])), NUMBER, True)
        aggregate = function.aggregate or any(a.aggregate for a in args) or result.aggregate
        # The latest (or earliest) of fixed timestamps is one of them, so fixed too.
        fixed = node.name in ("min", "max") and args[0].fixed
        return Typed(result.sql, result.type, aggregate, result.parts, result.shape, fixed)

    def check_arity(
        self, node: ast.Call, args: Sequence[str], variadic: bool, min_args: int | None
    ) -> None:
        low = len(args) if min_args is None else min_args
        given = len(node.args)
        if given < low or (not variadic and given > len(args)):
            expected = (
                f"{low}"
                if low == len(args) and not variadic
                else (f"at least {low}" if variadic else f"{low} to {len(args)}")
            )
            raise self.error(
                TypeMismatch, f"{node.name}() takes {expected} arguments, not {given}", node
            )
