"""Stored answers (``queries/stored_answers.py``, ``queries.store_answers``, the catalog's
``blotter_answers``): an answer is stored only when it reads back as the same values of the
same types; a version's answers are read once per process, only for that version of that
dataset (not one made again under its id), and go with the dataset."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pyarrow as pa

from blotter.model import Column, ColumnType, DatasetMeta
from blotter.queries import answer_key, answers, run_query, store_answers
from blotter.queries.stored_answers import from_text, to_text
from blotter.settings import Settings
from blotter.store import Store
from blotter.store.tally import counting

COLUMNS = [
    Column(field_name="offense", name="Offense", type=ColumnType.TEXT),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
]
ROWS = {"offense": ["theft", "theft", "fraud"], "age": [19.0, 34.0, 51.0]}


def test_answers_read_back_as_the_same_values_of_the_same_types() -> None:
    key = ("ds", datetime(2026, 1, 2, 3, 4, 5, 6), 3, (("a", ColumnType.TEXT),), "rows")
    answer = (
        (1, 1.5, True, None, "x", Decimal("1.10"), date(2026, 1, 2), time(3, 4)),
        ([1, 2], (3,), float("inf"), -0.0),
    )
    text, count = to_text([(key, answer)])
    assert count == 1
    ((back_key, back),) = from_text(text)
    assert back_key == key and back == answer
    assert type(back_key[3][0][1]) is ColumnType and type(back[0][5]) is Decimal
    assert str(back[0][5]) == "1.10" and type(back[1][0]) is list and type(back[1][1]) is tuple


def test_answers_that_would_not_read_back_exactly_are_left_out() -> None:
    zoned = datetime(2026, 1, 2, tzinfo=UTC)
    entries = [
        ("zoned", ((zoned,),)),
        ("mapping", (({"a": 1},),)),
        ("not a number", ((float("nan"),),)),
        ("a duration", ((timedelta(days=1),),)),
        ("kept", ((1,),)),
    ]
    text, count = to_text(entries)
    assert count == 1
    assert from_text(text) == [("kept", ((1,),))]
    assert from_text(text.replace('"format":1', '"format":0')) == []


def _dataset(store: Store) -> None:
    store.create_dataset(DatasetMeta(name="Cases"), COLUMNS, dataset_id="case-0001")
    store.publish("case-0001", COLUMNS, [pa.record_batch(ROWS)])


def test_a_versions_stored_answers_are_read_by_another_process_until_the_dataset_goes(
    engine_config: Settings,
) -> None:
    from blotter.store import open_store

    question = {"$select": "offense, count(*) AS n", "$group": "offense", "$order": "n DESC"}
    drawing = ("drawing", "a map's name")  # a text as long as a map's drawing
    store = open_store(engine_config)
    try:
        _dataset(store)
        dataset = store.get_dataset("case-0001")
        rows = list(run_query(store, dataset, question, engine_config).rows)
        svg = "<svg>" + "x" * 500_000 + "</svg>"
        answers(store, engine_config).put(answer_key(dataset, drawing, "rows"), svg, len(svg))
        assert store_answers(store, engine_config, dataset) == 2
    finally:
        store.close()

    store = open_store(engine_config)  # a process of its own: nothing kept in memory
    try:
        dataset = store.get_dataset("case-0001")
        cache = answers(store, engine_config, dataset)
        assert len(cache) == 2
        assert cache.get(answer_key(dataset, drawing, "rows")) == svg
        with counting() as tally:  # answered without the engine
            assert list(run_query(store, dataset, question, engine_config).rows) == rows
        assert tally.queries == 0
        # Another version, or the dataset made again under its id, reads none.
        store.publish("case-0001", COLUMNS, [pa.record_batch(ROWS)])
        newer = store.get_dataset("case-0001")
        assert store.stored_answers("case-0001", newer.version, newer.created_at) is None
        assert store.stored_answers("case-0001", 1, dataset.created_at) is not None
        store.delete_dataset("case-0001")
        assert store.stored_answers("case-0001", 1, dataset.created_at) is None
        _dataset(store)
        again = store.get_dataset("case-0001")
        assert store.stored_answers("case-0001", 1, again.created_at) is None
    finally:
        store.close()
