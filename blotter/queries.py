"""Answer a SoQL request: parse, compile against the dataset's columns, run on the store.

The one path every read takes, from the SODA API, the web pages and exports alike.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from blotter.errors import QueryTimeout, SoQLError
from blotter.model import Dataset
from blotter.settings import Settings
from blotter.soql.ast import Query
from blotter.soql.compiler import CompiledQuery, Output, compile_query
from blotter.soql.parser import parse_clause, parse_params, parse_statement
from blotter.store.base import RowStream, Store
from blotter.store.common import timeout_error

# Parameters SODA clients send that carry no query.
_IGNORED = {"$$app_token", "$$exclude_system_fields", "accessType", "$$read_from_nbe", "$$version"}
_CLAUSES = {"$select", "$where", "$order", "$group", "$having", "$limit", "$offset", "$q"}


@dataclass
class PreparedQuery:
    """A request compiled against the dataset as its viewer sees it, not yet run: the API
    runs it as rows, or has the engine write it as CSV."""

    dataset: Dataset
    compiled: CompiledQuery
    started: float  # time.monotonic() when the request's SoQL began to be parsed

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


@dataclass
class QueryResult:
    dataset: Dataset
    outputs: list[Output]
    rows: RowStream


def split_params(params: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Separate SoQL clauses (``$where``…) from simple ``column=value`` filters."""
    clauses: dict[str, str] = {}
    filters: dict[str, str] = {}
    for key, value in params.items():
        # "$$" parameters are Socrata's request options ($$app_token, $$bom, $$version…), not
        # SoQL; the API layer reads the ones it honours.
        if key in _IGNORED or key.startswith("$$"):
            continue
        if key.startswith("$"):
            if key not in _CLAUSES and key != "$query":
                raise SoQLError(
                    f"Unknown parameter '{key}'. SoQL parameters are "
                    f"{', '.join(sorted(_CLAUSES | {'$query'}))}.",
                    clause=key,
                )
            # Socrata reads an empty parameter as an absent one: clients such as
            # OpenPoliceData send `$where=` on every unfiltered request.
            if value.strip():
                clauses[key] = value
        else:
            filters[key] = value
    if "$query" in clauses and len(clauses) > 1:
        others = ", ".join(sorted(k for k in clauses if k != "$query"))
        raise SoQLError(
            f"$query holds a whole statement and cannot be combined with {others}.",
            clause="$query",
        )
    return clauses, filters


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


def run_query(
    store: Store,
    dataset_id: str | Dataset,
    params: Mapping[str, str],
    settings: Settings,
    *,
    unlimited: bool = False,
) -> QueryResult:
    """Run the SoQL in ``params`` against the dataset's served version.

    ``unlimited`` is for exports, which stream every matching row unless $limit says otherwise.
    """
    return run(
        store, prepare_query(store, dataset_id, params, settings, unlimited=unlimited), settings
    )


def run(store: Store, prepared: PreparedQuery, settings: Settings) -> QueryResult:
    """A prepared query's rows, from the version it was compiled against."""
    select = prepared.compiled.select
    # Writing the engine's SQL (kept per compiled query) counts against the limit too.
    store.engine_sql(prepared.dataset, select)
    try:
        rows = store.execute(prepared.dataset, select, timeout_s=prepared.remaining_s(settings))
    except QueryTimeout:
        # The engine had what was left of the limit; the client is told the limit itself.
        raise timeout_error(settings.query_timeout_s) from None
    return QueryResult(dataset=prepared.dataset, outputs=prepared.outputs, rows=rows)


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
    return PreparedQuery(dataset, compiled, started)


def all_of(*clauses: str | None) -> str | None:
    """SoQL conditions joined with AND (None when there are none). Each must parse alone
    first, so a client's `a) OR (b` cannot escape its parentheses and drop the others."""
    present = [c for c in clauses if c is not None and c.strip()]
    for clause in present:
        parse_clause("$where", clause)
    return " AND ".join(f"({c})" for c in present) or None


def and_where(where: str | None, condition: str) -> str:
    """A client's ``$where`` narrowed by our own condition, as SoQL text. The client's text
    must parse alone first: joined as raw text, `a) OR (b` would escape the parentheses and
    drop the condition."""
    if where is None or not where.strip():
        return condition
    parse_clause("$where", where)
    return f"({where}) AND {condition}"


def parse_request(params: Mapping[str, str]) -> tuple[Query, dict[str, str]]:
    """A request's SoQL as our AST, and its ``column=value`` filters."""
    clauses, filters = split_params(params)
    query = parse_statement(clauses["$query"]) if "$query" in clauses else parse_params(clauses)
    return query, filters


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
