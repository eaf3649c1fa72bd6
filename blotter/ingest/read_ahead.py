"""Batches made on a thread a little ahead of their reader, so that cleaning the next batch
(Arrow, which releases the GIL) overlaps the store writing this one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pyarrow as pa


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
