"""Turn the string literals of a compiled query into bind parameters.

The compiler builds literals from user text; sqlglot would escape them correctly, but we
go one step further: no user text is ever part of the SQL an engine parses.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp


def bind_string_literals(tree: exp.Expression) -> tuple[exp.Expression, dict[str, Any]]:
    """Copy ``tree`` with every string literal replaced by a named placeholder."""
    params: dict[str, Any] = {}

    def swap(node: exp.Expression) -> exp.Expression:
        # Units of date functions ('MONTH') are the compiler's, not the user's, and some
        # engines need them constant.
        if isinstance(node, exp.Literal) and node.is_string and node.arg_key != "unit":
            name = f"p{len(params)}"
            params[name] = node.this
            return exp.Placeholder(this=name)
        return node

    return tree.transform(swap, copy=True), params
