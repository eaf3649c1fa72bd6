"""What the compiler hands the store: output names, types and widths, and the SQL each engine
gets. The SQL is pinned for a few small queries so a change in sqlglot or in a builder shows up
as a readable diff, in both dialects."""

from __future__ import annotations

import pytest

from blotter.model import ColumnType
from blotter.soql.compiler import Output, compile_query
from blotter.soql.parser import parse_params
from blotter.store.search_index import narrowed
from tests.soql.tables import CALLS, FORCE, TS, C, N, P, T

# $select → outputs (name, type, width), on the calls dataset
# fmt: off
OUTPUTS: list[tuple[str, list[tuple[str, ColumnType | None, int]]]] = [
    ("count(*)", [("count", N, 1)]),
    ("count(*) AS n", [("n", N, 1)]),
    ("count(beat)", [("count_beat", N, 1)]),
    ("sum(freq)", [("sum_freq", N, 1)]),
    ("date_trunc_ym(received_at)", [("date_trunc_ym_received_at", TS, 1)]),
    ("upper(lower(beat))", [("upper_lower_beat", T, 1)]),
    ("beat, beat, beat", [("beat", T, 1), ("beat_1", T, 1), ("beat_2", T, 1)]),
    ("count(*), count(*) AS count", [("count", N, 1), ("count_1", N, 1)]),
    (":id, :created_at, :updated_at", [(":id", None, 1), (":created_at", TS, 1), (":updated_at", TS, 1)]),
    ("location", [("location", P, 2)]),
    ("location AS where_", [("where_", P, 2)]),
    ("within_circle(location, 38.98, -77, 500)", [("within_circle_location", C, 1)]),
    ("beat::number", [("beat", N, 1)]),
    ("criminal_report", [("criminal_report", C, 1)]),
    ("*", [("event_number", T, 1), ("call_type", T, 1), ("received_at", TS, 1), ("beat", T, 1), ("criminal_report", C, 1), ("location", P, 2), ("freq", N, 1)]),
    (":*", [(":id", None, 1), (":created_at", TS, 1), (":updated_at", TS, 1)]),
]
# fmt: on


@pytest.mark.parametrize(("select", "outputs"), OUTPUTS, ids=[o[0] for o in OUTPUTS])
def test_outputs(select: str, outputs: list[tuple[str, ColumnType | None, int]]) -> None:
    compiled = compile_query(parse_params({"$select": select}), CALLS)
    assert [(o.name, o.type, o.width) for o in compiled.outputs] == outputs
    assert len(compiled.select.expressions) == sum(o.width for o in compiled.outputs)


def test_a_point_is_its_longitude_then_latitude_side_by_side() -> None:
    compiled = compile_query(parse_params({"$select": "beat, location"}), CALLS)
    assert compiled.outputs[1] == Output("location", P, width=2, shape="point")
    physical = [e.this.name for e in compiled.select.expressions]
    assert physical == ["beat", "_location_lon", "_location_lat"]


# (parameters, DuckDB SQL, PostgreSQL SQL), on the force dataset
# fmt: off
SQL: list[tuple[dict[str, str], str, str]] = [
    (
        {"$select": "officer_age", "$where": "officer_age > 30"},
        'SELECT "officer_age" AS "officer_age" FROM _dataset WHERE "officer_age" > 30 ORDER BY "_id" LIMIT 1000',
        'SELECT "officer_age" AS "officer_age" FROM _dataset WHERE "officer_age" > 30 ORDER BY "_id" LIMIT 1000',
    ),
    (
        {"$select": "subject_race, count(*)", "$group": "subject_race"},
        'SELECT "subject_race" AS "subject_race", COUNT(*) AS "count" FROM _dataset GROUP BY "subject_race" ORDER BY "subject_race" LIMIT 1000',
        'SELECT "subject_race" AS "subject_race", COUNT(*) AS "count" FROM _dataset GROUP BY "subject_race" ORDER BY "subject_race" LIMIT 1000',
    ),
    (
        {"$select": "subject_race, subject_sex, count(*) AS n", "$group": "subject_race, subject_sex", "$order": "n DESC, subject_sex", "$limit": "5"},
        'SELECT "subject_race" AS "subject_race", "subject_sex" AS "subject_sex", COUNT(*) AS "n" FROM _dataset GROUP BY "subject_race", "subject_sex" ORDER BY COUNT(*) DESC NULLS FIRST, "subject_sex" ASC, "subject_race" LIMIT 5',
        'SELECT "subject_race" AS "subject_race", "subject_sex" AS "subject_sex", COUNT(*) AS "n" FROM _dataset GROUP BY "subject_race", "subject_sex" ORDER BY COUNT(*) DESC, "subject_sex" ASC, "subject_race" LIMIT 5',
    ),
    (
        {"$select": "date_trunc_ym(occurred) AS m", "$where": "occurred >= '2015-03-01'"},
        "SELECT DATE_TRUNC('MONTH', \"occurred\") AS \"m\" FROM _dataset WHERE \"occurred\" >= CAST('2015-03-01 00:00:00' AS TIMESTAMP) ORDER BY \"_id\" LIMIT 1000",
        "SELECT DATE_TRUNC('MONTH', \"occurred\") AS \"m\" FROM _dataset WHERE \"occurred\" >= CAST('2015-03-01 00:00:00' AS TIMESTAMP) ORDER BY \"_id\" LIMIT 1000",
    ),
    (
        {"$select": "date_extract_dow(occurred)", "$limit": "1"},
        'SELECT CAST(EXTRACT(DAYOFWEEK FROM "occurred") AS DOUBLE) AS "date_extract_dow_occurred" FROM _dataset ORDER BY "_id" LIMIT 1',
        'SELECT CAST(EXTRACT(DOW FROM "occurred") AS DOUBLE PRECISION) AS "date_extract_dow_occurred" FROM _dataset ORDER BY "_id" LIMIT 1',
    ),
    (
        {"$select": ":id", "$where": "offense LIKE 'D%' AND officer_rank IN ('Corporal')", "$order": "officer_age DESC", "$limit": "5", "$offset": "5"},
        'SELECT "_id" AS ":id" FROM _dataset WHERE ("offense" LIKE \'D%\' AND "officer_rank" IN (\'Corporal\')) ORDER BY "officer_age" DESC NULLS FIRST, "_id" LIMIT 5 OFFSET 5',
        'SELECT "_id" AS ":id" FROM _dataset WHERE ("offense" LIKE \'D%\' AND "officer_rank" IN (\'Corporal\')) ORDER BY "officer_age" DESC, "_id" LIMIT 5 OFFSET 5',
    ),
    (
        {"$select": ":id", "$q": "Knife", "$limit": "1"},
        'SELECT "_id" AS ":id" FROM _dataset WHERE ((STRPOS(LOWER("case_number"), \'knife\') > 0 OR STRPOS(LOWER("officer_rank"), \'knife\') > 0 OR STRPOS(LOWER("subject_race"), \'knife\') > 0 OR STRPOS(LOWER("subject_sex"), \'knife\') > 0 OR STRPOS(LOWER("offense"), \'knife\') > 0 OR STRPOS(LOWER("arrested"), \'knife\') > 0 OR STRPOS(LOWER("weapon"), \'knife\') > 0)) ORDER BY "_id" LIMIT 1',
        'SELECT "_id" AS ":id" FROM _dataset WHERE ((POSITION(\'knife\' IN LOWER("case_number")) > 0 OR POSITION(\'knife\' IN LOWER("officer_rank")) > 0 OR POSITION(\'knife\' IN LOWER("subject_race")) > 0 OR POSITION(\'knife\' IN LOWER("subject_sex")) > 0 OR POSITION(\'knife\' IN LOWER("offense")) > 0 OR POSITION(\'knife\' IN LOWER("arrested")) > 0 OR POSITION(\'knife\' IN LOWER("weapon")) > 0)) ORDER BY "_id" LIMIT 1',
    ),
    (
        {"$select": "officer_age / 4", "$limit": "1"},
        'SELECT (CAST("officer_age" AS DOUBLE) / NULLIF(4, 0)) AS "_col1" FROM _dataset ORDER BY "_id" LIMIT 1',
        'SELECT (CAST("officer_age" AS DOUBLE PRECISION) / NULLIF(4, 0)) AS "_col1" FROM _dataset ORDER BY "_id" LIMIT 1',
    ),
]
# fmt: on


@pytest.mark.parametrize(("params", "duckdb", "postgres"), SQL, ids=[str(s[0]) for s in SQL])
def test_sql_of_both_dialects(params: dict[str, str], duckdb: str, postgres: str) -> None:
    # $q compiles to a mark each store writes out; without a word index, its predicate alone.
    select = narrowed(compile_query(parse_params(params), FORCE).select, None)
    assert select.sql(dialect="duckdb") == duckdb
    assert select.sql(dialect="postgres") == postgres


def test_user_text_is_only_ever_a_string_literal() -> None:
    """A hostile value stays one literal node (the store binds it); it never becomes SQL."""
    hostile = "x' OR 1=1; DROP TABLE _dataset; --"
    escaped = hostile.replace("'", "''")
    select = compile_query(
        parse_params({"$select": ":id", "$where": f"offense = '{escaped}'", "$q": hostile}),
        FORCE,
        filters={"weapon": hostile},
    ).select
    from sqlglot import exp

    strings = [lit.this for lit in select.find_all(exp.Literal) if lit.is_string]
    assert hostile in strings and hostile.lower().split()[0] in strings
    assert "weapon" in narrowed(select, None).sql("duckdb")
    assert not list(select.find_all(exp.Drop))
