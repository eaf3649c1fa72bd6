"""Answers kept per version: what names one (``query_key``, ``answer_key``), the bounded
cache each store holds (``AnswerCache``), rows kept as they are read when they fit."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator
from typing import Any

from blotter.model import Dataset
from blotter.queries.compiled import PreparedQuery
from blotter.queries.stored_answers import from_text, to_text
from blotter.settings import Settings
from blotter.store.base import Store


class AnswerCache:
    """Answers already given, kept by everything that decides them (:func:`answer_key`):
    the dataset, the version read, the columns the viewer sees, the query as the engine
    runs it and the form of the answer (rows, JSON, CSV…). A version never changes, so a
    kept answer is exact; a publish makes a new version, which the next read names.

    Bounded twice: at most ``entries`` answers and ``max_bytes`` together, the least
    recently used leaving first; an answer over ``item_bytes`` (a sixteenth of the whole)
    is never kept, so a large export streams as before. One per store, shared by the API
    and the pages."""

    def __init__(self, entries: int, max_bytes: int) -> None:
        self.entries = entries
        self.max_bytes = max_bytes
        self.item_bytes = max_bytes // 16
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._kept: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._read_stored: set[Hashable] = set()  # versions whose stored answers were read

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            found = self._kept.get(key)
            if found is None:
                self.misses += 1
                return None
            self.hits += 1
            self._kept.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, answer: Any, size: int) -> bool:
        """Keep ``answer`` (``size`` bytes); False when it is too large to keep."""
        if self.entries <= 0 or size > self.item_bytes:
            return False
        with self._lock:
            old = self._kept.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._kept[key] = (answer, size)
            self.bytes += size
            while len(self._kept) > self.entries or self.bytes > self.max_bytes:
                _, (_, freed) = self._kept.popitem(last=False)
                self.bytes -= freed
        return True

    def entries_of(self, seen: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], Any]]:
        """The answers kept whose key starts with ``seen`` (:func:`seen_version`)."""
        with self._lock:
            return [
                (k, a)
                for k, (a, _) in self._kept.items()
                if isinstance(k, tuple) and k[: len(seen)] == seen
            ]

    def add_stored(self, store: Store, dataset: Dataset) -> None:
        """Keep the answers stored for ``dataset``'s version when it was published
        (:func:`store_answers`), once per version and process: a server's first view of the
        version then reads them instead of the rows. One catalog read per version."""
        version = (dataset.id, dataset.created_at, dataset.version)
        with self._lock:
            if self.entries <= 0 or not dataset.version or version in self._read_stored:
                return
            self._read_stored.add(version)
        text = store.stored_answers(dataset.id, dataset.version, dataset.created_at)
        for key, answer in from_text(text) if text else []:
            if self.get(key) is None:
                self.put(key, answer, answer_bytes(answer))


_ANSWERS: weakref.WeakKeyDictionary[Store, AnswerCache] = weakref.WeakKeyDictionary()
_ANSWERS_LOCK = threading.Lock()


def answers(store: Store, settings: Settings, dataset: Dataset | None = None) -> AnswerCache:
    """The store's answer cache, sized by the settings when first used, holding the answers
    stored for ``dataset``'s version once it is named. Kept per store: two portals in one
    process (tests, the benchmark) may hold the same dataset id and version with different
    rows."""
    with _ANSWERS_LOCK:
        cache = _ANSWERS.get(store)
        if cache is None:
            cache = AnswerCache(settings.answer_cache_entries, settings.answer_cache_mb << 20)
            _ANSWERS[store] = cache
    if dataset is not None and settings.stored_answers:
        cache.add_stored(store, dataset)
    return cache


def store_answers(store: Store, settings: Settings, dataset: Dataset) -> int:
    """Store the rows answers kept for ``dataset``'s version as its reader sees it (the
    columns of ``dataset``: the public's, for the answers a publish computes), so that
    another process reads them instead of the rows (:meth:`AnswerCache.add_stored`); how
    many. A version never changes, and every answer is stored under everything that decides
    it, so a stored answer is the one the rows give, for exactly the questions it answers."""
    if not dataset.version:
        return 0
    kept = answers(store, settings).entries_of(seen_version(dataset))
    text, count = to_text((k, a) for k, a in kept if k[-1] == "rows")
    store.save_answers(dataset.id, dataset.version, dataset.created_at, text)
    return count


def query_key(store: Store, prepared: PreparedQuery) -> Hashable:
    """What names a prepared query among kept answers: its normalised parameters, else the
    SQL and parameters the engine runs (written once per compiled tree)."""
    if prepared.question is not None:
        return prepared.question
    sql, params = store.engine_sql(prepared.dataset, prepared.compiled.select)
    return sql, repr(params)


def answer_key(dataset: Dataset, query: Hashable, form: str) -> Hashable:
    """What decides an answer: the dataset (its creation time too: a dataset deleted and
    made again under its id starts its versions over), the version read, the columns the
    viewer sees, the query (:func:`query_key`) and the form of the answer."""
    return (*seen_version(dataset), query, form)


def seen_version(dataset: Dataset) -> tuple[Any, ...]:
    """What starts every answer key of ``dataset`` as its reader sees it: the dataset, its
    creation time, the version and the columns seen."""
    columns = tuple((c.field_name, c.type) for c in dataset.columns)
    return (dataset.id, dataset.created_at, dataset.version, columns)


def answer_bytes(answer: Any) -> int:
    """About what a kept answer holds: its rows, one row of figures, or a text (a drawing)."""
    if isinstance(answer, str):
        return 49 + len(answer)
    if isinstance(answer, tuple) and all(isinstance(r, tuple) for r in answer):
        return sum(row_bytes(r) for r in answer)
    return row_bytes(answer)


def row_bytes(row: tuple[Any, ...]) -> int:
    """About what a fetched row holds in memory: the tuple, and each value's size."""
    size = 56 + 8 * len(row)
    for value in row:
        size += 49 + len(value) if isinstance(value, str) else 32
    return size


def kept_or_streamed(cache: AnswerCache, key: Hashable, rows: Iterable[Any]) -> Iterator[Any]:
    """The rows read now and kept when they fit the cache's bound for one answer; past it,
    the rows read so far followed by the rest, streamed and not kept."""
    source = iter(rows)
    kept: list[Any] = []
    size = 0
    for row in source:
        kept.append(row)
        size += row_bytes(row)
        if size > cache.item_bytes:
            return _chained(kept, source)
    answer = tuple(kept)
    cache.put(key, answer, size)
    return iter(answer)


def _chained(head: list[Any], rest: Iterator[Any]) -> Iterator[Any]:
    """``head`` then ``rest``; closing it closes ``rest`` (and so the query's cursor)."""
    try:
        yield from head
        yield from rest
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()
