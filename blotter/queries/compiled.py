"""A request compiled against the dataset as its viewer sees it, not yet run; compiled once
per version, set of visible columns, parameters and paging limits (``CompiledCache``)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from blotter.model import Dataset
from blotter.queries.params import parse_request
from blotter.settings import Settings
from blotter.soql.ast import Query
from blotter.soql.compiler import CompiledQuery, Output, compile_query
from blotter.store.base import Store
from blotter.store.common import timeout_error


@dataclass
class PreparedQuery:
    """A request compiled against the dataset as its viewer sees it, not yet run: the API
    runs it as rows, or has the engine write it as CSV."""

    dataset: Dataset
    compiled: CompiledQuery
    started: float  # time.monotonic() when the request's SoQL began to be parsed
    # The request's parameters, normalised (sorted, with the paging limits): what names the
    # question among kept answers; None for a query that came parsed (SODA3), which its
    # engine SQL names instead.
    question: Hashable | None = None

    @property
    def outputs(self) -> list[Output]:
        return self.compiled.outputs

    def remaining_s(self, settings: Settings) -> float:
        """What is left of the query time limit once parsing and compiling took their share
        (a pathological query can spend it all before the engine starts)."""
        left = settings.query_timeout_s - (time.monotonic() - self.started)
        # Below a millisecond PostgreSQL's statement_timeout would round to 0: no limit.
        if left < 0.001:
            raise timeout_error(settings.query_timeout_s)
        return left


class CompiledCache:
    """Compiled queries kept by everything that decides them: the version, its columns as the
    viewer sees them, the request's parameters and the paging limits. Versions never change,
    so an entry cannot go stale; the least recently used ones make room for new ones.

    Parsing, type-checking and building the SQL tree cost about as much as running a
    group-by on a million rows; the same questions come again and again (dashboards,
    shared links, clients paging), so each is compiled once."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, CompiledQuery] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> CompiledQuery | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, compiled: CompiledQuery) -> None:
        with self._lock:
            self._entries[key] = compiled
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


_COMPILED = CompiledCache()


def prepare_query(
    store: Store,
    dataset_id: str | Dataset,
    params: Mapping[str, str],
    settings: Settings,
    *,
    unlimited: bool = False,
    started: float | None = None,
) -> PreparedQuery:
    """:func:`run_query` without running: the request compiled (or found compiled)."""
    started = time.monotonic() if started is None else started
    dataset = store.get_dataset(dataset_id) if isinstance(dataset_id, str) else dataset_id
    key = (
        dataset.id,
        dataset.version,
        tuple((c.field_name, c.type) for c in dataset.columns),
        tuple(sorted(params.items())),
        unlimited,
        settings.default_limit,
        settings.max_limit,
    )
    compiled = _COMPILED.get(key)
    if compiled is None:
        query, filters = parse_request(params)
        compiled = _compile(dataset, query, settings, filters, unlimited)
        _COMPILED.put(key, compiled)
    return PreparedQuery(dataset, compiled, started, key)


def prepare_parsed(
    store: Store,
    dataset_id: str | Dataset,
    query: Query,
    settings: Settings,
    *,
    filters: Mapping[str, str] | None = None,
    unlimited: bool = False,
    started: float | None = None,
) -> PreparedQuery:
    """An already parsed query, compiled (SODA3 adjusts paging on the AST first).

    Given a dataset (as :func:`blotter.access.visible_dataset` trimmed it for the viewer),
    the query sees only its columns; given an id, every column. ``started`` is when its
    parsing began, which the query time limit counts from."""
    started = time.monotonic() if started is None else started
    dataset = store.get_dataset(dataset_id) if isinstance(dataset_id, str) else dataset_id
    compiled = _compile(dataset, query, settings, filters, unlimited)
    return PreparedQuery(dataset, compiled, started)


def _compile(
    dataset: Dataset,
    query: Query,
    settings: Settings,
    filters: Mapping[str, str] | None,
    unlimited: bool,
) -> CompiledQuery:
    return compile_query(
        query,
        dataset,
        filters=filters,
        default_limit=None if unlimited else settings.default_limit,
        max_limit=None if unlimited else settings.max_limit,
    )
