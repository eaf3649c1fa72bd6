"""A file already open, sent as an HTTP answer: whole, or the byte ranges asked for.

Starlette's ``FileResponse`` opens its file by name when the answer starts. An export file
can be removed by then (a publish's clean-up, another process), and the answer would fail
after its headers were chosen. Opened first, the file cannot go away: its bytes stay
readable through the descriptor until it is closed, whoever removes its name.

What is sent is what ``FileResponse`` sends: ``Content-Length`` and ``Accept-Ranges``; a
``Range`` of one span is answered 206 with its ``Content-Range``, several spans as
``multipart/byteranges``; a start past the end, a span ending before it starts or a header
naming no span is 416 (RFC 9110 §15.5.17); a unit other than bytes is ignored, as §14.2
requires (the whole file);
``If-Range`` other than the answer's ETag or Last-Modified gets the whole file. A ``prefix``
(Socrata's byte order mark) is sent before the file, and then ranges are not offered.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import BinaryIO

import anyio
import anyio.to_thread
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

CHUNK = 1 << 20  # a read (a thread hop) per megabyte
MAX_RANGES = 100  # more spans than this: the whole file


class _Unsatisfiable(Exception):
    pass


class OpenFileResponse(Response):
    """``source``'s bytes (``size`` of them) after ``prefix``; the answer closes ``source``."""

    def __init__(
        self,
        source: BinaryIO,
        size: int,
        *,
        headers: Mapping[str, str],
        media_type: str,
        prefix: bytes = b"",
    ) -> None:
        self.source = source
        self.size = size
        self.prefix = prefix
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)
        self.headers["content-length"] = str(len(prefix) + size)
        if not prefix:
            self.headers["accept-ranges"] = "bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._send(scope, receive, send)
        finally:
            self.source.close()

    async def _send(self, scope: Scope, receive: Receive, send: Send) -> None:
        asked = Headers(scope=scope)
        spans: list[tuple[int, int]] = []
        if self._ranged(scope, asked):
            try:
                spans = _spans(asked["range"], self.size)
            except _Unsatisfiable as err:
                gone = PlainTextResponse(str(err), 416, {"Content-Range": f"bytes */{self.size}"})
                await gone(scope, receive, send)
                return
        head_only = scope["method"].upper() == "HEAD"
        async with anyio.create_task_group() as group:
            # The server (ASGI 2.3) does not fail a send to a client that left: stop reading
            # the file as soon as it says the client is gone.
            group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
            await self._answer(send, spans, head_only)
            group.cancel_scope.cancel()

    def _ranged(self, scope: Scope, asked: Headers) -> bool:
        if self.prefix or "range" not in asked or scope["method"].upper() not in ("GET", "HEAD"):
            return False
        condition = asked.get("if-range")
        return condition is None or condition in (
            self.headers.get("etag"),
            self.headers.get("last-modified"),
        )

    async def _answer(self, send: Send, spans: list[tuple[int, int]], head_only: bool) -> None:
        headers = self.headers.mutablecopy()
        status, ending = 200, b""
        parts: list[tuple[bytes, int, int]] = [(self.prefix, 0, self.size)]
        if len(spans) == 1:
            (start, end), status = spans[0], 206
            headers["content-range"] = f"bytes {start}-{end - 1}/{self.size}"
            headers["content-length"] = str(end - start)
            parts = [(b"", start, end)]
        elif spans:
            status, boundary = 206, secrets.token_hex(13)
            kind = headers["content-type"]
            # Each part after the first, and the closing boundary, start on a new line.
            parts = [
                (b"\r\n" * (n > 0) + _part_head(boundary, kind, start, end, self.size), start, end)
                for n, (start, end) in enumerate(spans)
            ]
            ending = f"\r\n--{boundary}--".encode("latin-1")
            headers["content-type"] = f"multipart/byteranges; boundary={boundary}"
            headers["content-length"] = str(sum(len(h) + e - s for h, s, e in parts) + len(ending))
        await send({"type": "http.response.start", "status": status, "headers": headers.raw})
        if not head_only:
            for head, start, end in parts:
                if head:
                    await send({"type": "http.response.body", "body": head, "more_body": True})
                await self._send_span(send, start, end)
        await send({"type": "http.response.body", "body": b"" if head_only else ending})

    async def _send_span(self, send: Send, start: int, end: int) -> None:
        descriptor = self.source.fileno()
        while start < end:
            chunk = await anyio.to_thread.run_sync(
                os.pread, descriptor, min(CHUNK, end - start), start
            )
            if not chunk:
                raise RuntimeError(f"the file ended at byte {start}, before its size {end}")
            start += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


def _part_head(boundary: str, kind: str, start: int, end: int, size: int) -> bytes:
    return (
        f"--{boundary}\r\nContent-Type: {kind}\r\n"
        f"Content-Range: bytes {start}-{end - 1}/{size}\r\n\r\n"
    ).encode("latin-1")


def _spans(header: str, size: int) -> list[tuple[int, int]]:
    """The spans (start, end exclusive) a ``Range`` header asks of ``size`` bytes, merged
    where they overlap; none means the whole file (a unit other than bytes, or too many
    spans). Raises ``_Unsatisfiable`` for a header naming no span of bytes, a span ending
    before it starts or a start at or past the end."""
    unit, equals, wanted = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return []
    pieces = wanted.split(",")
    if len(pieces) > MAX_RANGES:
        return []
    spans = [span for piece in pieces if (span := _span(piece.strip(), size)) is not None]
    if not spans:
        raise _Unsatisfiable("The Range header names no span of bytes, as bytes=start-end")
    if any(not 0 <= start < size for start, _end in spans):
        raise _Unsatisfiable(f"The file has {size:,} bytes: a span starts at or past its end")
    if any(start >= end for start, end in spans):
        raise _Unsatisfiable("A span of the Range header ends before it starts")
    merged = [min(spans)]
    for start, end in sorted(spans)[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged if len(spans) > 1 else spans


def _span(piece: str, size: int) -> tuple[int, int] | None:
    """``a-b`` (inclusive, cut at the end), ``a-`` (to the end) or ``-n`` (the last n);
    anything else is ignored, as the HTTP specification asks."""
    first, dash, last = (part.strip() for part in piece.partition("-"))
    if not dash or not (first or last) or not all(n.isdigit() for n in (first, last) if n):
        return None
    if not first:
        return max(size - int(last), 0), size
    return int(first), min(int(last) + 1, size) if last else size
