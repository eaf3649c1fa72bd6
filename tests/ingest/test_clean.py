"""Cleaning and typing rules, one case per line: (column spec, raw cell) → value or reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from blotter.ingest.clean import CellError, Cleaner, parse_point
from blotter.ingest.spec import ColumnSpec

F = "f"
CASES: list[tuple[dict[str, Any], str | None, Any]] = [
    ({}, "  White  ", "White"),
    ({"trim": False}, "  White  ", " White "),
    ({"trim": False, "collapse_spaces": False}, " White  ", " White  "),
    ({}, "Active   Resistance ", "Active Resistance"),
    ({"collapse_spaces": False}, "a  b ", "a  b"),
    ({}, "", None),
    ({"null_values": ["", "NA", "n/a"]}, "N/A", None),
    ({"case": "lower"}, "White ", "white"),
    ({"map": {"white": "white", "black": "black"}}, "WHITE ", "white"),
    ({"map": {"M": "male"}, "ignore_case": False}, "M", "male"),
    ({"map": {"M": "male"}, "ignore_case": False}, "m", "m"),
    ({"map": {"Active  Resistance": "active"}}, "active resistance", "active"),
    ({"map": {"assist": "assisting"}, "unmapped": "keep"}, "Primary", "Primary"),
    ({"map": {"assist": "assisting"}, "unmapped": "null"}, "Primary", None),
    ({"map": {"yes": None}}, "Yes", None),
    (
        {"patterns": [["self", "self_inflicted"], ["minor", "minor"]]},
        "Yes-Self Inflicted",
        "self_inflicted",
    ),
    (
        {"split": "/", "patterns": [["empty ?hand|ehc", "ehc"], ["cew dep", "cew"]]},
        "Empty Hand Controls/ CEW deploy",
        "ehc; cew",
    ),
    ({"split": "/", "map": {"a": "x", "b": "x", "c": "y"}}, "a/b/c", "x; y"),
    ({"split": "/", "map": {"a": "x", "c": "y"}}, "c / a/ c", "y; x"),
    ({"split": "/", "map": {"a": "x"}, "unmapped": "null"}, "a/zz", "x"),
    ({"split": "/", "map": {"a": "x"}, "unmapped": "null"}, "zz", None),
    ({"split": r"\s*[/,]\s*"}, "a, b /a", "a; b"),
    ({"split": "/", "patterns": [["both", "x; y"]]}, "both", "x; y"),
    (
        {"split": "/", "map": {"display": None, "firearm": "firearm_display"}},
        "Firearm/display",
        "firearm_display",
    ),
    ({"type": "number"}, "1,234.5", 1234.5),
    ({"type": "number", "suppress_below": 18}, "17", None),
    ({"type": "number", "suppress_below": 18}, "18", 18.0),
    ({"type": "checkbox"}, "Yes", True),
    ({"type": "checkbox"}, "no", False),
    ({"type": "checkbox", "true_values": ["X"], "false_values": ["-"]}, "x", True),
    ({"type": "checkbox", "true_values": ["X"], "false_values": ["-"]}, "-", False),
    ({"type": "checkbox", "map": {"n/a": None}}, "N/A", None),
    (
        {"type": "checkbox", "patterns": [["^N/A", "false"], [".", "true"]]},
        "Disorderly Conduct",
        True,
    ),
    (
        {"type": "checkbox", "patterns": [["^N/A", "false"], [".", "true"]]},
        "N/A Investigative Detention",
        False,
    ),
    ({"type": "floating_timestamp"}, "2015-01-11", datetime(2015, 1, 11)),
    ({"type": "floating_timestamp"}, "2018-01-01 00:37:00", datetime(2018, 1, 1, 0, 37)),
    ({"type": "floating_timestamp"}, "1/31/2015", datetime(2015, 1, 31)),
    (
        {"type": "floating_timestamp", "date_format": ["%d.%m.%Y"]},
        "31.01.2015",
        datetime(2015, 1, 31),
    ),
]

ERRORS: list[tuple[dict[str, Any], str, str]] = [
    ({"type": "number"}, "12x", "'12x' is not a number"),
    ({"type": "number"}, "nan", "'nan' is not a finite number"),
    (
        {"type": "checkbox", "true_values": ["X"]},
        "yes",
        "'yes' is not yes/no (expected one of 0, f,",
    ),
    ({"type": "checkbox"}, "maybe", "'maybe' is not yes/no"),
    ({"type": "floating_timestamp"}, "sometime", "'sometime' is not a date/time"),
    (
        {"type": "floating_timestamp", "date_format": ["%d.%m.%Y"]},
        "2015-01-31",
        "'2015-01-31' is not a date/time (%d.%m.%Y)",
    ),
    ({"map": {"white": "white"}, "unmapped": "error"}, "Whte", "'Whte' is not a known value"),
    ({"split": "/", "map": {"a": "a"}, "unmapped": "error"}, "a/zz", "'zz' is not a known value"),
    ({}, "a\x00b", "contains a NUL character"),
]


@pytest.mark.parametrize(("options", "raw", "expected"), CASES)
def test_cleaning(options: dict[str, Any], raw: str | None, expected: Any) -> None:
    assert Cleaner(ColumnSpec(field=F, source="F", **options)).typed(raw) == expected


@pytest.mark.parametrize(("options", "raw", "reason"), ERRORS)
def test_cleaning_errors_say_why(options: dict[str, Any], raw: str, reason: str) -> None:
    with pytest.raises(CellError) as caught:
        Cleaner(ColumnSpec(field=F, source="F", **options)).typed(raw)
    assert str(caught.value).startswith(reason)


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [("38.98", "-76.99", (-76.99, 38.98)), ("", "", None), (None, None, None)],
)
def test_points(lat: str | None, lon: str | None, expected: object) -> None:
    assert parse_point(lat, lon) == expected


@pytest.mark.parametrize(
    ("lat", "lon", "reason"),
    [
        ("123.4", "-76", "latitude 123.4 is outside -90..90"),
        ("38", "-200", "longitude -200 is outside -180..180"),
        ("38", "", "a location needs both latitude and longitude"),
        ("north", "-76", "'north' is not a number"),
    ],
)
def test_bad_points(lat: str, lon: str, reason: str) -> None:
    with pytest.raises(CellError, match=reason):
        parse_point(lat, lon)
