"""The questions every system answers: the same meaning in SoQL and in Datasette's SQLite.

Each question names its output fields; the runner turns every system's answer into rows of
those fields (``canonical``) and checks that they agree before any timing counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.generate import EARTH_RADIUS_M

# Downtown Oakland (Frank H. Ogawa Plaza): the within-distance question's centre.
CENTRE_LAT, CENTRE_LON, RADIUS_M = 37.8053, -122.2726, 500
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


def questions(rows: int) -> list[Question]:
    """The benchmark's questions for a dataset of ``rows`` generated incidents."""
    # A row near the end: a lookup must not be lucky with the first block.
    lookup_id = max(1, rows - rows // 7)
    haversine = (
        f"2 * {EARTH_RADIUS_M} * asin(sqrt(min(1, "
        f"power(sin((radians(latitude) - radians({CENTRE_LAT})) / 2), 2) + "
        f"cos(radians({CENTRE_LAT})) * cos(radians(latitude)) * "
        f"power(sin((radians(longitude) - radians({CENTRE_LON})) / 2), 2))))"
    )
    # The same box Datasette users would add so the latitude index narrows the scan.
    dlat = math.degrees(RADIUS_M / EARTH_RADIUS_M) * 1.01
    box = f"latitude BETWEEN {CENTRE_LAT - dlat:.6f} AND {CENTRE_LAT + dlat:.6f}"
    return [
        Question(
            name="point_lookup",
            label="Point lookup by id",
            kind="lookup",
            soql={"id": str(lookup_id)},
            fields=("id", "event_number", "call_type", "received_at"),
            sqlite=f"SELECT * FROM incidents WHERE id = {lookup_id}",  # noqa: S608  (our numbers)
            normalize={"received_at": _timestamp, "event_number": _text, "call_type": _text},
        ),
        Question(
            name="filter_order_limit",
            label="Filter + order + limit 100",
            kind="filter",
            soql={
                "$where": "district = '3' AND received_at >= '2020-01-01T00:00:00'",
                "$order": "received_at DESC, id",
                "$limit": "100",
            },
            fields=("id", "received_at", "district"),
            sqlite=(
                "SELECT * FROM incidents WHERE district = '3' "
                "AND received_at >= '2020-01-01 00:00:00' "
                "ORDER BY received_at DESC, id LIMIT 100"
            ),
            normalize={"received_at": _timestamp, "district": _text},
        ),
        Question(
            name="count_by_category",
            label="Count by category",
            kind="aggregation",
            soql={
                "$select": "call_type, count(*) AS n",
                "$group": "call_type",
                "$order": "call_type",
                "$limit": "5000",
            },
            fields=("call_type", "n"),
            sqlite=(
                "SELECT call_type, count(*) AS n FROM incidents "
                "GROUP BY call_type ORDER BY call_type IS NULL, call_type"
            ),
            normalize={"call_type": _text},
        ),
        Question(
            name="monthly_trend",
            label="Monthly trend",
            kind="aggregation",
            soql={
                "$select": "date_trunc_ym(received_at) AS month, count(*) AS n",
                "$group": "month",
                "$order": "month",
                "$limit": "5000",
            },
            fields=("month", "n"),
            sqlite=(
                "SELECT strftime('%Y-%m', received_at) AS month, count(*) AS n "
                "FROM incidents GROUP BY month ORDER BY month"
            ),
            normalize={"month": _month},
        ),
        Question(
            name="cross_tab",
            label="Two-column cross-tab",
            kind="aggregation",
            soql={
                "$select": "district, status, count(*) AS n",
                "$group": "district, status",
                "$order": "district, status",
                "$limit": "5000",
            },
            fields=("district", "status", "n"),
            sqlite=(
                "SELECT district, status, count(*) AS n FROM incidents "
                "GROUP BY district, status "
                # SoQL sorts empty values last; SQLite first unless told.
                "ORDER BY district IS NULL, district, status IS NULL, status"
            ),
            normalize={"district": _text, "status": _text},
        ),
        Question(
            name="text_search",
            label="Text search",
            kind="search",
            soql={"$q": "burglary", "$order": "id", "$limit": "100"},
            fields=("id",),
            # Datasette's own full-text search (FTS5 over the text columns).
            sqlite=(
                "SELECT * FROM incidents WHERE rowid IN (SELECT rowid FROM incidents_fts "
                "WHERE incidents_fts MATCH 'burglary') ORDER BY id LIMIT 100"
            ),
        ),
        Question(
            name="within_distance",
            label="Within 500 m of a point",
            kind="filter",
            soql={
                "$select": "count(*) AS n",
                "$where": f"within_circle(location, {CENTRE_LAT}, {CENTRE_LON}, {RADIUS_M})",
            },
            fields=("n",),
            sqlite=(
                f"SELECT count(*) AS n FROM incidents WHERE {box} AND {haversine} <= {RADIUS_M}"  # noqa: S608
            ),
            tolerance=0.001,
        ),
        Question(
            name="csv_export",
            label="Full CSV export",
            kind="export",
            soql={},
            fields=(),
            sqlite_path="/bench/incidents.csv?_stream=on&_size=max",
        ),
    ]


def by_name(rows: int) -> dict[str, Question]:
    return {q.name: q for q in questions(rows)}
