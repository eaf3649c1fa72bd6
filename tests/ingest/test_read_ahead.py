"""Batches made a little ahead on a thread arrive in order, a failure arrives after the
batches made before it, and a reader that stops early leaves no thread behind; batches
cleaned side by side (cleaned_in_order) too."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pyarrow as pa
import pytest

from blotter.ingest.read_ahead import cleaned_in_order, read_ahead


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


def _first_and_at(raw: pa.RecordBatch, at: int) -> tuple[int, int]:
    first = raw.column(0)[0].as_py()
    time.sleep(0.02 if first % 20 == 0 else 0)  # every other batch slower: finished out of turn
    if first == 130:
        raise ValueError("cleaning failed on the batch of 130")
    return first, at


def test_cleaned_batches_arrive_in_order_with_the_records_before_each() -> None:
    done = list(cleaned_in_order(_batches(12), _first_and_at))
    assert done == [(10, (i * 10, i * 10)) for i in range(12)]


def test_a_batch_that_cannot_be_read_arrives_after_every_batch_read_before_it() -> None:
    done: list[int] = []
    with pytest.raises(ValueError, match="row 71: bad cell"):
        for _, (first, _) in cleaned_in_order(_batches(12, fail_at=7), _first_and_at):
            done.append(first)
    assert done == [i * 10 for i in range(7)]


def test_a_batch_that_cannot_be_cleaned_fails_in_its_place() -> None:
    done: list[int] = []
    with pytest.raises(ValueError, match="batch of 130"):
        for _, (first, _) in cleaned_in_order(_batches(20), _first_and_at):
            done.append(first)
    assert done == [i * 10 for i in range(13)]


def test_a_reader_that_stops_early_leaves_no_cleaner_behind() -> None:
    for _, (first, _) in cleaned_in_order(_batches(50), _first_and_at):
        if first == 40:
            break
    assert not [t for t in threading.enumerate() if t.name.startswith("ingest-clean")]
