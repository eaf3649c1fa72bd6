"""SoQL conformance: each case runs through the real compiler and engine, on both engines,
and is checked against an answer computed in plain Python from the same rows."""

from __future__ import annotations

import math
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from blotter.app import create_app
from blotter.errors import QueryTimeout, SoQLError
from blotter.queries import prepare_query, run_query
from blotter.queries import run as run_prepared
from blotter.settings import Settings
from blotter.store import Store
from tests.soql.conftest import CALLS, FORCE

Rows = list[dict[str, Any]]
Answer = Callable[[Rows], list[tuple[Any, ...]]]


def by_id(rows: Rows) -> Rows:
    return sorted(rows, key=lambda r: r[":id"])


def col(
    *fields: str,
    where: Callable[[dict[str, Any]], bool] = lambda r: True,
    limit: int = 50000,
    offset: int = 0,
) -> Answer:
    return lambda rows: [tuple(r[f] for f in fields) for r in by_id(rows) if where(r)][
        offset : offset + limit
    ]


def counts(field: str, where: Callable[[dict[str, Any]], bool] = lambda r: True) -> Answer:
    def answer(rows: Rows) -> list[tuple[Any, ...]]:
        c = Counter(r[field] for r in rows if where(r))
        return sorted(c.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))

    return answer


def top_counts(field: str, limit: int, offset: int = 0) -> Answer:
    """Counts, most first; equal counts in the order of their key (ascending, nulls last),
    the tiebreak the compiler adds so a cut by $limit keeps the same groups everywhere."""

    def answer(rows: Rows) -> list[tuple[Any, ...]]:
        c = Counter(r[field] for r in rows)
        ordered = sorted(c.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or 0))
        return ordered[offset : offset + limit]

    return answer


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(a)))


def month(d: datetime) -> datetime:
    return d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def trend(rows: Rows) -> list[tuple[Any, ...]]:
    c = Counter(month(r["occurred_date"]) for r in rows)
    return sorted(c.items())


def mean_age_by_race(rows: Rows) -> list[tuple[Any, ...]]:
    groups: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r["subject_age"] is not None:
            groups[r["subject_race"]].append(r["subject_age"])
    return [(race, sum(v) / len(v)) for race, v in sorted(groups.items())]


TEATER = (38.9766, -77.0075)  # a point in Takoma Park (lat, lon)

CASES: list[tuple[str, str, dict[str, str], Answer]] = [
    # --- selection, order, paging ---
    (
        "select-columns",
        FORCE,
        {"$select": "case_number, subject_race"},
        col("case_number", "subject_race"),
    ),
    ("default-order-is-id", FORCE, {"$select": ":id"}, col(":id")),
    (
        "limit-offset",
        FORCE,
        {"$select": "case_number", "$limit": "7", "$offset": "200"},
        col("case_number", limit=7, offset=200),
    ),
    ("offset-past-the-end", FORCE, {"$offset": "5000"}, lambda rows: []),
    (
        "order-desc-nulls-first",
        FORCE,
        {"$select": "subject_age", "$order": "subject_age DESC", "$limit": "5"},
        lambda rows: [(None,)] * 5,
    ),
    (
        "order-desc-nulls-last",
        FORCE,
        {
            "$select": "subject_age, :id",
            "$order": "subject_age DESC NULLS LAST, :id",
            "$limit": "5",
        },
        lambda rows: sorted(
            ((r["subject_age"], r[":id"]) for r in rows if r["subject_age"]),
            key=lambda t: (-t[0], t[1]),
        )[:5],
    ),
    (
        "order-two-keys",
        FORCE,
        {
            "$select": "officer_age, case_number",
            "$order": "officer_age, case_number DESC",
            "$limit": "9",
        },
        lambda rows: sorted(
            ((r["officer_age"], r["case_number"]) for r in rows),
            key=lambda t: (t[0], [-ord(c) for c in t[1]]),
        )[:9],
    ),
    (
        "alias",
        FORCE,
        {"$select": "subject_race AS race", "$limit": "3"},
        col("subject_race", limit=3),
    ),
    (
        "backtick-name",
        FORCE,
        {"$select": "`subject_race`", "$where": "`subject_age` > 50"},
        col("subject_race", where=lambda r: (r["subject_age"] or 0) > 50),
    ),
    (
        "case-insensitive-names",
        FORCE,
        {"$select": "SUBJECT_RACE", "$limit": "2"},
        col("subject_race", limit=2),
    ),
    # --- comparison and logic ---
    (
        "eq-text",
        FORCE,
        {"$select": "case_number", "$where": "subject_race = 'black'"},
        col("case_number", where=lambda r: r["subject_race"] == "black"),
    ),
    ("text-eq-is-case-sensitive", FORCE, {"$where": "subject_race = 'Black'"}, lambda rows: []),
    (
        "neq",
        FORCE,
        {"$select": "case_number", "$where": "subject_race != 'white'"},
        col("case_number", where=lambda r: r["subject_race"] not in ("white", None)),
    ),
    (
        "ltgt",
        FORCE,
        {"$select": "case_number", "$where": "officer_age >= 40 AND officer_age < 45"},
        col("case_number", where=lambda r: 40 <= r["officer_age"] < 45),
    ),
    (
        "or-not",
        FORCE,
        {"$select": "case_number", "$where": "NOT (subject_race = 'white') OR subject_age > 60"},
        col(
            "case_number",
            where=lambda r: r["subject_race"] != "white" or (r["subject_age"] or 0) > 60,
        ),
    ),
    (
        "is-null",
        FORCE,
        {"$select": "case_number", "$where": "subject_injured IS NULL"},
        col("case_number", where=lambda r: r["subject_injured"] is None),
    ),
    (
        "is-not-null",
        FORCE,
        {"$select": "case_number", "$where": "weapon IS NOT NULL"},
        col("case_number", where=lambda r: r["weapon"] is not None),
    ),
    (
        "between",
        FORCE,
        {"$select": "case_number", "$where": "subject_age BETWEEN 20 AND 25"},
        col(
            "case_number",
            where=lambda r: r["subject_age"] is not None and 20 <= r["subject_age"] <= 25,
        ),
    ),
    (
        "not-between",
        FORCE,
        {"$select": "case_number", "$where": "subject_age NOT BETWEEN 20 AND 60"},
        col(
            "case_number",
            where=lambda r: r["subject_age"] is not None and not 20 <= r["subject_age"] <= 60,
        ),
    ),
    (
        "in",
        FORCE,
        {"$select": "case_number", "$where": "weapon IN ('edged', 'blunt')"},
        col("case_number", where=lambda r: r["weapon"] in ("edged", "blunt")),
    ),
    (
        "not-in",
        FORCE,
        {"$select": "case_number", "$where": "weapon NOT IN ('edged', 'blunt')"},
        col("case_number", where=lambda r: r["weapon"] not in ("edged", "blunt", None)),
    ),
    (
        "like",
        FORCE,
        {"$select": "case_number", "$where": "force_type LIKE '%cew%'"},
        col("case_number", where=lambda r: "cew" in (r["force_type"] or "")),
    ),
    (
        "not-like",
        FORCE,
        {"$select": "case_number", "$where": "force_type NOT LIKE 'firearm%'"},
        col(
            "case_number",
            where=lambda r: (
                r["force_type"] is not None and not r["force_type"].startswith("firearm")
            ),
        ),
    ),
    (
        "like-underscore",
        FORCE,
        {"$select": "case_number", "$where": "case_number LIKE '16RL0032_'"},
        col(
            "case_number",
            where=lambda r: r["case_number"].startswith("16RL0032") and len(r["case_number"]) == 9,
        ),
    ),
    (
        "checkbox-true",
        FORCE,
        {"$select": "case_number", "$where": "arrested = true"},
        col("case_number", where=lambda r: r["arrested"] is True),
    ),
    (
        "checkbox-bare",
        FORCE,
        {"$select": "case_number", "$where": "mental_health"},
        col("case_number", where=lambda r: r["mental_health"] is True),
    ),
    (
        "number-string-literal",
        FORCE,
        {"$select": "case_number", "$where": "officer_age = '32'"},
        col("case_number", where=lambda r: r["officer_age"] == 32),
    ),
    (
        "timestamp-literal",
        FORCE,
        {"$select": "case_number", "$where": "occurred_date >= '2017-06-01T00:00:00.000'"},
        col("case_number", where=lambda r: r["occurred_date"] >= datetime(2017, 6, 1)),
    ),
    (
        "timestamp-date-only",
        FORCE,
        {"$select": "case_number", "$where": "occurred_date < '2015-03-01'"},
        col("case_number", where=lambda r: r["occurred_date"] < datetime(2015, 3, 1)),
    ),
    (
        "timestamp-between",
        FORCE,
        {
            "$select": "case_number",
            "$where": "occurred_date BETWEEN '2016-01-01' AND '2016-01-31T23:59:59'",
        },
        col(
            "case_number",
            where=lambda r: (
                datetime(2016, 1, 1) <= r["occurred_date"] <= datetime(2016, 1, 31, 23, 59, 59)
            ),
        ),
    ),
    (
        "id-compare",
        FORCE,
        {"$select": ":id", "$where": ":id > 215"},
        col(":id", where=lambda r: r[":id"] > 215),
    ),
    (
        "id-row-literal",
        FORCE,
        {"$select": ":id", "$where": ":id = 'row-3'"},
        col(":id", where=lambda r: r[":id"] == 3),
    ),
    (
        "simple-filter",
        FORCE,
        {"$select": "case_number", "subject_race": "asian"},
        col("case_number", where=lambda r: r["subject_race"] == "asian"),
    ),
    (
        "simple-filters-anded",
        FORCE,
        {"$select": "case_number", "subject_race": "black", "officer_sex": "female"},
        col(
            "case_number",
            where=lambda r: r["subject_race"] == "black" and r["officer_sex"] == "female",
        ),
    ),
    (
        "simple-filter-number",
        FORCE,
        {"$select": "case_number", "officer_age": "29"},
        col("case_number", where=lambda r: r["officer_age"] == 29),
    ),
    (
        "simple-filter-checkbox",
        FORCE,
        {"$select": "case_number", "arrested": "false"},
        col("case_number", where=lambda r: r["arrested"] is False),
    ),
    # --- arithmetic, text, conditionals ---
    (
        "arithmetic",
        FORCE,
        {
            "$select": "officer_age - subject_age AS gap",
            "$where": "subject_age IS NOT NULL",
            "$limit": "20",
        },
        lambda rows: [
            (r["officer_age"] - r["subject_age"],)
            for r in by_id(rows)
            if r["subject_age"] is not None
        ][:20],
    ),
    (
        "division-is-decimal",
        FORCE,
        {"$select": "officer_age / 4 AS q", "$limit": "3"},
        lambda rows: [(r["officer_age"] / 4,) for r in by_id(rows)][:3],
    ),
    (
        "modulo",
        FORCE,
        {"$select": "officer_age % 7 AS m", "$limit": "5"},
        lambda rows: [(r["officer_age"] % 7,) for r in by_id(rows)][:5],
    ),
    (
        "unary-minus",
        FORCE,
        {"$select": "-officer_age AS n", "$limit": "2"},
        lambda rows: [(-r["officer_age"],) for r in by_id(rows)][:2],
    ),
    (
        "concat",
        FORCE,
        {"$select": "case_number || '/' || subject_race AS k", "$limit": "4"},
        lambda rows: [(f"{r['case_number']}/{r['subject_race']}",) for r in by_id(rows)][:4],
    ),
    (
        "upper-lower",
        FORCE,
        {"$select": "upper(subject_race) AS u, lower(call_type) AS l", "$limit": "4"},
        lambda rows: [(r["subject_race"].upper(), r["call_type"].lower()) for r in by_id(rows)][:4],
    ),
    (
        "starts-with",
        FORCE,
        {"$select": "case_number", "$where": "starts_with(case_number, '17')"},
        col("case_number", where=lambda r: r["case_number"].startswith("17")),
    ),
    (
        "coalesce",
        FORCE,
        {"$select": "coalesce(weapon, 'none') AS w", "$limit": "30"},
        lambda rows: [(r["weapon"] or "none",) for r in by_id(rows)][:30],
    ),
    (
        "case",
        FORCE,
        {
            "$select": "case(subject_age < 25, 'young', subject_age >= 25, 'older') AS band",
            "$limit": "40",
        },
        lambda rows: [
            (None if r["subject_age"] is None else "young" if r["subject_age"] < 25 else "older",)
            for r in by_id(rows)
        ][:40],
    ),
    (
        "abs-round-ln",
        FORCE,
        {
            "$select": "abs(subject_age - 40) AS a, round(ln(officer_age), 2) AS l",
            "$where": "subject_age IS NOT NULL",
            "$limit": "10",
        },
        lambda rows: [
            (abs(r["subject_age"] - 40), round(math.log(r["officer_age"]), 2))
            for r in by_id(rows)
            if r["subject_age"] is not None
        ][:10],
    ),
    (
        "cast-number-text",
        FORCE,
        {"$select": "officer_age::text AS t", "$where": "officer_age::number > 50"},
        None,
    ),  # type: ignore[list-item]  # shape checked below: text output of numbers
    (
        "q-search",
        FORCE,
        {"$select": "case_number", "$q": "DOMESTIC assault"},
        col(
            "case_number",
            where=lambda r: (
                any(
                    "domestic" in (r[f] or "").lower()
                    for f in ("call_type", "arrest_charges_raw", "case_number")
                )
                and any("assault" in (r[f] or "").lower() for f in r if isinstance(r[f], str))
            ),
        ),
    ),
    # --- aggregates ---
    ("count-star", FORCE, {"$select": "count(*)"}, lambda rows: [(len(rows),)]),
    (
        "count-column",
        FORCE,
        {"$select": "count(subject_age)"},
        lambda rows: [(sum(r["subject_age"] is not None for r in rows),)],
    ),
    (
        "count-distinct",
        FORCE,
        {"$select": "count(distinct case_number)"},
        lambda rows: [(len({r["case_number"] for r in rows}),)],
    ),
    (
        "group-count",
        FORCE,
        {"$select": "subject_race, count(*)", "$group": "subject_race"},
        counts("subject_race"),
    ),
    (
        "group-where",
        FORCE,
        {
            "$select": "officer_rank, count(*)",
            "$group": "officer_rank",
            "$where": "arrested = true",
        },
        counts("officer_rank", where=lambda r: r["arrested"] is True),
    ),
    (
        "group-having",
        FORCE,
        {
            "$select": "subject_race, count(*) AS n",
            "$group": "subject_race",
            "$having": "count(*) > 20",
        },
        lambda rows: [kv for kv in counts("subject_race")(rows) if kv[1] > 20],
    ),
    (
        "having-alias",
        FORCE,
        {
            "$select": "subject_race, count(*) AS n",
            "$group": "subject_race",
            "$having": "n > 20",
            "$order": "n DESC",
        },
        lambda rows: sorted(
            (kv for kv in counts("subject_race")(rows) if kv[1] > 20), key=lambda kv: -kv[1]
        ),
    ),
    (
        "sum-avg-min-max",
        FORCE,
        {"$select": "sum(officer_age), avg(officer_age), min(officer_age), max(officer_age)"},
        lambda rows: [
            (
                sum(r["officer_age"] for r in rows),
                sum(r["officer_age"] for r in rows) / len(rows),
                min(r["officer_age"] for r in rows),
                max(r["officer_age"] for r in rows),
            )
        ],
    ),
    (
        "stddev",
        FORCE,
        {"$select": "stddev_pop(officer_age), stddev_samp(officer_age)"},
        lambda rows: [
            (
                math.sqrt(
                    sum(
                        (r["officer_age"] - sum(x["officer_age"] for x in rows) / len(rows)) ** 2
                        for r in rows
                    )
                    / len(rows)
                ),
                math.sqrt(
                    sum(
                        (r["officer_age"] - sum(x["officer_age"] for x in rows) / len(rows)) ** 2
                        for r in rows
                    )
                    / (len(rows) - 1)
                ),
            )
        ],
    ),
    (
        "avg-by-group",
        FORCE,
        {
            "$select": "subject_race, avg(subject_age)",
            "$group": "subject_race",
            "$where": "subject_age IS NOT NULL",
        },
        mean_age_by_race,
    ),
    (
        "min-max-timestamp",
        FORCE,
        {"$select": "min(occurred_date), max(occurred_date)"},
        lambda rows: [
            (min(r["occurred_date"] for r in rows), max(r["occurred_date"] for r in rows))
        ],
    ),
    (
        "trend-by-month",
        FORCE,
        {"$select": "date_trunc_ym(occurred_date) AS month, count(*)", "$group": "month"},
        trend,
    ),
    (
        "date-extract",
        FORCE,
        {"$select": "date_extract_y(occurred_date) AS y, count(*)", "$group": "y"},
        lambda rows: sorted(Counter(float(r["occurred_date"].year) for r in rows).items()),
    ),
    (
        "date-extract-dow",
        CALLS,
        {"$select": "date_extract_dow(received_at) AS d, count(*)", "$group": "d"},
        lambda rows: sorted(
            Counter(float((r["received_at"].weekday() + 1) % 7) for r in rows).items()
        ),
    ),
    (
        "date-extract-hh",
        CALLS,
        {
            "$select": "date_extract_hh(received_at) AS h, count(*)",
            "$group": "h",
            "$where": "call_type = 'Accident - Injury'",
        },
        lambda rows: sorted(
            Counter(
                float(r["received_at"].hour) for r in rows if r["call_type"] == "Accident - Injury"
            ).items()
        ),
    ),
    (
        "date-trunc-y",
        CALLS,
        {"$select": "date_trunc_y(received_at) AS y, count(*)", "$group": "y"},
        lambda rows: sorted(Counter(datetime(r["received_at"].year, 1, 1) for r in rows).items()),
    ),
    (
        "crosstab",
        FORCE,
        {"$select": "subject_race, subject_sex, count(*)", "$group": "subject_race, subject_sex"},
        lambda rows: sorted(
            (
                (a, b, n)
                for (a, b), n in Counter(
                    (r["subject_race"], r["subject_sex"]) for r in rows
                ).items()
            )
        ),
    ),
    # --- geography ---
    (
        "within-circle",
        CALLS,
        {
            "$select": "event_number",
            "$where": f"within_circle(location, {TEATER[0]}, {TEATER[1]}, 250)",
        },
        col(
            "event_number",
            where=lambda r: (
                r["location"] is not None
                and haversine(TEATER[0], TEATER[1], r["location"][1], r["location"][0]) <= 250
            ),
        ),
    ),
    (
        "within-box",
        CALLS,
        {"$select": "event_number", "$where": "within_box(location, 38.99, -77.01, 38.98, -76.99)"},
        col(
            "event_number",
            where=lambda r: (
                38.98 <= r["location"][1] <= 38.99 and -77.01 <= r["location"][0] <= -76.99
            ),
        ),
    ),
    (
        "distance-in-meters",
        CALLS,
        {
            "$select": "event_number, distance_in_meters(location, 'POINT (-77.0075 38.9766)') AS m",
            "$limit": "5",
        },
        lambda rows: [
            (r["event_number"], haversine(38.9766, -77.0075, r["location"][1], r["location"][0]))
            for r in by_id(rows)
        ][:5],
    ),
]


CASES.append(
    (
        "median",
        FORCE,
        {"$select": "median(officer_age), median(subject_age)"},
        lambda rows: [
            (
                statistics.median(r["officer_age"] for r in rows),
                statistics.median(r["subject_age"] for r in rows if r["subject_age"] is not None),
            )
        ],
    )
)

# --- families: the same rule checked over every value or column it applies to ---------

EQUALITY_VALUES = {
    "subject_race": ["white", "black", "asian"],
    "officer_rank": ["officer", "corporal", "sergeant", "commander"],
    "weapon": ["firearm", "edged", "blunt", "other", "unknown_type"],
    "resistance_level": [
        "compliant",
        "psychological_intimidation",
        "verbal_noncompliance",
        "passive",
        "active",
        "assaultive",
        "deadly_force",
        "other",
    ],
    "subject_injured": ["minor", "self_inflicted", "yes_unspecified"],
}
for _field, _values in EQUALITY_VALUES.items():
    for _value in _values:
        CASES.append(
            (
                f"eq-{_field}-{_value}",
                FORCE,
                {"$select": ":id", "$where": f"{_field} = '{_value}'"},
                col(":id", where=lambda r, f=_field, v=_value: r[f] == v),
            )
        )

GROUPABLE = [
    "officer_rank",
    "officer_race",
    "officer_sex",
    "officer_role",
    "subject_race",
    "subject_sex",
    "subject_injured",
    "officer_injured",
    "force_type",
    "force_category",
    "weapon",
    "resistance_level",
    "reason",
    "review_outcome",
    "arrested",
    "mental_health",
    "suspected_impairment",
]


def _group_answer(field: str) -> Answer:
    def answer(rows: Rows) -> list[tuple[Any, ...]]:
        c = Counter(r[field] for r in rows)
        # Group keys sort ascending with nulls last, as the compiler orders them.
        return sorted(c.items(), key=lambda kv: (kv[0] is None, kv[0] if kv[0] is not None else 0))

    return answer


for _field in GROUPABLE:
    CASES.append(
        (
            f"group-{_field}",
            FORCE,
            {"$select": f"{_field}, count(*)", "$group": _field},
            _group_answer(_field),
        )
    )

_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
for _op, _test in _OPS.items():
    CASES.append(
        (
            f"number-{_op}",
            FORCE,
            {"$select": ":id", "$where": f"subject_age {_op} 30"},
            col(
                ":id",
                where=lambda r, t=_test: r["subject_age"] is not None and t(r["subject_age"], 30),
            ),
        )
    )
    CASES.append(
        (
            f"timestamp-{_op}",
            CALLS,
            {"$select": ":id", "$where": f"received_at {_op} '2019-06-15T12:00:00'"},
            col(":id", where=lambda r, t=_test: t(r["received_at"], datetime(2019, 6, 15, 12))),
        )
    )

_PARTS = {"y": "year", "m": "month", "d": "day", "hh": "hour", "mm": "minute", "ss": "second"}
for _short, _attr in _PARTS.items():
    CASES.append(
        (
            f"date-extract-{_short}",
            CALLS,
            {"$select": f"date_extract_{_short}(received_at) AS p, count(*)", "$group": "p"},
            lambda rows, a=_attr: sorted(
                Counter(float(getattr(r["received_at"], a)) for r in rows).items()
            ),
        )
    )
CASES.append(
    (
        "date-extract-woy",
        CALLS,
        {"$select": "date_extract_woy(received_at) AS w, count(*)", "$group": "w"},
        lambda rows: sorted(
            Counter(float(r["received_at"].isocalendar()[1]) for r in rows).items()
        ),
    )
)
CASES.append(
    (
        "date-trunc-ymd",
        CALLS,
        {
            "$select": "date_trunc_ymd(received_at) AS d, count(*)",
            "$group": "d",
            "$where": "received_at < '2018-01-08'",
        },
        lambda rows: sorted(
            Counter(
                r["received_at"].replace(hour=0, minute=0, second=0)
                for r in rows
                if r["received_at"] < datetime(2018, 1, 8)
            ).items()
        ),
    )
)
CASES.append(
    (
        "date-diff-d",
        FORCE,
        {"$select": "date_diff_d(occurred_date, '2015-01-01') AS days", "$limit": "25"},
        lambda rows: [
            (float((r["occurred_date"] - datetime(2015, 1, 1)).days),) for r in by_id(rows)
        ][:25],
    )
)

STATEMENTS: list[tuple[str, str, str, Answer]] = [
    (
        "query-select-where",
        FORCE,
        "SELECT case_number WHERE subject_race = 'black'",
        col("case_number", where=lambda r: r["subject_race"] == "black"),
    ),
    (
        "query-lowercase-keywords",
        FORCE,
        "select case_number where officer_age > 50 order by :id",
        col("case_number", where=lambda r: r["officer_age"] > 50),
    ),
    (
        "query-group-having-order",
        FORCE,
        "SELECT officer_rank, count(*) AS n GROUP BY officer_rank HAVING n >= 13 ORDER BY n DESC",
        lambda rows: sorted(
            ((k, v) for k, v in Counter(r["officer_rank"] for r in rows).items() if v >= 13),
            key=lambda kv: -kv[1],
        ),
    ),
    (
        "query-limit-offset",
        FORCE,
        "SELECT :id ORDER BY :id LIMIT 10 OFFSET 100",
        col(":id", limit=10, offset=100),
    ),
    (
        "query-search",
        FORCE,
        "SELECT case_number SEARCH 'robbery'",
        col(
            "case_number",
            where=lambda r: any(
                "robbery" in (v or "").lower() for v in r.values() if isinstance(v, str)
            ),
        ),
    ),
    (
        "query-count",
        CALLS,
        "SELECT count(*) WHERE criminal_report = true",
        lambda rows: [(sum(r["criminal_report"] is True for r in rows),)],
    ),
    (
        "query-trend",
        CALLS,
        "SELECT date_trunc_y(received_at) AS y, count(*) GROUP BY y ORDER BY y",
        lambda rows: sorted(Counter(datetime(r["received_at"].year, 1, 1) for r in rows).items()),
    ),
    (
        "query-in",
        CALLS,
        "SELECT event_number WHERE beat IN ('3H1', '3G1') ORDER BY :id",
        col("event_number", where=lambda r: r["beat"] in ("3H1", "3G1")),
    ),
    ("query-star", FORCE, "SELECT * WHERE case_number = '15RL00327' LIMIT 1", None),  # type: ignore[list-item]
    ("query-system-star", FORCE, "SELECT :*, case_number LIMIT 2", None),  # type: ignore[list-item]
]
for _name, _dataset, _statement, _answer in STATEMENTS:
    if _answer is not None:
        CASES.append((_name, _dataset, {"$query": _statement}, _answer))

for _word in ("assault", "warrant", "dui", "knife", "school"):
    CASES.append(
        (
            f"q-{_word}",
            FORCE,
            {"$select": ":id", "$q": _word},
            col(
                ":id",
                where=lambda r, w=_word: any(
                    w in v.lower() for v in r.values() if isinstance(v, str)
                ),
            ),
        )
    )


def _in_polygon(lon: float, lat: float, ring: list[list[float]]) -> bool:
    inside, j = False, len(ring) - 1
    for i in range(len(ring)):
        (xi, yi), (xj, yj) = ring[i], ring[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


_WARD_RING = [
    [-77.0100, 38.9700],
    [-76.9900, 38.9700],
    [-76.9900, 38.9850],
    [-77.0100, 38.9850],
    [-77.0100, 38.9700],
]
_WKT = "POLYGON ((" + ", ".join(f"{x} {y}" for x, y in _WARD_RING) + "))"
CASES.append(
    (
        "within-polygon",
        CALLS,
        {"$select": ":id", "$where": f"within_polygon(location, '{_WKT}')"},
        col(":id", where=lambda r: _in_polygon(r["location"][0], r["location"][1], _WARD_RING)),
    )
)
CASES.append(
    (
        "within-multipolygon",
        CALLS,
        {
            "$select": "count(*)",
            "$where": f"within_polygon(location, 'MULTI{_WKT.replace('((', '(((').replace('))', ')))')}')",
        },
        lambda rows: [
            (sum(_in_polygon(r["location"][0], r["location"][1], _WARD_RING) for r in rows),)
        ],
    )
)


def test_select_star_returns_every_column_and_system_star_the_system_fields(
    soql_portal: tuple[Store, Settings],
) -> None:
    store, settings = soql_portal
    star = run_query(store, FORCE, {"$query": "SELECT * LIMIT 1"}, settings)
    assert [o.name for o in star.outputs][:3] == ["case_number", "occurred_date", "officer_rank"]
    system = run_query(store, FORCE, {"$select": ":*, case_number", "$limit": "2"}, settings)
    assert [o.name for o in system.outputs] == [":id", ":created_at", ":updated_at", "case_number"]
    assert [row[0] for row in system.rows] == [1, 2]


for _type in ("Traffic Stop", "Parking Problem / Motorist Assist", "Accident - Injury"):
    CASES.append(
        (
            f"calls-{_type[:8].strip().lower().replace(' ', '-')}",
            CALLS,
            {
                "$select": "count(*), sum(officers_responding), max(received_at)",
                "$where": f"call_type = '{_type}'",
            },
            lambda rows, t=_type: [
                (
                    sum(r["call_type"] == t for r in rows),
                    sum(r["officers_responding"] for r in rows if r["call_type"] == t),
                    max(r["received_at"] for r in rows if r["call_type"] == t),
                )
            ],
        )
    )
CASES.extend(
    [
        (
            "calls-count-distinct-beat",
            CALLS,
            {"$select": "count(distinct beat)"},
            lambda rows: [(len({r["beat"] for r in rows if r["beat"] is not None}),)],
        ),
        (
            "calls-group-beat",
            CALLS,
            {"$select": "beat, count(*)", "$group": "beat"},
            _group_answer("beat"),
        ),
        (
            "calls-avg-officers",
            CALLS,
            {"$select": "avg(officers_responding)"},
            lambda rows: [(sum(r["officers_responding"] for r in rows) / len(rows),)],
        ),
        (
            "calls-crosstab",
            CALLS,
            {
                "$select": "call_type, criminal_report, count(*)",
                "$group": "call_type, criminal_report",
            },
            lambda rows: sorted(
                (a, b, n)
                for (a, b), n in Counter(
                    (r["call_type"], r["criminal_report"]) for r in rows
                ).items()
            ),
        ),
        (
            "calls-order-time-desc",
            CALLS,
            {"$select": "event_number", "$order": "received_at DESC", "$limit": "10"},
            lambda rows: [
                (r["event_number"],)
                for r in sorted(rows, key=lambda r: (r["received_at"], -r[":id"]), reverse=True)
            ][:10],
        ),
    ]
)

# --- grouping by expressions that hold text values; SELECT DISTINCT ----------------------
# Text values travel as bind parameters: the same text must bind the same parameter in
# SELECT and GROUP BY, or the engine sees two different expressions and refuses the query.


def _counted(key: Callable[[dict[str, Any]], Any]) -> Answer:
    return lambda rows: sorted(Counter(key(r) for r in rows).items())


_RS = "subject_race || '/' || subject_sex"
_CASE = "case(subject_race = 'White', 'W', true, 'O')"
CASES.extend(
    [
        (
            "group-by-concat-with-text",
            FORCE,
            {"$select": f"{_RS} AS rs, count(*) AS n", "$group": _RS},
            _counted(lambda r: f"{r['subject_race']}/{r['subject_sex']}"),
        ),
        (
            "group-by-case-with-text",
            FORCE,
            {"$select": f"{_CASE} AS k, count(*) AS n", "$group": _CASE},
            _counted(lambda r: "W" if r["subject_race"] == "White" else "O"),
        ),
        (
            "group-by-coalesce-with-text",
            FORCE,
            {
                "$select": "coalesce(weapon, 'none') AS w, count(*)",
                "$group": "coalesce(weapon, 'none')",
            },
            _counted(lambda r: r["weapon"] if r["weapon"] is not None else "none"),
        ),
        (
            "group-by-starts-with-text",
            FORCE,
            {
                "$select": "starts_with(subject_race, 'B') AS b, count(*)",
                "$group": "starts_with(subject_race, 'B')",
            },
            _counted(lambda r: r["subject_race"].startswith("B")),
        ),
        (
            "group-by-text-expression-in-query",
            FORCE,
            {"$query": f"SELECT {_RS} AS rs, count(*) AS n GROUP BY {_RS} HAVING count(*) > 6"},
            lambda rows: [
                (k, n)
                for k, n in sorted(
                    Counter(f"{r['subject_race']}/{r['subject_sex']}" for r in rows).items()
                )
                if n > 6
            ],
        ),
        (
            "select-distinct",
            FORCE,
            {"$select": "distinct subject_race, subject_sex"},
            lambda rows: sorted({(r["subject_race"], r["subject_sex"]) for r in rows}),
        ),
        (
            "select-distinct-of-grouped-counts",
            FORCE,
            {"$select": "distinct count(*) AS n", "$group": "subject_race", "$order": "n DESC"},
            lambda rows: sorted(
                {(n,) for n in Counter(r["subject_race"] for r in rows).values()}, reverse=True
            ),
        ),
        (
            "ties-in-order-cut-by-limit",  # 36, 39 and 40 each count 5: the cut falls among them
            FORCE,
            {
                "$select": "officer_age, count(*) AS n",
                "$group": "officer_age",
                "$order": "n DESC",
                "$limit": "10",
            },
            top_counts("officer_age", 10),
        ),
        (
            "ties-in-order-with-a-null-key-paged",  # 23 and the missing age each count 10
            FORCE,
            {
                "$select": "subject_age, count(*) AS n",
                "$group": "subject_age",
                "$order": "n DESC",
                "$limit": "3",
                "$offset": "4",
            },
            top_counts("subject_age", 3, offset=4),
        ),
        (
            "select-distinct-constants",
            FORCE,
            {"$select": "distinct 'x' AS t, 1 AS one, subject_sex"},
            lambda rows: sorted({("x", 1, r["subject_sex"]) for r in rows}, key=lambda t: t[2]),
        ),
        (
            "select-distinct-ordered",
            FORCE,
            {"$select": "DISTINCT subject_race", "$order": "subject_race DESC"},
            lambda rows: sorted({(r["subject_race"],) for r in rows}, reverse=True),
        ),
    ]
)


def run(
    store: Store, settings: Settings, dataset: str, params: dict[str, str]
) -> list[tuple[Any, ...]]:
    if "$query" not in params:
        params = {**params, "$limit": params.get("$limit", "50000")}
    result = run_query(store, dataset, params, settings)
    return [tuple(row) for row in result.rows]


def close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return a == b


@pytest.mark.parametrize(("name", "dataset", "params", "answer"), CASES, ids=[c[0] for c in CASES])
def test_case(
    name: str,
    dataset: str,
    params: dict[str, str],
    answer: Answer | None,
    soql_portal: tuple[Store, Settings],
    force_rows: Rows,
    call_rows: Rows,
) -> None:
    store, settings = soql_portal
    got = run(store, settings, dataset, params)
    if answer is None:  # cast-number-text: numbers cast to text read back as the same numbers
        assert got and all(isinstance(v, str) and float(v) > 50 for (v,) in got)
        return
    rows = force_rows if dataset == FORCE else call_rows
    expected = answer(rows)
    assert len(got) == len(expected), (got[:5], expected[:5])
    for g, e in zip(got, expected, strict=True):
        assert len(g) == len(e) and all(close(x, y) for x, y in zip(g, e, strict=True)), (g, e)


def test_the_table_is_broad() -> None:
    assert len(CASES) >= 150


def test_a_runaway_query_is_stopped_with_a_clear_error_and_the_engine_stays_healthy(
    soql_portal: tuple[Store, Settings],
) -> None:
    store, settings = soql_portal
    hasty = settings.model_copy(update={"query_timeout_s": 0.05})
    # A many-sided polygon makes every row evaluate thousands of edge tests.
    ring = [
        (
            -77.0 + 0.01 * math.cos(2 * math.pi * k / 990),
            38.98 + 0.01 * math.sin(2 * math.pi * k / 990),
        )
        for k in range(990)
    ]
    wkt = "POLYGON ((" + ", ".join(f"{x:.6f} {y:.6f}" for x, y in [*ring, ring[0]]) + "))"
    # One polygon per clause at most 1,000 points: the second is in $having's aggregate.
    slow = {
        "$select": "count(*)",
        "$where": f"within_polygon(location, '{wkt}')",
        "$having": f"sum(case(within_polygon(location, '{wkt}'), 1, true, 0)) >= 0",
    }
    # Compiled and written as SQL first, with the clock started after: the engine itself
    # must be stopped (the limit also counts compiling, which alone could use it up).
    prepared = prepare_query(store, CALLS, slow, hasty)
    store.engine_sql(prepared.dataset, prepared.compiled.select)
    prepared.started = time.monotonic()
    with pytest.raises(QueryTimeout) as caught:
        list(run_prepared(store, prepared, hasty).rows)
    assert caught.value.status == 408 and "0.05 s" in caught.value.message
    # The same store answers the next query at once.
    assert list(run_query(store, CALLS, {"$select": "count(*)"}, settings).rows) == [(11735,)]


def _hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convex hull by gift wrapping: a different algorithm from the serializer's."""
    pts = sorted(set(points))
    start = pts[0]
    hull, current = [start], start
    while True:
        candidate = pts[0] if pts[0] != current else pts[1]
        for p in pts:
            cross = (candidate[0] - current[0]) * (p[1] - current[1]) - (
                candidate[1] - current[1]
            ) * (p[0] - current[0])
            if cross < 0:
                candidate = p
        if candidate == start:
            break
        hull.append(candidate)
        current = candidate
    return hull


def test_extent_convex_hull_and_intersects(
    soql_portal: tuple[Store, Settings], call_rows: Rows
) -> None:
    from blotter.api.serialize import json_row

    store, settings = soql_portal
    points = [r["location"] for r in call_rows if r["location"]]
    result = run_query(
        store, CALLS, {"$select": "extent(location), convex_hull(location)"}, settings
    )
    row = json_row(result.outputs, next(iter(result.rows)))
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    box = row["extent_location"]["coordinates"][0][0]
    assert row["extent_location"]["type"] == "MultiPolygon"
    assert box[0] == [min(lons), min(lats)] and box[2] == [max(lons), max(lats)]
    ring = [tuple(p) for p in row["convex_hull_location"]["coordinates"][0][0]]
    assert ring[0] == ring[-1]
    assert set(ring[:-1]) == set(_hull(points))
    first = points[0]
    hits = run_query(
        store,
        CALLS,
        {
            "$select": "count(*)",
            "$where": f"intersects(location, 'POINT ({first[0]!r} {first[1]!r})')",
        },
        settings,
    )
    assert list(hits.rows) == [(sum(p == first for p in points),)]
    by_beat = run_query(
        store,
        CALLS,
        {"$select": "beat, extent(location)", "$group": "beat", "$order": "beat"},
        settings,
    )
    assert [o.name for o in by_beat.outputs] == ["beat", "extent_location"]


def as_statement(params: dict[str, str]) -> str:
    """The SODA 2.1 parameters of a case written as one SoQL statement, as SODA3 takes it."""
    if "$query" in params:
        return params["$query"]
    where = [params["$where"]] if "$where" in params else []
    where += [f"`{k}` = '{v}'" for k, v in params.items() if not k.startswith("$")]
    parts = [f"SELECT {params.get('$select', '*')}"]
    if where:
        parts.append("WHERE " + " AND ".join(f"({w})" for w in where))
    for key, word in (("$group", "GROUP BY"), ("$having", "HAVING"), ("$order", "ORDER BY")):
        if key in params:
            parts.append(f"{word} {params[key]}")
    if "$q" in params:
        parts.append("SEARCH '" + params["$q"].replace("'", "''") + "'")
    for key, word in (("$limit", "LIMIT"), ("$offset", "OFFSET")):
        if key in params:
            parts.append(f"{word} {params[key]}")
    return " ".join(parts)


@pytest.fixture(scope="module")
def soql_client(soql_portal: tuple[Store, Settings]) -> Iterator[TestClient]:
    store, settings = soql_portal
    with TestClient(create_app(settings, store=store)) as client:
        yield client


@pytest.mark.parametrize(("name", "dataset", "params", "answer"), CASES, ids=[c[0] for c in CASES])
def test_case_through_soda21_and_soda3_gives_the_same_rows(
    name: str,
    dataset: str,
    params: dict[str, str],
    answer: Answer | None,
    soql_client: TestClient,
) -> None:
    v2 = soql_client.get(f"/resource/{dataset}.json", params=params)
    v3 = soql_client.post(
        f"/api/v3/views/{dataset}/query.json", json={"query": as_statement(params)}
    )
    assert v2.status_code == v3.status_code == 200, (v2.text[:200], v3.text[:200])
    assert v3.json() == v2.json()
    assert v3.headers["x-soda2-types"] == v2.headers["x-soda2-types"]


def test_distinct_orders_only_by_what_it_selects(soql_portal: tuple[Store, Settings]) -> None:
    store, settings = soql_portal
    for order in ("officer_age", "count(*)"):
        with pytest.raises(SoQLError, match="With DISTINCT, \\$order may use only"):
            run(store, settings, FORCE, {"$select": "distinct subject_race", "$order": order})


def test_system_timestamps_are_fixed_and_written_with_z(soql_client: TestClient) -> None:
    for fmt in ("json", "csv", "geojson"):
        response = soql_client.get(
            f"/resource/{FORCE}.{fmt}",
            params={
                "$select": ":created_at, :updated_at, max(:updated_at) AS latest, occurred_date",
                "$group": ":created_at, :updated_at, occurred_date",
                "$limit": "1",
            },
        )
        assert response.status_code == 200, response.text
        text = response.text
        assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
        assert "fixed_timestamp" in response.headers["x-soda2-types"]
        if fmt == "json":
            row = response.json()[0]
            assert row[":created_at"].endswith("Z") and row["latest"].endswith("Z")
            assert not row["occurred_date"].endswith("Z")  # a floating timestamp has no zone
