"""Every malformed query is a SoQLError that names the clause and the position; fuzzed input
never escapes as anything else."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blotter.errors import SoQLError
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.soql.compiler import compile_query
from blotter.soql.parser import parse_params, parse_statement

DATASET = Dataset(
    id="test-0001",
    meta=DatasetMeta(name="t"),
    columns=[
        Column(field_name="race", name="Race", type=ColumnType.TEXT),
        Column(field_name="age", name="Age", type=ColumnType.NUMBER),
        Column(field_name="occurred", name="Occurred", type=ColumnType.FLOATING_TIMESTAMP),
        Column(field_name="arrested", name="Arrested", type=ColumnType.CHECKBOX),
        Column(field_name="location", name="Location", type=ColumnType.POINT),
    ],
    created_at="2020-01-01T00:00:00",
    updated_at="2020-01-01T00:00:00",
)

# (parameters, error code, clause, line, column, words the message must hold)
# fmt: off
ERRORS: list[tuple[dict[str, str], str, str, int, int, str]] = [
    ({"$where": "age >"}, "query.compiler.malformed", "$where", 1, 6, "expected a value after '>', found end of input."),
    ({"$where": "age = = 3"}, "query.compiler.malformed", "$where", 1, 7, "expected a value after '=', found '='."),
    ({"$where": "race = 'open"}, "query.compiler.malformed", "$where", 1, 8, "found a 'text' value with no closing quote"),
    ({"$where": "age > 3 AND"}, "query.compiler.malformed", "$where", 1, 12, "expected a value after 'AND', found end of input."),
    ({"$where": "age > 3\nAND # 4"}, "query.compiler.malformed", "$where", 2, 5, "after 'AND', found '#'."),
    ({"$where": "age 3"}, "query.compiler.malformed", "$where", 1, 5, "expected an operator or the end after 'age', found '3'."),
    ({"$where": "(age = 3"}, "query.compiler.malformed", "$where", 1, 9, "expected an operator or ')' after '3'"),
    ({"$where": "age IS"}, "query.compiler.malformed", "$where", 1, 7, "expected NULL or NOT after 'IS'"),
    ({"$where": "age BETWEEN 1"}, "query.compiler.malformed", "$where", 1, 14, "expected AND or an operator after '1'"),
    ({"$where": "age IN (1,"}, "query.compiler.malformed", "$where", 1, 11, "expected a value after ','"),
    ({"$where": "age::"}, "query.compiler.malformed", "$where", 1, 6, "expected a type name"),
    ({"$where": "`race"}, "query.compiler.malformed", "$where", 1, 1, "found a `name` with no closing backtick"),
    ({"$where": "race = 'it''s"}, "query.compiler.malformed", "$where", 1, 12, "found a 'text' value with no closing quote"),
    ({"$where": "age >= 3 AND race = 'x' OR"}, "query.compiler.malformed", "$where", 1, 27, "after 'OR', found end of input"),
    ({"$where": "age > 3 ORDER BY age"}, "query.compiler.malformed", "$where", 1, 9, "found 'ORDER'"),
    ({"$having": "count(*) >"}, "query.compiler.malformed", "$having", 1, 11, "expected a value after '>'"),
    ({"$select": "race,"}, "query.compiler.malformed", "$select", 1, 6, "expected a value, '*' or ':*' after ','"),
    ({"$select": "count("}, "query.compiler.malformed", "$select", 1, 7, "expected a value, '*', DISTINCT or ')' after '('"),
    ({"$select": "race AS"}, "query.compiler.malformed", "$select", 1, 8, "expected a name for the output column after 'AS'"),
    ({"$select": "race age"}, "query.compiler.malformed", "$select", 1, 6, "expected an operator, ',', AS or the end after 'race', found 'age'."),
    ({"$select": "sum(age"}, "query.compiler.malformed", "$select", 1, 8, "')'"),
    ({"$order": "age sideways"}, "query.compiler.malformed", "$order", 1, 5, "ASC, DESC, NULLS FIRST/LAST or the end after 'age', found 'sideways'."),
    ({"$order": "age DESC NULLS"}, "query.compiler.malformed", "$order", 1, 15, "expected FIRST or LAST after 'NULLS'"),
    ({"$group": "race,"}, "query.compiler.malformed", "$group", 1, 6, "expected a value after ','"),
    ({"$group": "race AS r"}, "query.compiler.malformed", "$group", 1, 6, "found 'AS'"),
    ({"$group": ""}, "query.compiler.malformed", "$group", 1, 1, "empty"),
    ({"$limit": "ten"}, "query.compiler.malformed", "$limit", 1, 1, "whole number"),
    ({"$limit": "²"}, "query.compiler.malformed", "$limit", 1, 1, "whole number"),
    ({"$limit": "1.5"}, "query.compiler.malformed", "$limit", 1, 1, "whole number"),
    ({"$offset": "١٢"}, "query.compiler.malformed", "$offset", 1, 1, "whole number"),
    ({"$offset": "99999999999999999999"}, "query.compiler.malformed", "$offset", 1, 1, "too large"),
    ({"$offset": "-5"}, "query.compiler.malformed", "$offset", 1, 1, "whole number"),
    ({"$limit": "50001"}, "query.compiler.malformed", "$limit", 1, 1, "at most 50,000"),
    ({"$where": "rcae = 'x'"}, "query.soql.no-such-column", "$where", 1, 1, "Did you mean race"),
    ({"$select": "shoe"}, "query.soql.no-such-column", "$select", 1, 1, "Columns are"),
    ({"$order": "agee"}, "query.soql.no-such-column", "$order", 1, 1, "age"),
    ({"$where": ":bogus = 1"}, "query.soql.no-such-column", "$where", 1, 1, ":id"),
    ({"$select": "cout(*)"}, "query.soql.no-such-function", "$select", 1, 1, "Did you mean count"),
    (
        {"$select": "regr_slope(age, age)"},
        "query.soql.no-such-function",
        "$select",
        1,
        1,
        "does not support regr_slope",
    ),
    ({"$where": "age = 'old'"}, "query.soql.type-mismatch", "$where", 1, 7, "needs number"),
    ({"$where": "race > 3"}, "query.soql.type-mismatch", "$where", 1, 8, "needs text"),
    (
        {"$where": "occurred > 'last week'"},
        "query.soql.type-mismatch",
        "$where",
        1,
        12,
        "floating_timestamp",
    ),
    ({"$where": "age"}, "query.soql.type-mismatch", "$where", 1, 1, "needs checkbox"),
    (
        {"$where": "age AND arrested"},
        "query.soql.type-mismatch",
        "$where",
        1,
        1,
        "AND needs checkbox",
    ),
    ({"$where": "location = 'x'"}, "query.soql.type-mismatch", "$where", 1, 1, "within_circle"),
    ({"$select": "upper(age)"}, "query.soql.type-mismatch", "$select", 1, 7, "needs text"),
    ({"$select": "sum(race)"}, "query.soql.type-mismatch", "$select", 1, 5, "needs number"),
    (
        {"$select": "upper(race, race)"},
        "query.soql.type-mismatch",
        "$select",
        1,
        1,
        "takes 1 arguments, not 2",
    ),
    ({"$select": "age::colour"}, "query.soql.type-mismatch", "$select", 1, 1, "Cannot cast"),
    (
        {"$select": "distance_in_meters(location, race)"},
        "query.soql.type-mismatch",
        "$select",
        1,
        30,
        "must be a literal",
    ),
    (
        {"$select": "distance_in_meters(location, 'POINT (1)')"},
        "query.soql.type-mismatch",
        "$select",
        1,
        1,
        "not a WKT point",
    ),
    (
        {"$select": "race, count(*)"},
        "query.compiler.malformed",
        "$select",
        1,
        1,
        "must be in $group",
    ),
    ({"$where": "count(*) > 1"}, "query.compiler.malformed", "$where", 1, 1, "$having"),
    (
        {"$select": "sum(count(*))"},
        "query.compiler.malformed",
        "$select",
        1,
        5,
        "another aggregate",
    ),
    ({"$select": "upper(distinct race)"}, "query.compiler.malformed", "$select", 1, 1, "DISTINCT"),
    ({"$order": "8"}, "query.compiler.malformed", "$order", 1, 1, "not the constant 8 "),
    (
        {"$select": "race", "$group": "'x'"},
        "query.compiler.malformed",
        "$group",
        1,
        1,
        "not the constant 'x'",
    ),
    ({"$having": "arrested"}, "query.compiler.malformed", "$having", 1, 1, "needs $group"),
    ({"$having": "\n  count(*) > 1"}, "query.compiler.malformed", "$having", 2, 3, "aggregate in $select (in $having at line 2, column 3)"),
    ({"$select": "race, count(*)", "$group": "race", "$having": "count(*) > 1 AND age > 3"}, "query.compiler.malformed", "$having", 1, 18, "age must be in $group"),
    ({"$select": "race, count(*)", "$group": "race", "$having": "count(*) > 1 OR :id = 3"}, "query.compiler.malformed", "$having", 1, 17, ":id cannot be used in a grouped $having"),
    ({"$limit": "  50001"}, "query.compiler.malformed", "$limit", 1, 3, "at most 50,000; page with $offset for more (in $limit at line 1, column 3)"),
    ({"$limit": "\n 50001"}, "query.compiler.malformed", "$limit", 2, 2, "at most 50,000"),
    ({"$limit": "  ten"}, "query.compiler.malformed", "$limit", 1, 3, "whole number"),
    ({"$offset": " 99999999999999999999"}, "query.compiler.malformed", "$offset", 1, 2, "too large"),
    ({"$order": "race, 8"}, "query.compiler.malformed", "$order", 1, 7, "not the constant 8 (in $order at line 1, column 7)"),
    ({"$select": "distinct race", "$order": "race, age"}, "query.compiler.malformed", "$order", 1, 7, "only what $select holds"),
    (
        {"$select": "race, count(*)", "$group": "race", "$having": "age > 3"},
        "query.compiler.malformed",
        "$having",
        1,
        1,
        "age must be in $group",
    ),
    (
        {"$select": "race, count(*)", "$group": "race", "$order": "age"},
        "query.compiler.malformed",
        "$order",
        1,
        1,
        "age must be in $group",
    ),
]
# fmt: on


@pytest.mark.parametrize(
    ("params", "code", "clause", "line", "column", "words"), ERRORS, ids=[str(e[0]) for e in ERRORS]
)
def test_errors_name_clause_and_position(
    params: dict[str, str], code: str, clause: str, line: int, column: int, words: str
) -> None:
    with pytest.raises(SoQLError) as caught:
        compile_query(parse_params(params), DATASET)
    err = caught.value
    assert (err.code, err.clause, err.line, err.column) == (code, clause, line, column), err.message
    assert words in err.message
    assert err.status == 400


# Requests past the caps on one query (docs/api.md): (parameters, code, clause, words).
_IN = ", ".join(f"'{i}'" for i in range(1001))
_ANDS = " AND ".join(["age > 1"] * 3000)
_RING = ", ".join(f"{-77 + i / 10000} {38.9 + (i % 2) / 1000}" for i in range(599))
_POLYGON = f"'POLYGON (({_RING}, -77 38.9))'"  # 600 points
# fmt: off
TOO_LARGE: list[tuple[str, dict[str, str], str, str, str]] = [
    ("200-nots", {"$where": "NOT " * 200 + "arrested"}, "query.soql.too-large", "$where", "at most 64 levels"),
    ("500-nested-calls", {"$select": "upper(" * 500 + "race" + ")" * 500}, "query.soql.too-large", "$select", "at most 64 levels"),
    ("deep-arithmetic", {"$select": "-" * 300 + "age"}, "query.soql.too-large", "$select", "at most 64 levels"),
    ("3000-ands", {"$where": _ANDS}, "query.soql.too-large", "$where", "at most 5,000"),
    ("3000-ands-in-query", {"$query": f"SELECT race WHERE {_ANDS}"}, "query.soql.too-large", "$query", "at most 5,000"),
    ("in-1001-values", {"$where": f"race IN ({_IN})"}, "query.soql.too-large", "$where", "IN lists 1,001 values; at most 1,000"),
    ("search-21-words", {"$q": " ".join(["w"] * 21)}, "query.soql.too-large", "$q", "at most 20"),
    ("search-21-words-in-query", {"$query": "SELECT race SEARCH '" + " w" * 21 + "'"}, "query.soql.too-large", "$query", "at most 20"),
    ("two-600-point-polygons", {"$where": f"within_polygon(location, {_POLYGON}) OR within_polygon(location, {_POLYGON})"}, "query.soql.too-large", "$where", "1,200 points or more; at most 1,000 in all"),
    ("huge-number", {"$where": "age > 1e99999"}, "query.execution.invalid-value", "$where", "Number out of range"),
    ("huge-negative-number", {"$select": "age * -1e400"}, "query.execution.invalid-value", "$select", "Number out of range"),
    ("number-to-timestamp", {"$select": "race::text::number::floating_timestamp"}, "query.soql.type-mismatch", "$select", "Cannot cast number to floating_timestamp"),
    ("number-to-checkbox", {"$select": "age::checkbox"}, "query.soql.type-mismatch", "$select", "Cannot cast number to checkbox"),
    ("timestamp-to-number", {"$where": "occurred::number > 1"}, "query.soql.type-mismatch", "$where", "Cannot cast floating_timestamp to number"),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "params", "code", "clause", "words"), TOO_LARGE, ids=[t[0] for t in TOO_LARGE]
)
def test_queries_past_the_caps_are_refused_naming_the_clause(
    name: str, params: dict[str, str], code: str, clause: str, words: str
) -> None:
    with pytest.raises(SoQLError) as caught:
        query = parse_statement(params["$query"]) if "$query" in params else parse_params(params)
        compile_query(query, DATASET)
    err = caught.value
    assert (err.code, err.clause, err.status) == (code, clause, 400), err.message
    assert words in err.message


@pytest.mark.parametrize(
    "params",
    [
        {"$where": "NOT " * 63 + "arrested"},
        {"$where": f"race IN ({', '.join(repr(str(i)) for i in range(1000))})"},
        {"$where": "(" * 500 + "arrested" + ")" * 500},  # parentheses add no depth
        {"$where": " OR ".join(["age = 1"] * 1000)},  # a chain is shallow: balanced
        {"$q": " ".join(["w"] * 20)},
        {"$select": "race::text, age::text, occurred::text, race::number, arrested::checkbox"},
    ],
    ids=[
        "63-nots",
        "in-1000-values",
        "500-parentheses",
        "1000-ors",
        "search-20-words",
        "casts-both-engines-make",
    ],
)
def test_queries_at_the_caps_compile(params: dict[str, str]) -> None:
    compile_query(parse_params(params), DATASET)


# Errors in a whole statement are placed in the statement's text: (statement, clause, line,
# column, words).
# fmt: off
STATEMENT_ERRORS: list[tuple[str, str, int, int, str]] = [
    ("SELECT race HAVING count(*) > 1", "$having", 1, 20, "needs $group"),
    ("SELECT race, count(*) GROUP BY race\nHAVING age > 3", "$having", 2, 8, "age must be in $group"),
    ("SELECT race LIMIT 60000", "$limit", 1, 19, "at most 50,000"),
    ("SELECT race\nWHERE age > 3\n  LIMIT 50001 OFFSET 2", "$limit", 3, 9, "at most 50,000"),
    ("SELECT race LIMIT 99999999999999999999", "$query", 1, 19, "too large"),
    ("SELECT race OFFSET 99999999999999999999", "$query", 1, 20, "too large"),
    ("SELECT race SEARCH '" + " w" * 21 + "'", "$query", 1, 20, "at most 20"),
]
# fmt: on


@pytest.mark.parametrize(
    ("statement", "clause", "line", "column", "words"),
    STATEMENT_ERRORS,
    ids=[e[0] for e in STATEMENT_ERRORS],
)
def test_statement_errors_point_at_their_place(
    statement: str, clause: str, line: int, column: int, words: str
) -> None:
    with pytest.raises(SoQLError) as caught:
        compile_query(parse_statement(statement), DATASET)
    err = caught.value
    assert (err.clause, err.line, err.column) == (clause, line, column), err.message
    assert words in err.message
    assert err.data["position"] == {"line": line, "column": column}


def test_a_limit_past_the_maximum_from_the_settings_has_no_place_in_the_text() -> None:
    with pytest.raises(SoQLError) as caught:
        compile_query(parse_params({}), DATASET, default_limit=60000, max_limit=50000)
    err = caught.value
    assert (err.clause, err.line, err.column) == ("$limit", None, None)
    assert "position" not in err.data or err.data["position"] is None


def test_a_statement_parses_every_clause() -> None:
    query = parse_statement(
        "select race, count(*) as n where age > 20 group by race having n > 1 "
        "order by n desc search 'x' limit 5 offset 2"
    )
    assert (query.limit, query.offset, query.search) == (5, 2, "x")
    assert len(query.select) == 2 and query.having is not None and len(query.order) == 1


# Random text made of SoQL's own pieces, so the fuzz reaches deep into the grammar.
PIECES = [
    *"abcdegilnorstuwy _(),'`:*=<>!-+/%|.0123456789",
    "race",
    "age",
    " AND ",
    " OR ",
    "NOT ",
    " IS ",
    "NULL",
    "count(",
    " between ",
    " in (",
    " like ",
    "::",
    "'x'",
    "select ",
    " where ",
    "location",
    "within_circle(",
    "occurred",
    "arrested",
]
SOQLISH = st.lists(st.sampled_from(PIECES), max_size=16).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clause=st.sampled_from(["$select", "$where", "$order", "$group", "$having"]), text=SOQLISH)
def test_fuzzed_clauses_fail_only_as_soql_errors(clause: str, text: str) -> None:
    with contextlib.suppress(SoQLError):
        compile_query(parse_params({clause: text}), DATASET)


@settings(max_examples=200, deadline=None)
@given(text=SOQLISH)
def test_fuzzed_statements_fail_only_as_soql_errors(text: str) -> None:
    with contextlib.suppress(SoQLError):
        compile_query(parse_statement(text), DATASET)
