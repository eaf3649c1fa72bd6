"""Cell cleaning and typing: a dirty text cell → a clean, typed value, or a problem.

Every step is one a dataset file can switch on (docs/dataset-files.md); a value that
cannot be made right becomes a :class:`Problem` saying row, column, value and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blotter.ingest.spec import JOINER, ColumnSpec, fold
from blotter.model import ColumnType

# A cleaned cell in its column's type (points are made from two cells, not one).
TypedValue = str | float | bool | datetime | None

_SPACES = re.compile(r"\s+")

# Timestamp forms read when a column gives no date_format, tried in order.
DEFAULT_DATE_FORMATS = (
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%y",
    "%Y/%m/%d",
    "%d-%b-%Y",
    "%b %d, %Y",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one cell."""

    row: int
    column: str
    value: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "reason": self.reason}


class CellError(ValueError):
    """A cell that cannot be cleaned or typed; the message is the reason.

    ``part`` says which of a point's two cells is at fault ("latitude" or "longitude").
    """

    def __init__(self, reason: str, part: str | None = None) -> None:
        super().__init__(reason)
        self.part = part


class Cleaner:
    """The cleaning rules of one column, compiled once and applied to every cell."""

    def __init__(self, spec: ColumnSpec) -> None:
        self.spec = spec
        self.nulls = {fold(v) for v in spec.null_values}
        self.map = spec.mapping()
        self.patterns = [(re.compile(p, re.IGNORECASE), v) for p, v in spec.patterns]
        self.split = re.compile(spec.split) if spec.split else None
        self.true = {v.casefold() for v in spec.true_values}
        self.false = {v.casefold() for v in spec.false_values}

    def text(self, raw: str | None) -> str | None:
        """Trim, collapse spaces, drop null markers, split and map."""
        if raw is None:
            return None
        if "\x00" in raw:  # PostgreSQL stores no NUL in text; no engine may get one
            raise CellError("contains a NUL character (U+0000), which no value may hold")
        value = raw.strip() if self.spec.trim else raw
        if self.spec.collapse_spaces:
            value = _SPACES.sub(" ", value)
        if fold(value) in self.nulls:
            return None
        if self.split is None:
            return self.one(value)
        cleaned: list[str] = []
        for token in self.split.split(value):
            token = " ".join(token.split())
            if not token:
                continue
            mapped = self.one(token)
            # A mapped value may name several values itself ("a; b"): one token, two facts.
            for part in mapped.split(JOINER) if mapped else ():
                if part not in cleaned:
                    cleaned.append(part)
        return JOINER.join(cleaned) if cleaned else None

    def one(self, value: str) -> str | None:
        """One value (or one token of a split cell) through ``map``, then ``patterns``."""
        key = self.spec.key(value)
        if key in self.map:
            return self.map[key]
        for pattern, replacement in self.patterns:
            if pattern.search(value):
                return replacement
        if (self.map or self.patterns) and self.spec.unmapped != "keep":
            if self.spec.unmapped == "null":
                return None
            raise CellError(f"'{value}' is not a known value of this column; add it to the map")
        return _recase(value, self.spec.case)

    def typed(self, raw: str | None) -> TypedValue:
        """The cleaned value in its column type."""
        return self.convert(self.text(raw))

    def convert(self, value: str | None) -> TypedValue:
        """A cleaned text value in the column's type."""
        if value is None:
            return None
        kind = self.spec.type
        if kind is ColumnType.NUMBER:
            number = parse_number(value)
            below = self.spec.suppress_below
            return None if below is not None and number < below else number
        if kind is ColumnType.CHECKBOX:
            folded = value.casefold()
            if folded in self.true:
                return True
            if folded in self.false:
                return False
            raise CellError(
                f"'{value}' is not yes/no (expected one of "
                f"{', '.join(sorted(self.true | self.false))})"
            )
        if kind is ColumnType.FLOATING_TIMESTAMP:
            return parse_timestamp(value, self.spec.date_format)
        return value


def _recase(value: str, case: str) -> str:
    if case == "lower":
        return value.lower()
    if case == "upper":
        return value.upper()
    if case == "title":
        return value.title()
    return value


def parse_number(value: str) -> float:
    """A number as people write it ("1,234.5", "$12"); finite or a CellError."""
    text = value.replace(",", "").replace("$", "").strip()
    try:
        number = float(text)
    except ValueError:
        raise CellError(f"'{value}' is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise CellError(f"'{value}' is not a finite number")
    return number


def parse_timestamp(value: str, formats: list[str] | tuple[str, ...] = ()) -> datetime:
    """A floating timestamp from ``formats``, or ISO and common US forms when none is given."""
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    if not formats:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", ""))
            return parsed.replace(tzinfo=None)
        except ValueError:
            pass
        for fmt in DEFAULT_DATE_FORMATS:
            try:
                return datetime.strptime(value, fmt)
            except ValueError:
                continue
    shown = " or ".join(formats) if formats else "a date like 2015-01-31 or 1/31/2015"
    raise CellError(f"'{value}' is not a date/time ({shown})")


def parse_point(lat_text: str | None, lon_text: str | None) -> tuple[float, float] | None:
    """(lon, lat) from two cells, checked against the globe; None when both are empty."""
    lat_text = lat_text.strip() if lat_text else None
    lon_text = lon_text.strip() if lon_text else None
    if not lat_text and not lon_text:
        return None
    if not lat_text or not lon_text:
        missing = "latitude" if not lat_text else "longitude"
        raise CellError("a location needs both latitude and longitude", part=missing)
    lat = _coordinate(lat_text, "latitude", 90)
    lon = _coordinate(lon_text, "longitude", 180)
    return lon, lat


def _coordinate(text: str, part: str, limit: int) -> float:
    try:
        value = parse_number(text)
    except CellError as err:
        raise CellError(str(err), part=part) from None
    if not -limit <= value <= limit:
        raise CellError(f"{part} {text} is outside -{limit}..{limit}", part=part)
    return value
