"""Turn the string literals of a compiled query into bind parameters.

The compiler builds literals from user text; sqlglot would escape them correctly, but we
go one step further: no user text is ever part of the SQL an engine parses.

A compiled tree is shared (kept per request, ``queries.CompiledCache``), so it is never
changed here. :func:`write_bound` writes it as it is, binding each literal and swapping the
store's tables as the generator meets them; that costs about a third of copying the tree
first (a question asked with new values is compiled and written anew each time). Should
a generator write some literal without passing it to the dispatcher (reading its text
itself), the tree is written again from a copy with the literals replaced first
(:func:`bind_string_literals`), so a literal is bound either way.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, DialectType
from sqlglot.generator import Generator

Swap = Callable[[exp.Expression], exp.Expression]
Params = dict[str, Any]


def write_bound(
    tree: exp.Expression, dialect: DialectType, tables: Swap, *, unsorted: bool = False
) -> tuple[str, Params]:
    """The SQL of ``tree`` in ``dialect`` and its bind parameters: each string literal a
    named placeholder, each table what ``tables`` makes of it, and no ORDER BY of the
    top query when ``unsorted``. ``tree`` is left as it was."""
    literals = {id(node): node for node in tree.walk() if _bindable(node)}
    writer = _binding_generator(Dialect.get_or_raise(dialect))
    writer.start(literals, tables, tree.args.get("order") if unsorted else None)
    sql = writer.generate(tree, copy=False)
    if writer.bound == literals.keys():
        return sql, writer.params
    bound, params = bind_string_literals(tree, tables)
    if unsorted:
        bound.set("order", None)
    # ``bound`` is ours alone: the generator need not copy it again.
    return bound.sql(dialect=dialect, copy=False), params


def bind_string_literals(
    tree: exp.Expression, also: Swap | None = None
) -> tuple[exp.Expression, Params]:
    """Copy ``tree`` with every string literal replaced by a named placeholder, and every
    other node by what ``also`` makes of it (the store's tables), in the same pass.

    Equal literals in the same context share one placeholder: an engine matches a grouped
    expression in SELECT and GROUP BY by its text, so ``race || '/' || gender`` must bind
    its ``'/'`` to the same parameter in both, or the engine sees two different expressions.
    """
    names = _Names()

    def swap(node: exp.Expression) -> exp.Expression:
        if _bindable(node):
            return exp.Placeholder(this=names.of(node))
        return node if also is None else also(node)

    return tree.transform(swap, copy=True), names.params


def _bindable(node: exp.Expr) -> bool:
    # Units of date functions ('MONTH') are the compiler's, not the user's, and some
    # engines need them constant.
    return isinstance(node, exp.Literal) and node.is_string and node.arg_key != "unit"


class _Names:
    """A placeholder name per literal text and context, and the parameters named."""

    def __init__(self) -> None:
        self.params: Params = {}
        self._names: dict[tuple[str, str], str] = {}

    def of(self, node: exp.Expr) -> str:
        # PostgreSQL gives a parameter one type: the text of a cast ('2015-01-01' as a
        # timestamp) must not share its parameter with the same text compared as text.
        parent = node.parent
        context = parent.to.sql() if isinstance(parent, exp.Cast) else ""
        key = (node.this, context)
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = f"p{len(self.params)}"
            self.params[name] = node.this
        return name


class _Binding(Generator):
    """What a binding generator adds to a dialect's own (made per dialect by
    :func:`_binding_generator`): the swaps of :func:`write_bound`, done as it writes."""

    def start(self, literals: dict[int, exp.Expr], tables: Swap, order: exp.Expr | None) -> None:
        self._literals, self._tables, self._order = literals, tables, order
        self._names = _Names()
        self.bound: set[int] = set()

    @property
    def params(self) -> Params:
        return self._names.params

    def sql(
        self, expression: str | exp.Expr | None, key: str | None = None, comment: bool = True
    ) -> str:
        if key is not None or not isinstance(expression, exp.Expr):
            return super().sql(expression, key, comment)
        if expression is self._order:
            return ""
        # Only the tree's own nodes: a node a generator makes as it writes (a polygon's
        # test spelt out) holds none of the user's text, and is written as it is.
        if self._literals.get(id(expression)) is expression:
            self.bound.add(id(expression))
            return super().sql(exp.Placeholder(this=self._names.of(expression)))
        if isinstance(expression, exp.Table):
            swapped = self._tables(expression)
            if swapped is not expression:
                return super().sql(swapped)
        return super().sql(expression, key, comment)


@cache
def _binding_class(base: type[Generator]) -> type[_Binding]:
    return type(f"Binding{base.__name__}", (_Binding, base), {})


def _binding_generator(dialect: Dialect) -> _Binding:
    return _binding_class(dialect.generator_class)(dialect=dialect)
