"""vl-convert in a process of its own. vl-convert (1.9) holds Python's lock for the whole of
a drawing: begun on a thread beside the page's work, it stopped every query's and every
template's Python for 100-200 ms a chart (py-spy --gil: two thirds of the samples of four
first answers at 1M rows). In a process of its own it draws while the page goes on, and
the page waits only where it shows the drawing.

The process is ``python -m blotter.web.drawing_worker``: it imports vl-convert and nothing
of the server (about 80 MB, against 190 for a child that re-imports the server's modules, as
multiprocessing's spawn does). One process, one drawing at a time (as vl-convert draws,
whatever the threads); started by the first drawing (``warm_up`` at a server's start),
started again if it dies, and ending when the server does (its input closes)."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

from blotter.web.drawing_worker import Frames, WorkerGone

__all__ = ["DrawingFailed", "vegalite_to_png", "vegalite_to_svg"]


class DrawingFailed(RuntimeError):
    """vl-convert refused a spec: its message, raised where the drawing was asked for."""


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
                try:
                    frames.send(request)
                    answer = frames.receive()
                except WorkerGone:  # killed (out of memory, by an operator): once more
                    process.kill()
                    process.wait()
                    self._process = self._frames = None
                    if attempt:
                        raise
                    continue
                if "error" in answer:
                    raise DrawingFailed(answer["error"])
                return answer["drawn"]
        raise AssertionError("unreachable")


_DRAWER = _Drawer()


def vegalite_to_svg(spec: dict[str, Any]) -> str:
    """``vl_convert.vegalite_to_svg``, drawn in the drawing process."""
    svg: str = _DRAWER.run({"kind": "svg", "spec": spec})
    return svg


def vegalite_to_png(spec: dict[str, Any], scale: float) -> bytes:
    """``vl_convert.vegalite_to_png``, drawn in the drawing process."""
    png: bytes = _DRAWER.run({"kind": "png", "spec": spec, "scale": scale})
    return png
