"""GENERATED SAMPLE DATA: community-engagement events of a small police department.

No agency has published engagement rows (see shared SOURCES.md), so the demo generates
them, deterministically, shaped by the descriptions of Rutland's, Norman's and Indiana
University's engagement records: date, time, place, kind of event, attendees and staff.
The events run from three years before to three months after the day the demo is loaded,
so the calendar feed always has upcoming events; the same seed and day give the same file.
Every page showing this dataset labels it as generated.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import date, datetime, time, timedelta
from pathlib import Path

DATA = Path(__file__).parent / "data"
SEED = 2015
EVENTS = 300

# Public places in Rutland, VT, with approximate coordinates (lat, lon).
VENUES = [
    ("Rutland Free Library", "10 Court St", 43.6078, -72.9786),
    ("Rutland City Police Department", "108 Wales St", 43.6066, -72.9792),
    ("Paramount Theatre", "30 Center St", 43.6057, -72.9775),
    ("Rutland High School", "22 Stratton Rd", 43.5993, -72.9605),
    ("Rutland Intermediate School", "65 Library Ave", 43.6092, -72.9712),
    ("Northwest Primary School", "80 Pierpoint Ave", 43.6146, -72.9887),
    ("Godnick Adult Center", "1 Deer St", 43.6122, -72.9664),
    ("Main Street Park", "Main St and West St", 43.6072, -72.9725),
    ("Depot Park", "Evelyn St", 43.6062, -72.9812),
    ("Rutland Regional Medical Center", "160 Allen St", 43.5985, -72.9662),
    ("Pine Hill Park", "2 Oak St Ext", 43.6195, -72.9875),
    ("Rutland Recreation Community Center", "134 Community Dr", 43.6017, -72.9572),
]

# (event type, engagement mode, weight, titles, audience, staff range, minutes range)
KINDS = [
    (
        "public_meeting",
        "relationship_building",
        5,
        ["Neighborhood watch meeting", "Ward meeting with the Chief", "Project VISION meeting"],
        "neighborhood_group",
        (1, 3),
        (60, 120),
    ),
    (
        "speaking_engagement",
        "relationship_building",
        3,
        ["Talk at the Rotary Club", "Senior safety talk", "Talk to the downtown business group"],
        "seniors",
        (1, 2),
        (30, 90),
    ),
    (
        "education_presentation",
        "relationship_building",
        4,
        ["Internet safety for parents", "Drug awareness presentation", "Scam prevention class"],
        "general_public",
        (1, 2),
        (45, 120),
    ),
    (
        "community_activity",
        "relationship_building",
        6,
        ["Coffee with a Cop", "National Night Out", "Shop with a Cop", "Bike rodeo"],
        "general_public",
        (2, 8),
        (60, 240),
    ),
    (
        "youth_program",
        "relationship_building",
        3,
        ["Police Athletic League practice", "School lunch visit", "Youth academy session"],
        "youth_students",
        (1, 4),
        (60, 180),
    ),
    (
        "problem_solving",
        "problem_solving",
        2,
        [
            "Problem-solving meeting on a drug house",
            "Landlord meeting on repeat calls",
            "Park safety walk",
        ],
        "neighborhood_group",
        (2, 5),
        (60, 150),
    ),
]


def _inside(lat: float, lon: float, ring: list[list[float]]) -> bool:
    """Ray casting: is (lat, lon) inside the polygon ring of [lon, lat] pairs?"""
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def city_ring() -> list[list[float]]:
    shape = json.loads((DATA / "rutland_city_boundary.geojson").read_text())
    geometry = shape["features"][0]["geometry"]
    coords = geometry["coordinates"]
    ring: list[list[float]] = coords[0][0] if geometry["type"] == "MultiPolygon" else coords[0]
    return ring


YEARS_BACK = 3
DAYS_AHEAD = 92  # about three months of upcoming events


def event_span(today: date) -> tuple[date, date]:
    """The first and last day events may fall on, for a demo loaded on ``today``."""
    try:
        first = today.replace(year=today.year - YEARS_BACK)
    except ValueError:  # 29 February, three years before a leap day
        first = today.replace(year=today.year - YEARS_BACK, day=28)
    return first, today + timedelta(days=DAYS_AHEAD)


def generate(
    path: Path, *, seed: int = SEED, events: int = EVENTS, today: date | None = None
) -> Path:
    """Write the generated events as CSV to ``path``; the same seed and day give the same
    file. ``today`` (default: the local date) anchors the span of the events."""
    rng = random.Random(seed)
    ring = city_ring()
    weights = [k[2] for k in KINDS]
    start, end = event_span(today or date.today())
    span = (end - start).days + 1
    rows = []
    for n in range(events):
        kind, mode, _, titles, audience, staff, minutes = rng.choices(KINDS, weights)[0]
        venue, address, lat, lon = rng.choice(VENUES)
        while True:  # a little spread around the venue, always inside the city
            plat, plon = lat + rng.uniform(-4e-4, 4e-4), lon + rng.uniform(-4e-4, 4e-4)
            if _inside(plat, plon, ring):
                break
        day = start + timedelta(days=rng.randrange(span))
        hour = rng.choice([9, 10, 11, 13, 14, 15, 16, 17, 18, 19])
        starts = datetime.combine(day, time(hour, rng.choice([0, 15, 30])))
        staff_count = rng.randint(*staff)
        duration = rng.randrange(minutes[0], minutes[1] + 1, 15)
        attendees = max(3, int(rng.lognormvariate(3.0, 0.7)))
        title = rng.choice(titles)
        rows.append(
            {
                "event_id": f"CE-{starts:%Y}-{n + 1:04d}",
                "starts_at": starts.isoformat(timespec="minutes"),
                "event_type": kind,
                "engagement_mode": mode,
                "title": title,
                "description": f"{title} at {venue}. Generated sample record, not a real event.",
                "location_name": venue,
                "address": f"{address}, Rutland, VT",
                "latitude": f"{plat:.6f}",
                "longitude": f"{plon:.6f}",
                "audience": audience,
                "attendees": attendees,
                "attendees_is_estimate": "yes" if attendees > 25 else "no",
                "staff_count": staff_count,
                "duration_minutes": duration,
                "officer_hours": f"{staff_count * duration / 60:.2f}",
            }
        )
    rows.sort(key=lambda r: str(r["starts_at"]))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
