"""Turn the string literals of a compiled query into bind parameters.

The compiler builds literals from user text; sqlglot would escape them correctly, but we
go one step further: no user text is ever part of the SQL an engine parses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

Swap = Callable[[exp.Expression], exp.Expression]


def bind_string_literals(
    tree: exp.Expression, also: Swap | None = None
) -> tuple[exp.Expression, dict[str, Any]]:
    """Copy ``tree`` with every string literal replaced by a named placeholder, and every
    other node by what ``also`` makes of it (the store's tables), in the same pass.

    Equal literals in the same context share one placeholder: an engine matches a grouped
    expression in SELECT and GROUP BY by its text, so ``race || '/' || gender`` must bind
    its ``'/'`` to the same parameter in both, or the engine sees two different expressions.
    """
    params: dict[str, Any] = {}
    names: dict[tuple[str, str], str] = {}

    def swap(node: exp.Expression) -> exp.Expression:
        # Units of date functions ('MONTH') are the compiler's, not the user's, and some
        # engines need them constant.
        if isinstance(node, exp.Literal) and node.is_string and node.arg_key != "unit":
            # PostgreSQL gives a parameter one type: the text of a cast ('2015-01-01' as a
            # timestamp) must not share its parameter with the same text compared as text.
            parent = node.parent
            context = parent.to.sql() if isinstance(parent, exp.Cast) else ""
            key = (node.this, context)
            name = names.get(key)
            if name is None:
                name = names[key] = f"p{len(params)}"
                params[name] = node.this
            return exp.Placeholder(this=name)
        return node if also is None else also(node)

    return tree.transform(swap, copy=True), params
