"""vl-convert in a process of its own. vl-convert (1.9) holds Python's lock for the whole of
a drawing: begun on a thread beside the page's work, it stopped every query's and every
template's Python for 100-200 ms a chart (py-spy --gil: two thirds of the samples of four
first answers at 1M rows). In a process of its own it draws while the page goes on, and
the page waits only where it shows the drawing.

The process is ``python -m blotter.web.drawing_worker``: it imports vl-convert and nothing
of the server (about 80 MB, against 190 for a child that re-imports the server's modules, as
multiprocessing's spawn does). One process, one drawing at a time (as vl-convert draws,
whatever the threads); started by the first drawing, or ahead of it by
``start_drawing_process`` (a server's start, a load that will draw its first view: the
caller goes on while the process starts its engine); started again if it dies, and ending
when the server does (its input closes). A drawing
that takes longer than ``LIMIT_S`` is stopped with its process (vl-convert has no time
limit of its own, and the pages wait for their drawings one at a time), raising
``DrawingTimedOut``; the next drawing starts another process."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

from blotter.errors import DrawingTimedOut
from blotter.web.drawing_worker import Frames, WorkerGone

__all__ = [
    "DrawingFailed",
    "DrawingTimedOut",
    "start_drawing_process",
    "vegalite_to_png",
    "vegalite_to_svg",
]

# A chart of the pages draws in 0.05-2 s (a map of thousands of points the longest); one
# still drawing after this has hung, and every page waiting behind it would wait too.
LIMIT_S = 20.0


class DrawingFailed(RuntimeError):
    """vl-convert refused a spec (a fault of ours: the specs are checked by the tests), or
    its process ended twice while drawing: said where the drawing was asked for."""


class _Drawer:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # one drawing at a time, its answer read before the next
        self._process: subprocess.Popen[bytes] | None = None
        self._frames: Frames | None = None

    def _started(self) -> tuple[subprocess.Popen[bytes], Frames]:
        if self._process is None or self._process.poll() is not None or self._frames is None:
            process = subprocess.Popen(
                [sys.executable, "-m", "blotter.web.drawing_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            assert process.stdin is not None and process.stdout is not None
            self._process, self._frames = process, Frames(process.stdout, process.stdin)
        return self._process, self._frames

    def pid(self) -> int:
        """The drawing process's id, started if it is not running."""
        with self._lock:
            return self._started()[0].pid

    def run(self, request: dict[str, Any]) -> Any:
        with self._lock:
            for attempt in range(2):
                process, frames = self._started()
                limit_s = LIMIT_S  # read here: tests lower it
                # Killing the process ends the wait below: its pipe closes mid-message.
                timed_out = threading.Event()
                watch = threading.Timer(limit_s, _stop, (process, timed_out))
                watch.daemon = True
                watch.start()
                try:
                    frames.send(request)
                    answer = frames.receive()
                except WorkerGone:  # stopped here, or killed (out of memory, by an operator)
                    process.kill()
                    process.wait()
                    self._process = self._frames = None
                    if timed_out.is_set():
                        raise DrawingTimedOut(limit_s) from None
                    if attempt:
                        raise DrawingFailed(
                            "The chart's drawing process ended twice while drawing it."
                        ) from None
                    continue
                finally:
                    watch.cancel()
                if "error" in answer:
                    raise DrawingFailed(answer["error"])
                return answer["drawn"]
        raise AssertionError("unreachable")


def _stop(process: subprocess.Popen[bytes], timed_out: threading.Event) -> None:
    timed_out.set()
    process.kill()


_DRAWER = _Drawer()


def start_drawing_process() -> None:
    """Start the drawing process now, if it is not running: it starts its engine while the
    caller goes on (a load reading its file, a server loading its libraries), instead of
    when the first drawing waits for it."""
    _DRAWER.pid()


def vegalite_to_svg(spec: dict[str, Any]) -> str:
    """``vl_convert.vegalite_to_svg``, drawn in the drawing process."""
    svg: str = _DRAWER.run({"kind": "svg", "spec": spec})
    return svg


def vegalite_to_png(spec: dict[str, Any], scale: float) -> bytes:
    """``vl_convert.vegalite_to_png``, drawn in the drawing process."""
    png: bytes = _DRAWER.run({"kind": "png", "spec": spec, "scale": scale})
    return png
