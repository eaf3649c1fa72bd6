"""The compiler alone, case by case: SoQL → sqlglot → DuckDB (a file) and PostgreSQL (a schema),
on small tables built by hand from real rows. Every answer is computed in plain Python from the
same rows. Reading CASES is reading what Blotter's SoQL does; it is also the compatibility list
that ``test_every_function_has_a_case`` holds against the function table.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blotter.errors import NoSuchFunction, SoQLError
from blotter.soql.compiler import CompiledQuery, compile_query
from blotter.soql.functions import FUNCTIONS, NOT_YET
from blotter.soql.parser import parse_params, parse_statement
from tests.soql.conftest import SoQLEngine
from tests.soql.tables import DATASETS

Row = dict[str, Any]
Answer = Callable[[list[Row]], list[tuple[Any, ...]]]
Where = Callable[[Row], bool]


def everything(_: Row) -> bool:
    return True


# --- answer keys, in plain Python --------------------------------------------------------


def rows_of(
    *fields: str | Callable[[Row], Any],
    where: Where = everything,
    key: Callable[[Row], Any] | None = None,
    reverse: bool = False,
    limit: int = 1000,
    offset: int = 0,
) -> Answer:
    """Selected values of the matching rows, in ``key`` order then :id (the default)."""

    def answer(rows: list[Row]) -> list[tuple[Any, ...]]:
        chosen = sorted((r for r in rows if where(r)), key=lambda r: r[":id"])
        if key is not None:
            chosen = sorted(chosen, key=key, reverse=reverse)
        values = [tuple(f(r) if callable(f) else r[f] for f in fields) for r in chosen]
        return values[offset : offset + limit]

    return answer


def one(value: Callable[[list[Row]], Any]) -> Answer:
    """A single-row, single-column answer (an aggregate over the whole table)."""
    return lambda rows: [(value(rows),)]


def grouped(
    key: Callable[[Row], Any],
    *aggregates: Callable[[list[Row]], Any],
    having: Callable[[list[Row]], bool] = lambda g: True,
) -> Answer:
    """One row per group key, ordered by the key (Socrata's stable default when grouping)."""

    def answer(rows: list[Row]) -> list[tuple[Any, ...]]:
        groups: dict[Any, list[Row]] = defaultdict(list)
        for r in rows:
            groups[key(r)].append(r)
        return [
            (k, *(agg(g) for agg in aggregates))
            for k, g in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0]))
            if having(g)
        ]

    return answer


def values(field: str, rows: Iterable[Row]) -> list[Any]:
    return [r[field] for r in rows if r[field] is not None]


def like(pattern: str) -> Callable[[str | None], bool]:
    regex = re.compile(
        "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern), re.S
    )
    return lambda text: text is not None and regex.fullmatch(text) is not None


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(a)))


def half_up(value: float, places: int) -> float:
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))


def searched(rows_key: str, words: str) -> Where:
    text_fields = [c.field_name for c in DATASETS[rows_key].columns if c.type == "text"]
    return lambda r: all(
        any(w.lower() in (r[f] or "").lower() for f in text_fields) for w in words.split()
    )


def age(r: Row) -> float:
    return float(r["officer_age"])


def lat(r: Row) -> float:
    return float(r["location"][1])


def lon(r: Row) -> float:
    return float(r["location"][0])


RECEIVED = "received_at"
POLICE_HQ = (38.9823, -77.0022)  # Takoma Park police station, approximately (lat, lon)
BOX = "POLYGON ((-77.01 38.975, -76.99 38.975, -76.99 38.99, -77.01 38.99, -77.01 38.975))"


def in_box(r: Row) -> bool:
    return -77.01 < lon(r) < -76.99 and 38.975 < lat(r) < 38.99


def first_of(d: datetime, part: str) -> datetime:
    if part == "y":
        return datetime(d.year, 1, 1)
    if part == "ym":
        return datetime(d.year, d.month, 1)
    return datetime(d.year, d.month, d.day)


# --- the table: (name, dataset, parameters, answer) ------------------------------------------

# fmt: off
CASES: list[tuple[str, str, dict[str, str], Answer]] = [
    # selection, names, order, paging
    ("select-columns", "force", {"$select": "case_number, officer_age"}, rows_of("case_number", "officer_age")),
    ("default-order-is-id", "force", {"$select": ":id"}, rows_of(":id")),
    ("system-fields", "force", {"$select": ":id, :created_at, :updated_at", "$limit": "2"}, rows_of(":id", ":created_at", ":updated_at", limit=2)),
    ("star-is-every-column", "calls", {"$limit": "3"}, rows_of(*(c.field_name for c in DATASETS["calls"].columns), limit=3)),
    ("system-star-then-star", "force", {"$select": ":*, *", "$limit": "1"}, rows_of(":id", ":created_at", ":updated_at", *(c.field_name for c in DATASETS["force"].columns), limit=1)),
    ("limit-offset", "force", {"$select": "case_number", "$limit": "4", "$offset": "10"}, rows_of("case_number", limit=4, offset=10)),
    ("limit-zero", "force", {"$limit": "0"}, lambda rows: []),
    ("offset-past-the-end", "force", {"$offset": "500"}, lambda rows: []),
    ("alias", "force", {"$select": "officer_age AS age"}, rows_of("officer_age")),
    ("backtick-names", "force", {"$select": "`case_number`", "$where": "`officer_age` > 40"}, rows_of("case_number", where=lambda r: age(r) > 40)),
    ("names-are-case-insensitive", "force", {"$select": "CASE_NUMBER", "$where": "Officer_Age < 26"}, rows_of("case_number", where=lambda r: age(r) < 26)),
    ("keywords-are-case-insensitive", "force", {"$select": "case_number", "$where": "officer_age between 25 aNd 26 or NOT mental_health is not null"}, rows_of("case_number", where=lambda r: 25 <= age(r) <= 26)),
    ("order-asc-then-id", "force", {"$select": "officer_age, :id", "$order": "officer_age"}, rows_of("officer_age", ":id", key=lambda r: r["officer_age"])),
    ("order-desc-then-id", "force", {"$select": "officer_age, :id", "$order": "officer_age DESC"}, rows_of("officer_age", ":id", key=lambda r: (-r["officer_age"], r[":id"]))),
    ("order-two-keys", "force", {"$select": "subject_race, officer_age, :id", "$order": "subject_race DESC, officer_age ASC"}, rows_of("subject_race", "officer_age", ":id", key=lambda r: (-ord(r["subject_race"][0]), r["officer_age"], r[":id"]))),
    ("order-nulls-last-by-default", "force", {"$select": "weapon, :id", "$order": "weapon"}, rows_of("weapon", ":id", key=lambda r: (r["weapon"] is None, r["weapon"] or "", r[":id"]))),
    ("order-desc-nulls-first-by-default", "force", {"$select": "weapon, :id", "$order": "weapon DESC", "$limit": "28"}, rows_of("weapon", ":id", key=lambda r: (r["weapon"] is not None, [-ord(c) for c in r["weapon"] or ""], r[":id"]), limit=28)),
    ("order-nulls-first", "force", {"$select": "weapon, :id", "$order": "weapon ASC NULLS FIRST"}, rows_of("weapon", ":id", key=lambda r: (r["weapon"] is not None, r["weapon"] or "", r[":id"]))),
    ("order-by-expression", "force", {"$select": ":id", "$order": "officer_age - subject_age DESC"}, rows_of(":id", key=lambda r: (-(r["officer_age"] - r["subject_age"]), r[":id"]))),
    ("order-by-system-field", "force", {"$select": ":id", "$order": ":id DESC"}, rows_of(":id", key=lambda r: -r[":id"])),
    # comparison and logic
    ("eq-text", "force", {"$select": ":id", "$where": "subject_race = 'Black'"}, rows_of(":id", where=lambda r: r["subject_race"] == "Black")),
    ("eq-text-is-case-sensitive", "force", {"$where": "subject_race = 'black'"}, lambda rows: []),
    ("eq-double-equals", "force", {"$select": ":id", "$where": "officer_rank == 'Corporal'"}, rows_of(":id", where=lambda r: r["officer_rank"] == "Corporal")),
    ("neq-bang", "force", {"$select": ":id", "$where": "officer_rank != 'Officer'"}, rows_of(":id", where=lambda r: r["officer_rank"] != "Officer")),
    ("neq-angle", "force", {"$select": ":id", "$where": "officer_rank <> 'Officer'"}, rows_of(":id", where=lambda r: r["officer_rank"] != "Officer")),
    ("neq-skips-nulls", "force", {"$select": ":id", "$where": "weapon != 'Knife'"}, rows_of(":id", where=lambda r: r["weapon"] not in (None, "Knife"))),
    ("lt", "force", {"$select": ":id", "$where": "officer_age < 28"}, rows_of(":id", where=lambda r: age(r) < 28)),
    ("lte", "force", {"$select": ":id", "$where": "officer_age <= 28"}, rows_of(":id", where=lambda r: age(r) <= 28)),
    ("gt", "force", {"$select": ":id", "$where": "officer_age > 38"}, rows_of(":id", where=lambda r: age(r) > 38)),
    ("gte", "force", {"$select": ":id", "$where": "officer_age >= 38"}, rows_of(":id", where=lambda r: age(r) >= 38)),
    ("eq-number-decimal-literal", "force", {"$select": ":id", "$where": "officer_age = 32.0"}, rows_of(":id", where=lambda r: age(r) == 32)),
    ("number-exponent-literal", "force", {"$select": ":id", "$where": "officer_age > 3.5e1"}, rows_of(":id", where=lambda r: age(r) > 35)),
    ("number-vs-quoted-number", "force", {"$select": ":id", "$where": "officer_age > '35'"}, rows_of(":id", where=lambda r: age(r) > 35)),
    ("text-order-comparison", "force", {"$select": ":id", "$where": "case_number >= '15RL04500'"}, rows_of(":id", where=lambda r: r["case_number"] >= "15RL04500")),
    ("string-with-doubled-quote", "force", {"$select": ":id", "$where": "arrested = 'Operation w/out Owner''s Consent/Grand Larceny'"}, rows_of(":id", where=lambda r: r["arrested"] == "Operation w/out Owner's Consent/Grand Larceny")),
    ("and", "force", {"$select": ":id", "$where": "subject_race = 'White' AND officer_age > 35"}, rows_of(":id", where=lambda r: r["subject_race"] == "White" and age(r) > 35)),
    ("or", "force", {"$select": ":id", "$where": "subject_race = 'Black' OR officer_age > 40"}, rows_of(":id", where=lambda r: r["subject_race"] == "Black" or age(r) > 40)),
    ("and-binds-tighter-than-or", "force", {"$select": ":id", "$where": "subject_sex = 'F' OR subject_race = 'Black' AND officer_age < 30"}, rows_of(":id", where=lambda r: r["subject_sex"] == "F" or (r["subject_race"] == "Black" and age(r) < 30))),
    ("parentheses", "force", {"$select": ":id", "$where": "(subject_sex = 'F' OR subject_race = 'Black') AND officer_age < 30"}, rows_of(":id", where=lambda r: (r["subject_sex"] == "F" or r["subject_race"] == "Black") and age(r) < 30)),
    ("not", "force", {"$select": ":id", "$where": "NOT subject_race = 'White'"}, rows_of(":id", where=lambda r: r["subject_race"] != "White")),
    ("not-binds-looser-than-comparison-tighter-than-and", "force", {"$select": ":id", "$where": "NOT officer_age > 30 AND subject_sex = 'M'"}, rows_of(":id", where=lambda r: not age(r) > 30 and r["subject_sex"] == "M")),
    ("is-null", "force", {"$select": ":id", "$where": "arrested IS NULL"}, rows_of(":id", where=lambda r: r["arrested"] is None)),
    ("is-not-null", "force", {"$select": ":id", "$where": "weapon IS NOT NULL"}, rows_of(":id", where=lambda r: r["weapon"] is not None)),
    ("point-is-not-null", "calls", {"$select": ":id", "$where": "location IS NOT NULL"}, rows_of(":id")),
    ("between", "force", {"$select": ":id", "$where": "officer_age BETWEEN 28 AND 32"}, rows_of(":id", where=lambda r: 28 <= age(r) <= 32)),
    ("not-between", "force", {"$select": ":id", "$where": "officer_age NOT BETWEEN 28 AND 32"}, rows_of(":id", where=lambda r: not 28 <= age(r) <= 32)),
    ("between-timestamps", "calls", {"$select": ":id", "$where": "received_at BETWEEN '2019-01-01' AND '2019-12-31T23:59:59'"}, rows_of(":id", where=lambda r: r[RECEIVED].year == 2019)),
    ("in-text", "force", {"$select": ":id", "$where": "officer_rank IN ('Corporal', 'Sergeant')"}, rows_of(":id", where=lambda r: r["officer_rank"] in ("Corporal", "Sergeant"))),
    ("not-in-number", "force", {"$select": ":id", "$where": "officer_age NOT IN (25, 28, 32)"}, rows_of(":id", where=lambda r: age(r) not in (25, 28, 32))),
    ("in-one-item", "calls", {"$select": ":id", "$where": "beat IN ('8T1')"}, rows_of(":id", where=lambda r: r["beat"] == "8T1")),
    ("like-percent", "force", {"$select": ":id", "$where": "offense LIKE '%Assault%'"}, rows_of(":id", where=lambda r: like("%Assault%")(r["offense"]))),
    ("like-is-case-sensitive", "force", {"$select": ":id", "$where": "offense LIKE '%theft%'"}, rows_of(":id", where=lambda r: like("%theft%")(r["offense"]))),
    ("like-underscore", "force", {"$select": ":id", "$where": "case_number LIKE '15RL0_3__'"}, rows_of(":id", where=lambda r: like("15RL0_3__")(r["case_number"]))),
    ("not-like", "force", {"$select": ":id", "$where": "offense NOT LIKE 'D%'"}, rows_of(":id", where=lambda r: not like("D%")(r["offense"]))),
    ("checkbox-bare", "force", {"$select": ":id", "$where": "mental_health"}, rows_of(":id", where=lambda r: r["mental_health"] is True)),
    ("checkbox-eq-false", "force", {"$select": ":id", "$where": "mental_health = false"}, rows_of(":id", where=lambda r: r["mental_health"] is False)),
    ("checkbox-not", "calls", {"$select": ":id", "$where": "NOT criminal_report"}, rows_of(":id", where=lambda r: r["criminal_report"] is False)),
    ("checkbox-eq-true-literal", "calls", {"$select": "event_number", "$where": "criminal_report = TRUE"}, rows_of("event_number", where=lambda r: r["criminal_report"] is True)),
    ("null-literal-select", "force", {"$select": "NULL AS nothing", "$limit": "2"}, lambda rows: [(None,), (None,)]),
    ("id-compared-to-number", "force", {"$select": ":id", "$where": ":id > 25"}, rows_of(":id", where=lambda r: r[":id"] > 25)),
    # floating timestamps against text literals, in each of Socrata's forms
    ("timestamp-date-literal", "force", {"$select": ":id", "$where": "occurred >= '2015-03-01'"}, rows_of(":id", where=lambda r: r["occurred"] >= datetime(2015, 3, 1))),
    ("timestamp-t-literal", "calls", {"$select": ":id", "$where": "received_at < '2018-06-12T10:28:00'"}, rows_of(":id", where=lambda r: r[RECEIVED] < datetime(2018, 6, 12, 10, 28))),
    ("timestamp-millis-literal", "calls", {"$select": ":id", "$where": "received_at = '2018-06-12T10:28:00.000'"}, rows_of(":id", where=lambda r: r[RECEIVED] == datetime(2018, 6, 12, 10, 28))),
    ("literal-first-comparison", "calls", {"$select": ":id", "$where": "'2020-01-01' <= received_at"}, rows_of(":id", where=lambda r: r[RECEIVED] >= datetime(2020, 1, 1))),
    # arithmetic, concatenation, casts
    ("add-mul-precedence", "force", {"$select": "officer_age + subject_age * 2"}, rows_of(lambda r: r["officer_age"] + r["subject_age"] * 2)),
    ("parenthesized-arithmetic", "force", {"$select": "(officer_age + subject_age) * 2"}, rows_of(lambda r: (r["officer_age"] + r["subject_age"]) * 2)),
    ("sub-is-left-associative", "force", {"$select": "officer_age - subject_age - 1"}, rows_of(lambda r: r["officer_age"] - r["subject_age"] - 1)),
    ("division-is-decimal", "force", {"$select": "officer_age / 4"}, rows_of(lambda r: r["officer_age"] / 4)),
    ("modulo", "force", {"$select": "officer_age % 7"}, rows_of(lambda r: r["officer_age"] % 7)),
    ("unary-minus", "force", {"$select": ":id", "$where": "-officer_age < -40"}, rows_of(":id", where=lambda r: -age(r) < -40)),
    ("unary-minus-binds-tighter-than-mul", "force", {"$select": "-officer_age * 2"}, rows_of(lambda r: -r["officer_age"] * 2)),
    ("arithmetic-in-where", "force", {"$select": ":id", "$where": "officer_age - subject_age > 10"}, rows_of(":id", where=lambda r: r["officer_age"] - r["subject_age"] > 10)),
    ("concat", "force", {"$select": "case_number || '/' || officer_rank"}, rows_of(lambda r: f"{r['case_number']}/{r['officer_rank']}")),
    ("concat-binds-looser-than-plus", "force", {"$select": ":id", "$where": "'x' || officer_rank = 'xSergeant'"}, rows_of(":id", where=lambda r: r["officer_rank"] == "Sergeant")),
    ("cast-text-to-number", "force", {"$select": ":id", "$where": "'30'::number < officer_age"}, rows_of(":id", where=lambda r: age(r) > 30)),
    ("cast-binds-tighter-than-minus", "force", {"$select": "-'3'::number + officer_age"}, rows_of(lambda r: r["officer_age"] - 3)),
    ("cast-text-to-timestamp", "calls", {"$select": ":id", "$where": "received_at > '2020-06-01'::floating_timestamp"}, rows_of(":id", where=lambda r: r[RECEIVED] > datetime(2020, 6, 1))),
    ("cast-text-to-checkbox", "force", {"$select": ":id", "$where": "mental_health = 'true'::checkbox"}, rows_of(":id", where=lambda r: r["mental_health"] is True)),
    ("cast-text-to-text", "force", {"$select": "officer_rank::text", "$limit": "3"}, rows_of("officer_rank", limit=3)),
    ("cast-number-to-text-reads-back", "force", {"$select": ":id", "$where": "officer_age::text::number = 32"}, rows_of(":id", where=lambda r: age(r) == 32)),
    # simple filters and $q
    ("filter-text", "force", {"$select": ":id", "officer_rank": "Corporal"}, rows_of(":id", where=lambda r: r["officer_rank"] == "Corporal")),
    ("filter-number", "force", {"$select": ":id", "officer_age": "25"}, rows_of(":id", where=lambda r: age(r) == 25)),
    ("filter-checkbox", "force", {"$select": ":id", "mental_health": "true"}, rows_of(":id", where=lambda r: r["mental_health"] is True)),
    ("filter-timestamp", "force", {"$select": ":id", "occurred": "2015-01-17T00:00:00.000"}, rows_of(":id", where=lambda r: r["occurred"] == datetime(2015, 1, 17))),
    ("filters-and-where-are-anded", "force", {"$select": ":id", "subject_sex": "F", "$where": "officer_age < 30"}, rows_of(":id", where=lambda r: r["subject_sex"] == "F" and age(r) < 30)),
    ("search-one-word", "force", {"$select": ":id", "$q": "DISORDERLY"}, rows_of(":id", where=searched("force", "DISORDERLY"))),
    ("search-words-are-anded-across-columns", "force", {"$select": ":id", "$q": "assault corporal"}, rows_of(":id", where=searched("force", "assault corporal"))),
    ("search-with-where", "calls", {"$select": ":id", "$q": "traffic", "$where": "beat = '8T2'"}, rows_of(":id", where=lambda r: searched("calls", "traffic")(r) and r["beat"] == "8T2")),
    # aggregates
    ("count-star", "force", {"$select": "count(*)"}, one(len)),
    ("count-column-skips-nulls", "force", {"$select": "count(weapon)"}, one(lambda rows: len(values("weapon", rows)))),
    ("count-distinct", "force", {"$select": "count(distinct case_number)"}, one(lambda rows: len({r["case_number"] for r in rows}))),
    ("count-point", "calls", {"$select": "count(location)"}, one(len)),
    ("sum", "force", {"$select": "sum(officer_age)"}, one(lambda rows: sum(values("officer_age", rows)))),
    ("avg", "force", {"$select": "avg(subject_age)"}, one(lambda rows: statistics.fmean(values("subject_age", rows)))),
    ("min-number", "force", {"$select": "min(officer_age)"}, one(lambda rows: min(values("officer_age", rows)))),
    ("max-text", "force", {"$select": "max(offense)"}, one(lambda rows: max(values("offense", rows)))),
    ("min-timestamp", "calls", {"$select": "min(received_at)"}, one(lambda rows: min(values(RECEIVED, rows)))),
    ("max-timestamp", "calls", {"$select": "max(received_at)"}, one(lambda rows: max(values(RECEIVED, rows)))),
    ("median", "force", {"$select": "median(officer_age)"}, one(lambda rows: statistics.median(values("officer_age", rows)))),
    ("stddev-pop", "force", {"$select": "stddev_pop(officer_age)"}, one(lambda rows: statistics.pstdev(values("officer_age", rows)))),
    ("stddev-samp", "force", {"$select": "stddev_samp(officer_age)"}, one(lambda rows: statistics.stdev(values("officer_age", rows)))),
    ("aggregates-with-where", "force", {"$select": "count(*), max(officer_age)", "$where": "subject_sex = 'F'"}, lambda rows: [(sum(r["subject_sex"] == "F" for r in rows), max(age(r) for r in rows if r["subject_sex"] == "F"))]),
    ("aggregate-arithmetic", "force", {"$select": "max(officer_age) - min(officer_age)"}, one(lambda rows: max(values("officer_age", rows)) - min(values("officer_age", rows)))),
    ("group-by-orders-by-key", "force", {"$select": "officer_rank, count(*)", "$group": "officer_rank"}, grouped(lambda r: r["officer_rank"], len)),
    ("group-two-keys", "calls", {"$select": "beat, call_type, count(*)", "$group": "beat, call_type"}, lambda rows: [(b, t, n) for (b, t), n in sorted(Counter((r["beat"], r["call_type"]) for r in rows).items())]),
    ("group-with-null-key-last", "force", {"$select": "weapon, count(*)", "$group": "weapon"}, grouped(lambda r: r["weapon"], len)),
    ("group-avg", "force", {"$select": "subject_race, avg(officer_age)", "$group": "subject_race"}, grouped(lambda r: r["subject_race"], lambda g: statistics.fmean(age(r) for r in g))),
    ("having", "force", {"$select": "case_number, count(*)", "$group": "case_number", "$having": "count(*) >= 3"}, grouped(lambda r: r["case_number"], len, having=lambda g: len(g) >= 3)),
    ("having-on-alias", "force", {"$select": "case_number, count(*) AS n", "$group": "case_number", "$having": "n > 2"}, grouped(lambda r: r["case_number"], len, having=lambda g: len(g) > 2)),
    ("order-by-aggregate", "calls", {"$select": "beat, count(*) AS n", "$group": "beat", "$order": "n DESC"}, lambda rows: sorted(Counter(r["beat"] for r in rows).items(), key=lambda kv: -kv[1])),
    ("group-by-alias-of-function", "calls", {"$select": "date_trunc_y(received_at) AS year, count(*)", "$group": "year"}, grouped(lambda r: first_of(r[RECEIVED], "y"), len)),
    ("group-by-function", "force", {"$select": "date_trunc_ym(occurred), count(*)", "$group": "date_trunc_ym(occurred)"}, grouped(lambda r: first_of(r["occurred"], "ym"), len)),
    # text functions
    ("upper", "force", {"$select": "upper(offense)"}, rows_of(lambda r: r["offense"].upper())),
    ("lower-for-case-insensitive-eq", "force", {"$select": ":id", "$where": "lower(subject_race) = 'black'"}, rows_of(":id", where=lambda r: r["subject_race"].lower() == "black")),
    ("starts-with", "force", {"$select": ":id", "$where": "starts_with(offense, 'D')"}, rows_of(":id", where=lambda r: r["offense"].startswith("D"))),
    # conditionals
    ("case", "force", {"$select": "case(officer_age < 30, 'young', officer_age >= 30, 'older')"}, rows_of(lambda r: "young" if age(r) < 30 else "older")),
    ("case-no-match-is-null", "force", {"$select": "case(officer_age > 45, 'senior')"}, rows_of(lambda r: "senior" if age(r) > 45 else None)),
    ("coalesce", "force", {"$select": "coalesce(weapon, arrested, 'none')"}, rows_of(lambda r: r["weapon"] or r["arrested"] or "none")),
    # numbers
    ("abs", "force", {"$select": "abs(subject_age - officer_age)"}, rows_of(lambda r: abs(r["subject_age"] - r["officer_age"]))),
    ("ln", "force", {"$select": "ln(officer_age)"}, rows_of(lambda r: math.log(r["officer_age"]))),
    ("round", "force", {"$select": "round(officer_age / 7)"}, rows_of(lambda r: half_up(r["officer_age"] / 7, 0))),
    ("round-places", "force", {"$select": "round(officer_age / 7, 2)"}, rows_of(lambda r: half_up(r["officer_age"] / 7, 2))),
    # dates
    ("date-trunc-y", "calls", {"$select": "date_trunc_y(received_at)"}, rows_of(lambda r: first_of(r[RECEIVED], "y"))),
    ("date-trunc-ym", "calls", {"$select": "date_trunc_ym(received_at)"}, rows_of(lambda r: first_of(r[RECEIVED], "ym"))),
    ("date-trunc-ymd", "calls", {"$select": "date_trunc_ymd(received_at)"}, rows_of(lambda r: first_of(r[RECEIVED], "ymd"))),
    ("date-extract-y", "calls", {"$select": "date_extract_y(received_at)"}, rows_of(lambda r: r[RECEIVED].year)),
    ("date-extract-m", "calls", {"$select": "date_extract_m(received_at)"}, rows_of(lambda r: r[RECEIVED].month)),
    ("date-extract-d", "calls", {"$select": "date_extract_d(received_at)"}, rows_of(lambda r: r[RECEIVED].day)),
    ("date-extract-hh", "calls", {"$select": "date_extract_hh(received_at)"}, rows_of(lambda r: r[RECEIVED].hour)),
    ("date-extract-mm", "calls", {"$select": "date_extract_mm(received_at)"}, rows_of(lambda r: r[RECEIVED].minute)),
    ("date-extract-ss", "force", {"$select": "date_extract_ss(:created_at)", "$limit": "1"}, lambda rows: [(0,)]),
    ("date-extract-dow-sunday-is-0", "calls", {"$select": "date_extract_dow(received_at)"}, rows_of(lambda r: r[RECEIVED].isoweekday() % 7)),
    ("date-extract-woy-iso", "calls", {"$select": "date_extract_woy(received_at)"}, rows_of(lambda r: r[RECEIVED].isocalendar().week)),
    ("date-diff-d", "calls", {"$select": "date_diff_d(received_at, '2018-01-01')"}, rows_of(lambda r: (r[RECEIVED] - datetime(2018, 1, 1)).days)),
    ("date-functions-in-where", "calls", {"$select": ":id", "$where": "date_extract_hh(received_at) >= 20 OR date_extract_dow(received_at) = 0"}, rows_of(":id", where=lambda r: r[RECEIVED].hour >= 20 or r[RECEIVED].isoweekday() == 7)),
    ("system-timestamp-compare", "force", {"$select": "count(*)", "$where": ":updated_at > :created_at"}, one(len)),
    # geography: points are (lon, lat); functions take latitude first
    ("point-output", "calls", {"$select": "location", "$limit": "5"}, rows_of("location", limit=5)),
    ("within-circle", "calls", {"$select": ":id", "$where": f"within_circle(location, {POLICE_HQ[0]}, {POLICE_HQ[1]}, 800)"}, rows_of(":id", where=lambda r: haversine(lat(r), lon(r), *POLICE_HQ) <= 800)),
    ("within-box", "calls", {"$select": ":id", "$where": "within_box(location, 38.99, -77.01, 38.975, -76.99)"}, rows_of(":id", where=in_box)),
    ("distance-in-meters", "calls", {"$select": f"distance_in_meters(location, 'POINT ({POLICE_HQ[1]} {POLICE_HQ[0]})')"}, rows_of(lambda r: haversine(lat(r), lon(r), *POLICE_HQ))),
    ("order-by-distance", "calls", {"$select": ":id", "$order": f"distance_in_meters(location, 'POINT ({POLICE_HQ[1]} {POLICE_HQ[0]})')", "$limit": "5"}, rows_of(":id", key=lambda r: (haversine(lat(r), lon(r), *POLICE_HQ), r[":id"]), limit=5)),
    ("within-polygon", "calls", {"$select": ":id", "$where": f"within_polygon(location, '{BOX}')"}, rows_of(":id", where=in_box)),
    ("intersects-polygon", "calls", {"$select": ":id", "$where": f"intersects(location, '{BOX}')"}, rows_of(":id", where=in_box)),
    ("intersects-point", "calls", {"$select": "count(*)", "$where": "intersects(location, 'POINT (-77.0102081298828 38.9817161560059)')"}, one(lambda rows: sum(r["location"] == (-77.0102081298828, 38.9817161560059) for r in rows))),
    ("snap-to-grid", "calls", {"$select": "snap_to_grid(location, 0.01)", "$limit": "5"}, rows_of(lambda r: (math.floor(lon(r) / 0.01 + 0.5) * 0.01, math.floor(lat(r) / 0.01 + 0.5) * 0.01), limit=5)),
    ("extent", "calls", {"$select": "extent(location)"}, one(lambda rows: (min(map(lon, rows)), min(map(lat, rows)), max(map(lon, rows)), max(map(lat, rows))))),
    # whole statements ($query)
    ("statement-every-clause", "force", {"$query": "SELECT officer_rank, count(*) AS n WHERE officer_age > 25 GROUP BY officer_rank HAVING n > 1 ORDER BY n DESC LIMIT 2 OFFSET 0"}, lambda rows: sorted(((k, n) for k, n in Counter(r["officer_rank"] for r in rows if age(r) > 25).items() if n > 1), key=lambda kv: -kv[1])[:2]),
    ("statement-lowercase-keywords", "force", {"$query": "select :id where subject_sex = 'F' order by :id desc limit 3"}, rows_of(":id", where=lambda r: r["subject_sex"] == "F", key=lambda r: -r[":id"], limit=3)),
    ("statement-search", "force", {"$query": "SELECT :id SEARCH 'knife'"}, rows_of(":id", where=searched("force", "knife"))),
    ("statement-only-where", "force", {"$query": "WHERE officer_age = 49"}, rows_of(*(c.field_name for c in DATASETS["force"].columns), where=lambda r: age(r) == 49)),
    ("statement-offset", "calls", {"$query": "SELECT event_number ORDER BY received_at LIMIT 3 OFFSET 27"}, rows_of("event_number", key=lambda r: r[RECEIVED], limit=3, offset=27)),
    ("statement-multiline", "force", {"$query": "SELECT :id\nWHERE officer_rank = 'Sergeant'\nORDER BY :id"}, rows_of(":id", where=lambda r: r["officer_rank"] == "Sergeant")),
]
# fmt: on


def compile_case(dataset: str, params: dict[str, str]) -> CompiledQuery:
    filters = {k: v for k, v in params.items() if not k.startswith("$")}
    if "$query" in params:
        query = parse_statement(params["$query"])
    else:
        query = parse_params({k: v for k, v in params.items() if k.startswith("$")})
    return compile_query(query, DATASETS[dataset], filters=filters)


def logical(compiled: CompiledQuery, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Physical result columns → one value per output (a point is its (lon, lat))."""
    out: list[Any] = []
    i = 0
    for output in compiled.outputs:
        part = row[i : i + output.width]
        out.append(part[0] if output.width == 1 else (None if part[0] is None else tuple(part)))
        i += output.width
    return tuple(out)


def same(got: Any, want: Any) -> bool:
    if isinstance(want, tuple) and isinstance(got, tuple):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(want, bool) or isinstance(got, bool) or got is None or want is None:
        return got is want or got == want
    if isinstance(want, int | float) and isinstance(got, int | float | Decimal):
        return math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=1e-6)
    return bool(got == want)


@pytest.mark.parametrize(("name", "dataset", "params", "answer"), CASES, ids=[c[0] for c in CASES])
def test_case(
    name: str,
    dataset: str,
    params: dict[str, str],
    answer: Answer,
    soql_engine: SoQLEngine,
    soql_rows: dict[str, list[Row]],
) -> None:
    compiled = compile_case(dataset, params)
    got = [logical(compiled, row) for row in soql_engine.run(dataset, compiled.select)]
    want = answer(soql_rows[dataset])
    assert len(got) == len(want), (got[:5], want[:5])
    for g, w in zip(got, want, strict=True):
        assert same(g, w), (g, w)


def test_case_names_are_unique() -> None:
    assert len({c[0] for c in CASES}) == len(CASES)


def test_every_function_has_a_case() -> None:
    """The function table is the compatibility list: each entry is proven by a case here."""
    used = {
        name
        for _, _, params, _ in CASES
        for text in params.values()
        for name in re.findall(r"([a-z_]+)\s*\(", text.lower())
    }
    missing = sorted(set(FUNCTIONS) - used - {"convex_hull"})  # convex_hull: test below
    assert not missing, f"functions without a case: {missing}"


def test_convex_hull_lists_the_points_it_encloses(
    soql_engine: SoQLEngine, soql_rows: dict[str, list[Row]]
) -> None:
    compiled = compile_case("calls", {"$select": "convex_hull(location)"})
    assert [o.width for o in compiled.outputs] == [2]
    ((lons, lats),) = soql_engine.run("calls", compiled.select)
    assert sorted(zip(lons, lats, strict=True)) == sorted(r["location"] for r in soql_rows["calls"])


@pytest.mark.parametrize("name", sorted(NOT_YET))
def test_unsupported_functions_say_so(name: str) -> None:
    with pytest.raises(NoSuchFunction, match="does not support"):
        compile_case("force", {"$select": f"{name}(officer_age)"})


def test_limit_above_the_maximum_names_limit() -> None:
    query = parse_params({"$limit": "101"})
    with pytest.raises(SoQLError) as caught:
        compile_query(query, DATASETS["force"], max_limit=100)
    assert caught.value.clause == "$limit"
    assert (
        compile_query(parse_params({}), DATASETS["force"], default_limit=7)
        .select.args["limit"]
        .expression.this
        == "7"
    )


# --- within_circle's bounding box ------------------------------------------------------


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    from blotter.soql.functions import EARTH_RADIUS_M

    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@settings(max_examples=400, deadline=None)
@given(
    lat=st.floats(-80, 80),
    lon=st.floats(-170, 170),
    metres=st.floats(1, 200_000),
    bearing=st.floats(0, 2 * math.pi),
    share=st.floats(0, 1),
)
def test_the_circle_box_never_drops_a_point_inside_the_circle(
    lat: float, lon: float, metres: float, bearing: float, share: float
) -> None:
    from blotter.soql.functions import EARTH_RADIUS_M, circle_bounds

    bounds = circle_bounds(lat, lon, metres)
    if bounds is None:
        return
    south, north, west, east = bounds
    # A point at `share` of the radius in direction `bearing` (the destination formula).
    d = share * metres / EARTH_RADIUS_M
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    plat, plon = math.degrees(p2), math.degrees(l2)
    if _haversine(lat, lon, plat, plon) <= metres:
        assert south <= plat <= north and west <= plon <= east


def test_the_circle_box_is_left_out_near_poles_and_the_antimeridian() -> None:
    from blotter.soql.functions import circle_bounds

    assert circle_bounds(89.99, 0, 5_000) is None
    assert circle_bounds(10, 179.999, 5_000) is None
    assert circle_bounds(10, 20, -1) is None
    box = circle_bounds(0, 0, 111_195)  # about one degree of arc
    assert box == pytest.approx((-1, 1, -1, 1), abs=1e-3)
