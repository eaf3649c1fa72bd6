"""Counts from per-version rollups, on both engines: every query answered with rollups on
gives exactly the rows (values, types, order) it gives with them off, over NULLs and empty
strings, mixed case, quotes, every kind of ``$where``, ``$having``, ``$order`` with ties,
paging, aliases; for the public (internal columns); after upserts, deletes and replaces; for
old versions; for a dataset with nothing declared. And the rollup IS read where it should be
(its table named in the engine's SQL), and not where it must not be."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from blotter import rollups
from blotter.access import Viewer, visible_dataset
from blotter.errors import SoQLError
from blotter.ingest.rows import stage_changes
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.queries import prepare_query, run_query, run_together
from blotter.schema import version_table
from blotter.settings import Settings
from blotter.store import Store, open_store
from blotter.store.rollup_tables import rollup_table

COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="offence", name="Offence", type=ColumnType.TEXT),
    Column(field_name="district", name="District", type=ColumnType.TEXT),
    Column(field_name="status", name="Status", type=ColumnType.TEXT),
    Column(field_name="armed", name="Armed", type=ColumnType.CHECKBOX),
    Column(field_name="officer", name="Officer", type=ColumnType.TEXT, internal=True),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
    Column(field_name="reported", name="Reported", type=ColumnType.FLOATING_TIMESTAMP),
]
DECLARED = DatasetMeta(
    name="Rollups",
    row_identifier="case_no",
    dashboard=["offence", "district", "status", "armed", "officer"],
    highlights=["age"],
)
OFFENCES = ["Theft", "THEFT", "theft", "Assault", "", None, "O'Brien's \"car\"", "Fraud 50%"]
DISTRICTS = ["North", "South", "East", None, ""]
STATUSES = ["Open", "Closed", None, "open"]


def _row(i: int) -> dict[str, Any]:
    return {
        "case_no": f"C-{i:04d}",
        "offence": OFFENCES[(i * 7) % len(OFFENCES)],
        "district": DISTRICTS[(i * 3) % len(DISTRICTS)],
        "status": STATUSES[(i // 3) % len(STATUSES)],
        "armed": None if i % 13 == 0 else i % 4 == 0,
        "officer": "Zeb" if i % 11 == 0 else "Smith",
        "age": float(i % 70) if i % 9 else None,
        "reported": None if i % 17 == 0 else datetime(2023 + i % 2, 1 + i % 12, 1 + i % 28, i % 24),
    }


ROWS = [_row(i) for i in range(1, 401)]
KINDS = {
    ColumnType.TEXT: pa.string(),
    ColumnType.NUMBER: pa.float64(),
    ColumnType.CHECKBOX: pa.bool_(),
    ColumnType.FLOATING_TIMESTAMP: pa.timestamp("us"),
}


def _batch(rows: list[dict[str, Any]], columns: list[Column] = COLUMNS) -> pa.RecordBatch:
    schema = pa.schema([(c.field_name, KINDS[c.type]) for c in columns])
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def _publish(
    store: Store, meta: DatasetMeta = DECLARED, rows: list[dict[str, Any]] = ROWS
) -> Dataset:
    ds = store.create_dataset(meta, COLUMNS)
    store.publish(ds.id, COLUMNS, [_batch(rows)] if rows else [])
    return store.get_dataset(ds.id)


@pytest.fixture
def config(engine_config: Settings) -> Settings:
    # No kept answers: each question is run, with rollups and without.
    return engine_config.model_copy(update={"answer_cache_entries": 0, "answer_cache_mb": 0})


@pytest.fixture
def store(config: Settings) -> Iterator[Store]:
    opened = open_store(config)
    yield opened
    opened.close()


def _typed(rows: Any) -> list[tuple[tuple[str, Any], ...]]:
    """Rows with each value's type: an int and a Decimal of the same count differ."""
    return [tuple((type(v).__name__, v) for v in row) for row in rows]


def _both(
    store: Store, dataset: Dataset, params: Mapping[str, str], config: Settings
) -> tuple[Any, Any, bool]:
    """(rows with rollups, rows without, whether the rollup was read)."""
    on = config.model_copy(update={"rollups": True})
    off = config.model_copy(update={"rollups": False})
    try:
        without = _typed(run_query(store, dataset, params, off).rows)
    except SoQLError as err:
        with pytest.raises(type(err)):
            run_query(store, dataset, params, on)
        return None, None, False
    with_rollup = _typed(run_query(store, dataset, params, on).rows)
    return with_rollup, without, _reads_rollup(store, dataset, params, on)


def _reads_rollup(
    store: Store, dataset: Dataset, params: Mapping[str, str], config: Settings
) -> bool:
    select = prepare_query(store, dataset, params, config).compiled.select
    chosen = rollups.select_for(store, dataset, select, config)
    sql, _ = store.engine_sql(dataset, chosen)
    used = chosen is not select
    assert used == ("__rollup" in sql)
    return used


COUNT_BY = {"$select": "offence, count(*) AS n", "$group": "offence", "$order": "offence"}
# (params, whether the rollup answers it)
CASES: list[tuple[dict[str, str], bool]] = [
    (COUNT_BY, True),
    ({**COUNT_BY, "$order": "n DESC, offence"}, True),  # ties on n, decided by offence
    ({**COUNT_BY, "$order": "n DESC"}, True),  # ties on n decided by the group key
    ({**COUNT_BY, "$order": "offence DESC", "$limit": "3", "$offset": "2"}, True),
    ({**COUNT_BY, "$having": "n > 40"}, True),
    ({**COUNT_BY, "$having": "count(*) between 20 and 60 OR offence IS NULL"}, True),
    ({**COUNT_BY, "$where": "offence = 'THEFT'"}, True),
    ({**COUNT_BY, "$where": "upper(offence) = 'THEFT'"}, True),
    ({**COUNT_BY, "$where": "offence = 'O''Brien''s \"car\"'"}, True),
    ({**COUNT_BY, "$where": "offence = ''"}, True),
    ({**COUNT_BY, "$where": "offence IN ('Theft', 'theft', '') OR offence IS NULL"}, True),
    ({**COUNT_BY, "$where": "offence < 'T'"}, True),
    ({**COUNT_BY, "$where": "NOT (district = 'North') AND status IS NOT NULL"}, False),  # 3
    (
        {
            "$select": "district, count(*) AS n",
            "$where": "NOT (district = 'North') AND status IS NOT NULL",
            "$group": "district",
            "$order": "district DESC NULLS FIRST",
        },
        True,
    ),
    ({**COUNT_BY, "$where": "district = 'North' OR armed"}, False),  # three columns
    ({**COUNT_BY, "$where": "offence like '%50\\%%'"}, True),
    ({**COUNT_BY, "$where": "age > 10"}, False),  # a number is not rolled up
    ({**COUNT_BY, "$where": "reported > '2023-06-01'"}, False),  # a raw timestamp
    ({**COUNT_BY, "$q": "theft"}, False),
    ({"offence": "Theft", **COUNT_BY}, True),  # a column=value filter
    ({"$select": "count(*)"}, True),
    ({"$select": "count(*) AS total", "$where": "district = 'Nowhere'"}, True),  # 0, not NULL
    ({"$select": "count(*) AS total", "$where": "armed = false"}, True),
    ({"$select": "count(*)", "$where": "reported IS NULL"}, False),
    ({"$select": "count(offence)"}, False),
    ({"$select": "count(distinct offence)"}, False),
    ({"$select": "offence, max(age)", "$group": "offence", "$order": "offence"}, False),
    ({"$select": "offence, count(*), sum(age)", "$group": "offence", "$order": "offence"}, False),
    ({"$select": "offence", "$group": "offence", "$order": "offence"}, True),
    ({"$select": "distinct offence", "$order": "offence"}, False),
    ({"$select": "offence", "$order": "offence"}, False),  # rows
    (
        {
            "$select": "district, status, count(*) AS n",
            "$group": "district, status",
            "$order": "district, status",
        },
        True,
    ),
    (
        {
            "$select": "status AS s, district AS d, count(*) AS n",
            "$group": "district, status",
            "$order": "n DESC, d, s",
            "$limit": "5",
        },
        True,
    ),
    (
        {
            "$select": "date_trunc_ym(reported) AS month, count(*) AS n",
            "$group": "month",
            "$order": "month",
        },
        True,
    ),
    (
        {
            "$select": "date_trunc_ym(reported) AS month, armed, count(*) AS n",
            "$where": "date_trunc_ym(reported) >= '2023-06-01' OR reported IS NULL",
            "$group": "month, armed",
            "$order": "month DESC, armed",
        },
        False,  # `reported IS NULL` names the raw timestamp
    ),
    (
        {
            "$select": "date_trunc_ym(reported) AS month, armed, count(*) AS n",
            "$where": "date_trunc_ym(reported) >= '2023-06-01'",
            "$group": "month, armed",
            "$order": "month DESC, armed",
        },
        True,
    ),
    (
        {
            "$select": "date_trunc_ymd(reported) AS day, count(*) AS n",
            "$group": "day",
            "$order": "day",
        },
        False,
    ),
    (
        {
            "$select": "upper(offence) AS o, count(*) AS n",
            "$group": "upper(offence)",
            "$order": "o",
        },
        True,
    ),
    (
        {
            "$select": "offence, district, status, count(*)",
            "$group": "offence, district, status",
            "$order": "offence, district, status",
        },
        False,  # no set of three
    ),
    ({"$query": "SELECT status, count(*) AS n GROUP BY status ORDER BY status"}, True),
    ({"$select": "officer, count(*)", "$group": "officer", "$order": "officer"}, True),
]


@pytest.mark.parametrize(("params", "rolled"), CASES)
def test_same_answers_on_and_off(
    store: Store, config: Settings, params: dict[str, str], rolled: bool
) -> None:
    dataset = _publish(store)
    with_rollup, without, used = _both(store, dataset, params, config)
    assert without is not None  # every question here is valid
    assert with_rollup == without
    assert used is rolled


def test_internal_columns_stay_hidden(store: Store, config: Settings) -> None:
    """The public cannot group, filter or count by an internal column the rollup holds; what
    it may ask is answered alike."""
    public = visible_dataset(store, Viewer(), _publish(store).id)  # anonymous
    assert [c.field_name for c in public.columns if c.field_name == "officer"] == []
    hidden = {"$select": "officer, count(*)", "$group": "officer", "$order": "officer"}
    for rollups_on in (True, False):
        with pytest.raises(SoQLError):
            run_query(store, public, hidden, config.model_copy(update={"rollups": rollups_on}))
    with pytest.raises(SoQLError):
        run_query(store, public, {**COUNT_BY, "$where": "officer = 'Zeb'"}, config)
    with_rollup, without, used = _both(store, public, COUNT_BY, config)
    assert with_rollup == without and used


def test_new_versions_and_old_ones(store: Store, config: Settings) -> None:
    """After an upsert, a delete and a replace, each new version is counted from its own
    rollup; an old version (history) is counted from its rows, alike."""
    first = _publish(store)
    question = {**COUNT_BY, "$order": "n DESC, offence"}
    before = _both(store, first, question, config)[0]
    upsert = [
        {"case_no": "C-0001", "offence": "Arson"},
        {"case_no": "C-9999", "offence": "Theft", "district": "North"},
        {"case_no": "C-0002", ":deleted": True},
    ]
    staged = stage_changes(first, upsert)
    store.apply_changes(first.id, staged.key, staged.table, source="test")
    second = store.get_dataset(first.id)
    after = _both(store, second, question, config)
    assert after[0] == after[1] and after[2]
    assert after[0] != before
    store.publish(first.id, COLUMNS, [_batch(ROWS[:150])])
    third = store.get_dataset(first.id)
    assert third.version == 3
    latest = _both(store, third, question, config)
    assert latest[0] == latest[1] and latest[2]
    for number, want in ((1, before), (2, after[0])):
        old = store.dataset_at(first.id, number)
        answer = _both(store, old, question, config)
        assert answer[0] == answer[1] == want
        assert not answer[2]  # a history table keeps no rollup


def test_replaced_while_read(store: Store, config: Settings) -> None:
    """A version read as current and replaced before its query runs: its rollup went with
    its table, and the query is answered from its rows, as without rollups."""
    first = _publish(store)
    want = _both(store, first, COUNT_BY, config)[1]
    select = prepare_query(store, first, COUNT_BY, config).compiled.select
    chosen = rollups.select_for(store, first, select, config)
    assert chosen is not select
    store.publish(first.id, COLUMNS, [_batch(ROWS[:10])])
    rows = rollups.execute(store, first, select, chosen)
    assert _typed(rows) == want


def test_nothing_declared(store: Store, config: Settings) -> None:
    """Without declared columns the main timestamp's months are still counted; without a
    timestamp there is no rollup at all, and every answer comes from the rows."""
    plain = _publish(store, DatasetMeta(name="Plain"))
    month = {
        "$select": "date_trunc_ym(reported) AS month, count(*) AS n",
        "$group": "month",
        "$order": "month",
    }
    answer = _both(store, plain, month, config)
    assert answer[0] == answer[1] and answer[2]
    answer = _both(store, plain, COUNT_BY, config)
    assert answer[0] == answer[1] and not answer[2]
    columns = [c for c in COLUMNS if c.type is not ColumnType.FLOATING_TIMESTAMP]
    bare = store.create_dataset(DatasetMeta(name="Bare"), columns)
    rows = [{k: v for k, v in r.items() if k != "reported"} for r in ROWS]
    store.publish(bare.id, columns, [_batch(rows, columns)])
    bare = store.get_dataset(bare.id)
    assert store.rollup(bare) is None
    answer = _both(store, bare, {"$select": "count(*)"}, config)
    assert answer[0] == answer[1] == [(("int", 400),)] and not answer[2]


def test_off_builds_nothing(config: Settings) -> None:
    """``BLOTTER_ROLLUPS=false``: a publish builds no rollup, and counts read the rows."""
    off = config.model_copy(update={"rollups": False})
    store = open_store(off)
    try:
        dataset = _publish(store)
        assert store.rollup(dataset) is None
        on = off.model_copy(update={"rollups": True})
        assert not _reads_rollup(store, dataset, COUNT_BY, on)
    finally:
        store.close()


def test_empty_version(store: Store, config: Settings) -> None:
    """A version without rows: its count is 0 and its groups none, from the rollup too."""
    empty = _publish(store, rows=[])
    for params in ({"$select": "count(*)"}, COUNT_BY):
        answer = _both(store, empty, params, config)
        assert answer[0] == answer[1]


def test_together(store: Store, config: Settings) -> None:
    """The filter form's counts (questions answered together, sharing a ``$where``), some
    from the rollup and some from the rows, alike."""
    dataset = _publish(store)
    where = "district = 'North' OR district IS NULL"
    questions = [
        {
            "$select": f"{c} AS value, count(*) AS n",
            "$where": where,
            "$group": c,
            "$order": "n DESC, value",
        }
        for c in ("offence", "status", "case_no", "armed")
    ]
    on = config.model_copy(update={"rollups": True})
    off = config.model_copy(update={"rollups": False})
    with_rollup = [_typed(r) for r in run_together(store, dataset, questions, on)]
    without = [_typed(r) for r in run_together(store, dataset, questions, off)]
    assert with_rollup == without
    assert [_reads_rollup(store, dataset, q, on) for q in questions] == [
        True,
        True,
        False,
        True,
    ]


def test_rollup_table_is_small(store: Store) -> None:
    """The rollup holds the declared categories, pairs and months, never a column with too
    many values (the case numbers), and not the numbers."""
    dataset = _publish(store)
    rollup = store.rollup(dataset)
    assert rollup is not None
    assert "case_no" not in rollup.columns and "age" not in rollup.columns
    assert set(rollup.columns) == {
        "offence",
        "district",
        "status",
        "armed",
        "officer",
        "_month_of__reported",
    }
    assert rollup_table("t") == "t__rollup"


# Generated questions: grouped columns, filters, having, order and paging drawn at random.
GROUPABLE = ["offence", "district", "status", "armed", "date_trunc_ym(reported)"]
ATOMS = [
    "offence = 'Theft'",
    "offence IN ('THEFT', '', 'Fraud 50%')",
    "offence IS NULL",
    "district < 'O'",
    "district != ''",
    "status = 'open'",
    "status IS NOT NULL",
    "armed",
    "NOT armed",
    "date_trunc_ym(reported) < '2023-07-01'",
    "upper(status) = 'OPEN'",
    "lower(district) like 'n%'",
]


@st.composite
def questions(draw: st.DrawFn) -> dict[str, str]:
    keys = draw(st.lists(st.sampled_from(GROUPABLE), min_size=0, max_size=2, unique=True))
    names = {k: f"k{i}" for i, k in enumerate(keys)}
    select = [f"{k} AS {names[k]}" for k in keys] + ["count(*) AS n"]
    params = {"$select": ", ".join(select)}
    if keys:
        params["$group"] = ", ".join(names[k] for k in keys)
        order = [f"{names[k]} {draw(st.sampled_from(['ASC', 'DESC']))}" for k in keys]
        if draw(st.booleans()):
            order.insert(0, "n DESC")
        params["$order"] = ", ".join(order)
    atoms = draw(st.lists(st.sampled_from(ATOMS), max_size=2))
    if atoms:
        joiner = draw(st.sampled_from([" AND ", " OR "]))
        params["$where"] = joiner.join(f"({a})" for a in atoms)
    if draw(st.booleans()):
        params["$having"] = f"n > {draw(st.integers(0, 30))}"
    if draw(st.booleans()):
        params["$limit"] = str(draw(st.integers(1, 6)))
        params["$offset"] = str(draw(st.integers(0, 4)))
    return params


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_generated_questions(engine: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.engines import engine_settings

    settings_iter = engine_settings(engine, tmp_path_factory.mktemp("rollups"))
    base = next(settings_iter)
    config = base.model_copy(update={"answer_cache_entries": 0, "answer_cache_mb": 0})
    store = open_store(config)
    used = 0
    try:
        dataset = _publish(store)

        @hyp_settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(questions())
        def check(params: dict[str, str]) -> None:
            nonlocal used
            with_rollup, without, rolled = _both(store, dataset, params, config)
            assert with_rollup == without, params
            used += rolled

        check()
        assert used > 0
    finally:
        store.close()
        settings_iter.close()


def test_answers_come_from_the_rollup(store: Store, config: Settings) -> None:
    """Through ``run_query`` and ``run_together`` the rollup's counts are what is read: with
    its counts altered (here, by hand) the answers follow them; with rollups off they do not."""
    dataset = _publish(store)
    on = config.model_copy(update={"rollups": True})
    off = config.model_copy(update={"rollups": False})
    truth = list(run_query(store, dataset, COUNT_BY, off).rows)
    table = rollup_table(version_table(dataset.id, dataset.version))
    with store._transaction() as tx:
        tx.run(f'UPDATE "{table}" SET _n = _n + 1000', [])  # noqa: S608 - our table
    rolled = list(run_query(store, dataset, COUNT_BY, on).rows)
    assert [(v, n - 1000) for v, n in rolled] == truth
    assert list(run_query(store, dataset, COUNT_BY, off).rows) == truth
    together = run_together(store, dataset, [COUNT_BY], on)[0]
    assert together == rolled
