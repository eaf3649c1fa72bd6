"""Values as text, the one way both edges write them (Socrata's way)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from blotter.formatting import format_number, format_timestamp


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (3.0, "3"),
        (-0.0, "0"),
        (2.5, "2.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e15, "1000000000000000"),
        (1e16, "1e+16"),
        (1.5e-7, "1.5e-07"),
        (float("nan"), "nan"),
        (float("-inf"), "-inf"),
        (True, "1"),
        (False, "0"),
    ],
)
def test_a_number_is_written_without_a_spurious_decimal_point(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2017, 3, 4, 5, 6, 7, 891_999), "2017-03-04T05:06:07.891"),
        (datetime(2017, 3, 4), "2017-03-04T00:00:00.000"),
        (date(2017, 3, 4), "2017-03-04T00:00:00.000"),
    ],
)
def test_a_timestamp_is_floating_with_milliseconds(value: datetime | date, text: str) -> None:
    assert format_timestamp(value) == text
