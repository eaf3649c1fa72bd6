"""The drawing process's own program (``python -m blotter.web.drawing_worker``) and the
frames both ends speak: each message a 4-byte length and a pickle, a request
``{"kind": "svg" | "png", "spec": …, "scale": …}``, an answer ``{"drawn": …}`` or
``{"error": message}``. Pickle only between the server and the child it started over a
pipe: nothing else can write to it. It imports nothing of the server."""

from __future__ import annotations

import os
import pickle
import struct
import sys
from typing import IO, Any

_LENGTH = struct.Struct(">I")


class WorkerGone(ConnectionError):
    """The other end closed its pipe: the process ended."""


class Frames:
    """Messages over a pair of pipes."""

    def __init__(self, reading: IO[bytes], writing: IO[bytes]) -> None:
        self._reading, self._writing = reading, writing

    def send(self, message: dict[str, Any]) -> None:
        body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._writing.write(_LENGTH.pack(len(body)) + body)
            self._writing.flush()
        except (BrokenPipeError, ValueError) as err:  # ValueError: the pipe was closed
            raise WorkerGone(str(err)) from err

    def receive(self) -> dict[str, Any]:
        head = self._exactly(_LENGTH.size)
        message: dict[str, Any] = pickle.loads(self._exactly(_LENGTH.unpack(head)[0]))
        return message

    def _exactly(self, size: int) -> bytes:
        data = self._reading.read(size)
        if data is None or len(data) < size:
            raise WorkerGone("the pipe closed mid-message")
        return bytes(data)


def _draw(request: dict[str, Any]) -> dict[str, Any]:
    import vl_convert

    try:
        if request["kind"] == "png":
            return {
                "drawn": bytes(vl_convert.vegalite_to_png(request["spec"], scale=request["scale"]))
            }
        return {"drawn": vl_convert.vegalite_to_svg(request["spec"])}
    except Exception as err:  # vl-convert's refusal of a spec, told to the asking page
        return {"error": str(err)}


# The smallest chart: drawn as the process starts, so vl-convert's engine (600-900 ms on its
# first drawing) starts while the server or the load that started it goes on with its own
# work, not when the first page waits for a chart.
WARM_UP = {
    "data": {"values": [{"n": 1}]},
    "mark": "bar",
    "encoding": {"x": {"field": "n", "type": "quantitative"}},
}


def main() -> None:
    # The frames get standard output's pipe to themselves: whatever else writes to it (a
    # library's print, the JavaScript engine's console) goes to standard error, the log,
    # and never into the middle of an answer.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    frames = Frames(sys.stdin.buffer, answers)
    warmed = _draw({"kind": "svg", "spec": WARM_UP})
    if "error" in warmed:  # told in the log; each drawing asked later says so in its answer
        print(f"The drawing process could not draw: {warmed['error']}", file=sys.stderr)
    while True:
        try:
            request = frames.receive()
        except WorkerGone:  # the server ended: so does its drawing process
            return
        frames.send(_draw(request))


if __name__ == "__main__":
    main()
