"""The validators of conditional requests: a strong entity tag for an answer about a dataset,
when it last changed, and whether a GET's conditions let it be answered 304."""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from blotter.model import Dataset


def dataset_tag(dataset: Dataset, *parts: object) -> str:
    """A strong entity tag for an answer about ``dataset``: its version, the columns the
    viewer sees with their dictionary words, its metadata (pages show them), and ``parts``
    (the query, the format…). Any change to one of these makes another tag.

    The text hashed is ``json.dumps([id, created, version, columns, meta, parts])`` (sorted
    keys), written item by item: the same bytes, with the columns and metadata written once
    per the objects the store hands out (``_DESCRIBED``)."""
    items = (dataset.id, dataset.created_at.isoformat(), dataset.version)
    head = [_json(item) for item in items]
    text = "[" + ", ".join([*head, _described(dataset), _json(list(parts))]) + "]"
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


# One encoder: json.dumps with options builds a new one per call (a third of a tag's time).
_json = json.JSONEncoder(default=str, sort_keys=True).encode


# The columns and metadata of a dataset as JSON, by the objects themselves: the store hands
# every request the same column and metadata objects until a write (never changed in
# place), and a viewer's trimmed copy holds the same columns in a list of its own, so the
# text is written once per version, edit and set of columns seen. Each entry holds its
# objects, so no id in a key is reused while it is kept.
_DESCRIBED: OrderedDict[tuple[int, ...], tuple[tuple[object, ...], str]] = OrderedDict()
_DESCRIBED_LOCK = threading.Lock()
_DESCRIBED_MOST = 256


def _described(dataset: Dataset) -> str:
    objects = (dataset.meta, *dataset.columns)
    key = tuple(map(id, objects))
    with _DESCRIBED_LOCK:
        kept = _DESCRIBED.get(key)
        if kept is not None and all(a is b for a, b in zip(kept[0], objects, strict=True)):
            _DESCRIBED.move_to_end(key)
            return kept[1]
    text = (
        _json([c.model_dump(mode="json") for c in dataset.columns])
        + ", "
        + _json(dataset.meta.model_dump(mode="json"))
    )
    with _DESCRIBED_LOCK:
        _DESCRIBED[key] = (objects, text)
        while len(_DESCRIBED) > _DESCRIBED_MOST:
            _DESCRIBED.popitem(last=False)
    return text


def last_modified(dataset: Dataset) -> datetime:
    """When what a reader sees of the dataset last changed: its rows or its metadata."""
    moment = max(t for t in (dataset.rows_updated_at, dataset.updated_at) if t is not None)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@functools.lru_cache(maxsize=256)
def http_date(moment: datetime) -> str:
    # Kept: every answer of a version sends the same Last-Modified.
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def not_modified(
    if_none_match: str | None, if_modified_since: str | None, etag: str, modified: datetime
) -> bool:
    """Whether a GET's conditions (RFC 9110 §13) let it be answered 304 Not Modified.

    ``If-None-Match`` is a list of entity tags or ``*``, compared weakly (``W/"x"`` matches
    ``"x"``); when present, ``If-Modified-Since`` is ignored. Otherwise an
    ``If-Modified-Since`` that is a valid HTTP date at or after the last change (to the
    second, the date's precision) means not modified; an invalid date is ignored."""
    if if_none_match is not None:
        wanted = if_none_match.strip()
        if wanted == "*":
            return True
        ours = _opaque(etag)
        return any(_opaque(tag) == ours for tag in _entity_tags(wanted))
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:  # asctime and RFC 850 dates carry no zone: they are GMT
        since = since.replace(tzinfo=UTC)
    return modified.replace(microsecond=0) <= since


def _entity_tags(header: str) -> list[str]:
    """The entity tags of an If-None-Match list; a comma inside quotes belongs to its tag."""
    tags: list[str] = []
    current: list[str] = []
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            tags.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    tags.append("".join(current).strip())
    return [t for t in tags if t]


def _opaque(tag: str) -> str:
    """An entity tag without its weakness mark: weak comparison looks at this alone."""
    return tag[2:] if tag.startswith("W/") else tag
