"""A page newest first read from the newest rows (``store/newest_first.py``), on both engines:
the same rows in the same order as the plain query, for pages the newest months hold and
pages they do not (the plain query then answers), with nulls placed first and last, ties,
offsets, filters, ``$q`` (a reader without the internal column too), after an upsert and a
replace, and for the old version read from history; and the path taken on DuckDB where
intended (PostgreSQL reads its B-tree on the timestamp)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from sqlglot import exp

from blotter.ingest.rows import stage_changes
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.queries import parse_request
from blotter.soql.compiler import compile_query
from blotter.store import Store, duckdb_reads, newest_first
from blotter.store.newest_first import NewestPage, cutoff, newest_page
from blotter.store.rollup_tables import Rollup

COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="district", name="District", type=ColumnType.TEXT),
    Column(field_name="narrative", name="Narrative", type=ColumnType.TEXT),
    Column(field_name="officer", name="Officer", type=ColumnType.TEXT, internal=True),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
    Column(field_name="received", name="Received", type=ColumnType.FLOATING_TIMESTAMP),
]
FIRST = datetime(2021, 1, 1)


def _row(i: int) -> dict[str, Any]:
    # Days repeat every 1,095 rows at the same hour: ties. Not in file order: renumbered.
    received = FIRST + timedelta(days=(i * 37) % 1095, hours=8 * (i % 3))
    return {
        "case_no": f"C-{i:04d}",
        "district": str(i % 5),
        "narrative": "Report of AITKEN dr" if i % 400 == 7 else f"Report near {i} MAIN ST",
        "officer": "Ofc. Zebediah" if i % 9 == 0 else "Ofc. Smith",
        "age": None if i % 17 == 3 else float(i % 7),
        "received": None if i % 29 == 4 else received,
    }


ROWS = [_row(i) for i in range(1, 3001)]
# Each page with whether the newest months answer it on DuckDB (else the plain query does).
PAGES: list[tuple[dict[str, str], bool]] = [
    ({"$order": "received DESC", "$limit": "10"}, True),  # nulls first: the page is nulls
    ({"$order": "received DESC", "$limit": "40", "$offset": "80"}, True),  # nulls, then dates
    ({"$order": "received DESC NULLS LAST", "$limit": "25", "$offset": "5"}, True),
    ({"$order": "received DESC NULLS LAST, age DESC", "$limit": "30"}, True),  # ties by age
    ({"$where": "district = '3'", "$order": "received DESC, case_no", "$limit": "15"}, True),
    ({"$where": "received < '2022-01-01'", "$order": "received DESC", "$limit": "10"}, False),
    ({"$where": "age = 2", "$order": "received DESC NULLS LAST", "$limit": "5"}, True),
    ({"$where": "district = '1' OR age > 5", "$order": "received DESC", "$limit": "150"}, True),
    ({"$select": "case_no, received AS at", "$order": "received DESC", "$limit": "3"}, True),
    ({"$where": "case_no = 'C-0002'", "$order": "received DESC", "$limit": "5"}, False),
    ({"$q": "report", "$order": "received DESC NULLS LAST", "$limit": "20"}, True),
    ({"$q": "aitken", "$order": "received DESC NULLS LAST", "$limit": "20"}, False),
    ({"$q": "zebediah", "$order": "received DESC NULLS LAST", "$limit": "5"}, True),
    ({"$select": "case_no, received", "$order": "received DESC", "$limit": "500"}, True),
    ({"$order": "received", "$limit": "10"}, None),  # oldest first: stops early already
    ({"$order": "age DESC, received DESC", "$limit": "10"}, None),
]


def _batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    kinds = {
        ColumnType.TEXT: pa.string(),
        ColumnType.NUMBER: pa.float64(),
        ColumnType.FLOATING_TIMESTAMP: pa.timestamp("us"),
    }
    schema = pa.schema([(c.field_name, kinds[c.type]) for c in COLUMNS])
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def _publish(store: Store, rows: list[dict[str, Any]]) -> Dataset:
    meta = DatasetMeta(name="Newest", row_identifier="case_no", dashboard=["district"])
    ds = store.create_dataset(meta, COLUMNS)
    store.publish(ds.id, COLUMNS, [_batch(rows)])
    return store.get_dataset(ds.id)


def _public(dataset: Dataset) -> Dataset:
    """The dataset as the public sees it: internal columns removed (as ``access`` does)."""
    return dataset.model_copy(update={"columns": [c for c in dataset.columns if not c.internal]})


def _answers(
    store: Store, monkeypatch: pytest.MonkeyPatch, dataset: Dataset, params: dict[str, str]
) -> tuple[list[Any], list[Any], bool | None]:
    """The answer, the plain query's answer (the rewrite turned off, a tree of its own), and
    on DuckDB whether the newest rows answered (None: not asked of them)."""
    query, filters = parse_request(params)
    seen: list[bool] = []
    with monkeypatch.context() as patch:
        if store.engine == "duckdb":
            from blotter.store import duckdb as duck

            asked = duck.newest_rows

            def spy(*args: Any) -> Any:
                page, left = asked(*args)
                seen.append(page is not None)
                return page, left

            patch.setattr(duck, "newest_rows", spy)
        fast = list(store.execute(dataset, compile_query(query, dataset, filters=filters).select))
        patch.setattr(duckdb_reads, "newest_page", lambda *_: None)
        select = compile_query(query, dataset, filters=filters).select  # a tree of its own
        scanned = list(store.execute(dataset, select))
    assert len(seen) <= 1
    return fast, scanned, seen[0] if seen else None


def _expected(rows: list[dict[str, Any]], keep: Callable[[dict[str, Any]], bool]) -> list[str]:
    """Case numbers newest first, nulls first, ties by ``:id`` (time order, nulls last, then
    file order): the order Python's sort gives."""
    stamps = [r["received"] for r in rows]
    ids = sorted(range(len(rows)), key=lambda i: (stamps[i] is None, stamps[i] or FIRST, i))
    rank = {rows[i]["case_no"]: n for n, i in enumerate(ids)}
    kept = [r for r in rows if keep(r)]
    newest = sorted(
        kept,
        key=lambda r: (
            r["received"] is not None,
            -(r["received"] - FIRST).total_seconds() if r["received"] else 0,
            rank[r["case_no"]],
        ),
    )
    return [r["case_no"] for r in newest]


@pytest.mark.parametrize(("params", "newest"), PAGES)
def test_a_page_newest_first_answers_as_the_plain_query(
    engine_store: Store,
    monkeypatch: pytest.MonkeyPatch,
    params: dict[str, str],
    newest: bool | None,
) -> None:
    monkeypatch.setattr(newest_first, "SPARE", 4)  # a few hundred rows a month here
    dataset = _publish(engine_store, ROWS)
    for reader in (dataset, _public(dataset)):
        fast, scanned, seen = _answers(engine_store, monkeypatch, reader, params)
        assert fast == scanned
        if "$q" not in params:
            assert len(fast) == int(params["$limit"]) or newest is False
        if engine_store.engine == "duckdb":
            hidden = reader is not dataset and params.get("$q") == "zebediah"
            assert seen == (newest if newest is None or not hidden else False), params
    if params == PAGES[4][0]:  # against Python too
        want = _expected(ROWS, lambda r: r["district"] == "3")[:15]
        assert [r[0] for r in fast] == want
    if params == PAGES[1][0]:
        assert [r[0] for r in fast] == _expected(ROWS, lambda r: True)[80:120]


@pytest.mark.parametrize("with_nulls", [True, False])
def test_nulls_first_are_kept_only_when_the_version_has_some(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch, with_nulls: bool
) -> None:
    """Nulls first: the restriction keeps the rows without a timestamp only when the
    version's rollup counts some (a null test would keep DuckDB from skipping row groups);
    either way the page is the plain query's."""
    monkeypatch.setattr(newest_first, "SPARE", 4)
    rows = ROWS if with_nulls else [dict(r, received=r["received"] or FIRST) for r in ROWS]
    dataset = _publish(engine_store, rows)
    for limit in ("10", "150"):  # the nulls alone; the nulls and the newest dates
        params = {"$where": "district <> '9'", "$order": "received DESC", "$limit": limit}
        fast, scanned, seen = _answers(engine_store, monkeypatch, dataset, params)
        assert fast == scanned
        assert [r[0] for r in fast] == _expected(rows, lambda r: True)[: int(limit)]
        if engine_store.engine == "duckdb":
            assert seen is True
            kept = [sql for _, (_, sql) in engine_store._newest._entries.items() if sql]
            assert kept and all((" IS NULL" in sql[0]) == with_nulls for sql in kept)


def test_public_readers_do_not_find_words_of_internal_columns(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = _publish(engine_store, ROWS)
    params = {"$q": "zebediah", "$order": "received DESC", "$limit": "8"}
    staff, _, _ = _answers(engine_store, monkeypatch, dataset, params)
    public, scanned, _ = _answers(engine_store, monkeypatch, _public(dataset), params)
    assert len(staff) == 8
    assert public == scanned == []


def test_new_versions_and_old_ones_from_history_answer_as_the_plain_query(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upsert's version (a new row newest of all, rows appended out of time order) is
    read from its newest rows; the first version, replaced since, is read from history by
    the plain query, as is a dataset read before the replace."""
    monkeypatch.setattr(newest_first, "SPARE", 4)
    first = _publish(engine_store, ROWS)
    params = {"$order": "received DESC NULLS LAST", "$limit": "12", "$offset": "3"}
    before, _, _ = _answers(engine_store, monkeypatch, first, params)
    upsert = [
        {"case_no": "C-9999", "district": "3", "received": "2030-01-01T00:00:00"},
        {"case_no": "C-0005", "received": "2029-06-30T12:00:00"},
        {"case_no": "C-0006", "received": None},
    ]
    staged = stage_changes(first, upsert)
    engine_store.apply_changes(first.id, staged.key, staged.table, source="test")
    second = engine_store.get_dataset(first.id)
    fast, scanned, seen = _answers(engine_store, monkeypatch, second, params)
    assert fast == scanned
    assert seen is (True if engine_store.engine == "duckdb" else None)
    assert "C-9999" not in [r[0] for r in fast]  # newest of all, skipped by the offset
    top = {"$select": "case_no", "$order": "received DESC NULLS LAST", "$limit": "2"}
    assert [r[0] for r in _answers(engine_store, monkeypatch, second, top)[0]] == [
        "C-9999",
        "C-0005",
    ]
    for stale in (first, engine_store.dataset_at(first.id, first.version)):
        old, scanned, seen = _answers(engine_store, monkeypatch, stale, params)
        assert old == scanned == before
        assert seen is None  # history: the plain query
    with_q = {"$q": "report", **params}
    fast, scanned, _ = _answers(engine_store, monkeypatch, second, with_q)
    assert fast == scanned


def test_which_pages_are_asked_of_the_newest_rows() -> None:
    rows = exp.select("case_no").from_("_dataset")

    def desc(nulls_first: bool = True) -> exp.Ordered:
        return exp.Ordered(this=exp.column("at"), desc=True, nulls_first=nulls_first)

    tail = exp.Ordered(this=exp.column("_id"), nulls_first=False)
    by_age = exp.Ordered(this=exp.column("age"), desc=True, nulls_first=True)
    page = newest_page(rows.order_by(desc(), tail).limit(10).offset(5), "at")
    assert page is not None
    assert (page.rows, page.needed, page.nulls_first, page.filtered) == (10, 15, True, False)
    where = rows.where("case_no = 'x'").order_by(desc(False), tail).limit(3)
    filtered = newest_page(where, "at")
    assert filtered is not None and filtered.filtered and not filtered.nulls_first
    refused = [
        rows.order_by(desc(), tail),  # no limit
        rows.order_by(desc()).limit(5),  # not total: ties could pick other rows
        rows.order_by(exp.Ordered(this=exp.column("at"), nulls_first=False), tail).limit(5),
        rows.order_by(exp.Ordered(this=exp.column("at"), desc=True), tail).limit(5),  # nulls?
        rows.order_by(by_age, tail).limit(5),  # not the timestamp first
        exp.select("count(*)").from_("_dataset").order_by(desc(), tail).limit(5),
        exp.select("at").from_("_dataset").group_by("at").order_by(desc(), tail).limit(5),
        rows.distinct().order_by(desc(), tail).limit(5),
        exp.select("age AS at").from_("_dataset").order_by(desc(), tail).limit(5),
        exp.select("row_number() OVER (ORDER BY age)")
        .from_("_dataset")
        .order_by(desc(), tail)
        .limit(5),
        rows.order_by(desc(), tail).limit(5000).offset(5001),  # past MOST_ROWS
        exp.select("case_no").from_("other").order_by(desc(), tail).limit(5),
    ]
    for select in refused:
        assert newest_page(select, "at") is None, select.sql()
    assert newest_page(rows.order_by(desc(), tail).limit(5), None) is None  # no timestamp


def test_the_cutoff_keeps_enough_rows_and_at_most_half() -> None:
    months = [(datetime(2024, m, 1), 100) for m in range(1, 11)] + [(None, 30)]
    key = exp.column("at")

    def page(needed: int, nulls_first: bool = False, filtered: bool = False) -> NewestPage:
        return NewestPage(key, nulls_first, needed, needed, filtered)

    assert cutoff(months, page(100)) == datetime(2024, 10, 1)
    assert cutoff(months, page(101)) == datetime(2024, 9, 1)
    assert cutoff(months, page(70, nulls_first=True)) == datetime(2024, 10, 1)
    assert cutoff(months, page(30, nulls_first=True)) == datetime(2024, 10, 1)
    assert cutoff(months, page(5, filtered=True)) == datetime(2024, 7, 1)  # 64 × 5 = 320
    assert cutoff(months, page(500)) == datetime(2024, 6, 1)  # 500 of 1,030: half, nearly
    assert cutoff(months, page(600)) is None  # more than half the rows
    assert cutoff(months, page(2000)) is None  # never enough
    assert cutoff([], page(1)) is None


def test_a_rollup_dropped_meanwhile_leaves_the_plain_query(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The months are read when the SQL is first written; a version replaced in between (its
    rollup dropped with its table) leaves the plain query, not an error."""
    import duckdb

    dataset = _publish(engine_store, ROWS)
    query, filters = parse_request({"$order": "received DESC", "$limit": "10"})
    select = compile_query(query, dataset, filters=filters).select
    rollup = Rollup(("_month_of__received",), frozenset({0}))

    def gone(sql: str) -> list[tuple[Any, ...]]:
        raise duckdb.CatalogException("Table with name ds_x__rollup does not exist!")

    def written(select: exp.Select) -> tuple[str, Any]:
        return engine_store.engine_sql(dataset, select)

    assert duckdb_reads.newest_first_sql(dataset, select, lambda: rollup, gone, written) is None
    months = [(datetime(2023, 12, 1), 100), (datetime(2023, 11, 1), 100)]
    planned = duckdb_reads.newest_first_sql(
        dataset, select, lambda: rollup, lambda _: months, written
    )
    assert planned is not None and planned[2] == 10
