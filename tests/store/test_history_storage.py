"""History tables on both engines: each row kept once with the versions it belongs to, old
versions read from them, new segments when a field changes type, the replaced table dropped
(even under a streaming read), databases written before history moved into it, prunes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlglot import exp

from blotter.errors import VersionGone
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.schema import DATASET_TABLE
from blotter.settings import Settings
from blotter.store import Store, open_store
from blotter.store.retention import Retention
from tests.store.test_history import COLUMNS, FIRST, _upsert, batch, public, rows

HISTORY = ["_id", "case_no", "age", "officer", "_from_version", "_to_version"]


WORDS = "__words"  # a version's word index (store/search_index.py)
# What else a version table has beside it: its word index, its order tables (DuckDB,
# store/search_order.py).
BESIDE = (WORDS, "__order", "__order_words")


@pytest.fixture
def store(engine_store: Store) -> Store:
    return engine_store


def tables(store: Any, dataset_id: str) -> list[str]:
    """The dataset's version and history tables; a version's word index and order tables
    must go with its table, so they are listed only when that table is gone."""
    prefix = f"ds_{dataset_id.replace('-', '_')}_"
    got = store._read_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    names = {t for (t,) in got if t.startswith(prefix)}
    return sorted(
        t for t in names if not any(t.endswith(b) and t.removesuffix(b) in names for b in BESIDE)
    )


def history(store: Any, table: str, names: list[str] = HISTORY) -> list[tuple[Any, ...]]:
    cols = ", ".join(names)
    return [
        tuple(r)
        for r in store._read_sql(f'SELECT {cols} FROM "{table}" ORDER BY _id, _from_version')  # noqa: S608 - test names
    ]


def _three_versions(store: Store) -> str:
    ds_id = _upsert_ready(store)
    _upsert(
        store,
        ds_id,
        [
            {"case_no": "c2", "age": 31},
            {"case_no": "c3", ":deleted": True},
            {"case_no": "c4", "age": 50},
        ],
    )
    _upsert(store, ds_id, [{"case_no": "c1", "age": 21}])
    return ds_id


def _upsert_ready(store: Store) -> str:
    meta = DatasetMeta(name="A", agency="Rutland City PD", row_identifier="case_no")
    ds = store.create_dataset(meta, COLUMNS)
    store.publish(ds.id, COLUMNS, [batch(FIRST)])
    return ds.id


def test_rows_are_kept_once_with_the_versions_they_belong_to(store: Store) -> None:
    ds_id = _three_versions(store)
    h = f"ds_{ds_id.replace('-', '_')}_h1"
    # Only the current version keeps a table of its own, beside the history table.
    assert tables(store, ds_id) == [h, f"ds_{ds_id.replace('-', '_')}_v3"]
    assert history(store, h) == [
        (1, "c1", 20.0, "o1", 1, 3),
        (1, "c1", 21.0, "o1", 3, None),
        (2, "c2", 30.0, "o2", 1, 2),
        (2, "c2", 31.0, "o2", 2, None),
        (3, "c3", 40.0, "o3", 1, 2),
        (4, "c4", 50.0, None, 2, None),
    ]
    # Each version reads its own rows, in :id order, from there.
    assert rows(store, store.dataset_at(ds_id, 1)) == [
        (1, "c1", 20.0, -72.9, "o1"),
        (2, "c2", 30.0, -72.8, "o2"),
        (3, "c3", 40.0, None, "o3"),
    ]
    assert rows(store, store.dataset_at(ds_id, 2)) == [
        (1, "c1", 20.0, -72.9, "o1"),
        (2, "c2", 31.0, -72.8, "o2"),
        (4, "c4", 50.0, None, None),
    ]
    assert store.dataset_at(ds_id, 2).row_count == 3
    # A diff over the history table: only rows starting or ending between the two.
    diff = store.version_diff(public(store.get_dataset(ds_id)), 1, 3, limit=10, offset=0)
    assert [(r.kind, r.row_id) for r in diff.rows] == [
        ("changed", 1),
        ("changed", 2),
        ("removed", 3),
        ("added", 4),
    ]
    assert (diff.added, diff.changed, diff.removed) == (1, 2, 1)
    back = store.version_diff(public(store.get_dataset(ds_id)), 3, 2, limit=10, offset=0)
    assert [(r.kind, r.row_id, [(c.before, c.after) for c in r.changes]) for r in back.rows] == [
        ("changed", 1, [(21.0, 20.0)])
    ]


def test_a_field_that_changes_type_starts_a_new_segment(store: Store) -> None:
    ds_id = _upsert_ready(store)
    retyped = [COLUMNS[0], Column(field_name="age", name="Age", type=ColumnType.TEXT)]
    added = [*COLUMNS, Column(field_name="shift", name="Shift", type=ColumnType.TEXT)]
    store.publish(ds_id, retyped, [pa.record_batch({"case_no": ["c1"], "age": ["20"]})])
    store.publish(
        ds_id,
        added,
        [
            pa.record_batch(
                {
                    "case_no": ["c1"],
                    "age": [20.0],
                    "_where_lon": [None],
                    "_where_lat": [None],
                    "officer": ["o1"],
                    "shift": ["day"],
                },
                schema=batch(FIRST).schema.append(pa.field("shift", pa.string())),
            )
        ],
    )
    stem = f"ds_{ds_id.replace('-', '_')}"
    assert tables(store, ds_id) == [f"{stem}_h1", f"{stem}_h2", f"{stem}_h3", f"{stem}_v3"]
    assert [r[:2] for r in rows(store, store.dataset_at(ds_id, 1))] == [
        (1, "c1"),
        (2, "c2"),
        (3, "c3"),
    ]
    text_age = exp.select("_id", "age").from_(DATASET_TABLE).order_by("_id")
    assert list(store.execute(store.dataset_at(ds_id, 2), text_age)) == [(1, "20")]
    # Across segments: the versions joined whole on :id.
    diff = store.version_diff(store.get_dataset(ds_id), 1, 3, limit=10, offset=0)
    assert (diff.added, diff.changed, diff.removed) == (0, 1, 2)
    assert [(c.field_name, c.before, c.after) for c in diff.rows[0].changes] == [
        ("where", (-72.9, 43.6), None),
        ("shift", None, "day"),
    ]


def test_an_added_field_is_added_to_the_history_table(store: Store) -> None:
    ds_id = _upsert_ready(store)
    added = [*COLUMNS, Column(field_name="shift", name="Shift", type=ColumnType.TEXT)]
    schema = batch(FIRST).schema.append(pa.field("shift", pa.string()))
    first = batch(FIRST)
    same_plus = pa.record_batch([*first.columns, pa.array([None, "day", None])], schema=schema)
    version = store.publish(ds_id, added, [same_plus])
    assert (version.rows_added, version.rows_changed, version.rows_removed) == (0, 1, 0)
    h = f"ds_{ds_id.replace('-', '_')}_h1"
    assert history(store, h, ["_id", "shift", "_from_version", "_to_version"]) == [
        (1, None, 1, None),
        (2, None, 1, 2),
        (2, "day", 2, None),
        (3, None, 1, None),
    ]
    old = store.dataset_at(ds_id, 1)
    assert [c.field_name for c in old.columns] == ["case_no", "age", "where", "officer"]
    assert len(rows(store, old)) == 3


def test_a_dataset_read_before_a_publish_still_reads_its_version(store: Store) -> None:
    ds_id = _upsert_ready(store)
    held = store.get_dataset(ds_id)
    _upsert(store, ds_id, [{"case_no": "c2", "age": 31}])
    assert rows(store, held) == [
        (1, "c1", 20.0, -72.9, "o1"),
        (2, "c2", 30.0, -72.8, "o2"),
        (3, "c3", 40.0, None, "o3"),
    ]
    select = exp.select("case_no").from_(DATASET_TABLE).order_by("_id")
    from blotter.store.base import CsvCell

    pieces = store.execute_csv(held, select, [CsvCell.VALUE])
    assert pieces is not None
    assert b"".join(p for p in pieces if isinstance(p, bytes)).decode().split() == [
        "c1",
        "c2",
        "c3",
    ]


def test_a_read_streaming_the_replaced_table_reads_to_its_end(store: Store) -> None:
    n = 60_000
    ds = store.create_dataset(DatasetMeta(name="A"), COLUMNS)
    many = [(f"r{i}", 30.0, None, None) for i in range(n)]
    store.publish(ds.id, COLUMNS, [batch(many)])
    stream = iter(store.execute(store.get_dataset(ds.id), exp.select("_id").from_(DATASET_TABLE)))
    first = [next(stream) for _ in range(10)]
    store.publish(ds.id, COLUMNS, [batch([("new", 1.0, None, None)])])
    got = first + list(stream)
    assert [r[0] for r in got] == list(range(1, n + 1))
    stem = f"ds_{ds.id.replace('-', '_')}"
    # PostgreSQL left the table the read held to the next write; DuckDB dropped it.
    store.publish(ds.id, COLUMNS, [batch([("newer", 2.0, None, None)])])
    assert tables(store, ds.id) == [f"{stem}_h1", f"{stem}_v3"]


def _old_style(store: Any, ds_id: str) -> None:
    """Versions 1 and 2 as the store wrote them before history tables: a table each, no
    counts, no history table."""
    stem = f"ds_{ds_id.replace('-', '_')}"
    cols = json.dumps([c.model_dump(mode="json") for c in COLUMNS])
    with store._transaction() as tx:
        for number, data in (
            (1, [(1, "c1", 20.0, "o1"), (2, "c2", 30.0, "o2"), (3, "c3", 40.0, "o3")]),
            (2, [(1, "c1", 20.0, "o1"), (2, "c2", 31.0, "o2"), (4, "c4", 50.0, None)]),
        ):
            tx.run(
                f'CREATE TABLE "{stem}_v{number}" (_id BIGINT NOT NULL, _created_at TIMESTAMP, '
                "_updated_at TIMESTAMP, case_no TEXT, age DOUBLE, _where_lon DOUBLE, "
                "_where_lat DOUBLE, officer TEXT)",
                [],
            )
            for i, case, age, officer in data:
                tx.run(
                    f'INSERT INTO "{stem}_v{number}" VALUES (?, ?, ?, ?, ?, NULL, NULL, ?)',  # noqa: S608
                    [i, datetime(2026, number, 1), datetime(2026, number, 1), case, age, officer],
                )
            tx.run(
                "INSERT INTO blotter_versions (dataset_id, number, table_name, columns, "
                "row_count, created_at, source) VALUES (?, ?, ?, ?, 3, ?, 'old.csv')",
                [ds_id, number, f"{stem}_v{number}", cols, datetime(2026, number, 1)],
            )
        tx.run(
            "UPDATE blotter_datasets SET current_version = 2, next_row_id = 5 WHERE id = ?",
            [ds_id],
        )


def test_a_database_written_before_history_is_moved_into_it(engine_config: Settings) -> None:
    store: Any = open_store(engine_config)
    ds = store.create_dataset(DatasetMeta(name="A", row_identifier="case_no"), COLUMNS)
    _old_style(store, ds.id)
    store.close()
    store = open_store(engine_config)
    try:
        stem = f"ds_{ds.id.replace('-', '_')}"
        assert tables(store, ds.id) == [f"{stem}_h1", f"{stem}_v2"]
        counts = [(v.rows_added, v.rows_changed, v.rows_removed) for v in store.versions(ds.id)]
        assert counts == [(1, 1, 1), (3, 0, 0)]
        assert history(store, f"{stem}_h1") == [
            (1, "c1", 20.0, "o1", 1, None),
            (2, "c2", 30.0, "o2", 1, 2),
            (2, "c2", 31.0, "o2", 2, None),
            (3, "c3", 40.0, "o3", 1, 2),
            (4, "c4", 50.0, None, 2, None),
        ]
        assert [r[1] for r in rows(store, store.dataset_at(ds.id, 1))] == ["c1", "c2", "c3"]
        assert [r[1] for r in rows(store, store.get_dataset(ds.id))] == ["c1", "c2", "c4"]
        # And history goes on from there.
        version, _ = _upsert(store, ds.id, [{"case_no": "c1", ":deleted": True}])
        assert (version.rows_added, version.rows_changed, version.rows_removed) == (0, 0, 1)
        assert [r[1] for r in rows(store, store.dataset_at(ds.id, 2))] == ["c1", "c2", "c4"]
    finally:
        store.close()


def test_prune_keeps_the_last_versions_and_one_a_month(store: Any) -> None:
    ds_id = _upsert_ready(store)
    for age in (21, 22, 23, 24):
        _upsert(store, ds_id, [{"case_no": "c1", "age": age}])
    # Versions 1-3 in January, 4 in February, 5 in March.
    with store._transaction() as tx:
        for number, month in ((1, 1), (2, 1), (3, 1), (4, 2), (5, 3)):
            tx.run(
                "UPDATE blotter_versions SET created_at = ? WHERE dataset_id = ? AND number = ?",
                [datetime(2026, month, 10 + number), ds_id, number],
            )
    h = f"ds_{ds_id.replace('-', '_')}_h1"
    before = history(store, h)
    rule = Retention.parse("last:1,monthly")
    assert rule.words() == "the last version and the last of each calendar month"

    dry = store.prune_versions(rule, dataset_id=ds_id, dry_run=True)
    assert [(p.versions, p.kept, p.history_rows) for p in dry] == [([1, 2], [3, 4, 5], 2)]
    assert history(store, h) == before and not any(v.pruned for v in store.versions(ds_id))

    done = store.prune_versions(rule, dataset_id=ds_id)
    assert [(p.versions, p.history_rows) for p in done] == [([1, 2], 2)]
    assert [(v.number, v.pruned) for v in store.versions(ds_id)] == [
        (5, False),
        (4, False),
        (3, False),
        (2, True),
        (1, True),
    ]
    # c1 at ages 20 and 21 only served versions 1 and 2: gone; everything else stays.
    assert history(store, h) == [r for r in before if r[0] != 1 or r[2] not in (20.0, 21.0)]
    with pytest.raises(VersionGone) as gone:
        store.dataset_at(ds_id, 2)
    assert gone.value.status == 410 and gone.value.data["kept"] == "versions 3, 4 and 5"
    with pytest.raises(VersionGone):
        store.version_diff(store.get_dataset(ds_id), 1, 5, limit=10, offset=0)
    assert [r[2] for r in rows(store, store.dataset_at(ds_id, 3))] == [22.0, 30.0, 40.0]
    diff = store.version_diff(store.get_dataset(ds_id), 3, 5, limit=10, offset=0)
    assert [(c.before, c.after) for r in diff.rows for c in r.changes] == [(22.0, 24.0)]
    # Pruning again removes nothing more.
    assert [p.versions for p in store.prune_versions(rule, dataset_id=ds_id)] == [[]]


def test_the_retention_rule_is_checked() -> None:
    from blotter.errors import InvalidRequest

    assert Retention.parse("all").last is None
    assert Retention.parse("last:3").words() == "the last 3 versions"
    for bad in ("last:0", "keep:3", "last:x,monthly", "monthly"):
        with pytest.raises(InvalidRequest):
            Retention.parse(bad)
    with pytest.raises(ValueError):
        Settings(keep_versions="last:0")


def _state(store: Any, dataset_id: str) -> dict[str, Any]:
    versions = store.versions(dataset_id)
    return {
        "versions": [v.model_dump(exclude={"privacy", "quality"}) for v in versions],
        "rows": {v.number: rows(store, store.dataset_at(dataset_id, v.number)) for v in versions},
        "history": history(store, f"ds_{dataset_id.replace('-', '_')}_h1"),
        "tables": tables(store, dataset_id),
    }


# Where the power goes out: while the rows load, or once the history rows are written in
# the transaction that would register the version, before its commit.
_KILL_WHILE_LOADING = """
def batches():
    yield batch([("c1", 20.0, None, "o1")] * 30_000)
    yield batch([("c9", 1.0, None, None)] * 30_000)
    os.kill(os.getpid(), signal.SIGKILL)

store.publish(DATASET, COLUMNS, batches())
"""
_KILL_IN_HISTORY = """
import blotter.store.duckdb, blotter.store.postgres_writes

def keep_then_die(*args, **kwargs):
    from blotter.store.segments import keep_history
    keep_history(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

blotter.store.duckdb.keep_history = keep_then_die
blotter.store.postgres_writes.keep_history = keep_then_die
_upsert(store, DATASET, [{"case_no": "c1", "age": 77}, {"case_no": "c7", "age": 7}])
"""


@pytest.mark.parametrize("kill", [_KILL_WHILE_LOADING, _KILL_IN_HISTORY], ids=["load", "history"])
def test_a_process_killed_mid_publish_leaves_history_as_it_was(
    settings_path: Path, kill: str
) -> None:
    settings = Settings.model_validate_json(settings_path.read_text())
    common = textwrap.dedent(
        f"""
        import os, signal
        from blotter.settings import Settings
        from blotter.store import open_store
        from tests.store.test_history import FIRST, batch, COLUMNS, _upsert
        from tests.store.test_history_storage import _upsert_ready

        store = open_store(Settings.model_validate_json({settings.model_dump_json()!r}))
        """
    )
    first = common + textwrap.dedent(
        """
        ds_id = _upsert_ready(store)
        _upsert(store, ds_id, [{"case_no": "c2", "age": 31}, {"case_no": "c3", ":deleted": True}])
        print(ds_id)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", first], cwd=Path(__file__).parents[2], capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()
    ds_id = done.stdout.decode().split()[-1]
    store = open_store(settings)
    before = _state(store, ds_id)
    store.close()
    killed = common + f"DATASET = {ds_id!r}\n" + kill
    done = subprocess.run(
        [sys.executable, "-c", killed], cwd=Path(__file__).parents[2], capture_output=True
    )
    assert done.returncode == -9, done.stderr.decode()
    store = open_store(settings)
    try:
        assert _state(store, ds_id) == before
        assert store.publish(ds_id, COLUMNS, [batch(FIRST)]).number == 3
    finally:
        store.close()


@pytest.fixture
def settings_path(engine_config: Settings, tmp_path: Path) -> Path:
    path = tmp_path / "settings.json"
    path.write_text(engine_config.model_dump_json())
    return path


def test_soql_reads_an_old_version_as_it_read_the_current_one(
    store: Store, engine_config: Settings
) -> None:
    from blotter.queries import run_query

    ds_id = _upsert_ready(store)
    asks = [
        {"$select": "count(*) AS n, max(age) AS oldest"},
        {"$where": "age > 25 AND within_circle(where, 43.55, -72.85, 20000)", "$order": "age"},
        {"$select": "officer, count(*) AS n", "$group": "officer", "$order": "officer"},
        {"$q": "c3"},
        {"case_no": "c2", "$select": ":id, age"},
    ]
    served = store.get_dataset(ds_id)
    before = [list(run_query(store, served, ask, engine_config).rows) for ask in asks]
    _upsert(store, ds_id, [{"case_no": "c2", "age": 99}, {"case_no": "c3", ":deleted": True}])
    old = store.dataset_at(ds_id, 1)
    assert old.history_table is not None
    after = [list(run_query(store, old, ask, engine_config).rows) for ask in asks]
    assert after == before
    assert [list(r) for r in before[4]] == [[2, 30.0]]
    assert [len(rows) for rows in before] == [1, 1, 3, 1, 1], before


def test_a_process_killed_before_dropping_the_replaced_table_loses_nothing(
    settings_path: Path,
) -> None:
    settings = Settings.model_validate_json(settings_path.read_text())
    script = textwrap.dedent(
        f"""
        import os, signal
        import blotter.store.duckdb_writes
        from blotter.settings import Settings
        from blotter.store import open_store
        from blotter.store.postgres import PostgresStore
        from tests.store.test_history import _upsert
        from tests.store.test_history_storage import _upsert_ready

        store = open_store(Settings.model_validate_json({settings.model_dump_json()!r}))
        ds_id = _upsert_ready(store)
        print(ds_id, flush=True)

        def die(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)

        blotter.store.duckdb_writes.drop_replaced = die
        PostgresStore._after_write = die
        _upsert(store, ds_id, [{{"case_no": "c2", "age": 31}}])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).parents[2], capture_output=True
    )
    assert done.returncode == -9, done.stderr.decode()
    ds_id = done.stdout.decode().split()[-1]
    stem = f"ds_{ds_id.replace('-', '_')}"
    store: Any = open_store(settings)
    try:
        # The version was committed: it is served, and the one it replaced reads from history.
        assert [v.number for v in store.versions(ds_id)] == [2, 1]
        assert [r[2] for r in rows(store, store.get_dataset(ds_id))] == [20.0, 31.0, 40.0]
        assert [r[2] for r in rows(store, store.dataset_at(ds_id, 1))] == [20.0, 30.0, 40.0]
        # The replaced table goes when the file is opened (DuckDB) or at the next write.
        left = [f"{stem}_h1", f"{stem}_v1", f"{stem}_v2"]
        assert tables(store, ds_id) == (left if store.engine == "postgres" else left[::2])
        _upsert(store, ds_id, [{"case_no": "c1", "age": 21}])
        assert tables(store, ds_id) == [f"{stem}_h1", f"{stem}_v3"]
    finally:
        store.close()
