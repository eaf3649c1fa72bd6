"""A small AST for SoQL.

We keep our own tree beside sqlglot's because SoQL's meaning is ours to check: names such
as ``:id``, Socrata's output naming, its type rules, errors that name the clause and the
position. sqlglot's job starts after that: writing each engine's SQL from checked nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal as Lit


@dataclass(frozen=True)
class Pos:
    """Where a node starts in its clause's text (1-based)."""

    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class Node:
    pos: Pos = field(default=Pos(), compare=False, kw_only=True)


@dataclass(frozen=True)
class Column(Node):
    name: str


@dataclass(frozen=True)
class SystemColumn(Node):
    name: str  # with its colon: ":id"


@dataclass(frozen=True)
class Literal(Node):
    value: str | float | bool | None
    kind: Lit["text", "number", "checkbox", "null"]


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Expr, ...]
    distinct: bool = False
    star: bool = False  # count(*)


@dataclass(frozen=True)
class BinOp(Node):
    op: str  # = != < <= > >= + - * / % || and or
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not(Node):
    operand: Expr


@dataclass(frozen=True)
class Neg(Node):
    operand: Expr


@dataclass(frozen=True)
class IsNull(Node):
    operand: Expr
    negated: bool = False


@dataclass(frozen=True)
class Between(Node):
    operand: Expr
    low: Expr
    high: Expr
    negated: bool = False


@dataclass(frozen=True)
class In(Node):
    operand: Expr
    items: tuple[Expr, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like(Node):
    operand: Expr
    pattern: Expr
    negated: bool = False


@dataclass(frozen=True)
class Cast(Node):
    operand: Expr
    type_name: str


Expr = (
    Column | SystemColumn | Literal | Call | BinOp | Not | Neg | IsNull | Between | In | Like | Cast
)


@dataclass(frozen=True)
class Star(Node):
    system: bool = False  # ":*"


@dataclass(frozen=True)
class SelectItem(Node):
    expr: Expr
    alias: str | None = None


@dataclass(frozen=True)
class OrderItem(Node):
    expr: Expr
    desc: bool = False
    nulls_first: bool | None = None


@dataclass(frozen=True)
class Query:
    """One SoQL query: the clauses of ``$query`` or of the separate ``$`` parameters."""

    select: tuple[SelectItem | Star, ...] = ()
    distinct: bool = False  # SELECT DISTINCT
    where: Expr | None = None
    group: tuple[Expr, ...] = ()
    having: Expr | None = None
    order: tuple[OrderItem, ...] = ()
    search: str | None = None
    limit: int | None = None
    offset: int | None = None
    # Where SEARCH, LIMIT and OFFSET's values start, for their errors; not part of the meaning.
    search_pos: Pos | None = field(default=None, compare=False)
    limit_pos: Pos | None = field(default=None, compare=False)
    offset_pos: Pos | None = field(default=None, compare=False)


def children(node: Expr) -> tuple[Expr, ...]:
    """The expressions directly inside ``node``."""
    match node:
        case BinOp():
            return (node.left, node.right)
        case Not() | Neg() | IsNull() | Cast():
            return (node.operand,)
        case Between():
            return (node.operand, node.low, node.high)
        case In():
            return (node.operand, *node.items)
        case Like():
            return (node.operand, node.pattern)
        case Call():
            return node.args
    return ()
