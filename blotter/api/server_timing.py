"""The ``Server-Timing`` header: how long the portal took and how many store queries it ran.

``Server-Timing: app;dur=12.3, store;desc="4 queries"`` on every answer: browsers' developer
tools show it beside the request, and the benchmark reads the query count of the pages it
times. Counted are the compiled queries run before the answer's headers are sent; a streamed
answer's later reads (a CSV export's rows) are not in its header. An answer taken from the
kept answers says ``0 queries``.
"""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from blotter.store.tally import counting


class ServerTiming:
    """Plain ASGI middleware (streamed answers pass through unbuffered)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        with counting() as tally:

            async def send_with_timing(message: Message) -> None:
                if message["type"] == "http.response.start":
                    spent_ms = (time.perf_counter() - started) * 1000
                    queries = "1 query" if tally.queries == 1 else f"{tally.queries} queries"
                    MutableHeaders(scope=message).append(
                        "Server-Timing", f'app;dur={spent_ms:.1f}, store;desc="{queries}"'
                    )
                await send(message)

            await self.app(scope, receive, send_with_timing)
