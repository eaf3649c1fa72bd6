"""Places on a street layer, as a table: what is typed, and where it lands or what is said.
The streets are made up here (a plus sign of two lines, a parallel one, a bent one)."""

from __future__ import annotations

import pytest
from shapely.geometry import LineString

from blotter.errors import InvalidRequest
from blotter.streets import fold, place_on_streets

STREETS = [
    ("Generated Ave", LineString([(0, 0), (0, 1)])),
    ("Generated Ave", LineString([(0, 1), (0, 2)])),
    ("Sample Street", LineString([(-1, 1), (1, 1)])),
    ("North Test Road", LineString([(-1, 3), (1, 3)])),
    ("Gap Lane", LineString([(0.00015, 0.5), (1, 0.5)])),  # stops 15 m short of Generated Ave
    ("Bent Court", LineString([(2, 0), (3, 0), (3, 1)])),
]

FOLDED = [
    ("Main Street", "main st"),
    ("MAIN ST.", "main st"),
    ("n. elm avenue", "n elm ave"),
    ("North Elm Av", "n elm ave"),
    ("Oak  Road", "oak rd"),
]


@pytest.mark.parametrize(("typed", "folded"), FOLDED)
def test_names_fold_case_punctuation_and_suffixes(typed: str, folded: str) -> None:
    assert fold(typed) == folded


PLACED = [  # typed, (lon, lat)
    ("Generated Ave & Sample St", (0.0, 1.0)),
    ("generated avenue and sample street", (0.0, 1.0)),
    ("GENERATED AVE / SAMPLE ST", (0.0, 1.0)),
    ("Sample St at Generated Ave", (0.0, 1.0)),
    ("Generated Ave & Gap Ln", (0.000075, 0.5)),  # within 20 m: the middle of the gap
    ("N Test Rd", (0.0, 3.0)),  # one street: its point nearest its middle
    ("Bent Ct", (3.0, 0.0)),
]


@pytest.mark.parametrize(("typed", "at"), PLACED)
def test_a_place_lands_where_its_streets_meet(typed: str, at: tuple[float, float]) -> None:
    placed = place_on_streets(typed, STREETS)
    assert (placed.lon, placed.lat) == pytest.approx(at, abs=1e-9)


UNPLACED = [
    (
        "Sample St & North Test Rd",
        "Sample St and North Test Rd do not meet in the map's street layer.",
    ),
    ("Elm St & Sample St", "The map's street layer has no street named 'Elm St'."),
    ("Elm St", "The map's street layer has no street named 'Elm St'."),
    (" & ", "Type a street, or two streets joined by '&'."),
]


@pytest.mark.parametrize(("typed", "said"), UNPLACED)
def test_a_place_that_cannot_be_found_says_why(typed: str, said: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        place_on_streets(typed, STREETS)
    assert raised.value.message == said
