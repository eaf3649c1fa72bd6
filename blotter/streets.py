"""Places found on a street layer: "Main St & Elm St" where the two named streets meet, and
"Main Street" at a point on that street. Street names are compared as people type them: any
case, punctuation ignored, and the common suffix and direction forms folded (Street and St,
Avenue and Ave, North and N), so "main street" finds a line named "MAIN ST"."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from shapely import unary_union
from shapely.geometry.base import BaseGeometry
from shapely.ops import linemerge, nearest_points

from blotter.errors import InvalidRequest

# Each long form and its usual abbreviation, folded to one spelling before comparing.
_FOLDED = {
    "street": "st",
    "avenue": "ave",
    "av": "ave",
    "road": "rd",
    "boulevard": "blvd",
    "drive": "dr",
    "lane": "ln",
    "court": "ct",
    "place": "pl",
    "terrace": "ter",
    "parkway": "pkwy",
    "highway": "hwy",
    "circle": "cir",
    "square": "sq",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
}
# "Main St & Elm St", "Main St and Elm St", "Main St / Elm St", "Main St at Elm St".
_BETWEEN = re.compile(r"\s*(?:&|/|\band\b|\bat\b)\s*", re.IGNORECASE)
NEAR_DEG = 0.0002  # about 20 m: two lines this close are taken to meet (digitising gaps)


@dataclass(frozen=True)
class Placed:
    lon: float
    lat: float
    what: str  # in words, e.g. "where Generated Ave meets Sample St"


def fold(name: str) -> str:
    """A street name as compared: lower case, punctuation out, suffixes folded."""
    words = re.sub(r"[^\w\s]", " ", name.lower()).split()
    return " ".join(_FOLDED.get(word, word) for word in words)


def place_on_streets(
    typed: str, streets: Iterable[tuple[str, BaseGeometry]], near: str = ""
) -> Placed:
    """Where ``typed`` lies on the named lines: the crossing of two streets, or a point on
    one. Raises InvalidRequest saying which street is missing or that the two never meet;
    ``near`` ends the first message (" near this dataset's rows")."""
    by_name: dict[str, list[BaseGeometry]] = {}
    for name, line in streets:
        by_name.setdefault(fold(name), []).append(line)
    parts = [p for p in _BETWEEN.split(typed.strip(), maxsplit=1) if p.strip()]
    if not parts:
        raise InvalidRequest("Type a street, or two streets joined by '&'.")
    found = []
    for part in parts:
        lines = by_name.get(fold(part))
        if not lines:
            raise InvalidRequest(
                f"The map's street layer has no street named '{part.strip()}'{near}."
            )
        found.append(unary_union(lines))
    if len(found) == 1:
        # Halfway along the street; one in pieces that do not join: its point nearest their
        # centre of mass, which is on the street though the centre may not be.
        street = linemerge(found[0]) if found[0].geom_type == "MultiLineString" else found[0]
        if street.geom_type == "LineString":
            on = street.interpolate(0.5, normalized=True)
        else:
            on = nearest_points(street, street.centroid)[0]
        return Placed(on.x, on.y, f"on {parts[0].strip()}")
    first, second = found
    a, b = parts[0].strip(), parts[1].strip()
    crossing = first.intersection(second)
    if crossing.is_empty:
        if first.distance(second) > NEAR_DEG:
            raise InvalidRequest(f"{a} and {b} do not meet in the map's street layer.")
        here, there = nearest_points(first, second)
        return Placed((here.x + there.x) / 2, (here.y + there.y) / 2, f"where {a} meets {b}")
    # Two streets may cross more than once: the crossing nearest the middle of them all.
    middle = crossing.centroid
    at = nearest_points(crossing, middle)[0]
    return Placed(at.x, at.y, f"where {a} meets {b}")
