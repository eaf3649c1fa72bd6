"""SoQL text → :mod:`blotter.soql.ast`, with errors that say which clause and where."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.tree import Meta
from lark.visitors import Transformer_NonRecursive

from blotter.errors import SoQLError
from blotter.soql import ast
from blotter.soql.limits import check_search, check_size, expressions
from blotter.soql.parser_cache import parser_cache_file
from blotter.soql.positions import pos_at, positioned

# Which start rule parses which SODA parameter.
_START = {
    "$select": "select_list",
    "$where": "expr",
    "$having": "expr",
    "$order": "order_list",
    "$group": "group_list",
    "$query": "statement",
}

# "Expected …" in plain words: the terminals the parser would accept at the error, grouped
# the way a person names them. Terminal names come from grammar.lark ("is"i is IS, "(" LPAR).
_VALUES = frozenset({"NAME", "QUOTED_NAME", "STRING", "NUMBER"})
_OPERATORS = frozenset(
    {"COMP_OP", "ADD_OP", "MUL_OP", "CONCAT_OP", "_AND", "_OR", "IS", "BETWEEN", "IN", "LIKE"}
    | {"_CAST"}
)
_ALONE = {"NULL": "NULL", "_NOT": "NOT", "TRUE": "true", "FALSE": "false"}
_MARKS = {
    "STAR": "'*'",
    "SYSTEM_STAR": "':*'",
    "DISTINCT": "DISTINCT",
}
_FOLLOWERS = {
    "COMMA": "','",
    "RPAR": "')'",
    "AS": "AS",
    "ASC": "ASC",
    "DESC": "DESC",
    "NULLS": "NULLS FIRST/LAST",
    "FIRST": "FIRST",
    "LAST": "LAST",
    "BY": "BY",
}
_CLAUSES = {
    "SELECT": "SELECT",
    "WHERE": "WHERE",
    "GROUP": "GROUP BY",
    "HAVING": "HAVING",
    "ORDER": "ORDER BY",
    "SEARCH": "SEARCH",
    "LIMIT": "LIMIT",
    "OFFSET": "OFFSET",
}
# LIMIT and OFFSET become SQL BIGINTs; larger values would fail in the engine, not here.
_MAX_COUNT = 2**63 - 1


@cache
def _parser() -> Lark:
    grammar = resources.files("blotter.soql").joinpath("grammar.lark").read_text()
    kept = parser_cache_file()  # soql/parser_cache.py: 0.2 s a process, 0.01 from the file
    return Lark(
        grammar,
        start=sorted(set(_START.values())),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
        **({"cache": kept} if kept else {}),
    )


def _pos(meta: Meta | Token) -> ast.Pos:
    line = getattr(meta, "line", None)
    column = getattr(meta, "column", None)
    return ast.Pos(line or 1, column or 1)


def unquote_name(token: Token) -> str:
    text = str(token)
    # Field names are lowercase; Socrata matches them case-insensitively.
    return text[1:-1].lower() if text.startswith("`") else text.lower()


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive[Token, Any]):
    """Lark's parse tree → our AST; nothing here decides meaning, only shape. Not recursive,
    so a deeply nested query reaches the caps below instead of Python's stack limit.

    ``children`` is ``list[Any]`` where a rule mixes kinds: lark hands each callback whatever
    the callbacks below it returned (tokens, nodes, tagged tuples), and types none of it."""

    # --- literals and names ---
    def string(self, meta: Meta, children: list[Token]) -> ast.Literal:
        text = str(children[0])[1:-1].replace("''", "'")
        return ast.Literal(text, "text", pos=_pos(meta))

    def number(self, meta: Meta, children: list[Token]) -> ast.Literal:
        return ast.Literal(float(children[0]), "number", pos=_pos(meta))

    def true(self, meta: Meta, _: list[Any]) -> ast.Literal:
        return ast.Literal(True, "checkbox", pos=_pos(meta))

    def false(self, meta: Meta, _: list[Any]) -> ast.Literal:
        return ast.Literal(False, "checkbox", pos=_pos(meta))

    def null(self, meta: Meta, _: list[Any]) -> ast.Literal:
        return ast.Literal(None, "null", pos=_pos(meta))

    def name(self, meta: Meta, children: list[Token]) -> tuple[str, ast.Pos]:
        return unquote_name(children[0]), _pos(children[0])

    def column(self, meta: Meta, children: list[Any]) -> ast.Column:
        name, pos = children[0]
        return ast.Column(name, pos=pos)

    def system_column(self, meta: Meta, children: list[Token]) -> ast.SystemColumn:
        return ast.SystemColumn(str(children[0]).lower(), pos=_pos(children[0]))

    # --- operators ---
    def _fold(self, meta: Meta, children: list[Any], op: str | None = None) -> ast.Expr:
        result: ast.Expr = children[0]
        i = 1
        while i < len(children):
            if isinstance(children[i], Token):
                operator, right = str(children[i]), children[i + 1]
                i += 2
            else:
                operator, right = op or "", children[i]
                i += 1
            operator = "=" if operator == "==" else "!=" if operator == "<>" else operator
            result = ast.BinOp(operator, result, right, pos=result.pos)
        return result

    def _balanced(self, children: list[ast.Expr], op: str) -> ast.Expr:
        # AND and OR are associative: a balanced tree keeps a long chain (clients generate
        # `a = 1 OR a = 2 OR …`) shallow, so it counts against MAX_NODES, not MAX_DEPTH.
        if len(children) == 1:
            return children[0]
        middle = (len(children) + 1) // 2  # three terms group as (a AND b) AND c
        left = self._balanced(children[:middle], op)
        right = self._balanced(children[middle:], op)
        return ast.BinOp(op, left, right, pos=left.pos)

    def or_expr(self, meta: Meta, children: list[ast.Expr]) -> ast.Expr:
        return self._balanced(children, "or")

    def and_expr(self, meta: Meta, children: list[ast.Expr]) -> ast.Expr:
        return self._balanced(children, "and")

    def concat(self, meta: Meta, children: list[Any]) -> ast.Expr:
        return self._fold(meta, children)

    sum = concat
    product = concat

    def compare(self, meta: Meta, children: list[Any]) -> ast.Expr:
        return self._fold(meta, children)

    def not_(self, meta: Meta, children: list[ast.Expr]) -> ast.Not:
        return ast.Not(children[0], pos=_pos(meta))

    def neg(self, meta: Meta, children: list[ast.Expr]) -> ast.Expr:
        operand = children[0]
        if isinstance(operand, ast.Literal) and operand.kind == "number":
            return ast.Literal(-float(operand.value or 0), "number", pos=_pos(meta))
        return ast.Neg(operand, pos=_pos(meta))

    def is_null(self, meta: Meta, children: list[ast.Expr]) -> ast.IsNull:
        return ast.IsNull(children[0], pos=_pos(meta))

    def is_not_null(self, meta: Meta, children: list[ast.Expr]) -> ast.IsNull:
        return ast.IsNull(children[0], negated=True, pos=_pos(meta))

    def between(self, meta: Meta, children: list[ast.Expr]) -> ast.Between:
        operand, low, high = children
        return ast.Between(operand, low, high, pos=_pos(meta))

    def not_between(self, meta: Meta, children: list[ast.Expr]) -> ast.Between:
        operand, low, high = children
        return ast.Between(operand, low, high, negated=True, pos=_pos(meta))

    def in_(self, meta: Meta, children: list[ast.Expr]) -> ast.In:
        return ast.In(children[0], tuple(children[1:]), pos=_pos(meta))

    def not_in(self, meta: Meta, children: list[ast.Expr]) -> ast.In:
        return ast.In(children[0], tuple(children[1:]), negated=True, pos=_pos(meta))

    def like(self, meta: Meta, children: list[ast.Expr]) -> ast.Like:
        return ast.Like(children[0], children[1], pos=_pos(meta))

    def not_like(self, meta: Meta, children: list[ast.Expr]) -> ast.Like:
        return ast.Like(children[0], children[1], negated=True, pos=_pos(meta))

    def cast(self, meta: Meta, children: list[Any]) -> ast.Cast:
        type_name, _ = children[1]
        return ast.Cast(children[0], type_name, pos=_pos(meta))

    # --- calls ---
    def call(self, meta: Meta, children: list[Any]) -> ast.Call:
        name, pos = children[0]
        args = children[1] if len(children) > 1 else ("plain", ())
        kind, values = args
        return ast.Call(
            name, tuple(values), distinct=kind == "distinct", star=kind == "star", pos=pos
        )

    def star_arg(self, meta: Meta, _: list[Any]) -> tuple[str, tuple[()]]:
        return "star", ()

    def distinct_args(self, meta: Meta, children: list[Any]) -> tuple[str, tuple[Any, ...]]:
        return "distinct", tuple(children[1:])

    def plain_args(self, meta: Meta, children: list[Any]) -> tuple[str, tuple[Any, ...]]:
        return "plain", tuple(children)

    # --- clauses ---
    def star(self, meta: Meta, _: list[Any]) -> ast.Star:
        return ast.Star(pos=_pos(meta))

    def system_star(self, meta: Meta, _: list[Any]) -> ast.Star:
        return ast.Star(system=True, pos=_pos(meta))

    def aliased(self, meta: Meta, children: list[Any]) -> ast.SelectItem:
        alias = children[1][0] if len(children) > 1 else None
        return ast.SelectItem(children[0], alias, pos=_pos(meta))

    def select_list(self, meta: Meta, children: list[Any]) -> tuple[bool, tuple[Any, ...]]:
        distinct = bool(children) and isinstance(children[0], Token)
        return distinct, tuple(children[1:] if distinct else children)

    def group_list(self, meta: Meta, children: list[Any]) -> tuple[Any, ...]:
        return tuple(children)

    order_list = group_list

    def order_item(self, meta: Meta, children: list[Any]) -> ast.OrderItem:
        desc = False
        nulls_first: bool | None = None
        for child in children[1:]:
            if child[0] == "direction":
                desc = child[1]
            else:
                nulls_first = child[1]
        return ast.OrderItem(children[0], desc, nulls_first, pos=_pos(meta))

    def direction(self, meta: Meta, children: list[Token]) -> tuple[str, bool]:
        return "direction", str(children[0]).lower() == "desc"

    def nulls(self, meta: Meta, children: list[Token]) -> tuple[str, bool]:
        return "nulls", str(children[0]).lower() == "first"

    def statement(self, meta: Meta, children: list[Any]) -> ast.Query:
        parts = dict(children)
        distinct, select = parts.get("select", (False, ()))
        return ast.Query(
            select=select,
            distinct=distinct,
            where=parts.get("where"),
            group=parts.get("group", ()),
            having=parts.get("having"),
            order=parts.get("order", ()),
            search=parts.get("search", (None, None))[0],
            limit=parts.get("limit", (None, None))[0],
            offset=parts.get("offset", (None, None))[0],
            search_pos=parts.get("search", (None, None))[1],
            limit_pos=parts.get("limit", (None, None))[1],
            offset_pos=parts.get("offset", (None, None))[1],
        )

    def select_clause(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return "select", children[0]

    def where_clause(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return "where", children[0]

    def group_clause(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return "group", children[0]

    def having_clause(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return "having", children[0]

    def order_clause(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return "order", children[0]

    # SEARCH, LIMIT and OFFSET keep where their value starts, for the errors about it.
    def search_clause(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return "search", (str(children[0])[1:-1].replace("''", "'"), _pos(children[0]))

    def limit_clause(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return "limit", (int(children[0]), _pos(children[0]))

    def offset_clause(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return "offset", (int(children[0]), _pos(children[0]))


def _expected_words(accepted: set[str], after: Token | None) -> list[str]:
    """What could have come next, in words, given the terminals the parser accepts."""
    if after is not None and after.type == "_CAST":
        return ["a type name such as number or text"]
    if after is not None and after.type == "AS":
        return ["a name for the output column"]
    words: list[str] = []
    value = bool(accepted & _VALUES)
    if value:
        words.append("a value")
    elif "INT" in accepted:
        words.append("a whole number")
    words += [word for name, word in _MARKS.items() if name in accepted]
    operators = bool(accepted & _OPERATORS)
    if not value and not operators:
        words += [word for name, word in _ALONE.items() if name in accepted]
    if "_AND" in accepted and "_OR" not in accepted:
        words.append("AND")  # the second half of BETWEEN
    if operators:
        words.append("an operator")
    words += [word for name, word in _FOLLOWERS.items() if name in accepted]
    clauses = [word for name, word in _CLAUSES.items() if name in accepted]
    if clauses:
        words.append(f"a clause ({', '.join(clauses)})")
    if "$END" in accepted:
        words.append("the end")
    return words


def _one_of(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _state_at(text: str, start: str, offset: int) -> tuple[set[str], Token | None]:
    """The terminals acceptable at ``offset`` and the token just before it.

    Re-parses the text before the error interactively, because the error's own list
    merges LALR states and would offer words no query could use there.
    """
    try:
        parser = _parser().parse_interactive(text[:offset], start=start)
        last: Token | None = None
        for token in parser.iter_parse():
            last = token
        # lark's InteractiveParser.accepts() carries no annotations: it returns a set of names.
        return set(parser.accepts()), last  # type: ignore[no-untyped-call]
    except UnexpectedInput:  # pragma: no cover - the prefix parsed once already
        return set(), None


def _shown(token: str) -> str:
    return f"'{token}'" if len(token) <= 30 else f"'{token[:27]}…'"


def _syntax_error(err: UnexpectedInput, clause: str, text: str) -> SoQLError:
    """A Lark error → SoQLError: expected what, after what, found what, where, with a caret."""
    line = getattr(err, "line", 1) or 1
    column = getattr(err, "column", 1) or 1
    if isinstance(err, UnexpectedEOF) or (
        isinstance(err, UnexpectedToken) and err.token.type == "$END"
    ):
        found, offset = "end of input", len(text)
        line, column = text.count("\n") + 1, len(text.rsplit("\n", 1)[-1]) + 1
    elif isinstance(err, UnexpectedToken):
        found, offset = _shown(str(err.token)), err.token.start_pos or 0
    elif isinstance(err, UnexpectedCharacters):
        offset = err.pos_in_stream or 0
        char = text[offset] if offset < len(text) else ""
        found = {
            "'": "a 'text' value with no closing quote",
            "`": "a `name` with no closing backtick",
        }.get(char, _shown(char))
    else:  # pragma: no cover - LALR raises only the kinds above
        found, offset = "something unexpected", 0
    accepted, before = _state_at(text, _START[clause], offset)
    words = _expected_words(accepted, before)
    expected = f"expected {_one_of(words)}" if words else "could not continue"
    after = f" after {_shown(str(before))}" if before is not None else ""
    source_line = text.split("\n")[line - 1] if text else ""
    return SoQLError(
        f"Could not parse {clause} at line {line}, column {column}: {expected}{after}, "
        f"found {found}.\n  {source_line}\n  {' ' * (column - 1)}^",
        clause=clause,
        query=text,
        line=line,
        column=column,
    )


# Clauses up to this length (nearly all) are parsed once per text (``_parsed``).
SHORT_CLAUSE = 256


def parse_clause(clause: str, text: str) -> Any:
    """Parse one SODA parameter's text with that parameter's start rule. A short clause is
    parsed once and its tree shared by every request that sends the same text: the tree is
    immutable (frozen dataclasses and tuples), so no use of it can change another's. A
    clause that fails is parsed again each time (errors are not kept)."""
    if len(text) <= SHORT_CLAUSE:
        return _parsed(clause, text)
    return _parse(clause, text)


@lru_cache(maxsize=1024)
def _parsed(clause: str, text: str) -> Any:
    return _parse(clause, text)


def _parse(clause: str, text: str) -> Any:
    if not text.strip():
        raise SoQLError(f"{clause} is empty.", clause=clause, query=text, line=1, column=1)
    try:
        tree = _parser().parse(text, start=_START[clause])
    except UnexpectedInput as err:
        raise _syntax_error(err, clause, text) from None
    result = _ToAst().transform(tree)
    check_size(clause, text, expressions(result))
    return result


def parse_statement(text: str) -> ast.Query:
    """A whole statement, as ``$query`` holds it."""
    query: ast.Query = parse_clause("$query", text)
    if query.search is not None:
        check_search("$query", query.search, query.search_pos)
    if query.limit is not None:
        _count("$query", query.limit, text, query.limit_pos)
    if query.offset is not None:
        _count("$query", query.offset, text, query.offset_pos)
    return query


def _count(clause: str, value: int, text: str, pos: ast.Pos | None) -> int:
    if value > _MAX_COUNT:
        raise positioned(
            SoQLError,
            f"{clause} is too large: {value} is more than {_MAX_COUNT}",
            clause,
            pos,
            text,
        )
    return value


def _value_pos(text: str) -> ast.Pos:
    """Where a parameter's value starts: its first character that is not blank."""
    return pos_at(text, len(text) - len(text.lstrip()))


def _whole_number(clause: str, text: str) -> tuple[int, ast.Pos]:
    """A ``$limit`` or ``$offset`` value, and where it starts."""
    pos = _value_pos(text)
    # ASCII digits only: str.isdigit() also accepts '²' and other scripts' digits.
    if re.fullmatch(r"\s*[0-9]+\s*", text) is None:
        raise positioned(
            SoQLError,
            f"{clause} must be a whole number of 0 or more, not '{text}'",
            clause,
            pos,
            text,
        )
    # re's \s and int()'s idea of blank differ (\x1f): strip first, as the regex allowed.
    return _count(clause, int(text.strip()), text, pos), pos


def parse_params(params: Mapping[str, str]) -> ast.Query:
    """A query from the separate ``$select``, ``$where``… parameters."""
    where = parse_clause("$where", params["$where"]) if "$where" in params else None
    having = parse_clause("$having", params["$having"]) if "$having" in params else None
    distinct, select = (
        parse_clause("$select", params["$select"]) if "$select" in params else (False, ())
    )
    search = params.get("$q") or None
    limit, limit_pos = (
        _whole_number("$limit", params["$limit"]) if "$limit" in params else (None, None)
    )
    offset, offset_pos = (
        _whole_number("$offset", params["$offset"]) if "$offset" in params else (None, None)
    )
    return ast.Query(
        select=select,
        distinct=distinct,
        where=where,
        group=parse_clause("$group", params["$group"]) if "$group" in params else (),
        having=having,
        order=parse_clause("$order", params["$order"]) if "$order" in params else (),
        search=check_search("$q", search, _value_pos(search)) if search else None,
        limit=limit,
        offset=offset,
        search_pos=_value_pos(search) if search else None,
        limit_pos=limit_pos,
        offset_pos=offset_pos,
    )
