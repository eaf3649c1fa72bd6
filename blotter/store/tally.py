"""How many compiled queries the store ran for the request being answered.

The edge opens a tally per request (``counting``); each engine's ``execute`` and
``execute_csv`` add one. The count is told in the answer's ``Server-Timing`` header, so an
operator (and the benchmark) can see what a page costs without a profiler. A context
variable carries the tally into the worker threads that run the store (Starlette copies the
request's context into them); outside a request nothing is counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class Tally:
    queries: int = 0


_current: ContextVar[Tally | None] = ContextVar("blotter_store_tally", default=None)


@contextmanager
def counting() -> Iterator[Tally]:
    """A fresh tally for the code run inside the block (and the threads it starts)."""
    tally = Tally()
    token = _current.set(tally)
    try:
        yield tally
    finally:
        _current.reset(token)


def count_query() -> None:
    """One compiled query run by the store, counted when a request is being answered."""
    tally = _current.get()
    if tally is not None:
        tally.queries += 1
