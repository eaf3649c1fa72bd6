"""The DuckDB watchdog interrupts a query only while it runs: a query that finished (and is
now streaming its rows) is never interrupted, and a deadline met just as a query finished is
a timeout reported before any row, never a stream broken after the answer has started."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from sqlglot import exp

from blotter.errors import QueryTimeout
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.schema import DATASET_TABLE
from blotter.store.duckdb import DuckDBStore
from blotter.store.duckdb_watchdog import WATCHDOG, Watch, run_watched

STREAMED = "SELECT i, i * 2 AS j FROM range(3000000) r(i)"


def _read_all(cur: duckdb.DuckDBPyConnection) -> int:
    count = 0
    while rows := cur.fetchmany(2048):
        count += len(rows)
    return count


def test_a_finished_query_is_not_interrupted_while_its_rows_stream() -> None:
    cur = duckdb.connect().cursor()
    watch = Watch(cur)
    cur.execute(STREAMED)  # returns once the rows can stream; most are not computed yet
    assert watch.finish() is False
    # The watchdog reaching its deadline now (it had popped the watch just before) must
    # leave the stream alone.
    assert watch.interrupt() is False
    assert _read_all(cur) == 3_000_000


def test_an_interrupt_before_the_finish_is_reported_by_the_finish() -> None:
    cur = duckdb.connect().cursor()
    watch = Watch(cur)
    cur.execute(STREAMED)
    assert watch.interrupt() is True  # the deadline passed as execute returned
    assert watch.finish() is True  # so the store reports a timeout and closes the cursor
    # Why it must: the interrupt is pending on the cursor and breaks the stream mid-way.
    with pytest.raises(duckdb.InterruptException):
        _read_all(cur)


@pytest.fixture
def store(tmp_path: Path) -> DuckDBStore:
    store = DuckDBStore(tmp_path / "blotter.duckdb")
    columns = [Column(field_name="n", name="N", type=ColumnType.NUMBER)]
    dataset = store.create_dataset(DatasetMeta(name="Numbers"), columns, "nums-0001")
    numbers = pa.array([float(i) for i in range(300_000)], pa.float64())
    store.publish(dataset.id, columns, [pa.record_batch({"n": numbers})])
    return store


def test_every_read_near_its_deadline_is_whole_or_a_timeout_before_its_rows(
    store: DuckDBStore,
) -> None:
    """Deadlines spread around the query's own time: whichever side each falls, the answer
    is all the rows, or QueryTimeout raised by execute; never an error while rows stream."""
    dataset = store.get_dataset("nums-0001")
    select = exp.select("n").from_(DATASET_TABLE).where("n % 3 = 0")
    for step in range(120):
        timeout_s = 0.0002 * (1 + step % 40)
        try:
            rows = store.execute(dataset, select, timeout_s=timeout_s)
        except QueryTimeout:
            continue
        assert sum(1 for _ in rows) == 100_000  # raises if interrupted mid-stream
    store.close()


def test_a_short_limit_after_a_long_one_still_stops_its_query() -> None:
    """The watchdog sleeps until the earliest deadline it knows of: a read with a shorter
    limit than those before it must wake it, or it would run to its end."""
    con = duckdb.connect()
    done = con.cursor()
    run_watched(done, "SELECT 1", {}, 600.0)  # the watchdog now sleeps ten minutes
    assert done.fetchall() == [(1,)]
    slow = con.cursor()
    with pytest.raises(QueryTimeout):
        # Seconds of work on two cores, far past its limit.
        run_watched(slow, "SELECT sum(hash(i)) FROM range(20000000000) r(i)", {}, 0.2)


def test_finished_reads_leave_the_watchdog_queue_as_later_ones_come() -> None:
    """A finished read holds no cursor, and leaves the queue from its front when the next
    read is watched, so the queue stays short though the watchdog sleeps."""
    con = duckdb.connect()
    for _ in range(50):
        cur = con.cursor()
        run_watched(cur, "SELECT 1", {}, 600.0)
        cur.fetchall()
        cur.close()
    queued = [watch for _, _, watch in WATCHDOG._due]
    assert len(queued) <= 2  # the newest, and one still waiting for its deadline at most
    assert all(w._cursor is None for w in queued if w.done)
