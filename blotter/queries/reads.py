"""A prepared query run: kept answers first, else the version's rollup where it answers
exactly, else the rows; answers another query already gave kept; how many values each
category column holds at least."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from blotter import rollups
from blotter.errors import QueryTimeout
from blotter.model import ColumnType, Dataset
from blotter.queries.answer_cache import answer_key, answers, kept_or_streamed, query_key, row_bytes
from blotter.queries.compiled import PreparedQuery, prepare_query
from blotter.settings import Settings
from blotter.soql.compiler import Output
from blotter.store.base import RowStream, Store
from blotter.store.common import timeout_error


@dataclass
class QueryResult:
    dataset: Dataset
    outputs: list[Output]
    rows: RowStream


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
    cache = answers(store, settings, prepared.dataset) if keep else None
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
            rows = RowStream(kept_or_streamed(cache, key, rows))
    except QueryTimeout:
        # The engine had what was left of the limit; the client is told the limit itself.
        raise timeout_error(settings.query_timeout_s) from None
    return QueryResult(dataset=prepared.dataset, outputs=prepared.outputs, rows=rows)


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
    answers(store, settings, dataset).put(key, answer, sum(row_bytes(r) for r in answer))


SAMPLE_ROWS = 10_000  # rows read to learn that a column holds many values
# Of the rows a filter keeps: only a summary's shares read them, which need to know no more
# than that a column holds more than MAX_CATEGORIES (8) values; a tenth of the version's
# sample sees that of a column of case numbers or addresses all the same, and reading
# 10,000 rows (their long texts among them) cost a two-filter page at 1M rows more than
# any other of its queries (69 against 24 ms of CPU).
FILTERED_SAMPLE_ROWS = 1_000


def values_at_least(
    store: Store, dataset: Dataset, settings: Settings, where: str | None = None
) -> dict[str, int]:
    """How many distinct values (nulls aside) each text and checkbox column holds at least:
    those of the first ``SAMPLE_ROWS`` rows the engine reads (of those ``where`` keeps, the
    first ``FILTERED_SAMPLE_ROWS``), in one query that reads no further. A part never holds
    more values than the whole, so a column found with more values than a caller could show
    (a filter's list of choices, a summary's share) is known to have more without grouping
    every row by it (a column of case numbers holds a million groups). Which rows are read
    does not matter: the answer may differ between engines, never what a caller makes of
    it. Kept with the version's answers."""
    columns = _sampled(dataset)
    if not columns or not dataset.version:
        return dict.fromkeys(columns, 0)
    prepared, key = _sample(store, dataset, columns, settings, where)
    cache = answers(store, settings, dataset)
    kept = cache.get(key)
    if kept is None:
        try:
            row = next(
                iter(
                    store.execute(
                        dataset, _counting(prepared), timeout_s=prepared.remaining_s(settings)
                    )
                )
            )
        except QueryTimeout:
            raise timeout_error(settings.query_timeout_s) from None
        kept = tuple(int(n or 0) for n in row)
        cache.put(key, kept, row_bytes(kept))
    return dict(zip(columns, kept, strict=True))


def ask_beside_values_at_least(
    store: Store,
    dataset: Dataset,
    params: Mapping[str, str],
    settings: Settings,
    where: str | None = None,
) -> None:
    """Answer ``params``, an aggregate of one row (a page's summary), and
    :func:`values_at_least` (the version's, and under ``where`` the filtered rows' too) in one
    engine query, the samples' counts joined beside the row, each kept as its own answer: a
    version's first page pays no query for a sample. Nothing is run when the answer or every
    sample is kept, when the version's rollup answers ``params``, or when answers are not
    kept; the callers then ask each as before."""
    cache = answers(store, settings, dataset)
    columns = _sampled(dataset)
    if cache.entries <= 0 or not columns or not dataset.version:
        return
    filters = [None, where] if where else [None]
    samples = [_sample(store, dataset, columns, settings, f) for f in filters]
    prepared = prepare_query(store, dataset, params, settings)
    key = answer_key(dataset, query_key(store, prepared), "rows")
    select = prepared.compiled.select
    needed = [(sample, kept_as) for sample, kept_as in samples if cache.get(kept_as) is None]
    if cache.get(key) is not None or not needed:
        return
    if (
        select.args.get("group")
        or rollups.select_for(store, dataset, select, settings) is not select
    ):
        return
    both = exp.select("*").from_(select.subquery("_asked"))
    for i, (sample, _) in enumerate(needed):
        both = both.join(_counting(sample).subquery(f"_seen_{i}"), join_type="CROSS")
    try:
        rows = list(store.execute(dataset, both, timeout_s=prepared.remaining_s(settings)))
    except QueryTimeout:
        raise timeout_error(settings.query_timeout_s) from None
    if len(rows) != 1:
        return
    width = len(rows[0]) - len(columns) * len(needed)
    answer = tuple(rows[0][:width])
    cache.put(key, (answer,), row_bytes(answer))
    for i, (_, sample_key) in enumerate(needed):
        start = width + i * len(columns)
        counts = tuple(int(n or 0) for n in rows[0][start : start + len(columns)])
        cache.put(sample_key, counts, row_bytes(counts))


def _sampled(dataset: Dataset) -> list[str]:
    return [
        c.field_name for c in dataset.columns if c.type in (ColumnType.TEXT, ColumnType.CHECKBOX)
    ]


def _sample(
    store: Store, dataset: Dataset, columns: list[str], settings: Settings, where: str | None
) -> tuple[PreparedQuery, Hashable]:
    """The first ``SAMPLE_ROWS`` rows' ``columns`` (of those ``where`` keeps, the first
    ``FILTERED_SAMPLE_ROWS``), and what names their counts."""
    rows = min(SAMPLE_ROWS, FILTERED_SAMPLE_ROWS) if where else SAMPLE_ROWS
    params = {"$select": ", ".join(f"`{c}`" for c in columns), "$limit": str(rows)}
    if where:
        params["$where"] = where
    prepared = prepare_query(store, dataset, params, settings)
    key = answer_key(dataset, ("values at least", query_key(store, prepared)), "rows")
    return prepared, key


def _counting(sample: PreparedQuery) -> exp.Select:
    """The distinct values of each column of the sample, counted (``_seen0``, ``_seen1``…)."""
    part = sample.compiled.select.copy()
    part.set("order", None)  # any rows will do: none sorted
    names = [e.alias_or_name for e in part.expressions]
    distinct = [
        exp.Count(this=exp.Distinct(expressions=[exp.column(n, quoted=True)])).as_(
            f"_seen{i}", quoted=True
        )
        for i, n in enumerate(names)
    ]
    return exp.select(*distinct).from_(part.subquery("_part"))
