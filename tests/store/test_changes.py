"""Row-level writes on both engines: upserts by row identifier or :id, partial updates,
deletes, fresh ids in payload order, and every write a new version in :id order."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from sqlglot import exp

from blotter.errors import InvalidRequest, ValidationFailed
from blotter.ingest.rows import stage_changes
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.schema import DATASET_TABLE
from blotter.store import Store

COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
    Column(field_name="where", name="Where", type=ColumnType.POINT),
]


def rows(store: Store, dataset_id: str) -> list[tuple[Any, ...]]:
    dataset = store.get_dataset(dataset_id)
    select = exp.select("_id", "case_no", "age", "_where_lon").from_(DATASET_TABLE)
    return list(store.execute(dataset, select.order_by("_id")))


@pytest.fixture
def store(engine_store: Store) -> Store:
    return engine_store


def _seed(store: Store, identifier: str | None) -> str:
    ds = store.create_dataset(DatasetMeta(name="A", row_identifier=identifier), COLUMNS)
    batch = pa.record_batch(
        {
            "case_no": ["c1", "c2", "c3"],
            "age": [20.0, 30.0, 40.0],
            "_where_lon": [-72.9, -72.9, -72.9],
            "_where_lat": [43.6, 43.6, 43.6],
        }
    )
    store.publish(ds.id, COLUMNS, [batch])
    return ds.id


def _apply(store: Store, dataset_id: str, records: list[dict[str, Any]]) -> Any:
    staged = stage_changes(store.get_dataset(dataset_id), records)
    return store.apply_changes(dataset_id, staged.key, staged.table, source="test")


def test_upsert_by_row_identifier_updates_given_fields_only_and_appends_new_keys(
    store: Store,
) -> None:
    ds_id = _seed(store, "case_no")
    version, counts = _apply(
        store,
        ds_id,
        [
            {"case_no": "c2", "age": 31},
            {"case_no": "c9", "age": 50, "where": "POINT (-73.0 43.5)"},
            {"case_no": "c3", ":deleted": True},
        ],
    )
    assert (counts.created, counts.updated, counts.deleted) == (1, 1, 1)
    assert version.number == 2 and version.row_count == 3
    # c2 keeps its id and its point (not sent); c9 gets the next id; c3 is gone.
    assert rows(store, ds_id) == [
        (1, "c1", 20.0, -72.9),
        (2, "c2", 31.0, -72.9),
        (4, "c9", 50.0, -73.0),
    ]
    assert [v.number for v in store.versions(ds_id)] == [2, 1]


def test_without_a_row_identifier_rows_are_named_by_id_or_appended(store: Store) -> None:
    ds_id = _seed(store, None)
    _, counts = _apply(
        store,
        ds_id,
        [
            {":id": "row-1", "age": 21},
            {"case_no": "c4"},
            {"case_no": "c5"},
            {":id": "row-2", ":deleted": True},
        ],
    )
    assert (counts.created, counts.updated, counts.deleted) == (2, 1, 1)
    assert rows(store, ds_id) == [
        (1, "c1", 21.0, -72.9),
        (3, "c3", 40.0, -72.9),
        (4, "c4", None, None),
        (5, "c5", None, None),
    ]


def test_a_bad_value_refuses_the_whole_payload_and_says_where(store: Store) -> None:
    ds_id = _seed(store, "case_no")
    with pytest.raises(ValidationFailed) as caught:
        _apply(
            store,
            ds_id,
            [
                {"case_no": "c1", "age": 25},
                {"case_no": "c2", "age": "old", "colour": "red"},
                {"age": 3},
            ],
        )
    problems = caught.value.problems
    assert caught.value.status == 422
    assert {(p["row"], p["column"]) for p in problems} == {
        (2, "age"),
        (2, "colour"),
        (3, "case_no"),
    }
    assert rows(store, ds_id)[0] == (1, "c1", 20.0, -72.9)
    assert store.get_dataset(ds_id).version == 1


def test_data_dictionary_edits_keep_rows_and_refuse_type_changes(store: Store) -> None:
    ds_id = _seed(store, None)
    edited = [c.model_copy() for c in COLUMNS]
    edited[1] = edited[1].model_copy(update={"name": "Age of subject", "internal": True})
    ds = store.update_columns(ds_id, edited)
    assert ds.column("age") is not None
    assert ds.column("age").name == "Age of subject"  # type: ignore[union-attr]
    assert ds.column("age").internal  # type: ignore[union-attr]
    assert ds.version == 1 and len(rows(store, ds_id)) == 3
    retyped = [*edited[:1], edited[1].model_copy(update={"type": ColumnType.TEXT}), edited[2]]
    with pytest.raises(InvalidRequest):
        store.update_columns(ds_id, retyped)


HIDDEN_COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="offense", name="Offense", type=ColumnType.TEXT),
    Column(field_name="officer", name="Officer", type=ColumnType.TEXT, internal=True),
]


def _stamps(store: Store, dataset_id: str) -> dict[str, tuple[Any, ...]]:
    dataset = store.get_dataset(dataset_id)
    select = exp.select("case_no", "_updated_at", "offense", "officer").from_(DATASET_TABLE)
    return {r[0]: r[1:] for r in store.execute(dataset, select)}


def _hidden_seeded(store: Store) -> str:
    meta = DatasetMeta(name="Hidden", row_identifier="case_no")
    ds = store.create_dataset(meta, HIDDEN_COLUMNS)
    batch = pa.record_batch(
        {"case_no": ["c1", "c2"], "offense": ["theft", "assault"], "officer": ["Smith", "Jones"]}
    )
    store.publish(ds.id, HIDDEN_COLUMNS, [batch])
    return ds.id


def test_a_change_to_internal_fields_alone_leaves_the_rows_updated_at(store: Store) -> None:
    """The public reads ``:updated_at``: moved by a correction of an internal field alone,
    it would tell them which row was corrected, and when, where its history says nothing
    changed for them. Upserts and replaces alike; a public change moves it."""
    ds_id = _hidden_seeded(store)
    first = _stamps(store, ds_id)
    _apply(store, ds_id, [{"case_no": "c1", "officer": "Brown"}, {"case_no": "c2"}])
    after = _stamps(store, ds_id)
    assert after["c1"] == (first["c1"][0], "theft", "Brown")  # changed, its stamp kept
    assert after["c2"] == first["c2"]  # nothing changed: kept too
    _apply(store, ds_id, [{"case_no": "c2", "offense": "robbery", "officer": "Lee"}])
    moved = _stamps(store, ds_id)
    assert moved["c2"][1:] == ("robbery", "Lee") and moved["c2"][0] > first["c2"][0]
    assert moved["c1"] == after["c1"]
    # A replace of every row by the row identifier: the same rule.
    batch = pa.record_batch(
        {"case_no": ["c1", "c2"], "offense": ["theft", "burglary"], "officer": ["Green", "Lee"]}
    )
    store.publish(ds_id, HIDDEN_COLUMNS, [batch])
    replaced = _stamps(store, ds_id)
    assert replaced["c1"] == (after["c1"][0], "theft", "Green")
    assert replaced["c2"][1] == "burglary" and replaced["c2"][0] > moved["c2"][0]
