"""Kept answers as text, for a version's answers stored in the catalog (``blotter_answers``):
written when the version is published, read back by a server's first view of it.

An answer is stored only when its text reads back as the very same values, of the very
same types (a naive timestamp, a date, a decimal, a tuple or a list, a column type); any
other value (a timestamp with its zone, a mapping, a float that is not a number) leaves
that answer out, and the page then computes it from the rows, as before. Nothing here
decides which answers are stored: the caller hands the entries (``answer_cache``)."""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from blotter.model import ColumnType

FORMAT = 1  # bumped when the text's form changes: older text is then ignored


class _Unstorable(ValueError):
    """A value the text cannot hold exactly."""


def to_text(entries: Iterable[tuple[Hashable, Any]]) -> tuple[str, int]:
    """The entries (key, answer) that read back exactly, as one text; how many it holds."""
    kept = []
    for key, answer in entries:
        try:
            pair = [_encode(key), _encode(answer)]
        except _Unstorable:
            continue
        back = _decode(json.loads(json.dumps(pair)))
        if _same(back[0], key) and _same(back[1], answer):
            kept.append(pair)
    return json.dumps({"format": FORMAT, "answers": kept}, separators=(",", ":")), len(kept)


def from_text(text: str) -> list[tuple[Hashable, Any]]:
    """The entries :func:`to_text` wrote; none from text of another format."""
    whole = json.loads(text)
    if whole.get("format") != FORMAT:
        return []
    return [(_decode(key), _decode(answer)) for key, answer in whole["answers"]]


def _encode(value: Any) -> Any:
    kind = type(value)
    if value is None or kind in (bool, int, str, float):
        return value
    if kind is tuple:
        return [_encode(v) for v in value]
    if kind is list:
        return {"list": [_encode(v) for v in value]}
    if kind is datetime and value.tzinfo is None:
        return {"datetime": value.isoformat()}
    if kind is date:
        return {"date": value.isoformat()}
    if kind is time and value.tzinfo is None:
        return {"time": value.isoformat()}
    if kind is Decimal:
        return {"decimal": str(value)}
    if kind is ColumnType:
        return {"column_type": value.value}
    raise _Unstorable(kind.__name__)


_TAGS = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "decimal": Decimal,
    "column_type": ColumnType,
}


def _decode(value: Any) -> Any:
    kind = type(value)
    if kind is list:  # a tuple; most hold plain values (a map's cells: thousands of rows)
        return tuple([_decode(v) if type(v) in (list, dict) else v for v in value])
    if kind is dict:
        ((tag, inner),) = value.items()
        if tag == "list":
            return [_decode(v) for v in inner]
        return _TAGS[tag](inner)
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (``1 == 1.0 == True`` is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and (not isinstance(a, Decimal) or str(a) == str(b))
