"""Fresh rows are numbered in the order of the dataset's main timestamp (nulls last, ties in
file order), on both engines: after a first publish and after replaces that keep identities,
with and without a row identifier. The expected order is computed here by Python's sort."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from sqlglot import exp

from blotter.errors import IngestError, ValidationFailed
from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import parse_spec
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.schema import DATASET_TABLE
from blotter.store import Store
from blotter.store.ordering import OrderWatch

COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="reported", name="Reported", type=ColumnType.FLOATING_TIMESTAMP),
    Column(field_name="received", name="Received", type=ColumnType.FLOATING_TIMESTAMP),
]

Row = tuple[str, datetime | None, datetime | None]


def d(month: int, day: int = 1) -> datetime:
    return datetime(2020, month, day)


def batch(rows: list[Row]) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "case_no": pa.array([r[0] for r in rows], pa.string()),
            "reported": pa.array([r[1] for r in rows], pa.timestamp("us")),
            "received": pa.array([r[2] for r in rows], pa.timestamp("us")),
        }
    )


def by_time(rows: list[Row], index: int) -> list[str]:
    """Case numbers in (time, file order) order, nulls last: what the ids must follow."""
    order = sorted(
        range(len(rows)),
        key=lambda i: (rows[i][index] is None, rows[i][index] or datetime.min, i),
    )
    return [rows[i][0] for i in order]


def by_id(store: Store, dataset: Dataset) -> list[tuple[int, str]]:
    select = exp.select("_id", "case_no").from_(DATASET_TABLE).order_by("_id")
    return [(r[0], r[1]) for r in store.execute(dataset, select)]


def stored_order(store: Store, dataset: Dataset) -> list[int]:
    """Ids as the table holds them (no ORDER BY: DuckDB streams in insertion order)."""
    select = exp.select("_id").from_(DATASET_TABLE)
    return [r[0] for r in store.execute(dataset, select)]


# Out of time order, two nulls, ties (c1/c4 and c7/c8), split over two batches.
FIRST: list[Row] = [
    ("c1", d(3), d(5)),
    ("c2", None, d(1)),
    ("c3", d(1), None),
    ("c4", d(3), d(2)),
    ("c5", d(2), d(9)),
    ("c6", None, d(4)),
    ("c7", d(1, 15), d(3)),
    ("c8", d(1, 15), d(7)),
]


def _first(store: Store, identifier: str | None, main_date: str | None = None) -> Dataset:
    meta = DatasetMeta(name="Calls", row_identifier=identifier, main_date=main_date)
    ds = store.create_dataset(meta, COLUMNS)
    store.publish(ds.id, COLUMNS, [batch(FIRST[:3]), batch(FIRST[3:])], source="jan.csv")
    return store.get_dataset(ds.id)


def test_a_first_publish_numbers_rows_by_the_first_timestamp(engine_store: Store) -> None:
    ds = _first(engine_store, None)
    got = by_id(engine_store, ds)
    assert [case for _, case in got] == by_time(FIRST, 1)
    assert [case for _, case in got] == ["c3", "c7", "c8", "c5", "c1", "c4", "c2", "c6"]
    ids = [i for i, _ in got]
    assert ids == list(range(ids[0], ids[0] + len(FIRST)))
    assert stored_order(engine_store, ds) == ids
    # The history table holds the same rows under the same ids.
    first = engine_store.dataset_at(ds.id, 1)
    assert by_id(engine_store, first) == got


def test_main_date_names_the_timestamp_rows_are_numbered_by(engine_store: Store) -> None:
    ds = _first(engine_store, None, main_date="received")
    got = by_id(engine_store, ds)
    assert [case for _, case in got] == by_time(FIRST, 2)
    assert stored_order(engine_store, ds) == [i for i, _ in got]


@pytest.mark.parametrize("identifier", ["case_no", None])
def test_a_replace_numbers_only_its_fresh_rows_by_time(
    engine_store: Store, identifier: str | None
) -> None:
    ds = _first(engine_store, identifier)
    before = dict((case, i) for i, case in by_id(engine_store, ds))
    # Kept rows (c1, c5, c3: identical, so they match with or without an identifier) come
    # first in the file, then fresh rows out of time order with a null and a tie.
    fresh: list[Row] = [
        ("n1", d(8), None),
        ("n2", None, None),
        ("n3", d(6), None),
        ("n4", d(8), None),
        ("n5", d(4, 30), None),
    ]
    kept = [r for r in FIRST if r[0] in ("c1", "c5", "c3")]
    engine_store.publish(ds.id, COLUMNS, [batch(kept + fresh)], source="feb.csv")
    ds = engine_store.get_dataset(ds.id)
    got = by_id(engine_store, ds)
    assert [(i, c) for i, c in got if c.startswith("c")] == sorted(
        (before[c], c) for c in ("c1", "c5", "c3")
    )
    new = [(i, c) for i, c in got if c.startswith("n")]
    assert [c for _, c in new] == by_time(fresh, 1) == ["n5", "n3", "n1", "n4", "n2"]
    first_new = max(before.values()) + 1
    assert [i for i, _ in new] == list(range(first_new, first_new + len(fresh)))
    assert stored_order(engine_store, ds) == [i for i, _ in got]
    assert ds.row_count == 8
    version = engine_store.versions(ds.id)[0]
    assert (version.rows_added, version.rows_changed, version.rows_removed) == (5, 0, 5)


def test_a_file_already_in_order_keeps_file_order(engine_store: Store) -> None:
    rows: list[Row] = [("a", d(1), None), ("b", d(1), None), ("c", d(2), None), ("d", None, None)]
    ds = engine_store.create_dataset(DatasetMeta(name="Calls"), COLUMNS)
    engine_store.publish(ds.id, COLUMNS, [batch(rows[:2]), batch(rows[2:])])
    got = by_id(engine_store, engine_store.get_dataset(ds.id))
    assert [c for _, c in got] == ["a", "b", "c", "d"]


def _watch(*batches: list[datetime | None]) -> bool:
    arrays = [pa.record_batch({"t": pa.array(b, pa.timestamp("us"))}) for b in batches]
    watch = OrderWatch(arrays, "t")
    assert sum(b.num_rows for b in watch) == sum(len(b) for b in batches)
    return watch.in_order


def test_the_order_watch_sees_order_across_batches() -> None:
    assert _watch([d(1), d(1), d(2)], [d(2), d(3), None], [None])
    assert _watch([], [None, None])
    assert not _watch([d(1), d(3)], [d(2)])  # across a batch boundary
    assert not _watch([d(2), d(1)])
    assert not _watch([d(1), None], [d(2)])  # a value after a null
    assert not _watch([None, d(1)])
    assert not _watch([None], [None, d(1)])


def test_a_refused_file_names_file_rows_not_ids(engine_store: Store, tmp_path: Path) -> None:
    spec = tmp_path / "calls.yaml"
    spec.write_text(
        "name: Calls\nsource: calls.csv\nmain_date: received\ncolumns:\n"
        "  - {field: case_no, type: text, source: Case}\n"
        "  - {field: age, type: number, source: Age}\n"
        "  - {field: received, type: floating_timestamp, source: Received}\n"
    )
    (tmp_path / "calls.csv").write_text(
        "Case,Age,Received\nA,30,2020-03-01\nB,41,2020-01-01\nC,old,2020-02-01\n"
    )
    with pytest.raises(ValidationFailed) as caught:
        load_file(engine_store, tmp_path / "calls.csv", spec=parse_spec(spec.read_text(), "x"))
    assert caught.value.problems == [
        {"row": 4, "column": "Age", "value": "old", "reason": "'old' is not a number"}
    ]
    # A quality check (ages run 0 to 120) runs in the store, on rows as the file has them.
    (tmp_path / "calls.csv").write_text(
        "Case,Age,Received\nA,30,2020-03-01\nB,400,2020-01-01\nC,50,2020-02-01\n"
    )
    with pytest.raises(ValidationFailed) as caught:
        load_file(engine_store, tmp_path / "calls.csv", spec=parse_spec(spec.read_text(), "x"))
    assert [(p["row"], p["value"]) for p in caught.value.problems] == [(3, 400)]
    (tmp_path / "calls.csv").write_text(
        "Case,Age,Received\nA,30,2020-03-01\nB,41,2020-01-01\nC,50,2020-02-01\n"
    )
    loaded = load_file(engine_store, tmp_path / "calls.csv", spec=parse_spec(spec.read_text(), "x"))
    got = by_id(engine_store, engine_store.get_dataset(loaded.dataset_id))
    assert [c for _, c in got] == ["B", "C", "A"]


@pytest.mark.parametrize(
    ("main_date", "message"),
    [
        ("nowhere", "main_date 'nowhere' is not a column"),
        ("case_no", "main_date 'case_no' is a text column, not a floating_timestamp"),
    ],
)
def test_main_date_must_name_a_timestamp_column(main_date: str, message: str) -> None:
    text = (
        f"name: Calls\nmain_date: {main_date}\ncolumns:\n"
        "  - {field: case_no, type: text, source: Case}\n"
        "  - {field: received, type: floating_timestamp, source: Received}\n"
    )
    with pytest.raises(IngestError) as caught:
        parse_spec(text, "calls.yaml")
    assert message in str(caught.value)


@pytest.mark.parametrize("chunk_rows", [3, 4, 8, 100])
def test_duckdb_numbers_by_time_whatever_the_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    """Fresh rows are numbered by time over the whole file, not per chunk of the feed: the
    same ids, rows and stored order whatever the chunk size, ties in file order, nulls last
    (and a file already in order keeps it)."""
    from blotter.store.duckdb import DuckDBStore
    from blotter.store.duckdb_feed import Feed

    monkeypatch.setattr(Feed, "CHUNK_ROWS", chunk_rows)
    rows = [*FIRST, ("c9", d(1, 15), d(1)), ("c10", None, d(2)), ("c11", d(1), d(3))]
    store = DuckDBStore(tmp_path / "chunks.duckdb")
    ds = store.create_dataset(DatasetMeta(name="Calls"), COLUMNS)
    store.publish(ds.id, COLUMNS, [batch(rows[i : i + 2]) for i in range(0, len(rows), 2)])
    ds = store.get_dataset(ds.id)
    got = by_id(store, ds)
    assert [case for _, case in got] == by_time(rows, 1)
    assert [i for i, _ in got] == list(range(1, len(rows) + 1))
    assert stored_order(store, ds) == [i for i, _ in got]
    assert by_id(store, store.dataset_at(ds.id, 1)) == got
    in_order = sorted(rows, key=lambda r: (r[1] is None, r[1] or datetime.min))
    again = store.create_dataset(DatasetMeta(name="Again"), COLUMNS)
    store.publish(again.id, COLUMNS, [batch(in_order[i : i + 2]) for i in range(0, 11, 2)])
    assert [c for _, c in by_id(store, store.get_dataset(again.id))] == by_time(rows, 1)
    store.close()


def test_duckdb_a_failed_time_ordered_write_leaves_nothing(tmp_path: Path) -> None:
    """The batches fail after some rows were sorted into the new version's table: it is
    dropped, the served version stays, and the error keeps its type."""
    from blotter.store.duckdb import DuckDBStore

    class FileProblem(Exception):
        pass

    def failing() -> Iterator[pa.RecordBatch]:
        yield batch(FIRST[:4])
        raise FileProblem("row 6 is bad")

    store = DuckDBStore(tmp_path / "fail.duckdb")
    ds = _first(store, None)
    with pytest.raises(FileProblem, match="row 6"):
        store.publish(ds.id, COLUMNS, failing())
    assert store.get_dataset(ds.id).version == 1
    assert [c for _, c in by_id(store, store.get_dataset(ds.id))] == by_time(FIRST, 1)
    tables = store._cursor().execute("SELECT table_name FROM duckdb_tables()").fetchall()
    assert not [t for (t,) in tables if t.startswith(f"ds_{ds.id.replace('-', '_')}_v2")]
    store.close()


def test_duckdb_sorts_a_publish_near_its_memory_limit(tmp_path: Path) -> None:
    """Rows about as big as DuckDB's memory limit (600k rows of 60 characters and two
    timestamps, sorted with their window's copy, in 64 MB) are sorted into time order by
    spilling to disk, as the staged renumbering did (both fail alike at 32 MB)."""
    from blotter.store.duckdb import DuckDBStore

    store = DuckDBStore(tmp_path / "small.duckdb", memory_limit_mb=64)
    ds = store.create_dataset(DatasetMeta(name="Calls"), COLUMNS)
    count, width = 600_000, 60
    stamps = [datetime(2020, 1, 1) + timedelta(minutes=(n * 7919) % count) for n in range(count)]
    # Ten distinct terms, so the word index fits (a term's ids cannot spill).
    wide = pa.array([f"{n % 10:0{width}d}" for n in range(count)], pa.string())
    rows = pa.record_batch(
        {"case_no": wide, "reported": pa.array(stamps, pa.timestamp("us")), "received": stamps}
    )
    store.publish(ds.id, COLUMNS, pa.Table.from_batches([rows]).to_batches(max_chunksize=50_000))
    ds = store.get_dataset(ds.id)
    first = list(store.execute(ds, exp.select("_id", "reported").from_(DATASET_TABLE).limit(3)))
    assert [r[1] for r in first] == sorted(stamps)[:3]
    counted = exp.select("count(*)", "min(_id)", "max(_id)").from_(DATASET_TABLE)
    assert [tuple(r) for r in store.execute(ds, counted)] == [(count, 1, count)]
    store.close()


@pytest.mark.parametrize("main_date", [None, "reported"])
def test_rows_are_never_numbered_by_a_timestamp_the_public_cannot_see(
    engine_store: Store, main_date: str | None
) -> None:
    """``:id`` and the rows' default order are public: numbered by an internal timestamp,
    they told anyone its order, row by row. The first timestamp the public sees decides."""
    hidden = [COLUMNS[0], COLUMNS[1].model_copy(update={"internal": True}), COLUMNS[2]]
    ds = engine_store.create_dataset(DatasetMeta(name="Calls", main_date=main_date), hidden)
    engine_store.publish(ds.id, hidden, [batch(FIRST)], source="jan.csv")
    got = by_id(engine_store, engine_store.get_dataset(ds.id))
    assert [case for _, case in got] == by_time(FIRST, 2)  # 'received', the public one
