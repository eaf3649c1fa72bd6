"""Bounds on every request before any route runs: the URL's length and the body's size.

A body is never read whole to be measured: a declared ``Content-Length`` past the limit is
refused at once, and a body sent without one is counted as the route reads it, which stops
(413) at the first byte past the limit. Both answers carry the portal's error body, unlike
the server's own plain-text refusals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from blotter.errors import BlotterError, PayloadTooLarge, UriTooLong

# Sends an error as the portal answers it: JSON for the API, a page otherwise.
Answer = Callable[[Scope, Receive, Send, BlotterError], Awaitable[None]]


class Bounds:
    """ASGI middleware refusing long URLs (414) and large bodies (413)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_url_bytes: int,
        body_limit: Callable[[str], tuple[int, str]],
        answer: Answer,
    ) -> None:
        self.app = app
        self.max_url_bytes = max_url_bytes
        self.body_limit = body_limit  # path → (bytes, advice when past them)
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = len(scope.get("raw_path") or scope["path"].encode()) + len(
            scope.get("query_string", b"")
        )
        if 0 < self.max_url_bytes < length:
            err: BlotterError = UriTooLong(
                f"The URL is {length:,} bytes; this portal takes at most "
                f"{self.max_url_bytes:,}. Send a long query in the body of a SODA3 request "
                "(POST /api/v3/views/{id}/query.json).",
                url_bytes=length,
                limit_bytes=self.max_url_bytes,
            )
            await self.answer(scope, receive, send, err)
            return
        limit, advice = self.body_limit(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self.answer(scope, receive, send, _too_large(limit, advice))
            return
        await self.app(scope, _counted(receive, limit, advice), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _counted(receive: Receive, limit: int, advice: str) -> Receive:
    """``receive``, raising 413 as soon as the body passes ``limit`` bytes."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit, advice)
        return message

    return counted


def _too_large(limit: int, advice: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {_size(limit)}, the most this portal takes here. "
        f"{advice}",
        limit_bytes=limit,
    )


def _size(count: int) -> str:
    if count >= 1 << 20 and count % (1 << 20) == 0:
        return f"{count >> 20:,} MB"
    if count >= 1 << 10 and count % (1 << 10) == 0:
        return f"{count >> 10:,} KB"
    return f"{count:,} bytes"
