"""Both stores: catalog, immutable versions, atomic switch, crash safety."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from sqlglot import exp

from blotter.errors import Conflict, DatasetNotFound, InvalidRequest, StoreBusy
from blotter.model import DATASET_ID, Column, ColumnType, DatasetMeta
from blotter.schema import DATASET_TABLE
from blotter.settings import Settings
from blotter.store import Store, open_store
from blotter.store.duckdb import DuckDBStore

COLUMNS = [
    Column(field_name="race", name="Race", type=ColumnType.TEXT),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
    Column(field_name="where", name="Where", type=ColumnType.POINT),
]


def batch(races: list[str], ages: list[float]) -> pa.RecordBatch:
    n = len(races)
    return pa.record_batch(
        {
            "race": pa.array(races, pa.string()),
            "age": pa.array(ages, pa.float64()),
            "_where_lon": pa.array([-72.97] * n, pa.float64()),
            "_where_lat": pa.array([43.61] * n, pa.float64()),
        }
    )


def all_rows(store: Store, dataset_id: str) -> list[tuple[object, ...]]:
    dataset = store.get_dataset(dataset_id)
    select = exp.select("_id", "race", "age").from_(DATASET_TABLE).order_by("_id")
    return list(store.execute(dataset, select))


@pytest.fixture
def settings(engine_config: Settings) -> Settings:
    return engine_config


@pytest.fixture
def store(engine_store: Store) -> Store:
    return engine_store


def test_new_dataset_gets_a_socrata_style_id_and_no_rows(store: Store) -> None:
    ds = store.create_dataset(DatasetMeta(name="Use of force"), COLUMNS)
    assert DATASET_ID.match(ds.id)
    assert ds.version == 0 and ds.row_count == 0
    assert all_rows(store, ds.id) == []
    assert [c.field_name for c in ds.columns] == ["race", "age", "where"]


def test_fixed_id_is_kept_and_cannot_be_taken_twice(store: Store) -> None:
    store.create_dataset(DatasetMeta(name="A"), COLUMNS, dataset_id="e2x9-2kgt")
    assert store.get_dataset("e2x9-2kgt").meta.name == "A"
    with pytest.raises(Conflict):
        store.create_dataset(DatasetMeta(name="B"), COLUMNS, dataset_id="e2x9-2kgt")
    with pytest.raises(InvalidRequest):
        store.create_dataset(DatasetMeta(name="C"), COLUMNS, dataset_id="not an id")


def test_catalog_writes_to_a_missing_dataset_are_not_found_and_create_nothing(
    store: Store,
) -> None:
    for write in (
        lambda: store.update_metadata("zzzz-9999", DatasetMeta(name="B")),
        lambda: store.update_columns("zzzz-9999", COLUMNS),
        lambda: store.versions("zzzz-9999"),
    ):
        with pytest.raises(DatasetNotFound):
            write()
    assert store.list_datasets() == []


def test_a_refused_dictionary_edit_or_second_create_keeps_what_was_there(store: Store) -> None:
    store.create_dataset(DatasetMeta(name="A"), COLUMNS, dataset_id="e2x9-2kgt")
    retyped = [COLUMNS[0].model_copy(update={"type": ColumnType.NUMBER}), *COLUMNS[1:]]
    with pytest.raises(InvalidRequest):
        store.update_columns("e2x9-2kgt", retyped)
    with pytest.raises(Conflict):
        store.create_dataset(DatasetMeta(name="B"), retyped, dataset_id="e2x9-2kgt")
    kept = store.get_dataset("e2x9-2kgt")
    assert kept.meta.name == "A" and kept.columns == COLUMNS


def test_unknown_dataset_is_not_found(store: Store) -> None:
    with pytest.raises(DatasetNotFound) as caught:
        store.get_dataset("zzzz-9999")
    assert caught.value.status == 404


def test_each_publish_is_a_new_version_and_old_ones_are_kept(store: Store) -> None:
    ds = store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    first = store.publish(ds.id, COLUMNS, [batch(["White", "Black"], [23, 32])], source="a.csv")
    second = store.publish(ds.id, COLUMNS, [batch(["Asian"], [40]), batch(["White"], [51])])
    assert (first.number, second.number) == (1, 2)
    served = store.get_dataset(ds.id)
    assert served.version == 2 and served.row_count == 2
    assert [r[1] for r in all_rows(store, ds.id)] == ["Asian", "White"]
    assert [v.number for v in store.versions(ds.id)] == [2, 1]
    # The first version is still readable exactly as it was.
    old = served.model_copy(update={"version": 1})
    select = exp.select("race").from_(DATASET_TABLE).order_by("_id")
    assert [r[0] for r in store.execute(old, select)] == ["White", "Black"]


def test_row_ids_follow_file_order_and_never_repeat_across_versions(store: Store) -> None:
    ds = store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    store.publish(ds.id, COLUMNS, [batch(["a", "b"], [1, 2])])
    store.publish(ds.id, COLUMNS, [batch(["c", "d"], [3, 4])])
    assert [r[0] for r in all_rows(store, ds.id)] == [3, 4]


def test_a_load_that_fails_midway_leaves_the_previous_version_served(
    store: Store,
) -> None:
    ds = store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    store.publish(ds.id, COLUMNS, [batch(["White"], [23])])

    def failing() -> object:
        yield batch(["Black"], [30])
        raise ValueError("reader broke on row 2")

    with pytest.raises(ValueError, match="row 2"):
        store.publish(ds.id, COLUMNS, failing())  # type: ignore[arg-type]
    served = store.get_dataset(ds.id)
    assert served.version == 1
    assert [r[1] for r in all_rows(store, ds.id)] == ["White"]
    assert [v.number for v in store.versions(ds.id)] == [1]


def test_a_process_killed_mid_load_leaves_the_previous_version_served(
    settings: Settings,
) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from blotter.model import DatasetMeta
        from blotter.settings import Settings
        from blotter.store import open_store
        from tests.store.test_store import COLUMNS, batch

        store = open_store(Settings.model_validate_json({settings.model_dump_json()!r}))
        ds = store.create_dataset(DatasetMeta(name="A"), COLUMNS, dataset_id="abcd-1234")
        store.publish(ds.id, COLUMNS, [batch(["White", "Black"], [23, 30])])

        def batches():
            yield batch(["x"] * 50_000, [1.0] * 50_000)
            yield batch(["y"] * 50_000, [2.0] * 50_000)
            os.kill(os.getpid(), signal.SIGKILL)  # the power goes out mid-load

        store.publish(ds.id, COLUMNS, batches())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).parents[2], capture_output=True
    )
    assert done.returncode == -9, done.stderr.decode()
    store = open_store(settings)
    try:
        served = store.get_dataset("abcd-1234")
        assert served.version == 1 and served.row_count == 2
        assert [r[1] for r in all_rows(store, "abcd-1234")] == ["White", "Black"]
        assert [v.number for v in store.versions("abcd-1234")] == [1]
        # A new publish after the crash works and takes the next version number.
        assert store.publish("abcd-1234", COLUMNS, [batch(["Asian"], [44])]).number == 2
    finally:
        store.close()


def test_a_batch_with_the_wrong_columns_is_refused(store: Store) -> None:
    ds = store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    wrong = pa.record_batch({"race": pa.array(["x"])})
    with pytest.raises(InvalidRequest):
        store.publish(ds.id, COLUMNS, [wrong])
    assert store.get_dataset(ds.id).version == 0


def test_metadata_update_keeps_rows(store: Store) -> None:
    ds = store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    store.publish(ds.id, COLUMNS, [batch(["White"], [23])])
    updated = store.update_metadata(ds.id, DatasetMeta(name="B", tags=["force"]))
    assert updated.meta.name == "B" and updated.meta.tags == ["force"]
    assert updated.version == 1 and len(all_rows(store, ds.id)) == 1


def test_delete_dataset_removes_it_and_its_versions(store: Store) -> None:
    ds = store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    store.publish(ds.id, COLUMNS, [batch(["White"], [23])])
    store.delete_dataset(ds.id)
    with pytest.raises(DatasetNotFound):
        store.get_dataset(ds.id)
    with pytest.raises(DatasetNotFound):
        store.delete_dataset(ds.id)


def test_string_literals_reach_the_engine_as_parameters(store: Store) -> None:
    ds = store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    store.publish(ds.id, COLUMNS, [batch(["O'Brien", "x' OR '1'='1"], [1, 2])])
    served = store.get_dataset(ds.id)
    select = (
        exp.select("race")
        .from_(DATASET_TABLE)
        .where(exp.EQ(this=exp.column("race"), expression=exp.Literal.string("x' OR '1'='1")))
    )
    assert [r[0] for r in store.execute(served, select)] == ["x' OR '1'='1"]


def test_a_second_process_gets_a_clear_error_while_the_file_is_held(tmp_path: Path) -> None:
    db = tmp_path / "blotter.duckdb"
    holder = DuckDBStore(db)
    try:
        script = (
            "from blotter.store.duckdb import DuckDBStore\n"
            "from blotter.errors import StoreBusy\n"
            f"try:\n    DuckDBStore({str(db)!r})\n"
            "except StoreBusy as e:\n    print(e.code, e.message)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        assert done.stdout.startswith(StoreBusy.code), done.stderr
        assert "in use by another Blotter process" in done.stdout
    finally:
        holder.close()


def test_text_sorts_by_code_point_on_every_engine(store: Store) -> None:
    # PostgreSQL would sort by the server's locale ('a' beside 'A'); the store pins "C", so
    # both engines give Python's own order.
    words = ["b", "B", "a", "A", "é", "Z", "ä", "10", "9"]
    ds = store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    store.publish(ds.id, COLUMNS, [batch(words, [1.0] * len(words))])
    served = store.get_dataset(ds.id)
    select = exp.select("race").from_(DATASET_TABLE).order_by("race")
    assert [r[0] for r in store.execute(served, select)] == sorted(words)


def test_reads_go_to_the_read_replica_and_writes_to_the_primary(tmp_path: Path) -> None:
    import uuid

    import psycopg
    import psycopg.sql

    from blotter.store.postgres import PostgresStore
    from tests.engines import TEST_DATABASE_URL, require_postgres

    require_postgres()
    # A second database stands in for a replica that has replayed only the first publish.
    name = f"test_replica_{uuid.uuid4().hex[:10]}"
    replica_url = psycopg.conninfo.make_conninfo(TEST_DATABASE_URL, dbname=name)
    primary_url = psycopg.conninfo.make_conninfo(TEST_DATABASE_URL, dbname=f"{name}_p")
    try:
        for url in (primary_url, replica_url):
            seeded = PostgresStore(url)
            seeded.create_dataset(DatasetMeta(name="A"), COLUMNS, dataset_id="abcd-1234")
            seeded.publish("abcd-1234", COLUMNS, [batch(["White"], [23])])
            seeded.close()
        store = PostgresStore(primary_url, read_url=replica_url)
        try:
            version = store.publish("abcd-1234", COLUMNS, [batch(["Black"], [30])])
            assert version.number == 2  # written on the primary
            assert store.get_dataset("abcd-1234").version == 1  # read from the replica
            assert [r[1] for r in all_rows(store, "abcd-1234")] == ["White"]
            made = store.create_dataset(DatasetMeta(name="B"), COLUMNS, dataset_id="efgh-5678")
            assert made.id == "efgh-5678"  # read back from the primary, not the lagging replica
        finally:
            store.close()
        primary = PostgresStore(primary_url)
        assert primary.get_dataset("abcd-1234").version == 2
        primary.close()
    finally:
        with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
            for db in (name, f"{name}_p"):
                conn.execute(
                    psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        psycopg.sql.Identifier(db)
                    )
                )


def test_duckdb_streams_id_order_without_sorting_but_keeps_every_other_order() -> None:
    from blotter.store.duckdb_reads import sorted_by_id_alone

    by_id = exp.select("race").from_(DATASET_TABLE).order_by("_id")
    assert sorted_by_id_alone(by_id)
    # $order=:id: the compiler's tie-break repeats the key, which orders nothing more.
    assert sorted_by_id_alone(exp.select("race").from_(DATASET_TABLE).order_by("_id", "_id"))
    for kept in (
        exp.select("race").from_(DATASET_TABLE).order_by("_id DESC"),
        exp.select("race").from_(DATASET_TABLE).order_by("_id DESC", "_id"),
        exp.select("race").from_(DATASET_TABLE).order_by("_id", "race"),
        exp.select("race").from_(DATASET_TABLE).order_by("race", "_id"),
        exp.select("race").from_(DATASET_TABLE).group_by("race").order_by("_id"),
    ):
        assert not sorted_by_id_alone(kept)


def test_every_write_is_seen_by_the_next_read(store: Store) -> None:
    # The DuckDB store keeps datasets between writes: each kind of write must end that.
    ds = store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    assert store.get_dataset(ds.id).version == 0 and len(store.list_datasets()) == 1
    store.publish(ds.id, COLUMNS, [batch(["White"], [23])])
    assert store.get_dataset(ds.id).version == 1
    assert store.list_datasets()[0].row_count == 1
    store.update_metadata(ds.id, DatasetMeta(name="B"))
    assert store.get_dataset(ds.id).meta.name == "B"
    renamed = [c.model_copy(update={"name": c.name + "!"}) for c in COLUMNS]
    store.update_columns(ds.id, renamed)
    assert [c.name for c in store.get_dataset(ds.id).columns] == ["Race!", "Age!", "Where!"]
    store.delete_dataset(ds.id)
    with pytest.raises(DatasetNotFound):
        store.get_dataset(ds.id)
    assert store.list_datasets() == []


def test_a_publish_in_many_chunks_keeps_order_ids_and_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from blotter.store.duckdb_feed import Feed

    monkeypatch.setattr(Feed, "CHUNK_ROWS", 3)  # a statement per 3 rows
    store = DuckDBStore(tmp_path / "chunks.duckdb")
    ds = store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    races = [f"r{n}" for n in range(10)]
    store.publish(
        ds.id,
        COLUMNS,
        [batch(races[i : i + 2], [1.0, 2.0][: len(races[i : i + 2])]) for i in range(0, 10, 2)],
    )
    assert all_rows(store, ds.id) == [
        (n + 1, f"r{n}", 1.0 if n % 2 == 0 else 2.0) for n in range(10)
    ]

    class FileProblem(Exception):
        pass

    def failing() -> Iterator[pa.RecordBatch]:
        yield batch(["a", "b"], [1, 2])
        yield batch(["c", "d"], [3, 4])  # the second chunk starts here
        raise FileProblem("row 6 is bad")

    with pytest.raises(FileProblem, match="row 6"):
        store.publish(ds.id, COLUMNS, failing())
    assert store.get_dataset(ds.id).version == 1 and len(all_rows(store, ds.id)) == 10
    store.close()


def test_postgres_indexes_the_row_identifier_of_each_version(tmp_path: Path) -> None:
    # PostgreSQL's alone: DuckDB's blocks carry min/max values instead of indexes.
    import psycopg

    from tests.engines import engine_settings

    for config in engine_settings("postgres", tmp_path):
        store = open_store(config)
        ds = store.create_dataset(DatasetMeta(name="A", row_identifier="race"), COLUMNS)
        store.publish(ds.id, COLUMNS, [batch(["a", "b"], [1, 2])])
        store.close()
        with psycopg.connect(str(config.database_url)) as conn:
            rows = conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                [config.database_schema, f"ds_{ds.id.replace('-', '_')}_v1"],
            ).fetchall()
        # The row identifier's, and _id's (which $q's word index reads rows by).
        assert sorted(r[0].split(" USING ")[1] for r in rows) == ["btree (_id)", "btree (race)"]
