"""The parser alone: what tree each text becomes (precedence, associativity, names, literals),
and that no input whatever escapes as anything but a SoQLError."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blotter.errors import SoQLError
from blotter.soql import ast
from blotter.soql.parser import parse_clause, parse_params, parse_statement


def sexpr(node: object) -> str:
    """A tree as a short S-expression, so a case fits on one line."""
    match node:
        case ast.Column() | ast.SystemColumn():
            return node.name
        case ast.Literal(kind="text"):
            return repr(node.value)
        case ast.Literal(kind="number"):
            value = float(node.value or 0)
            return str(int(value)) if value.is_integer() else str(value)
        case ast.Literal():
            return {True: "true", False: "false", None: "null"}[node.value]  # type: ignore[index]
        case ast.BinOp():
            return f"({node.op} {sexpr(node.left)} {sexpr(node.right)})"
        case ast.Not():
            return f"(not {sexpr(node.operand)})"
        case ast.Neg():
            return f"(neg {sexpr(node.operand)})"
        case ast.IsNull():
            return f"({'is-not-null' if node.negated else 'is-null'} {sexpr(node.operand)})"
        case ast.Between():
            parts = " ".join(sexpr(n) for n in (node.operand, node.low, node.high))
            return f"({'not-between' if node.negated else 'between'} {parts})"
        case ast.In():
            parts = " ".join(sexpr(n) for n in (node.operand, *node.items))
            return f"({'not-in' if node.negated else 'in'} {parts})"
        case ast.Like():
            parts = f"{sexpr(node.operand)} {sexpr(node.pattern)}"
            return f"({'not-like' if node.negated else 'like'} {parts})"
        case ast.Cast():
            return f"(:: {sexpr(node.operand)} {node.type_name})"
        case ast.Call():
            inner = ["*"] if node.star else [sexpr(a) for a in node.args]
            return f"({node.name}{' distinct' if node.distinct else ''} {' '.join(inner)})".replace(
                " )", ")"
            )
        case ast.Star():
            return ":*" if node.system else "*"
        case ast.SelectItem():
            return f"{sexpr(node.expr)} as {node.alias}" if node.alias else sexpr(node.expr)
        case ast.OrderItem():
            nulls = {None: "", True: " nulls-first", False: " nulls-last"}[node.nulls_first]
            return f"{sexpr(node.expr)}{' desc' if node.desc else ''}{nulls}"
    raise AssertionError(node)


# $where text → tree
# fmt: off
EXPRESSIONS: list[tuple[str, str]] = [
    ("a OR b AND c", "(or a (and b c))"),
    ("a AND b OR c", "(or (and a b) c)"),
    ("a OR b OR c", "(or (or a b) c)"),
    ("NOT a = 1 AND b", "(and (not (= a 1)) b)"),
    ("NOT NOT a", "(not (not a))"),
    ("a = 1 OR NOT b IS NULL", "(or (= a 1) (not (is-null b)))"),
    ("a + b * c - d", "(- (+ a (* b c)) d)"),
    ("a - b - c", "(- (- a b) c)"),
    ("a % b / c", "(/ (% a b) c)"),
    ("a || b + c", "(|| a (+ b c))"),
    ("a || b = c", "(= (|| a b) c)"),
    ("-a * b", "(* (neg a) b)"),
    ("- -a", "(neg (neg a))"),
    ("-3", "-3"),
    ("+a", "a"),
    ("a::number + 1", "(+ (:: a number) 1)"),
    ("-a::number", "(neg (:: a number))"),
    ("a::text::number", "(:: (:: a text) number)"),
    ("'1'::NUMBER", "(:: '1' number)"),
    ("(a + b) * c", "(* (+ a b) c)"),
    ("a BETWEEN 1 + 1 AND 3 AND b", "(and (between a (+ 1 1) 3) b)"),
    ("a NOT BETWEEN 1 AND 2", "(not-between a 1 2)"),
    ("a IN (1, 'x', NULL)", "(in a 1 'x' null)"),
    ("a NOT IN (b)", "(not-in a b)"),
    ("a LIKE 'x%'", "(like a 'x%')"),
    ("a NOT LIKE 'x' || b", "(not-like a (|| 'x' b))"),
    ("a IS NULL", "(is-null a)"),
    ("a is not null", "(is-not-null a)"),
    ("a <> b", "(!= a b)"),
    ("a == b", "(= a b)"),
    ("a >= b", "(>= a b)"),
    ("a <= b", "(<= a b)"),
    ("a < b", "(< a b)"),
    ("a > b", "(> a b)"),
    ("TRUE AND false", "(and true false)"),
    ("'it''s'", '"it\'s"'),
    ("''", "''"),
    ("1.5e3", "1500"),
    ("2.5", "2.5"),
    (".5", "0.5"),
    ("7E-1", "0.7"),
    ("Subject_Race", "subject_race"),
    ("`Subject Race`", "subject race"),
    (":ID", ":id"),
    (":created_at < :updated_at", "(< :created_at :updated_at)"),
    ("count(*)", "(count *)"),
    ("COUNT(DISTINCT a)", "(count distinct a)"),
    ("f()", "(f)"),
    ("within_circle(p, 1, -2, 3)", "(within_circle p 1 -2 3)"),  # negative literals fold
    ("case(a > 1, 'x', true, 'y')", "(case (> a 1) 'x' true 'y')"),
    ("upper(a) || lower(b)", "(|| (upper a) (lower b))"),
    ("a\n AND\tb", "(and a b)"),
]
# fmt: on


@pytest.mark.parametrize(("text", "tree"), EXPRESSIONS, ids=[e[0] for e in EXPRESSIONS])
def test_expression_tree(text: str, tree: str) -> None:
    assert sexpr(parse_clause("$where", text)) == tree


# fmt: off
LISTS: list[tuple[str, str, list[str]]] = [
    ("$select", "a, b AS c, *, :*", ["a", "b as c", "*", ":*"]),
    ("$select", "count(*) AS `n`", ["(count *) as n"]),
    ("$select", "a as B", ["a as b"]),
    ("$select", ":*, *", [":*", "*"]),
    ("$select", "DISTINCT a, b", ["distinct", "a", "b"]),
    ("$select", "distinct(a)", ["distinct", "a"]),
    ("$order", "a, b DESC, c ASC NULLS FIRST, d desc nulls last", ["a", "b desc", "c nulls-first", "d desc nulls-last"]),
    ("$order", "count(*) DESC", ["(count *) desc"]),
    ("$group", "a, date_trunc_ym(b)", ["a", "(date_trunc_ym b)"]),
]
# fmt: on


@pytest.mark.parametrize(("clause", "text", "items"), LISTS, ids=[f"{c[0]}={c[1]}" for c in LISTS])
def test_list_clauses(clause: str, text: str, items: list[str]) -> None:
    parsed = parse_clause(clause, text)
    if clause == "$select":  # (distinct, items)
        distinct, parsed = parsed
        parsed = (["distinct"] if distinct else []) + [sexpr(item) for item in parsed]
        assert parsed == items
        return
    assert [sexpr(item) for item in parsed] == items


def test_parse_params_builds_every_clause() -> None:
    query = parse_params(
        {
            "$select": "a, count(*)",
            "$where": "b > 1",
            "$group": "a",
            "$having": "count(*) > 2",
            "$order": "a DESC",
            "$limit": "10",
            "$offset": " 20 ",
            "$q": "knife",
            "other": "ignored here: the compiler takes filters",
        }
    )
    assert [sexpr(s) for s in query.select] == ["a", "(count *)"]
    assert sexpr(query.where) == "(> b 1)"
    assert [sexpr(g) for g in query.group] == ["a"]
    assert sexpr(query.having) == "(> (count *) 2)"
    assert [sexpr(o) for o in query.order] == ["a desc"]
    assert (query.limit, query.offset, query.search) == (10, 20, "knife")


def test_a_statement_with_every_clause_matches_the_parameters() -> None:
    statement = parse_statement(
        "SELECT a, count(*) WHERE b > 1 GROUP BY a HAVING count(*) > 2 ORDER BY a DESC "
        "SEARCH 'it''s' LIMIT 10 OFFSET 20"
    )
    params = parse_params(
        {
            "$select": "a, count(*)",
            "$where": "b > 1",
            "$group": "a",
            "$having": "count(*) > 2",
            "$order": "a DESC",
            "$q": "it's",
            "$limit": "10",
            "$offset": "20",
        }
    )
    assert statement == params


def test_every_part_of_a_statement_is_optional() -> None:
    assert parse_statement("limit 5") == ast.Query(limit=5)
    assert parse_statement("OFFSET 5") == ast.Query(offset=5)
    with pytest.raises(SoQLError, match="empty"):
        parse_statement("  ")


def test_the_briefs_example_message_exactly() -> None:
    with pytest.raises(SoQLError) as caught:
        parse_params({"$where": "subject_race = "})
    err = caught.value
    assert err.message.splitlines()[0] == (
        "Could not parse $where at line 1, column 16: expected a value after '=', "
        "found end of input."
    )
    assert (err.clause, err.line, err.column) == ("$where", 1, 16)
    assert err.data["query"] == "subject_race = "
    assert err.data["position"] == {"line": 1, "column": 16}
    # The caret sits under the column named.
    caret = err.message.splitlines()[2]
    assert caret.index("^") - 2 == 15


@pytest.mark.parametrize(
    "text",
    [
        "a = b = c",
        "a BETWEEN 1",
        "a IN ()",
        "count(distinct)",
        "a IS",
        "a NOT",
        "()",
        "a ::",
        "1 2",
    ],
)
def test_not_soql(text: str) -> None:
    with pytest.raises(SoQLError) as caught:
        parse_clause("$where", text)
    assert caught.value.clause == "$where" and caught.value.line == 1


@pytest.mark.parametrize(
    "text",
    [
        "SELECT a FROM b",  # no FROM in SoQL: the dataset is in the URL
        "SELECT a; DROP TABLE x",
        "SELECT a /* comment */",  # (no comments; "1 -- x" is 1 minus minus x)
        "SELECT a LIMIT 5 LIMIT 6",
        'SELECT "a"',
        "WHERE a = 1 SELECT a",
        "SELECT a UNION SELECT b",
        "SELECT a WHERE b = $1",
    ],
)
def test_sql_that_is_not_soql_is_refused(text: str) -> None:
    with pytest.raises(SoQLError) as caught:
        parse_statement(text)
    assert caught.value.clause == "$query"


PARAMETERS = st.sampled_from(
    ["$select", "$where", "$order", "$group", "$having", "$limit", "$offset", "$q"]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=st.dictionaries(PARAMETERS, st.text(max_size=40), max_size=4))
def test_any_text_in_any_parameter_fails_only_as_soql_error(params: dict[str, str]) -> None:
    with contextlib.suppress(SoQLError):
        parse_params(params)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=80))
def test_any_statement_fails_only_as_soql_error(text: str) -> None:
    with contextlib.suppress(SoQLError):
        parse_statement(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.lists(
        st.sampled_from(
            [
                "select",
                "where",
                "a",
                "=",
                "'x'",
                "1",
                "(",
                ")",
                ",",
                "limit",
                "offset",
                "order",
                "by",
                "group",
                "having",
                "search",
                "and",
                "not",
                "is",
                "null",
                "::",
                "`b`",
                "*",
                "\n",
            ]
        ),
        max_size=14,
    )
)
def test_soql_shaped_statements_fail_only_as_soql_errors_with_a_position(words: list[str]) -> None:
    text = " ".join(words)
    try:
        parse_statement(text)
    except SoQLError as err:
        assert err.clause == "$query"
        assert err.line is not None and err.column is not None
        assert 1 <= err.line <= text.count("\n") + 1


def test_a_count_with_unusual_blanks_around_it_is_read_not_a_crash() -> None:
    # Python's regex reads \x1f as blank but int() did not: $limit=0%1F was a 500.
    assert parse_params({"$limit": "0\x1f", "$offset": " 7\x1c"}).limit == 0
    assert parse_params({"$offset": " 7\x1c"}).offset == 7


def _immutable(value: object) -> bool:
    """Whether nothing in ``value`` can be changed in place: frozen dataclasses, tuples and
    plain values all the way down."""
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, tuple):
        return all(_immutable(v) for v in value)
    if dataclasses.is_dataclass(value) and type(value).__dataclass_params__.frozen:  # type: ignore[attr-defined]
        return all(_immutable(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


@pytest.mark.parametrize(
    ("clause", "text"),
    [
        ("$where", "a = 'x' AND (b > 2 OR c IN (1, 2, 3)) AND d BETWEEN 1 AND 5"),
        ("$where", "within_circle(location, 47.6, -122.3, 500) AND e IS NOT NULL"),
        ("$where", "not (x like '%a%') and y::number = -1"),
        ("$select", "DISTINCT a, count(*) AS n, date_trunc_ym(d) AS month, *, :*"),
        ("$order", "n DESC NULLS LAST, a"),
        ("$group", "a, month"),
        ("$having", "count(*) > 10"),
        ("$query", "SELECT a, count(*) WHERE b = 1 GROUP BY a ORDER BY a LIMIT 5 OFFSET 2"),
    ],
)
def test_a_short_clause_is_parsed_once_into_a_tree_no_one_can_change(
    clause: str, text: str
) -> None:
    """Requests sending the same short clause share one tree: it must be immutable all the
    way down, and a query made from it (SODA3's paging) a new tree beside it."""
    first = parse_clause(clause, text)
    assert parse_clause(clause, text) is first
    assert _immutable(first)
    if clause == "$query":
        paged = dataclasses.replace(first, limit=1, offset=0)
        assert parse_clause(clause, text) == first != paged
        assert parse_clause(clause, text).limit == 5


def test_a_long_clause_and_a_failing_one_are_parsed_each_time() -> None:
    long = " OR ".join(f"a = {i}" for i in range(60))
    assert parse_clause("$where", long) is not parse_clause("$where", long)
    for _ in range(2):
        with pytest.raises(SoQLError):
            parse_clause("$where", "a = ")
