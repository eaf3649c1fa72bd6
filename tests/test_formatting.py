"""Values as text, the one way both edges write them (Socrata's way)."""

from __future__ import annotations

from datetime import UTC, date, datetime

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


@pytest.mark.parametrize(
    "value",
    [
        datetime(2017, 3, 4, 5, 6, 7, 891_999),
        datetime(2017, 3, 4, 5, 6, 7, 999),  # under a millisecond: .000
        datetime(2017, 3, 4, 5, 6, 7, 1_000),
        datetime(1000, 1, 1),
        datetime(9999, 12, 31, 23, 59, 59, 999_999),
        datetime(999, 12, 31, 23, 59, 59, 123_456),  # a year strftime leaves unpadded
        datetime(1, 1, 1),
        datetime(2017, 3, 4, 5, 6, 7, 891_999, tzinfo=UTC),  # a zone: never an offset
        date(2017, 3, 4),
        date(999, 3, 4),
    ],
)
@pytest.mark.parametrize("fixed", [False, True])
def test_a_timestamp_reads_as_strftime_writes_it(value: datetime | date, fixed: bool) -> None:
    """The fast path (isoformat) writes exactly what strftime writes, for every year and
    with or without a zone."""
    moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    assert format_timestamp(value, fixed=fixed) == text + ("Z" if fixed else "")
