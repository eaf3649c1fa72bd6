"""Under a filter, the summary groups only the columns that may make a share: a column seen
with more known values than a share allows in the first rows the filter keeps is left out
without grouping every row it keeps by it (``values_at_least`` with the filter), and the
shares are exactly those of grouping every candidate."""

from __future__ import annotations

import pyarrow as pa
import pytest

from blotter import queries
from blotter.analysis.summary import MAX_CATEGORIES, ask_facts_ahead, dataset_facts
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.queries import answer_cache, compiled
from blotter.queries import reads as reads
from blotter.settings import Settings
from blotter.store import Store
from tests.test_queries import _recording

COLUMNS = [
    Column(field_name="case_no", name="Case number", type=ColumnType.TEXT),
    Column(field_name="offense", name="Offense", type=ColumnType.TEXT),
    Column(field_name="district", name="District", type=ColumnType.TEXT),
]
WHERE = "district = 'north'"


def _publish(store: Store, rows: int = 60) -> str:
    ds = store.create_dataset(DatasetMeta(name="Calls"), COLUMNS)
    batch = pa.record_batch(
        {
            "case_no": pa.array([f"C-{i:04d}" for i in range(rows)]),
            "offense": pa.array(["theft" if i % 3 else "fraud" for i in range(rows)]),
            "district": pa.array(["north" if i % 4 else "south" for i in range(rows)]),
        }
    )
    store.publish(ds.id, COLUMNS, [batch])
    return ds.id


def _forget(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    answer_cache._ANSWERS.pop(store, None)
    monkeypatch.setattr(compiled, "_COMPILED", queries.CompiledCache())


def test_a_filter_does_not_group_a_column_of_many_values(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = engine_store.get_dataset(_publish(engine_store))
    on = Settings()
    ran = _recording(engine_store)
    facts = dataset_facts(engine_store, dataset, on, WHERE)
    grouping = [sql for sql in ran if "GROUP BY" in sql.upper()]
    assert grouping and not any("case_no" in sql for sql in grouping), grouping
    assert any("offense" in sql for sql in grouping), grouping
    assert facts.rows == 45
    assert [(s.column.field_name, s.value, s.count, s.recorded) for s in facts.shares] == [
        ("offense", "theft", 30, 45)
    ]
    seen = queries.values_at_least(engine_store, dataset, on, WHERE)
    assert seen["case_no"] - MAX_CATEGORIES > 0 and seen["district"] == 1, seen

    # Every candidate grouped (no row sampled): the same facts.
    _forget(engine_store, monkeypatch)
    monkeypatch.setattr(reads, "SAMPLE_ROWS", 0)
    ran.clear()
    assert dataset_facts(engine_store, dataset, on, WHERE) == facts
    assert any("case_no" in sql for sql in ran if "GROUP BY" in sql.upper())


def test_the_filtered_sample_is_asked_beside_the_summary(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked ahead, the summary's row and both samples (the version's, the filter's) come in
    one engine query, each kept as the answer it gets alone."""
    dataset = engine_store.get_dataset(_publish(engine_store))
    on = Settings()
    alone = (
        queries.values_at_least(engine_store, dataset, on),
        queries.values_at_least(engine_store, dataset, on, WHERE),
        dataset_facts(engine_store, dataset, on, WHERE),
    )
    assert alone[0]["district"] == 2 and alone[1]["district"] == 1, alone
    _forget(engine_store, monkeypatch)
    ran = _recording(engine_store)
    ask_facts_ahead(engine_store, dataset, on, WHERE)
    assert len(ran) == 1 and ran[0].upper().count("CROSS JOIN") == 2, ran
    assert queries.values_at_least(engine_store, dataset, on) == alone[0]
    assert queries.values_at_least(engine_store, dataset, on, WHERE) == alone[1]
    assert len(ran) == 1  # both samples kept
    # Kept from a page without a filter, the version's sample is not asked again.
    _forget(engine_store, monkeypatch)
    queries.values_at_least(engine_store, dataset, on)
    ran.clear()
    ask_facts_ahead(engine_store, dataset, on, WHERE)
    assert len(ran) == 1 and ran[0].upper().count("CROSS JOIN") == 1, ran
    assert dataset_facts(engine_store, dataset, on, WHERE) == alone[2]


def test_the_filtered_sample_reads_fewer_rows_than_the_versions(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a filter the sample stops at ``FILTERED_SAMPLE_ROWS`` of the rows it keeps
    (enough to see more values than a share allows), the version's at ``SAMPLE_ROWS``; the
    shares are the same as grouping every candidate."""
    monkeypatch.setattr(reads, "FILTERED_SAMPLE_ROWS", 50)
    rows = 400
    dataset = engine_store.get_dataset(_publish(engine_store, rows))
    on = Settings()
    assert queries.values_at_least(engine_store, dataset, on)["case_no"] == rows
    assert queries.values_at_least(engine_store, dataset, on, WHERE)["case_no"] == 50
    facts = dataset_facts(engine_store, dataset, on, WHERE)
    assert [(s.column.field_name, s.value, s.count) for s in facts.shares] == [
        ("offense", "theft", 200)
    ]
    _forget(engine_store, monkeypatch)
    monkeypatch.setattr(reads, "SAMPLE_ROWS", 0)  # nothing sampled: every candidate grouped
    assert dataset_facts(engine_store, dataset, on, WHERE) == facts
