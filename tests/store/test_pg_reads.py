"""A PostgreSQL page is read in one round trip (its transaction, time limit, query and
ROLLBACK sent together), a longer read starts its transaction and time limit in the
checkout's own round trip: whatever way a read ends (a page, a stream, a CSV, a refusal, a
timeout), its connection goes back to the pool with no transaction open and no setting left
behind, the limit stops the engine, and a connection found broken is replaced."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from psycopg.pq import TransactionStatus

from blotter.errors import SoQLError
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.queries import parse_request
from blotter.soql.compiler import compile_query
from blotter.store import open_store
from blotter.store.base import CsvCell
from blotter.store.postgres import PostgresStore
from blotter.store.postgres_reads import read_begin, read_page
from tests.engines import TEST_DATABASE_URL, engine_settings

COLUMNS = [
    Column(field_name="n", name="N", type=ColumnType.NUMBER),
    Column(field_name="word", name="Word", type=ColumnType.TEXT),
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PostgresStore]:
    """A store reading through one connection (the one every read used is the one the test
    then inspects), over a dataset published by another store (a publish takes two)."""
    for settings in engine_settings("postgres", tmp_path):
        writer = open_store(settings)
        ds = writer.create_dataset(DatasetMeta(name="Numbers"), COLUMNS, "nums-0001")
        batch = pa.record_batch(
            {"n": [float(i) for i in range(3000)], "word": [f"w{i % 7}" for i in range(3000)]}
        )
        writer.publish(ds.id, COLUMNS, [batch])
        writer.close()
        one = settings.model_copy(update={"database_pool_min": 1, "database_pool_max": 1})
        opened = open_store(one)
        assert isinstance(opened, PostgresStore)
        yield opened
        opened.close()


def _rows(store: PostgresStore, dataset: Dataset, params: dict[str, str], **kw: object) -> list:
    query, filters = parse_request(params)
    select = compile_query(query, dataset, filters=filters, **kw).select  # type: ignore[arg-type]
    return list(store.execute(dataset, select, timeout_s=30.0))


def _clean(store: PostgresStore) -> None:
    """The pool's one connection: no transaction open, no statement limit left set."""
    conn = store._read_pool.getconn(timeout=5)
    try:
        assert conn.info.transaction_status is TransactionStatus.IDLE
        assert conn.autocommit
        assert conn.execute("SHOW statement_timeout").fetchone() == ("0",)
        changed = "SELECT name FROM pg_settings WHERE source = 'session'"
        assert conn.execute(changed).fetchall() == []
    finally:
        store._read_pool.putconn(conn)


def test_the_read_statements_are_one_message() -> None:
    assert read_begin(None) == b"BEGIN"
    assert read_begin(1.5, ("SET LOCAL extra_float_digits = 1",)) == (
        b"BEGIN; SET LOCAL statement_timeout = '1500ms'; SET LOCAL extra_float_digits = 1"
    )


def test_every_way_a_read_ends_leaves_its_connection_clean(store: PostgresStore) -> None:
    dataset = store.get_dataset("nums-0001")
    # A page read whole: the same rows as the streamed read of every row, in order.
    page = _rows(store, dataset, {"$order": "n DESC", "$limit": "50"})
    _clean(store)
    streamed = _rows(store, dataset, {"$order": "n DESC"}, default_limit=None, max_limit=None)
    _clean(store)
    assert page == streamed[:50] and len(streamed) == 3000
    assert page[0] == (2999.0, "w3")
    # A CSV written by the server.
    query, filters = parse_request({"$select": "n, word", "$order": "n", "$limit": "3"})
    select = compile_query(query, dataset, filters=filters).select
    cells = [CsvCell.VALUE, CsvCell.VALUE]
    pieces = store.execute_csv(dataset, select, cells, timeout_s=30.0)
    assert pieces is not None
    assert b"".join(p for p in pieces if isinstance(p, bytes)) == b"0,w0\n1,w1\n2,w2\n"
    _clean(store)
    # A query the engine refuses: the error is ours, the connection clean.
    with pytest.raises(SoQLError):
        _rows(store, dataset, {"$where": "word::number > 1"})
    _clean(store)


def test_the_limit_stops_the_engine_and_does_not_outlive_the_read(store: PostgresStore) -> None:
    conn, lease = store._begin_read(0.05)
    try:
        assert conn.info.transaction_status is TransactionStatus.INTRANS
        assert conn.execute("SHOW statement_timeout").fetchone() == ("50ms",)
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(2)")
    finally:
        lease.give_back()
    _clean(store)


def test_without_pipelines_a_page_is_read_the_same_and_ended_on_release(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = store.get_dataset("nums-0001")
    params = {"$where": "n > 10", "$order": "word, n DESC", "$limit": "20"}
    piped = _rows(store, dataset, params)
    monkeypatch.setattr(psycopg.Pipeline, "is_supported", classmethod(lambda cls: False))
    assert _rows(store, dataset, params) == piped and len(piped) == 20
    _clean(store)


def test_a_page_stopped_at_its_limit_is_not_asked_again(store: PostgresStore) -> None:
    pool = store._read_pool
    with pytest.raises(psycopg.errors.QueryCanceled):
        read_page(pool, 5.0, 0.05, "SELECT pg_sleep(2)", {})
    _clean(store)
    assert read_page(pool, 5.0, 0.05, "SELECT %(n)s::int + 1", {"n": 41}) == [(42,)]
    _clean(store)


def test_a_page_read_on_a_broken_connection_is_read_on_a_fresh_one(
    store: PostgresStore,
) -> None:
    """A restart ends every connection: the page's one round trip finds its connection
    broken, and the page is read again on another, with no error for the reader."""
    dataset = store.get_dataset("nums-0001")
    params = {"$order": "n", "$limit": "5"}
    before = _rows(store, dataset, params)
    conn = store._read_pool.getconn(timeout=5)
    pid = conn.info.backend_pid
    store._read_pool.putconn(conn)
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    assert _rows(store, dataset, params) == before == [(float(i), f"w{i}") for i in range(5)]
    conn = store._read_pool.getconn(timeout=5)
    assert conn.info.backend_pid != pid
    store._read_pool.putconn(conn)
    _clean(store)
