"""Batches made a little ahead on a thread arrive in order, a failure arrives after the
batches made before it, and a reader that stops early leaves no thread behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

from blotter.ingest.read_ahead import read_ahead


def _batches(count: int, fail_at: int | None = None) -> Iterator[pa.RecordBatch]:
    for i in range(count):
        if i == fail_at:
            raise ValueError(f"row {i * 10 + 1}: bad cell")
        yield pa.record_batch({"n": pa.array(range(i * 10, i * 10 + 10))})


def _threads() -> int:
    return sum(t.name == "ingest-read-ahead" for t in threading.enumerate())


def test_batches_arrive_in_order() -> None:
    read = [b.column(0).to_pylist() for b in read_ahead(_batches(25))]
    assert read == [list(range(i * 10, i * 10 + 10)) for i in range(25)]


def test_a_failure_arrives_after_the_batches_before_it() -> None:
    seen: list[int] = []
    with pytest.raises(ValueError, match="row 71: bad cell"):
        for batch in read_ahead(_batches(25, fail_at=7)):
            seen.append(batch.column(0)[0].as_py())
    assert seen == [i * 10 for i in range(7)]
    assert _threads() == 0


def test_a_reader_that_stops_early_stops_the_thread() -> None:
    ahead = read_ahead(_batches(1000), depth=2)
    assert next(ahead).column(0)[0].as_py() == 0
    ahead.close()  # as a publish that failed on its first batch
    assert _threads() == 0
