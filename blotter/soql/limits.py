"""Caps on the work one SoQL request can ask for, checked on the parsed clause before
anything recursive (compiling, sqlglot) sees it. docs/api.md lists them."""

from __future__ import annotations

import math
from typing import Any

from blotter.errors import QueryTooLarge, QueryValueError, SoQLError
from blotter.soql import ast
from blotter.soql.positions import positioned

# Compiling and running grow with each: a 200,000-value IN list ran for 76 s, a 150-word $q
# for 3.3 s, and deep nesting exhausted Python's stack.
MAX_DEPTH = 64  # expressions inside expressions: calls, operators, parentheses
MAX_NODES = 5_000  # names, values, operators and calls in one clause
MAX_IN_VALUES = 1_000  # values in one IN (…) list
MAX_SEARCH_WORDS = 20  # words of $q (each becomes a test on every text column)
# Every polygon vertex is written out as SQL (one 1,000-point polygon is ~185 kB of it, and
# seconds to build): the per-polygon cap also holds for all polygons of a clause together.
MAX_POLYGON_POINTS = 1_000
_POLYGON_FUNCTIONS = frozenset({"within_polygon", "intersects"})


def expressions(parsed: Any) -> list[ast.Expr]:
    """The top expressions of a parsed clause, whatever its start rule made."""
    match parsed:
        case ast.Query():
            found = [i.expr for i in parsed.select if isinstance(i, ast.SelectItem)]
            found += [parsed.where] if parsed.where is not None else []
            found += list(parsed.group) + ([parsed.having] if parsed.having is not None else [])
            return found + [o.expr for o in parsed.order]
        case (bool(), tuple() as items):  # a select list
            return [i.expr for i in items if isinstance(i, ast.SelectItem)]
        case tuple():
            return [i.expr if isinstance(i, ast.OrderItem) else i for i in parsed]
    return [parsed]


def check_size(clause: str, text: str, roots: list[ast.Expr]) -> None:
    """Refuse a clause past the caps, and numbers no engine can hold; walked without
    recursion, since the tree may be as deep as the client made it."""

    def refuse(message: str, node: ast.Node, kind: type[SoQLError] = QueryTooLarge) -> SoQLError:
        return positioned(kind, message, clause, node.pos, text)

    nodes = points = 0
    stack: list[tuple[ast.Expr, int]] = [(root, 1) for root in roots]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise refuse(f"The expression is nested too deeply: at most {MAX_DEPTH} levels", node)
        if nodes > MAX_NODES:
            raise refuse(
                f"{clause} is too long: at most {MAX_NODES:,} names, values and operators", node
            )
        if isinstance(node, ast.In) and len(node.items) > MAX_IN_VALUES:
            raise refuse(
                f"IN lists {len(node.items):,} values; at most {MAX_IN_VALUES:,} are allowed",
                node,
            )
        if isinstance(node, ast.Call) and node.name in _POLYGON_FUNCTIONS:
            # A WKT's points are separated by commas; close enough to count the work.
            texts = [a.value for a in node.args if isinstance(a, ast.Literal)]
            points += sum(t.count(",") + 1 for t in texts if isinstance(t, str))
            if points > MAX_POLYGON_POINTS:
                raise refuse(
                    f"The polygons of {clause} have {points:,} points or more; at most "
                    f"{MAX_POLYGON_POINTS:,} in all",
                    node,
                )
        if (
            isinstance(node, ast.Literal)
            and isinstance(node.value, float)
            and not math.isfinite(node.value)
        ):
            raise refuse("Number out of range", node, QueryValueError)
        stack.extend((child, depth + 1) for child in ast.children(node))


def check_search(clause: str, text: str, pos: ast.Pos | None) -> str:
    """``$q`` (or SEARCH, starting at ``pos``) within its cap of words."""
    words = len(text.split())
    if words > MAX_SEARCH_WORDS:
        raise positioned(
            QueryTooLarge,
            f"{clause} searches for {words} words; at most {MAX_SEARCH_WORDS} are allowed",
            clause,
            pos,
            text,
        )
    return text
