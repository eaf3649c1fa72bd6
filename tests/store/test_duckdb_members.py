"""DuckDB keeps the ids of the rows a polygon filter matches (store/duckdb_members.py): a
query whose ``WHERE`` holds the test as an ``AND`` term reads the kept set, and gives the
rows the test spelt out gives, for many polygons and filters, the columns an anonymous
caller sees, a union of questions; a test under ``NOT`` or ``OR``, in a result column, on an
old version or beside ``$q`` keeps its own evaluation; a new version builds its own set; an
evicted set is built again, also when it goes between its check and its query."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import blotter.queries.compiled as compiled
import blotter.store.duckdb_members as members
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.queries import CompiledCache, prepare_query, run_together
from blotter.settings import Settings
from blotter.store import Store, open_store
from blotter.store.duckdb import DuckDBStore
from blotter.store.polygons import expanded
from tests.polygons import multipolygon_wkt, wobbly_ring

COLUMNS = [
    Column(field_name="at", name="At", type=ColumnType.POINT),
    Column(field_name="kind", name="Kind", type=ColumnType.TEXT),
    Column(field_name="officer", name="Officer", type=ColumnType.TEXT, internal=True),
]
AREAS = [
    multipolygon_wkt([[wobbly_ring(-122.2 + dx, 37.8 + dy, 0.1, 64, phase=i)]])
    for i, (dx, dy) in enumerate([(0, 0), (0.05, 0.02), (-0.08, -0.04), (0.3, 0.3)])
]  # the last holds no point
HOLED = multipolygon_wkt(
    [[wobbly_ring(-122.2, 37.8, 0.12, 40), wobbly_ring(-122.2, 37.8, 0.04, 12)[::-1]]]
)


def _batch(rows: int, seed: int) -> pa.RecordBatch:
    pick = random.Random(seed)
    points: list[tuple[float | None, float | None]] = [
        (-122.2 + pick.uniform(-0.12, 0.12), 37.8 + pick.uniform(-0.1, 0.1)) for _ in range(rows)
    ]
    points += [(None, None), (-122.2, None), (float("nan"), 37.8)]
    return pa.record_batch(
        {
            "_at_lon": pa.array([p[0] for p in points], pa.float64()),
            "_at_lat": pa.array([p[1] for p in points], pa.float64()),
            "kind": pa.array([f"k{i % 5}" for i in range(len(points))], pa.string()),
            "officer": pa.array([f"o{i % 3}" for i in range(len(points))], pa.string()),
        }
    )


def _publish(store: Store, seed: int = 1, dataset_id: str = "area-sets") -> Dataset:
    store.publish(dataset_id, COLUMNS, [_batch(3000, seed)])
    return store.get_dataset(dataset_id)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: Any) -> Settings:
    monkeypatch.setattr(compiled, "_COMPILED", CompiledCache())
    return Settings(data_dir=tmp_path)


@pytest.fixture
def store(config: Settings) -> Iterator[DuckDBStore]:
    store = open_store(config)
    assert isinstance(store, DuckDBStore)
    store.create_dataset(DatasetMeta(name="Areas"), COLUMNS, dataset_id="area-sets")
    yield store
    store.close()


def _answers(store: Store, dataset: Dataset, question: dict[str, str], config: Settings) -> Any:
    """The rows with the kept sets (where they apply) and with the test spelt out."""
    select = prepare_query(store, dataset, question, config).compiled.select
    got = list(store.execute(dataset, select))
    return got, list(store.execute(dataset, expanded(select)))


def _where(where: str, **more: str) -> dict[str, str]:
    return {"$select": ":id, kind, at", "$where": where, "$order": ":id", **more}


QUESTIONS = [
    *(_where(f"within_polygon(at, '{a}')") for a in AREAS),
    _where(f"within_polygon(at, '{HOLED}')"),
    _where(f"kind = 'k2' AND within_polygon(at, '{AREAS[0]}')", **{"$limit": "7"}),
    _where(f"within_polygon(at, '{AREAS[0]}') AND within_polygon(at, '{AREAS[1]}')"),
    _where(f"within_polygon(at, '{AREAS[1]}') AND kind IN ('k1', 'k3')", **{"$offset": "4"}),
    {
        "$select": "kind, count(*) AS n",
        "$where": f"within_polygon(at, '{AREAS[2]}')",
        "$group": "kind",
        "$order": "n DESC, kind",
    },
    {"$select": "count(*), min(:id), max(:id)", "$where": f"within_polygon(at, '{HOLED}')"},
]
KEPT = [1, 1, 1, 1, 1, 1, 2, 1, 1, 1]  # the sets each question reads


@pytest.mark.parametrize("number", range(len(QUESTIONS)))
def test_a_kept_set_gives_the_rows_of_the_test(
    store: DuckDBStore, config: Settings, number: int
) -> None:
    dataset = _publish(store)
    public = dataset.model_copy(update={"columns": [c for c in COLUMNS if not c.internal]})
    for reader in (dataset, public):
        got, spelt_out = _answers(store, reader, QUESTIONS[number], config)
        assert repr(got) == repr(spelt_out)  # repr: a NaN point equals itself only as text
    assert len(store._members.kept()) == KEPT[number]


def test_the_sets_hold_rows_inside_and_none_for_an_empty_area(
    store: DuckDBStore, config: Settings
) -> None:
    dataset = _publish(store)
    counts = [
        _answers(
            store, dataset, {"$select": "count(*)", "$where": f"within_polygon(at, '{a}')"}, config
        )
        for a in AREAS
    ]
    assert [got for got, _ in counts] == [spelt for _, spelt in counts]
    assert all(got[0][0] > 100 for got, _ in counts[:3]) and counts[3][0] == [(0,)]
    assert len(store._members.kept()) == 4


@pytest.mark.parametrize(
    "question",
    [
        _where(f"NOT within_polygon(at, '{AREAS[0]}')"),
        _where(f"within_polygon(at, '{AREAS[0]}') OR kind = 'k1'"),
        {"$select": f":id, within_polygon(at, '{AREAS[0]}') AS inside", "$order": ":id"},
        _where(f"within_polygon(at, '{AREAS[0]}')", **{"$q": "k2"}),
    ],
    ids=["not", "or", "result column", "$q"],
)
def test_a_test_outside_a_plain_and_keeps_its_own_evaluation(
    store: DuckDBStore, config: Settings, question: dict[str, str]
) -> None:
    dataset = _publish(store)
    got, spelt_out = _answers(store, dataset, question, config)
    assert repr(got) == repr(spelt_out) and got
    assert store._members.kept() == []


def test_a_union_of_questions_reads_one_set(store: DuckDBStore, config: Settings) -> None:
    dataset = _publish(store)
    where = f"within_polygon(at, '{HOLED}')"
    questions = [
        {
            "$select": f"{c} AS value, count(*) AS n",
            "$where": where,
            "$group": c,
            "$order": "n DESC, value",
        }
        for c in ("kind", "officer")
    ]
    together = run_together(store, dataset, questions, config)
    alone = [
        list(
            store.execute(
                dataset, expanded(prepare_query(store, dataset, q, config).compiled.select)
            )
        )
        for q in questions
    ]
    assert together == alone and all(together)
    assert len(store._members.kept()) == 1


def test_a_new_version_builds_its_own_set_and_an_old_one_none(
    store: DuckDBStore, config: Settings
) -> None:
    first = _publish(store, seed=1)
    question = {"$select": "count(*)", "$where": f"within_polygon(at, '{AREAS[0]}')"}
    before, _ = _answers(store, first, question, config)
    second = _publish(store, seed=2)
    after, spelt_out = _answers(store, second, question, config)
    assert after == spelt_out and after != before
    assert len(store._members.kept()) == 2
    old = store.dataset_at(first.id, 1)
    assert old.history_table
    assert _answers(store, old, question, config)[0] == before
    assert len(store._members.kept()) == 2  # an old version's rows test the polygon


def test_sets_past_the_most_are_evicted_and_built_again(
    store: DuckDBStore, config: Settings, monkeypatch: Any
) -> None:
    monkeypatch.setattr(members, "MOST_SETS", 2)
    dataset = _publish(store)
    questions = [{"$select": "count(*)", "$where": f"within_polygon(at, '{a}')"} for a in AREAS[:3]]
    first = [_answers(store, dataset, q, config) for q in questions]
    assert len(store._members.kept()) == 2
    again = _answers(store, dataset, questions[0], config)  # its set was evicted: built again
    assert again == first[0] and again[0] == again[1]
    assert len(store._members.kept()) == 2


def test_a_set_gone_before_its_query_is_built_again(store: DuckDBStore, config: Settings) -> None:
    dataset = _publish(store)
    question = _where(f"within_polygon(at, '{AREAS[1]}')")
    got, spelt_out = _answers(store, dataset, question, config)
    (name,) = store._members.kept()
    store._cursor().execute(f'DROP TABLE {members.SCHEMA}."{name}"')  # as if evicted meanwhile
    again, _ = _answers(store, dataset, question, config)
    assert repr(again) == repr(got) == repr(spelt_out)
    assert store._members.kept() == [name]
    ids = store._cursor().execute(f'SELECT count(*) FROM {members.SCHEMA}."{name}"').fetchone()  # noqa: S608 - ours
    assert ids == (len(got),)  # built again, not left to the test


def test_a_set_that_keeps_going_leaves_the_query_to_the_test(
    store: DuckDBStore, config: Settings, monkeypatch: Any
) -> None:
    """No endless retry: after three tries the query runs with its test."""
    dataset = _publish(store)
    built: list[str] = []
    kept = store._members

    def build_then_lose(name: str, timeout_s: float | None) -> None:
        built.append(name)
        kept._kept[name] = 0  # "built", never there

    monkeypatch.setattr(kept, "_build", build_then_lose)
    got, spelt_out = _answers(store, dataset, _where(f"within_polygon(at, '{AREAS[0]}')"), config)
    assert repr(got) == repr(spelt_out) and got
    assert len(built) == members.TRIES


def test_a_set_whose_polygon_was_forgotten_leaves_the_query_to_the_test(
    store: DuckDBStore, config: Settings, monkeypatch: Any
) -> None:
    """Polygons named long ago are forgotten (any caller's WKT is a polygon): a written query
    naming one whose set went too runs with its test."""
    monkeypatch.setattr(members, "MOST_RECIPES", 1)
    monkeypatch.setattr(members, "MOST_SETS", 1)
    dataset = _publish(store)
    select = prepare_query(store, dataset, _where(f"within_polygon(at, '{AREAS[0]}')"), config)
    first = list(store.execute(dataset, select.compiled.select))
    _answers(store, dataset, _where(f"within_polygon(at, '{AREAS[1]}')"), config)
    again = list(store.execute(dataset, select.compiled.select))  # the same tree: its SQL kept
    assert (
        repr(again)
        == repr(first)
        == repr(list(store.execute(dataset, expanded(select.compiled.select))))
    )
    assert len(store._members._recipes) == 1 and len(store._members.kept()) == 1
