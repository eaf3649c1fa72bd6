"""Verifiable history on both engines: each version's counts, note and agency; any version
read as it was served; diffs between versions; replaces that keep row identities."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest
from sqlglot import exp

from blotter.errors import VersionNotFound
from blotter.ingest.rows import stage_changes
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.schema import DATASET_TABLE
from blotter.store import Store
from blotter.store.base import CsvCell

COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
    Column(field_name="where", name="Where", type=ColumnType.POINT),
    Column(field_name="officer", name="Officer", type=ColumnType.TEXT, internal=True),
]


def batch(rows: list[tuple[Any, ...]]) -> pa.RecordBatch:
    """Rows of (case_no, age, (lon, lat) or None, officer)."""
    return pa.record_batch(
        {
            "case_no": pa.array([r[0] for r in rows], pa.string()),
            "age": pa.array([r[1] for r in rows], pa.float64()),
            "_where_lon": pa.array([r[2][0] if r[2] else None for r in rows], pa.float64()),
            "_where_lat": pa.array([r[2][1] if r[2] else None for r in rows], pa.float64()),
            "officer": pa.array([r[3] for r in rows], pa.string()),
        }
    )


SELECT = exp.select("_id", "case_no", "age", "_where_lon", "officer").from_(DATASET_TABLE)
FIRST = [
    ("c1", 20.0, (-72.9, 43.6), "o1"),
    ("c2", 30.0, (-72.8, 43.5), "o2"),
    ("c3", 40.0, None, "o3"),
]


def rows(store: Store, dataset: Dataset) -> list[tuple[Any, ...]]:
    return list(store.execute(dataset, SELECT.order_by("_id")))


def stamps(store: Store, dataset: Dataset) -> dict[int, tuple[datetime, datetime]]:
    select = exp.select("_id", "_created_at", "_updated_at").from_(DATASET_TABLE).order_by("_id")
    return {r[0]: (r[1], r[2]) for r in store.execute(dataset, select)}


def public(dataset: Dataset) -> Dataset:
    return dataset.model_copy(update={"columns": [c for c in dataset.columns if not c.internal]})


@pytest.fixture
def store(engine_store: Store) -> Store:
    return engine_store


def _seed(store: Store, identifier: str | None = "case_no") -> str:
    meta = DatasetMeta(name="A", agency="Rutland City PD", row_identifier=identifier)
    ds = store.create_dataset(meta, COLUMNS)
    store.publish(ds.id, COLUMNS, [batch(FIRST)], source="jan.csv", note="January")
    return ds.id


def _upsert(store: Store, dataset_id: str, records: list[dict[str, Any]], note: str = "") -> Any:
    staged = stage_changes(store.get_dataset(dataset_id), records)
    return store.apply_changes(dataset_id, staged.key, staged.table, source="api", note=note)


def test_each_version_counts_what_it_added_changed_and_removed(store: Store) -> None:
    ds_id = _seed(store)
    version, _ = _upsert(
        store,
        ds_id,
        [
            {"case_no": "c1", "age": 20},  # sent, but the same: not a change
            {"case_no": "c2", "age": 31},
            {"case_no": "c3", ":deleted": True},
            {"case_no": "c4", "age": 50},
        ],
        note="one corrected, one withdrawn",
    )
    assert (version.rows_added, version.rows_changed, version.rows_removed) == (1, 1, 1)
    second, first = store.versions(ds_id)
    assert (first.rows_added, first.rows_changed, first.rows_removed) == (3, 0, 0)
    assert (first.note, first.agency, first.source) == ("January", "Rutland City PD", "jan.csv")
    assert (second.rows_added, second.rows_changed, second.rows_removed) == (1, 1, 1)
    assert second.note == "one corrected, one withdrawn" and not second.pruned
    # The agency is the dataset's when the version was published, not today's.
    store.update_metadata(
        ds_id, DatasetMeta(name="A", agency="Another PD", row_identifier="case_no")
    )
    assert [v.agency for v in store.versions(ds_id)] == ["Rutland City PD"] * 2


def test_a_change_to_an_internal_field_alone_is_a_change_of_the_version(store: Store) -> None:
    ds_id = _seed(store)
    version, _ = _upsert(store, ds_id, [{"case_no": "c1", "officer": "o9"}])
    assert (version.rows_added, version.rows_changed, version.rows_removed) == (0, 1, 0)


def test_dataset_at_reads_an_old_version_exactly_with_todays_dictionary(store: Store) -> None:
    ds_id = _seed(store)
    served_first = store.get_dataset(ds_id)
    before = rows(store, served_first)
    _upsert(store, ds_id, [{"case_no": "c2", "age": 31}, {"case_no": "c3", ":deleted": True}])
    described = [c.model_copy(update={"description": "At the time"}) for c in COLUMNS]
    store.update_columns(ds_id, described)

    old = store.dataset_at(ds_id, 1)
    assert old.version == 1 and old.row_count == 3
    assert old.rows_updated_at == served_first.rows_updated_at
    assert [c.description for c in old.columns] == ["At the time"] * 4
    assert [c.internal for c in old.columns] == [False, False, False, True]
    assert (
        rows(store, old)
        == before
        == [
            (1, "c1", 20.0, -72.9, "o1"),
            (2, "c2", 30.0, -72.8, "o2"),
            (3, "c3", 40.0, None, "o3"),
        ]
    )
    # Written by the engine as CSV, the old version's rows too.
    csv_select = exp.select("case_no", "age").from_(DATASET_TABLE).order_by("_id")
    pieces = store.execute_csv(old, csv_select, [CsvCell.VALUE, CsvCell.VALUE])
    assert pieces is not None
    text = b"".join(p for p in pieces if isinstance(p, bytes)).decode()
    assert text.splitlines() == ["c1,20", "c2,30", "c3,40"]
    # The newest through dataset_at is the served dataset.
    assert store.dataset_at(ds_id, 2) == store.get_dataset(ds_id)
    assert rows(store, store.dataset_at(ds_id, 2)) == [
        (1, "c1", 20.0, -72.9, "o1"),
        (2, "c2", 31.0, -72.8, "o2"),
    ]


def test_an_old_version_keeps_its_own_fields(store: Store) -> None:
    ds_id = _seed(store, None)
    fewer = COLUMNS[:2]
    store.publish(ds_id, fewer, [pa.record_batch({"case_no": ["z"], "age": [1.0]})])
    old = store.dataset_at(ds_id, 1)
    assert [c.field_name for c in old.columns] == ["case_no", "age", "where", "officer"]
    assert [c.field_name for c in store.get_dataset(ds_id).columns] == ["case_no", "age"]
    assert len(rows(store, old)) == 3


def test_a_field_hidden_after_its_version_stays_hidden_once_a_version_drops_it(
    store: Store,
) -> None:
    """Staff hide a field published in the open; the next file leaves it out. The data
    dictionary is then the new version's, so the hidden flag must live on in the versions
    that hold the field: else the public reads its values again at ``$$version=1``, in that
    version's export and in the diff."""
    ds_id = _seed(store, None)
    hidden = [
        c.model_copy(update={"internal": c.internal or c.field_name == "age"}) for c in COLUMNS
    ]
    store.update_columns(ds_id, hidden)
    assert "age" not in [c.field_name for c in public(store.get_dataset(ds_id)).columns]
    dropped = [COLUMNS[0], COLUMNS[3]]
    store.publish(ds_id, dropped, [pa.record_batch({"case_no": ["c1"], "officer": ["o1"]})])
    old = store.dataset_at(ds_id, 1)
    assert [c.field_name for c in old.columns if c.internal] == ["age", "officer"]
    diff = store.version_diff(public(store.get_dataset(ds_id)), 1, 2, limit=10, offset=0)
    assert "age" not in diff.fields
    assert all("age" not in r.values for r in diff.rows)
    # A third version changes nothing of it.
    store.publish(ds_id, dropped, [pa.record_batch({"case_no": ["c2"], "officer": ["o2"]})])
    assert [c.field_name for c in store.dataset_at(ds_id, 1).columns if c.internal] == [
        "age",
        "officer",
    ]


def test_a_hidden_field_a_later_file_brings_back_stays_hidden(store: Store) -> None:
    """Staff hide a field, a file leaves it out, a later file brings it back: the data
    dictionary had forgotten it, so the field came back public, and with it every earlier
    version's values of it (read with today's dictionary). A field once internal stays so."""
    ds_id = _seed(store, None)
    hidden = [
        c.model_copy(update={"internal": c.internal or c.field_name == "age"}) for c in COLUMNS
    ]
    store.update_columns(ds_id, hidden)
    dropped = [COLUMNS[0], COLUMNS[3]]
    store.publish(ds_id, dropped, [pa.record_batch({"case_no": ["c1"], "officer": ["o1"]})])
    back = [COLUMNS[0], COLUMNS[1], COLUMNS[3]]  # age as the file declares it: public
    rows = {"case_no": ["c1"], "age": [21.0], "officer": ["o1"]}
    store.publish(ds_id, back, [pa.record_batch(rows)])
    assert store.get_dataset(ds_id).column("age").internal  # type: ignore[union-attr]
    for number in (1, 3):
        old = store.dataset_at(ds_id, number)
        assert [c.field_name for c in old.columns if c.internal] == ["age", "officer"], number
    diff = store.version_diff(public(store.get_dataset(ds_id)), 2, 3, limit=10, offset=0)
    assert "age" not in diff.fields


def test_a_field_hidden_after_it_was_retyped_is_hidden_in_the_versions_before(
    store: Store,
) -> None:
    """A file retypes a field (a number becomes text), then staff hide it: the versions
    holding it as a number are read with today's dictionary, whose entry is of another
    type, and kept their own flags as published: open. Hidden is hidden in every version."""
    ds_id = _seed(store, None)
    retyped = [COLUMNS[0], COLUMNS[1].model_copy(update={"type": ColumnType.TEXT}), COLUMNS[3]]
    rows = {"case_no": ["c1"], "age": ["twenty"], "officer": ["o1"]}
    store.publish(ds_id, retyped, [pa.record_batch(rows)])
    hidden = [
        c.model_copy(update={"internal": c.internal or c.field_name == "age"})
        for c in store.get_dataset(ds_id).columns
    ]
    store.update_columns(ds_id, hidden)
    old = store.dataset_at(ds_id, 1)
    assert [c.field_name for c in old.columns if c.internal] == ["age", "officer"]
    assert "age" not in [c.field_name for c in public(old).columns]


def test_a_version_never_published_is_not_found(store: Store) -> None:
    ds_id = _seed(store)
    for number in (0, 2, -1):
        with pytest.raises(VersionNotFound) as caught:
            store.dataset_at(ds_id, number)
        assert caught.value.status == 404 and caught.value.code == "version.not-found"
        assert caught.value.data == {"dataset_id": ds_id, "version": number, "newest": 1}
    with pytest.raises(VersionNotFound):
        store.version_diff(store.get_dataset(ds_id), 1, 5, limit=10, offset=0)


def test_a_diff_names_rows_added_removed_and_changed_field_by_field(store: Store) -> None:
    ds_id = _seed(store)
    _upsert(
        store,
        ds_id,
        [
            {"case_no": "c4", "age": 50, "where": "POINT (-73 43)"},
            {"case_no": "c2", "age": 31, "where": "POINT (-72.7 43.5)"},
            {"case_no": "c3", ":deleted": True},
            {"case_no": "c1", "officer": "o9"},  # internal only
        ],
    )
    whole = store.get_dataset(ds_id)
    diff = store.version_diff(whole, 1, 2, limit=100, offset=0)
    assert (diff.added, diff.changed, diff.removed) == (1, 2, 1)
    assert diff.fields == ["case_no", "age", "where", "officer"]
    got = [(r.kind, r.row_id) for r in diff.rows]
    assert got == [("changed", 1), ("changed", 2), ("removed", 3), ("added", 4)]
    c1, c2, c3, c4 = diff.rows
    assert [(c.field_name, c.before, c.after) for c in c1.changes] == [("officer", "o1", "o9")]
    assert [(c.field_name, c.before, c.after) for c in c2.changes] == [
        ("age", 30.0, 31.0),
        ("where", (-72.8, 43.5), (-72.7, 43.5)),
    ]
    assert c3.values == {"case_no": "c3", "age": 40.0, "where": None, "officer": "o3"}
    assert c4.values == {"case_no": "c4", "age": 50.0, "where": (-73.0, 43.0), "officer": None}

    # The public never sees the internal field, nor the row changed only there.
    seen = store.version_diff(public(whole), 1, 2, limit=100, offset=0)
    assert (seen.added, seen.changed, seen.removed) == (1, 1, 1)
    assert seen.fields == ["case_no", "age", "where"]
    assert [(r.kind, r.row_id) for r in seen.rows] == [
        ("changed", 2),
        ("removed", 3),
        ("added", 4),
    ]
    assert "officer" not in seen.rows[1].values and "officer" not in seen.rows[2].values

    # Pages in :id order; the counts are always the whole diff's.
    page = store.version_diff(public(whole), 1, 2, limit=2, offset=1)
    assert [(r.kind, r.row_id) for r in page.rows] == [("removed", 3), ("added", 4)]
    assert (page.added, page.changed, page.removed, page.limit, page.offset) == (1, 1, 1, 2, 1)

    # Backwards, the same rows the other way round.
    back = store.version_diff(public(whole), 2, 1, limit=100, offset=0)
    assert [(r.kind, r.row_id) for r in back.rows] == [
        ("changed", 2),
        ("added", 3),
        ("removed", 4),
    ]
    assert next((c.field_name, c.before, c.after) for c in back.rows[0].changes) == (
        "age",
        31.0,
        30.0,
    )


def test_a_diff_across_a_change_of_fields(store: Store) -> None:
    ds_id = _seed(store, None)
    retyped = [
        COLUMNS[0],
        Column(field_name="age", name="Age", type=ColumnType.TEXT),
        Column(field_name="shift", name="Shift", type=ColumnType.TEXT),
    ]
    store.publish(
        ds_id,
        retyped,
        [pa.record_batch({"case_no": ["c1"], "age": ["20"], "shift": ["night"]})],
    )
    diff = store.version_diff(public(store.get_dataset(ds_id)), 1, 2, limit=10, offset=0)
    # No field set is shared, so nothing matches: every row is removed, the new one added.
    assert (diff.added, diff.changed, diff.removed) == (1, 0, 3)
    assert diff.fields == ["case_no", "age", "shift", "where"]
    added = next(r for r in diff.rows if r.kind == "added")
    assert added.values == {"case_no": "c1", "age": "20", "shift": "night", "where": None}


def test_a_replace_by_row_identifier_keeps_ids_and_creation_times(store: Store) -> None:
    ds_id = _seed(store)
    first = store.get_dataset(ds_id)
    before = stamps(store, first)
    replaced = [
        ("c2", 31.0, (-72.8, 43.5), "o2"),  # corrected
        ("c4", 50.0, None, "o4"),  # new
        ("c1", 20.0, (-72.9, 43.6), "o1"),  # the same
    ]
    version = store.publish(ds_id, COLUMNS, [batch(replaced)])
    assert (version.rows_added, version.rows_changed, version.rows_removed) == (1, 1, 1)
    served = store.get_dataset(ds_id)
    assert rows(store, served) == [
        (1, "c1", 20.0, -72.9, "o1"),
        (2, "c2", 31.0, -72.8, "o2"),
        (4, "c4", 50.0, None, "o4"),
    ]
    after = stamps(store, served)
    assert after[1] == before[1]  # unchanged: both times kept
    assert after[2][0] == before[2][0] and after[2][1] > before[2][1]
    assert after[4][0] == after[4][1] == after[2][1]
    diff = store.version_diff(public(served), 1, 2, limit=10, offset=0)
    assert [(r.kind, r.row_id) for r in diff.rows] == [
        ("changed", 2),
        ("removed", 3),
        ("added", 4),
    ]
    # Fresh ids continue after the ones handed out.
    assert store.publish(ds_id, COLUMNS, [batch([("c9", 1.0, None, None)])]).rows_added == 1
    assert [r[0] for r in rows(store, store.get_dataset(ds_id))] == [5]


def test_a_replace_without_identifier_keeps_identical_rows_one_to_one(store: Store) -> None:
    meta = DatasetMeta(name="A")
    ds = store.create_dataset(meta, COLUMNS)
    a, b, c = ("a", 1.0, None, None), ("b", 2.0, (-72.0, 43.0), None), ("c", 3.0, None, None)
    store.publish(ds.id, COLUMNS, [batch([a, a, b])])
    version = store.publish(ds.id, COLUMNS, [batch([a, b, c, a, a])])
    assert (version.rows_added, version.rows_changed, version.rows_removed) == (2, 0, 0)
    # The first two a's keep ids 1 and 2, b keeps 3; c and the third a are new, in file order.
    assert [(r[0], r[1]) for r in rows(store, store.get_dataset(ds.id))] == [
        (1, "a"),
        (2, "a"),
        (3, "b"),
        (4, "c"),
        (5, "a"),
    ]
    assert store.publish(ds.id, COLUMNS, [batch([b])]).rows_removed == 4
