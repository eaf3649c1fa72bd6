"""Answer a SoQL request: parse, compile against the dataset's columns, run on the store.

The one path every read takes, from the SODA API, the web pages and exports alike.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, cast

from sqlglot import exp

from blotter import rollups
from blotter.errors import QueryTimeout, SoQLError
from blotter.model import ColumnType, Dataset
from blotter.schema import DATASET_TABLE
from blotter.settings import Settings
from blotter.soql.ast import Query
from blotter.soql.compiler import CompiledQuery, Output, compile_query
from blotter.soql.parser import parse_clause, parse_params, parse_statement
from blotter.store.base import RowStream, Store
from blotter.store.common import timeout_error
from blotter.store.rollup_tables import RollupGone

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


def run(
    store: Store, prepared: PreparedQuery, settings: Settings, *, keep: bool = True
) -> QueryResult:
    """A prepared query's rows, from the version it was compiled against: kept ones when the
    same question was answered before (see :class:`AnswerCache`). ``keep=False`` for callers
    that keep their own form of the answer (the API keeps its bytes)."""
    select = prepared.compiled.select
    # Writing the engine's SQL (kept per compiled query) counts against the limit too.
    cache = answers(store, settings) if keep else None
    key = answer_key(prepared.dataset, query_key(store, prepared), "rows")
    prepared.remaining_s(settings)  # a request past its time limit is refused, kept or not
    if cache is not None:
        kept = cache.get(key)
        if kept is not None:
            return QueryResult(prepared.dataset, prepared.outputs, RowStream(iter(kept)))
    chosen = rollups.select_for(store, prepared.dataset, select, settings)
    store.engine_sql(prepared.dataset, chosen)
    try:
        rows = rollups.execute(
            store, prepared.dataset, select, chosen, timeout_s=prepared.remaining_s(settings)
        )
        if cache is not None:
            rows = RowStream(_kept_or_streamed(cache, key, rows))
    except QueryTimeout:
        # The engine had what was left of the limit; the client is told the limit itself.
        raise timeout_error(settings.query_timeout_s) from None
    return QueryResult(dataset=prepared.dataset, outputs=prepared.outputs, rows=rows)


def run_together(
    store: Store,
    dataset: Dataset,
    questions: Sequence[Mapping[str, str]],
    settings: Settings,
) -> list[list[tuple[Any, ...]]]:
    """Several SoQL questions with the same outputs (the filter form's ``value`` and ``n``)
    answered by at most one engine query, each question's rows apart, in order.

    Each question is compiled alone (its own ``$where``, ``$group``, ``$order``, ``$limit``)
    and looked up among the kept answers as if asked alone; the others become the branches of
    one ``UNION ALL`` built with sqlglot from their compiled trees, each row marked with its
    branch and its place in the branch's order. Each branch's rows are then kept as that
    question's answer, so the same question asked alone later (a chart's counts) is answered
    from memory."""
    started = time.monotonic()
    prepared = [prepare_query(store, dataset, q, settings, started=started) for q in questions]
    cache = answers(store, settings)
    keys = [answer_key(dataset, query_key(store, p), "rows") for p in prepared]
    found: list[tuple[tuple[Any, ...], ...] | None] = [cache.get(k) for k in keys]
    missing = [i for i, rows in enumerate(found) if rows is None]
    if missing:
        rows = _run_together(store, dataset, questions, prepared, missing, settings)
        apart: dict[int, list[tuple[Any, ...]]] = {i: [] for i in missing}
        as_text = _mixed(prepared, missing)
        for branch, _place, *values in rows:
            i = int(branch)
            if as_text:
                values = _typed(values, prepared[i].outputs, as_text)
            apart[i].append(tuple(values))
        for i, branch_rows in apart.items():
            found[i] = tuple(branch_rows)
            cache.put(keys[i], found[i], sum(_row_bytes(r) for r in branch_rows))
    return [list(rows or ()) for rows in found]


def _run_together(
    store: Store,
    dataset: Dataset,
    questions: Sequence[Mapping[str, str]],
    prepared: list[PreparedQuery],
    which: list[int],
    settings: Settings,
) -> list[tuple[Any, ...]]:
    """The rows of the questions' union (:func:`_together`), each branch from the version's
    rollup where it answers exactly (``rollups.py``), else from the rows."""
    rolled: dict[int, exp.Select] = {}
    for i in which:
        select = prepared[i].compiled.select
        chosen = rollups.select_for(store, dataset, select, settings)
        if chosen is not select:
            rolled[i] = chosen
    try:
        try:
            together = _together(store, dataset, questions, prepared, which, settings, rolled)
            timeout_s = prepared[0].remaining_s(settings)
            return list(store.execute(dataset, together, timeout_s=timeout_s))
        except RollupGone:  # replaced meanwhile: its rollup went with its table
            together = _together(store, dataset, questions, prepared, which, settings, {})
            timeout_s = prepared[0].remaining_s(settings)
            return list(store.execute(dataset, together, timeout_s=timeout_s))
    except QueryTimeout:
        raise timeout_error(settings.query_timeout_s) from None


def keep_answer(
    store: Store,
    dataset: Dataset,
    params: Mapping[str, str],
    rows: Sequence[tuple[Any, ...]],
    settings: Settings,
) -> None:
    """Keep ``rows`` as the answer to ``params``, a question another query has just answered
    exactly (the summary's one query holds the count of matching rows, its units and the
    first and last date, each of which the page, the charts and the rates ask alone): the
    same question asked later is answered from memory. ``rows`` must be what the engine
    would return, values of the same types."""
    prepared = prepare_query(store, dataset, params, settings)
    key = answer_key(dataset, query_key(store, prepared), "rows")
    answer = tuple(tuple(r) for r in rows)
    answers(store, settings).put(key, answer, sum(_row_bytes(r) for r in answer))


SAMPLE_ROWS = 10_000  # rows read to learn that a column holds many values


def values_at_least(store: Store, dataset: Dataset, settings: Settings) -> dict[str, int]:
    """How many distinct values (nulls aside) each text and checkbox column holds at least:
    those of the first ``SAMPLE_ROWS`` rows the engine reads, in one query that reads no
    further. A part never holds more values than the whole, so a column found with more
    values than a caller could show (a filter's list of choices, a summary's share) is known
    to have more without grouping every row by it (a column of case numbers holds a million
    groups). Which rows are read does not matter: the answer may differ between engines,
    never what a caller makes of it. Kept with the version's answers."""
    columns = [
        c.field_name for c in dataset.columns if c.type in (ColumnType.TEXT, ColumnType.CHECKBOX)
    ]
    if not columns or not dataset.version:
        return dict.fromkeys(columns, 0)
    params = {"$select": ", ".join(f"`{c}`" for c in columns), "$limit": str(SAMPLE_ROWS)}
    prepared = prepare_query(store, dataset, params, settings)
    cache = answers(store, settings)
    key = answer_key(dataset, ("values at least", query_key(store, prepared)), "rows")
    kept = cache.get(key)
    if kept is None:
        part = prepared.compiled.select.copy()
        part.set("order", None)  # any rows will do: none sorted
        names = [e.alias_or_name for e in part.expressions]
        distinct = [
            exp.Count(this=exp.Distinct(expressions=[exp.column(n, quoted=True)])).as_(f"n{i}")
            for i, n in enumerate(names)
        ]
        counting = exp.select(*distinct).from_(part.subquery("_part"))
        try:
            row = next(
                iter(store.execute(dataset, counting, timeout_s=prepared.remaining_s(settings)))
            )
        except QueryTimeout:
            raise timeout_error(settings.query_timeout_s) from None
        kept = tuple(int(n or 0) for n in row)
        cache.put(key, kept, _row_bytes(kept))
    return dict(zip(columns, kept, strict=True))


def _reading(table: str) -> Callable[[exp.Expression], exp.Expression]:
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name == DATASET_TABLE:
            return exp.table_(table)
        return node

    return swap


def _mixed(prepared: list[PreparedQuery], which: list[int]) -> set[int]:
    """The outputs whose type differs between branches (a text column's values beside a
    checkbox's): they travel as text, which every engine can union."""
    mixed: set[int] = set()
    first = prepared[which[0]].outputs
    for i in which:
        for place, (a, b) in enumerate(zip(first, prepared[i].outputs, strict=True)):
            if a.type is not b.type:
                if {a.type, b.type} - {ColumnType.TEXT, ColumnType.CHECKBOX}:
                    raise ValueError("questions answered together must have alike outputs")
                mixed.add(place)
    return mixed


def _typed(values: list[Any], outputs: list[Output], as_text: set[int]) -> list[Any]:
    """A row's values as its own branch would have returned them: checkboxes sent as text
    ('true', 'false') become booleans again."""
    return [
        (v == "true" if v is not None else None)
        if place in as_text and outputs[place].type is ColumnType.CHECKBOX
        else v
        for place, v in enumerate(values)
    ]


def _together(
    store: Store,
    dataset: Dataset,
    questions: Sequence[Mapping[str, str]],
    prepared: list[PreparedQuery],
    which: list[int],
    settings: Settings,
    rolled: Mapping[int, exp.Select],
) -> exp.Select:
    """The questions' union; when they share their ``$where`` (the summary's shares, most of
    the filter form's counts), it is written once, as ``WITH _matching AS (SELECT * FROM
    _dataset WHERE …)`` that every branch reads, not once per branch: a polygon's test is
    thousands of nodes, which each branch copied, bound and wrote again. A branch the
    version's rollup answers (``rolled``) reads the rollup, with its own ``$where``."""
    wheres = {questions[i].get("$where", "") for i in which if i not in rolled}
    shared = wheres.pop() if len(wheres) == 1 else ""
    if not shared or len(which) - len(rolled) < 2:
        return _union(prepared, which, rolled=rolled)
    first = next(i for i in which if i not in rolled)
    condition = prepared[first].compiled.select.args.get("where")
    if condition is None:
        return _union(prepared, which, rolled=rolled)
    unfiltered = [
        prepare_query(
            store,
            dataset,
            {k: v for k, v in questions[i].items() if k != "$where"},
            settings,
            started=prepared[i].started,
        )
        if i in which
        else prepared[i]
        for i in range(len(prepared))
    ]
    union = _union(unfiltered, which, table=_MATCHING, rolled=rolled)
    matching = exp.select("*").from_(DATASET_TABLE).where(condition.this.copy(), copy=False)
    return union.with_(_MATCHING, as_=matching, copy=False)


_MATCHING = "_matching"


def _union(
    prepared: list[PreparedQuery],
    which: list[int],
    table: str | None = None,
    rolled: Mapping[int, exp.Select] | None = None,
) -> exp.Select:
    """``SELECT * FROM (q0 UNION ALL q1 …) ORDER BY branch, place``: each branch's compiled
    tree (or its rollup form, in ``rolled``) with its number and each row's place in the
    tree's own order (a window over the same ORDER BY, evaluated after its grouping), so the
    rows come back apart and in order."""
    rolled = rolled or {}
    names = [e.alias_or_name for e in prepared[which[0]].compiled.select.expressions]
    as_text = _mixed(prepared, which)
    branches: list[exp.Select] = []
    for i in which:
        inner = rolled[i].copy() if i in rolled else prepared[i].compiled.select.copy()
        if table is not None and i not in rolled:  # the branch reads the shared rows
            inner = cast(exp.Select, inner.transform(_reading(table), copy=False))
        if [e.alias_or_name for e in inner.expressions] != names:
            raise ValueError("questions answered together must have the same outputs")
        order = inner.args.get("order")
        place: exp.Expression = (
            exp.Window(this=exp.RowNumber(), order=order.copy())
            if order is not None
            else exp.Literal.number(0)
        )
        inner = inner.select(exp.alias_(place, "_place", quoted=True), copy=False)
        branches.append(
            exp.select(
                exp.alias_(exp.Literal.number(i), "_branch", quoted=True),
                exp.column("_place", quoted=True),
                *(
                    exp.alias_(
                        exp.cast(exp.column(n, quoted=True), exp.DataType.Type.TEXT), n, quoted=True
                    )
                    if place in as_text
                    else exp.column(n, quoted=True)
                    for place, n in enumerate(names)
                ),
            ).from_(inner.subquery(f"q{i}", copy=False), copy=False)
        )
    # Each tree was copied once above; building on it needs no further copies (a polygon's
    # test is thousands of nodes, and each copy of every branch cost milliseconds).
    union: exp.Query = branches[0]
    for branch in branches[1:]:
        union = exp.union(union, branch, distinct=False, copy=False)
    return (
        exp.select("*")
        .from_(union.subquery("together", copy=False), copy=False)
        .order_by(exp.column("_branch", quoted=True), exp.column("_place", quoted=True), copy=False)
    )


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


_ANSWERS: weakref.WeakKeyDictionary[Store, AnswerCache] = weakref.WeakKeyDictionary()
_ANSWERS_LOCK = threading.Lock()


def answers(store: Store, settings: Settings) -> AnswerCache:
    """The store's answer cache, sized by the settings when first used. Kept per store: two
    portals in one process (tests, the benchmark) may hold the same dataset id and version
    with different rows."""
    with _ANSWERS_LOCK:
        cache = _ANSWERS.get(store)
        if cache is None:
            cache = AnswerCache(settings.answer_cache_entries, settings.answer_cache_mb << 20)
            _ANSWERS[store] = cache
        return cache


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
    columns = tuple((c.field_name, c.type) for c in dataset.columns)
    return (dataset.id, dataset.created_at, dataset.version, columns, query, form)


def _row_bytes(row: tuple[Any, ...]) -> int:
    """About what a fetched row holds in memory: the tuple, and each value's size."""
    size = 56 + 8 * len(row)
    for value in row:
        size += 49 + len(value) if isinstance(value, str) else 32
    return size


def _kept_or_streamed(cache: AnswerCache, key: Hashable, rows: Iterable[Any]) -> Iterator[Any]:
    """The rows read now and kept when they fit the cache's bound for one answer; past it,
    the rows read so far followed by the rest, streamed and not kept."""
    source = iter(rows)
    kept: list[Any] = []
    size = 0
    for row in source:
        kept.append(row)
        size += _row_bytes(row)
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


def dataset_tag(dataset: Dataset, *parts: object) -> str:
    """A strong entity tag for an answer about ``dataset``: its version, the columns the
    viewer sees with their dictionary words, its metadata (pages show them), and ``parts``
    (the query, the format…). Any change to one of these makes another tag.

    The text hashed is ``json.dumps([id, created, version, columns, meta, parts])`` (sorted
    keys), written item by item: the same bytes, with the columns and metadata written once
    per the objects the store hands out (``_DESCRIBED``)."""
    items = (dataset.id, dataset.created_at.isoformat(), dataset.version)
    head = [json.dumps(item, default=str, sort_keys=True) for item in items]
    text = "[" + ", ".join([*head, _described(dataset), _json(list(parts))]) + "]"
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def _json(value: object) -> str:
    return json.dumps(value, default=str, sort_keys=True)


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


def http_date(moment: datetime) -> str:
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
