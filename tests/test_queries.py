"""The read path's compiled-query cache: the same question is compiled once per version and
per set of visible columns, and never answers from a version it was not asked about."""

from __future__ import annotations

import hashlib
import json
import time

import pyarrow as pa
import pytest

from blotter import access, queries
from blotter.errors import QueryTimeout, SoQLError
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.queries import compiled
from blotter.settings import Settings
from blotter.store import Store

COLUMNS = [
    Column(field_name="offense", name="Offense", type=ColumnType.TEXT),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
]
GROUPED = {"$select": "offense, count(*) AS n", "$group": "offense", "$order": "offense"}


def rows(offenses: list[str], ages: list[float]) -> pa.RecordBatch:
    return pa.record_batch({"offense": pa.array(offenses), "age": pa.array(ages, pa.float64())})


def answer(store: Store, dataset_id: str, params: dict[str, str]) -> list[tuple[object, ...]]:
    return list(queries.run_query(store, dataset_id, params, Settings()).rows)


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch) -> queries.CompiledCache:
    fresh = queries.CompiledCache(size=3)
    monkeypatch.setattr(compiled, "_COMPILED", fresh)
    return fresh


def test_a_new_version_is_answered_from_its_own_rows(
    engine_store: Store, cache: queries.CompiledCache
) -> None:
    ds = engine_store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    engine_store.publish(ds.id, COLUMNS, [rows(["theft", "theft"], [19, 20])])
    assert answer(engine_store, ds.id, GROUPED) == [("theft", 2)]
    engine_store.publish(ds.id, COLUMNS, [rows(["assault", "theft"], [30, 31])])
    assert answer(engine_store, ds.id, GROUPED) == [("assault", 1), ("theft", 1)]
    assert len(cache._entries) == 2  # one entry per version


def test_hidden_columns_change_the_entry(engine_store: Store, cache: queries.CompiledCache) -> None:
    ds = engine_store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    engine_store.publish(ds.id, COLUMNS, [rows(["theft"], [19])])
    full = engine_store.get_dataset(ds.id)
    assert list(queries.run_query(engine_store, full, {"$select": "age"}, Settings()).rows) == [
        (19,)
    ]
    # The same request from a viewer who may not see `age` is refused, not served from cache.
    public = full.model_copy(update={"columns": [c for c in full.columns if c.field_name != "age"]})
    with pytest.raises(SoQLError, match="age"):
        queries.run_query(engine_store, public, {"$select": "age"}, Settings())


def test_the_least_recently_used_entries_make_room(cache: queries.CompiledCache) -> None:
    for n in range(5):
        cache.put(("k", n), object())  # type: ignore[arg-type]
    assert list(cache._entries) == [("k", 2), ("k", 3), ("k", 4)]
    assert cache.get(("k", 2)) is not None
    cache.put(("k", 5), object())  # type: ignore[arg-type]
    assert ("k", 3) not in cache._entries  # the least recently used went, not the one just read


def test_the_time_limit_counts_from_parsing_not_from_the_engine(engine_store: Store) -> None:
    """A query that spent its time being parsed and compiled gets only what is left; none
    left is a timeout before the engine starts (compiling was outside the limit before)."""
    ds = engine_store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    engine_store.publish(ds.id, COLUMNS, [rows(["theft"], [19])])
    limit = Settings(query_timeout_s=30)
    long_ago = time.monotonic() - 31
    spent = queries.prepare_query(engine_store, ds.id, GROUPED, limit, started=long_ago)
    with pytest.raises(QueryTimeout):
        queries.run(engine_store, spent, limit)
    fresh = queries.prepare_query(engine_store, ds.id, GROUPED, limit)
    assert 0 < fresh.remaining_s(limit) <= 30
    assert list(queries.run(engine_store, fresh, limit).rows) == [("theft", 1)]
    # Less than a millisecond left would be no limit at all in PostgreSQL: a timeout too.
    nearly = queries.prepare_query(
        engine_store, ds.id, GROUPED, limit, started=time.monotonic() - 29.9999
    )
    with pytest.raises(QueryTimeout):
        queries.run(engine_store, nearly, limit)


def test_a_clients_where_cannot_escape_the_condition_it_is_joined_to() -> None:
    assert queries.and_where("age > 1", "x IS NOT NULL") == "(age > 1) AND x IS NOT NULL"
    assert queries.and_where(" ", "x IS NOT NULL") == "x IS NOT NULL"
    with pytest.raises(SoQLError):
        queries.and_where("true) OR (true", "x IS NOT NULL")


def _tag_as_written_before(dataset: Dataset, *parts: object) -> str:
    """``dataset_tag`` as it was before its columns' text was kept: the reference."""
    described = [
        dataset.id,
        dataset.created_at.isoformat(),
        dataset.version,
        [c.model_dump(mode="json") for c in dataset.columns],
        dataset.meta.model_dump(mode="json"),
        list(parts),
    ]
    text = json.dumps(described, default=str, sort_keys=True)
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def test_entity_tags_are_the_same_bytes_and_follow_every_change(engine_store: Store) -> None:
    hidden = [*COLUMNS, Column(field_name="note", name="Note", type=ColumnType.TEXT, internal=True)]
    ds = engine_store.create_dataset(DatasetMeta(name="A", tags=["x"]), hidden)
    batch = pa.record_batch({**rows(["theft"], [19]).to_pydict(), "note": ["n"]})
    engine_store.publish(ds.id, hidden, [batch])
    parts: tuple[object, ...] = ("json", [("$where", "age > 1"), ("id", "5")], False, None)
    seen = []
    for step in range(5):
        dataset = engine_store.get_dataset(ds.id)
        public = access.as_seen_by(access.Viewer(), dataset)
        assert public is not dataset  # a trimmed copy: a list of its own, the same columns
        for each in (dataset, dataset, public, public):  # kept, then read back
            assert queries.dataset_tag(each, *parts) == _tag_as_written_before(each, *parts)
        seen += [queries.dataset_tag(dataset, *parts), queries.dataset_tag(public, *parts)]
        if step == 0:
            engine_store.update_metadata(ds.id, dataset.meta.model_copy(update={"name": "B"}))
        elif step == 1:
            renamed = [c.model_copy(update={"name": c.name + "!"}) for c in dataset.columns]
            engine_store.update_columns(ds.id, renamed)
        elif step == 2:
            engine_store.publish(ds.id, hidden, [batch])
        elif step == 3:
            engine_store.update_metadata(ds.id, dataset.meta.model_copy(update={"tags": ["y"]}))
    assert len(set(seen)) == len(seen)  # every edit and version made other tags


MIXED = [
    Column(field_name="offense", name="Offense", type=ColumnType.TEXT),
    Column(field_name="district", name="District", type=ColumnType.TEXT),
    Column(field_name="flagged", name="Flagged", type=ColumnType.CHECKBOX),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
]


def _grouped(column: str, where: str = "", limit: str = "") -> dict[str, str]:
    question = {
        "$select": f"{column} AS value, count(*) AS n",
        "$group": column,
        "$order": "n DESC, value",
    }
    return question | ({"$where": where} if where else {}) | ({"$limit": limit} if limit else {})


def test_questions_together_are_each_answered_as_alone(engine_store: Store) -> None:
    """Questions under several ``$where``s, some shared by several questions (each then
    written once, in its own ``WITH``), one alone, one without: one engine query, and each
    answer is the one its question gets alone (nulls, ties, a checkbox beside text)."""
    ds = engine_store.create_dataset(DatasetMeta(name="M"), MIXED)
    batch = pa.record_batch(
        {
            "offense": pa.array(["theft", "theft", None, "fraud", "arson", None, "fraud"]),
            "district": pa.array(["a", "a", "b", "b", None, "a", "b"]),
            "flagged": pa.array([True, None, False, True, True, False, None]),
            "age": pa.array([19, 34, 51, 22, None, 40, 61], pa.float64()),
        }
    )
    engine_store.publish(ds.id, MIXED, [batch])
    dataset = engine_store.get_dataset(ds.id)
    off = Settings(answer_cache_entries=0)  # every answer computed anew
    questions = [
        _grouped("offense", "district = 'a'"),
        _grouped("flagged", "district = 'a'"),
        _grouped("offense", "age > 20"),
        _grouped("district", "age > 20", limit="2"),
        _grouped("flagged", "age > 20"),
        _grouped("district", "offense = 'theft'"),
        _grouped("offense"),
    ]
    alone = [list(queries.run_query(engine_store, dataset, q, off).rows) for q in questions]
    ran = _recording(engine_store)
    together = queries.run_together(engine_store, dataset, questions, off)
    assert together == alone
    assert len(ran) == 1 and "_matching0" in ran[0] and "_matching1" in ran[0], ran
    assert "_matching2" not in ran[0]  # a $where only one question has is its own
    assert set(alone[1]) == {(True, 1), (False, 1), (None, 1)}
    assert alone[3] == [("b", 3), ("a", 2)]


def _recording(store: Store) -> list[str]:
    """The SQL of every query ``store`` executes from now on (in this test's store only)."""
    ran: list[str] = []
    execute = store.execute

    def seen(*args: object, **kwargs: object) -> object:
        ran.append(args[1].sql())  # type: ignore[attr-defined]
        return execute(*args, **kwargs)  # type: ignore[arg-type]

    store.execute = seen  # type: ignore[method-assign, assignment]
    return ran


def test_a_summary_asked_beside_the_sample_is_each_answer_as_alone(engine_store: Store) -> None:
    """The summary's one-row query and the version's sample of values, asked in one engine
    query and each kept, are the answers each gets alone (nulls, a filter, a checkbox)."""
    from blotter.queries import answer_cache

    ds = engine_store.create_dataset(DatasetMeta(name="S"), MIXED)
    batch = pa.record_batch(
        {
            "offense": pa.array(["theft", "theft", None, "fraud", "arson"]),
            "district": pa.array(["a", None, "b", "b", None]),
            "flagged": pa.array([True, None, False, True, True]),
            "age": pa.array([19, None, 51, 22, 30], pa.float64()),
        }
    )
    engine_store.publish(ds.id, MIXED, [batch])
    dataset = engine_store.get_dataset(ds.id)
    on = Settings()
    summary = {
        "$select": "count(*), min(age), max(age), count(case(district IS NOT NULL, 1))",
        "$where": "offense != 'arson' OR offense IS NULL",
    }
    alone_values = queries.values_at_least(engine_store, dataset, on)
    alone_row = list(queries.run_query(engine_store, dataset, summary, on).rows)
    answer_cache._ANSWERS.pop(engine_store)  # nothing kept from the answers alone
    ran = _recording(engine_store)
    queries.ask_beside_values_at_least(engine_store, dataset, summary, on)
    assert len(ran) == 1 and "CROSS JOIN" in ran[0].upper(), ran
    assert queries.values_at_least(engine_store, dataset, on) == alone_values
    assert list(queries.run_query(engine_store, dataset, summary, on).rows) == alone_row
    assert len(ran) == 1  # both were kept
    assert alone_values == {"offense": 3, "district": 2, "flagged": 2}
    assert alone_row == [(4, 19, 51, 3)]
    queries.ask_beside_values_at_least(engine_store, dataset, summary, on)
    assert len(ran) == 1  # kept: nothing asked again
