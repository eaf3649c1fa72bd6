"""The PostgreSQL store keeps datasets per process and drops them on any process's change
of a dataset, and only then: two stores on one schema stand for two workers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from blotter.model import AuditEntry, Column, ColumnType, DatasetMeta
from blotter.store import open_store
from blotter.store.common import now
from blotter.store.postgres import PostgresStore
from tests.engines import TEST_DATABASE_URL, engine_settings

COLUMNS = [Column(field_name="case_no", name="Case", type=ColumnType.TEXT)]


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    for settings in engine_settings("postgres", tmp_path):
        one, two = open_store(settings), open_store(settings)
        assert isinstance(one, PostgresStore) and isinstance(two, PostgresStore)
        for store in (one, two):
            assert store._datasets is not None and store._datasets.wait_listening(10)
        yield one, two
        one.close()
        two.close()


def _seen(read: object, want: object, within_s: float = 5.0) -> bool:
    """Whether ``read()`` gives ``want`` within the notification's delivery."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if read() == want:  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def _publish(store: PostgresStore, dataset_id: str, rows: int) -> None:
    batch = pa.record_batch({"case_no": [f"c{i}" for i in range(rows)]})
    store.publish(dataset_id, COLUMNS, [batch])


def test_a_publish_through_one_worker_is_seen_by_the_other(
    workers: tuple[PostgresStore, PostgresStore],
) -> None:
    one, two = workers
    ds = one.create_dataset(DatasetMeta(name="Calls"), COLUMNS)
    assert two.get_dataset(ds.id).version == 0  # now kept by the second worker
    _publish(one, ds.id, 3)
    assert one.get_dataset(ds.id).row_count == 3  # the writer's own entry dropped at once
    assert _seen(lambda: (two.get_dataset(ds.id).version, two.get_dataset(ds.id).row_count), (1, 3))
    one.update_metadata(ds.id, DatasetMeta(name="Calls for service"))
    assert _seen(lambda: two.get_dataset(ds.id).meta.name, "Calls for service")
    assert _seen(lambda: [d.meta.name for d in two.list_datasets()], ["Calls for service"])
    one.delete_dataset(ds.id)
    assert _seen(lambda: [d.id for d in two.list_datasets()], [])


def test_kept_datasets_are_served_without_reading_the_catalog(
    workers: tuple[PostgresStore, PostgresStore],
) -> None:
    one, two = workers
    ds = one.create_dataset(DatasetMeta(name="Calls"), COLUMNS)
    # Kept: the same object, once the creation's own notification has come and gone.
    assert _seen(lambda: two.get_dataset(ds.id) is two.get_dataset(ds.id), True)
    first = two.get_dataset(ds.id)
    _publish(one, ds.id, 2)
    assert _seen(lambda: two.get_dataset(ds.id) is not first, True)


def test_a_lost_listening_connection_drops_the_cache_and_listens_again(
    workers: tuple[PostgresStore, PostgresStore],
) -> None:
    one, two = workers
    ds = one.create_dataset(DatasetMeta(name="Calls"), COLUMNS)
    cache = two._datasets
    assert cache is not None
    assert _seen(lambda: two.get_dataset(ds.id) is two.get_dataset(ds.id), True)
    first = two.get_dataset(ds.id)
    pid = cache.backend_pid
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        # A change while nobody listens: the lost connection's notifications never come.
        with admin.transaction():
            admin.execute(f"SET LOCAL search_path = {one.schema}")
            admin.execute("UPDATE blotter_datasets SET updated_at = now() WHERE id = %s", [ds.id])
    assert _seen(lambda: cache.backend_pid not in (None, pid), True, within_s=10)
    again = two.get_dataset(ds.id)
    assert again is not first and again.updated_at != first.updated_at


def test_with_a_replica_nothing_is_kept(tmp_path: Path) -> None:
    for settings in engine_settings("postgres", tmp_path):
        store = PostgresStore(
            str(settings.database_url),
            schema=settings.database_schema,
            read_url=str(settings.database_url),
        )
        try:
            ds = store.create_dataset(DatasetMeta(name="Calls"), COLUMNS)
            assert store._datasets is None
            assert store.get_dataset(ds.id) is not store.get_dataset(ds.id)
        finally:
            store.close()


def test_page_views_and_audit_entries_keep_what_is_kept(
    workers: tuple[PostgresStore, PostgresStore],
) -> None:
    """The writes every busy page and every staff action make change no dataset: neither
    the writer nor the other worker reloads a dataset for them. A publish and a metadata
    change still reach both at once."""
    one, two = workers
    ds = one.create_dataset(DatasetMeta(name="Calls"), COLUMNS)
    marker = one.create_dataset(DatasetMeta(name="Marker"), COLUMNS)
    caches = [one._datasets, two._datasets]
    assert caches[0] is not None and caches[1] is not None
    # Both kept by both workers (the marker too: a worker that never read it would read it
    # fresh, renamed, before the rename's notification arrives).
    for store in (one, two):
        for kept_id in (ds.id, marker.id):
            assert _seen(lambda s=store, i=kept_id: s.get_dataset(i) is s.get_dataset(i), True)
    kept = [one.get_dataset(ds.id), two.get_dataset(ds.id)]
    counted = [(c.reloads, c.drops) for c in caches]
    for store in (one, two):
        store.count_view(ds.id)
        store.add_audit(AuditEntry(at=now(), actor="ana", address="::1", action="read.internal"))
        store.schema_status()  # the readiness check, on the primary
    # The writer's own drop is immediate: nothing was dropped, nothing read again.
    assert [(c.reloads, c.drops) for c in caches] == counted
    assert one.get_dataset(ds.id) is kept[0] and two.get_dataset(ds.id) is kept[1]
    # Notifications arrive in order: once the marker's change is heard, any the views or
    # audit entries had sent would have been too.
    one.update_metadata(marker.id, DatasetMeta(name="Marker, renamed"))
    assert _seen(lambda: two.get_dataset(marker.id).meta.name, "Marker, renamed")
    assert two.get_dataset(ds.id) is kept[1]
    assert caches[1].drops == counted[1][1] + 1  # the marker's notification, nothing else
    reloads = caches[1].reloads
    _publish(one, ds.id, 4)
    assert one.get_dataset(ds.id).row_count == 4  # the writer's entry dropped at once
    assert _seen(lambda: two.get_dataset(ds.id).row_count, 4)
    one.update_metadata(ds.id, DatasetMeta(name="Calls for service"))
    assert _seen(lambda: two.get_dataset(ds.id).meta.name, "Calls for service")
    assert caches[1].reloads >= reloads + 2  # read again after each change, not before


def test_closing_stops_the_listening_thread_and_may_be_repeated(tmp_path: Path) -> None:
    for settings in engine_settings("postgres", tmp_path):
        store = open_store(settings)
        assert isinstance(store, PostgresStore) and store._datasets is not None
        cache = store._datasets
        assert cache.wait_listening(10)
        store.close()  # woken from its wait for notifications, it has stopped listening
        assert not cache._thread.is_alive() and not cache.listening
        store.close()  # a second close (a command's and its caller's) is harmless
