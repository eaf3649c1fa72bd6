"""DuckDB queries stopped at their time limit: one watchdog thread interrupts every query
past its deadline, and only while it runs; DuckDB's refusals become portal errors."""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import re
import threading
import time
from typing import Any

import duckdb

from blotter.errors import BlotterError, StoreOutOfMemory, StoreShortOfResources
from blotter.store.common import (
    not_as_written,
    not_convertible,
    not_runnable,
    out_of_range,
    timeout_error,
)

log = logging.getLogger(__name__)

# What DuckDB's message carries from the system when a file could not grow: the disk full, a
# quota, or a file-size limit met (``ulimit -f``).
_NO_ROOM = ("No space left on device", "File too large", "Disk quota exceeded")


def run_watched(
    cur: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any], timeout_s: float | None
) -> None:
    """Start a query on its own cursor, interrupted after ``timeout_s``; the cursor is closed
    if it fails."""
    watch = WATCHDOG.watch(cur, timeout_s) if timeout_s else None
    failure: duckdb.Error | None = None
    try:
        cur.execute(sql, params)
    except duckdb.Error as err:
        failure = err
    finally:
        # Done before the cursor is closed: the watchdog never touches a closed cursor.
        interrupted = watch is not None and watch.finish()
    if failure is None and not interrupted:
        return
    cur.close()
    if failure is None or isinstance(failure, duckdb.InterruptException):
        # Interrupted, even if the query finished as the deadline passed: an interrupt left
        # pending on the cursor would break the rows mid-stream, after the answer's headers.
        # It is a timeout, reported now, before any row is sent.
        raise timeout_error(timeout_s) from failure
    raise engine_error(failure) from failure


class Watch:
    """One query's deadline. The watchdog interrupts its cursor only while it runs: ``finish``
    and ``interrupt`` take the same lock, so no interrupt lands after the query is done."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursor: duckdb.DuckDBPyConnection | None = cursor
        self._lock = threading.Lock()
        self.done = False
        self.interrupted = False

    def finish(self) -> bool:
        """Mark the query done; whether it was interrupted at least once."""
        with self._lock:
            self.done = True
            # A finished watch may wait in the queue until the watchdog next looks: it holds
            # no cursor meanwhile.
            self._cursor = None
            return self.interrupted

    def interrupt(self) -> bool:
        """Interrupt the query if it still runs; whether it did."""
        with self._lock:
            if self.done or self._cursor is None:
                return False
            self._cursor.interrupt()
            self.interrupted = True
            return True


class Watchdog:
    """One thread interrupting every query past its deadline. (A thread per query cost
    more than running a small query.)

    The thread sleeps until the earliest deadline it knows of (``_armed``) and is woken only
    for an earlier one: queries share one time limit, so a new query's deadline is nearly
    always later, and waking the thread for each query cost a thread switch per request."""

    RETRY_S = 0.05  # an interrupt can land before the query has started: repeat until done

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        # When the thread next looks at the queue: infinity while it waits for a first
        # watch, minus infinity while it is awake (it looks again before it sleeps).
        self._armed = math.inf

    def watch(self, cursor: duckdb.DuckDBPyConnection, timeout_s: float) -> Watch:
        watch = Watch(cursor)
        self._schedule(watch, time.monotonic() + timeout_s)
        return watch

    def _schedule(self, watch: Watch, deadline: float) -> None:
        with self._wake:
            # Queries end in about the order they start: finished ones leave from the front
            # here, so the queue stays short while the thread sleeps.
            while self._due and self._due[0][2].done:
                heapq.heappop(self._due)
            heapq.heappush(self._due, (deadline, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="timeouts")
                self._thread.start()
            if deadline < self._armed:
                self._armed = -math.inf  # woken: it looks again before it sleeps
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while True:
                    while self._due and self._due[0][2].done:
                        heapq.heappop(self._due)
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    if wait is not None and wait <= 0:
                        break
                    self._armed = self._due[0][0] if self._due else math.inf
                    self._wake.wait(wait)
                    self._armed = -math.inf
                _, _, overdue = heapq.heappop(self._due)
            try:
                again = overdue.interrupt()
            except duckdb.Error:  # the thread must outlive any one cursor's trouble
                again = False
            if again:
                self._schedule(overdue, time.monotonic() + self.RETRY_S)


WATCHDOG = Watchdog()


def engine_error(err: duckdb.Error) -> BlotterError:
    """An engine error on a query the compiler accepted: the client's data, not our bug."""
    if isinstance(err, duckdb.OutOfRangeException) or (
        isinstance(err, duckdb.ConversionException) and "out of range" in str(err)
    ):
        return out_of_range()
    if isinstance(err, duckdb.ConversionException):
        return not_convertible()
    if isinstance(err, duckdb.InvalidInputException):
        return not_runnable()
    if isinstance(err, duckdb.BinderException | duckdb.ParserException):
        return not_as_written()
    if isinstance(err, duckdb.OutOfMemoryException):
        # The memory cap is shared by every query running at once: not the question's fault,
        # and likely to pass, so 503 with a time to wait rather than a bug's 500.
        return StoreOutOfMemory(_limit_in(str(err)), reading=True)
    if (no_room := out_of_room(err)) is not None:  # a spill to a full disk
        return no_room
    raise err


def out_of_room(err: BaseException) -> StoreShortOfResources | None:
    """A write (a commit, its log, a spill) that found no room on disk, as the error its
    request answers (503, as PostgreSQL's full disk is), else None. DuckDB rolls the write
    back and the database stays usable: nothing of it was kept."""
    if not isinstance(err, duckdb.IOException | duckdb.TransactionException):
        return None
    if not any(reason in str(err) for reason in _NO_ROOM):
        return None
    log.warning("DuckDB found no room on disk: %s", str(err).strip())
    return StoreShortOfResources(
        "The database's disk is full (or a file-size limit was met), so this request was "
        "stopped and nothing it would have changed was kept; what is published is as it "
        "was. Please try again later; if it keeps failing, tell the portal's operator (the "
        "server's log names the file).",
        retry_after_s=60,
    )


def _limit_in(message: str) -> str:
    """The cap DuckDB names in its out-of-memory message ("(855.6 MiB/976.5 MiB used)")."""
    found = re.search(r"/\s*([0-9.]+ [KMGT]i?B) used\)", message)
    return found.group(1) if found else "share"
