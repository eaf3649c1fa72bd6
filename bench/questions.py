"""The questions every system answers: the same meaning in SoQL and in Datasette's SQLite.

Each question names its output fields; the runner turns every system's answer into rows of
those fields (``canonical``) and checks that they agree before any timing counts. The timed
questions are fixed (``questions``); the load test asks the same kinds of question with
parameters drawn from the data with a fixed seed (``load_mix``), so no two clients repeat
one URL and nothing can be answered from a cache of one request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.generate import DAYS, EARTH_RADIUS_M, FIRST_DAY, Templates, load_templates

# Downtown Oakland (Frank H. Ogawa Plaza): the timed within-distance question's centre.
CENTRE_LAT, CENTRE_LON, RADIUS_M = 37.8053, -122.2726, 500
# Text search: a word in about 5% of rows, one in 2 of the 60,216 real calls rows are drawn
# from (about 33 rows in a million, so no search can stop early), and one in none.
SEARCH_WORDS = {"common": "burglary", "rare": "pedestrian", "missing": "zeppelin"}
Row = tuple[Any, ...]


@dataclass(frozen=True)
class Question:
    """One question: its SoQL parameters, the equivalent Datasette request, its answer shape."""

    name: str
    label: str
    kind: str  # "lookup", "filter", "aggregation", "search", "export"
    soql: dict[str, str]
    fields: tuple[str, ...]
    # Datasette: SQL for its JSON API (``/db.json?sql=…``), or a path for the export.
    sqlite: str = ""
    sqlite_path: str = ""
    # What SQLite's plan for ``sqlite`` must name (an index, the R*Tree, the FTS table): the
    # benchmark records EXPLAIN QUERY PLAN and says when a plan does not use it.
    sqlite_uses: tuple[str, ...] = ()
    normalize: dict[str, Callable[[object], object]] = field(default_factory=dict)
    # A count may differ by this share (or by one) between systems: floating-point distance
    # at the circle's edge.
    tolerance: float = 0.0

    def canonical(self, rows: Sequence[dict[str, Any]]) -> list[Row]:
        """Rows of the question's fields, values made comparable across systems."""
        out: list[Row] = []
        for row in rows:
            values = []
            for name in self.fields:
                value = row.get(name)
                value = self.normalize.get(name, _plain)(value)
                values.append(value)
            out.append(tuple(values))
        return out


def _plain(value: object) -> object:
    """Numbers as floats (Socrata sends them as strings), empty as None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _month(value: object) -> str | None:
    return None if value is None else str(value).replace(" ", "T")[:7]


def _timestamp(value: object) -> str | None:
    return None if value is None else str(value).replace(" ", "T")[:19]


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _quoted(value: str) -> str:
    """A value of ours (a district, a word drawn from the data) as an SQL/SoQL literal."""
    if not re.fullmatch(r"[\w .:-]*", value):
        raise ValueError(f"not a plain value: {value!r}")
    return f"'{value}'"


# --- the kinds of question, with their parameters ---------------------------------------


def point_lookup(row_id: int) -> Question:
    return Question(
        name="point_lookup",
        label="Point lookup by id",
        kind="lookup",
        soql={"id": str(row_id)},
        fields=("id", "event_number", "call_type", "received_at"),
        sqlite=f"SELECT * FROM incidents WHERE id = {int(row_id)}",  # noqa: S608  (our numbers)
        sqlite_uses=("INTEGER PRIMARY KEY",),
        normalize={"received_at": _timestamp, "event_number": _text, "call_type": _text},
    )


def filter_order_limit(district: str, since: str) -> Question:
    return Question(
        name="filter_order_limit",
        label="Filter + order + limit 100",
        kind="filter",
        soql={
            "$where": f"district = {_quoted(district)} AND received_at >= {_quoted(since)}",
            "$order": "received_at DESC, id",
            "$limit": "100",
        },
        fields=("id", "received_at", "district"),
        sqlite=(
            f"SELECT * FROM incidents WHERE district = {_quoted(district)} "  # noqa: S608
            f"AND received_at >= {_quoted(since.replace('T', ' '))} "
            "ORDER BY received_at DESC, id LIMIT 100"
        ),
        sqlite_uses=("idx_incidents_",),
        normalize={"received_at": _timestamp, "district": _text},
    )


Period = tuple[str, str]  # from (inclusive) and to (exclusive), ISO timestamps


def _where(district: str | None, period: Period | None) -> tuple[dict[str, str], str]:
    """A district and a period as SoQL's $where and as SQLite's WHERE."""
    soql: list[str] = []
    sql: list[str] = []
    if district is not None:
        soql.append(f"district = {_quoted(district)}")
        sql.append(f"district = {_quoted(district)}")
    if period is not None:
        low, high = period
        soql.append(f"received_at >= {_quoted(low)} AND received_at < {_quoted(high)}")
        sql.append(
            f"received_at >= {_quoted(low.replace('T', ' '))} "
            f"AND received_at < {_quoted(high.replace('T', ' '))}"
        )
    if not soql:
        return {}, ""
    return {"$where": " AND ".join(soql)}, "WHERE " + " AND ".join(sql) + " "


def count_by_category(district: str | None = None, period: Period | None = None) -> Question:
    where, sql_where = _where(district, period)
    return Question(
        name="count_by_category",
        label="Count by category",
        kind="aggregation",
        soql={
            "$select": "call_type, count(*) AS n",
            **where,
            "$group": "call_type",
            "$order": "call_type",
            "$limit": "5000",
        },
        fields=("call_type", "n"),
        sqlite=(
            f"SELECT call_type, count(*) AS n FROM incidents {sql_where}"  # noqa: S608
            "GROUP BY call_type ORDER BY call_type IS NULL, call_type"
        ),
        sqlite_uses=("idx_incidents_",),
        normalize={"call_type": _text},
    )


def monthly_trend(district: str | None = None, period: Period | None = None) -> Question:
    where, sql_where = _where(district, period)
    return Question(
        name="monthly_trend",
        label="Monthly trend",
        kind="aggregation",
        soql={
            "$select": "date_trunc_ym(received_at) AS month, count(*) AS n",
            **where,
            "$group": "month",
            "$order": "month",
            "$limit": "5000",
        },
        fields=("month", "n"),
        sqlite=(
            "SELECT strftime('%Y-%m', received_at) AS month, count(*) AS n "  # noqa: S608
            f"FROM incidents {sql_where}GROUP BY month ORDER BY month"
        ),
        sqlite_uses=("idx_incidents_",),
        normalize={"month": _month},
    )


def cross_tab(period: Period | None = None) -> Question:
    soql, sql_where = _where(None, period)
    return Question(
        name="cross_tab",
        label="Two-column cross-tab",
        kind="aggregation",
        soql={
            "$select": "district, status, count(*) AS n",
            **soql,
            "$group": "district, status",
            "$order": "district, status",
            "$limit": "5000",
        },
        fields=("district", "status", "n"),
        sqlite=(
            f"SELECT district, status, count(*) AS n FROM incidents {sql_where}"  # noqa: S608
            "GROUP BY district, status "
            # SoQL sorts empty values last; SQLite first unless told.
            "ORDER BY district IS NULL, district, status IS NULL, status"
        ),
        sqlite_uses=("idx_incidents_district_status",) if period is None else (),
        normalize={"district": _text, "status": _text},
    )


def text_search(word: str, which: str = "") -> Question:
    """``$q`` for one word; Datasette's own full-text search (FTS5 over the text columns)."""
    name = "text_search" if which in ("", "common") else f"text_search_{which}"
    label = "Text search" + (f", {which} word ({word})" if which else "")
    return Question(
        name=name,
        label=label,
        kind="search",
        soql={"$q": word, "$order": "id", "$limit": "100"},
        fields=("id",),
        sqlite=(
            "SELECT * FROM incidents WHERE rowid IN (SELECT rowid FROM incidents_fts "  # noqa: S608
            f"WHERE incidents_fts MATCH {_quoted(word)}) ORDER BY id LIMIT 100"
        ),
        sqlite_uses=("incidents_fts",),
    )


def within_distance(lat: float, lon: float) -> Question:
    haversine = (
        f"2 * {EARTH_RADIUS_M} * asin(sqrt(min(1, "
        f"power(sin((radians(i.latitude) - radians({lat})) / 2), 2) + "
        f"cos(radians({lat})) * cos(radians(i.latitude)) * "
        f"power(sin((radians(i.longitude) - radians({lon})) / 2), 2))))"
    )
    # The R*Tree narrows to the circle's bounding box (its 32-bit boxes are rounded outward,
    # so an overlap test keeps every point inside); the haversine decides.
    dlat = math.degrees(RADIUS_M / EARTH_RADIUS_M) * 1.01
    dlon = dlat / math.cos(math.radians(lat))
    box = (
        f"rt.max_lat >= {lat - dlat:.6f} AND rt.min_lat <= {lat + dlat:.6f} AND "
        f"rt.max_lon >= {lon - dlon:.6f} AND rt.min_lon <= {lon + dlon:.6f}"
    ).replace("rt.", "incidents_rtree.")
    return Question(
        name="within_distance",
        label="Within 500 m of a point",
        kind="filter",
        soql={
            "$select": "count(*) AS n",
            "$where": f"within_circle(location, {lat}, {lon}, {RADIUS_M})",
        },
        fields=("n",),
        sqlite=(
            "SELECT count(*) AS n FROM incidents_rtree "  # noqa: S608
            "JOIN incidents i ON i.id = incidents_rtree.id "
            f"WHERE {box} AND {haversine} <= {RADIUS_M}"
        ),
        sqlite_uses=("incidents_rtree",),
        tolerance=0.001,
    )


def csv_export() -> Question:
    return Question(
        name="csv_export",
        label="Full CSV export",
        kind="export",
        soql={},
        fields=(),
        sqlite_path="/bench/incidents.csv?_stream=on&_size=max",
    )


def lookup_id(rows: int) -> int:
    """The row the point lookup asks for: one near the end, so that a lookup is not lucky
    with the first block."""
    return max(1, rows - rows // 7)


def questions(rows: int) -> list[Question]:
    """The benchmark's timed questions for a dataset of ``rows`` generated incidents."""
    return [
        point_lookup(lookup_id(rows)),
        filter_order_limit("3", "2020-01-01T00:00:00"),
        count_by_category(),
        monthly_trend(),
        cross_tab(),
        *(text_search(word, which) for which, word in SEARCH_WORDS.items()),
        within_distance(CENTRE_LAT, CENTRE_LON),
        csv_export(),
    ]


def by_name(rows: int) -> dict[str, Question]:
    return {q.name: q for q in questions(rows)}


# --- the load test's varied questions ----------------------------------------------------


def load_mix(
    rows: int, seed: int, count: int, templates: Templates | None = None
) -> list[Question]:
    """``count`` questions of every kind in turn, each with its own parameters drawn with
    ``seed`` from the data: ids of the dataset, districts, centres and words of the real calls
    the rows are made from, dates in the ten years covered."""
    templates = templates or load_templates()
    rng = np.random.default_rng(seed)
    districts = sorted({d for d in templates.district.to_pylist() if d})
    descriptions = templates.description.to_pylist()
    makers: list[Callable[[], Question]] = [
        lambda: point_lookup(int(rng.integers(1, rows + 1))),
        lambda: filter_order_limit(str(rng.choice(districts)), _day(rng)),
        lambda: count_by_category(str(rng.choice(districts)), _period(rng)),
        lambda: monthly_trend(str(rng.choice(districts)), _period(rng)),
        lambda: cross_tab(_period(rng)),
        lambda: text_search(_word(rng, descriptions)),
        lambda: _centre(rng, templates),
    ]
    return [makers[i % len(makers)]() for i in range(count)]


def _day(rng: np.random.Generator) -> str:
    day = FIRST_DAY + np.timedelta64(int(rng.integers(0, DAYS)), "D")
    return f"{day}T00:00:00"


def _period(rng: np.random.Generator) -> Period:
    """From a day of the ten years, for three months to three years."""
    start = FIRST_DAY + np.timedelta64(int(rng.integers(0, DAYS)), "D")
    end = start + np.timedelta64(int(rng.integers(90, 3 * 365)), "D")
    return f"{start}T00:00:00", f"{end}T00:00:00"


def _word(rng: np.random.Generator, descriptions: list[str]) -> str:
    while True:
        words = re.findall(r"[A-Za-z]{4,}", descriptions[int(rng.integers(len(descriptions)))])
        if words:
            return str(rng.choice(words)).lower()


def _centre(rng: np.random.Generator, templates: Templates) -> Question:
    i = int(rng.integers(len(templates)))
    return within_distance(
        round(float(templates.latitude[i]), 4), round(float(templates.longitude[i]), 4)
    )
