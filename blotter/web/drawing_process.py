"""vl-convert in a process of its own. vl-convert (1.9) holds Python's lock for the whole of
a drawing: begun on a thread beside the page's work, it stopped every query's and every
template's Python for 100-200 ms a chart (py-spy --gil: two thirds of the samples of four
first answers at 1M rows). In a process of its own it draws while the page goes on, and
the page waits only where it shows the drawing.

One process, one drawing at a time (as vl-convert draws, whatever the threads); started by
the first drawing (``warm_up`` at a server's start), started again if it dies."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

__all__ = ["vegalite_to_png", "vegalite_to_svg"]
Drawn = TypeVar("Drawn")


def _svg(spec: dict[str, Any]) -> str:
    """Run in the drawing process."""
    import vl_convert

    svg: str = vl_convert.vegalite_to_svg(spec)
    return svg


def _png(spec: dict[str, Any], scale: float) -> bytes:
    """Run in the drawing process."""
    import vl_convert

    return bytes(vl_convert.vegalite_to_png(spec, scale=scale))


class _Drawer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # Spawned, never forked: the server's threads (DuckDB's, the pool's) and
                # their locks must not be copied into a child mid-use.
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
            return self._pool

    def _broken(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def run(self, draw: Callable[..., Drawn], *args: Any) -> Drawn:
        for attempt in range(2):
            pool = self._started()
            try:
                return pool.submit(draw, *args).result()
            except BrokenProcessPool:  # the process died (killed, out of memory): once more
                self._broken(pool)
                if attempt:
                    raise
        raise AssertionError("unreachable")


_DRAWER = _Drawer()


def vegalite_to_svg(spec: dict[str, Any]) -> str:
    """``vl_convert.vegalite_to_svg``, drawn in the drawing process."""
    return _DRAWER.run(_svg, spec)


def vegalite_to_png(spec: dict[str, Any], scale: float) -> bytes:
    """``vl_convert.vegalite_to_png``, drawn in the drawing process."""
    return _DRAWER.run(_png, spec, scale)
