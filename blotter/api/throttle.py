"""Per-caller request throttling for the API and the pages, as Socrata does it.

Anonymous callers share a budget per address; callers sending a known app token (the
``X-App-Token`` header or ``$$app_token`` parameter) get their own, larger budget. A token
is known when it is listed in the settings or is a live API token of an account; an unknown
token counts as no token, so made-up tokens cannot buy a bigger budget. Account tokens are
checked against the store at most once a minute per token (so a revocation takes up to a
minute to reach the throttle, and last use is recorded at that pace).
Budgets are token buckets refilled continuously; past them a caller gets 429. Pages
spend from the same budget as the API (one mechanism, one bucket per caller); only the
static assets pages load and the health checks are free.
The buckets live in the process: with several workers each keeps its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from blotter.api.bounds import Answer
from blotter.errors import TooManyRequests

# Static assets pages load, and the health checks a proxy polls from one address.
_FREE_PREFIXES = ("/static/", "/healthz", "/readyz")
_MAX_CALLERS = 100_000  # forget idle callers past this many, so memory stays bounded


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class Throttle:
    """ASGI middleware limiting API requests per minute per address or app token."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        anonymous_per_minute: int,
        token_per_minute: int,
        tokens: frozenset[str] = frozenset(),
        account_token: Callable[[str], bool] | None = None,
        recheck_s: float = 60.0,
        answer: Answer,
    ) -> None:
        self.app = app
        self.answer = answer
        self.tokens = tokens
        self.account_token = account_token
        self.recheck_s = recheck_s
        self.checked: dict[str, tuple[bool, float]] = {}  # token → (live, checked at)
        self.limits = {"address": anonymous_per_minute, "token": token_per_minute}
        self.buckets: dict[tuple[str, str], _Bucket] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_FREE_PREFIXES):
            await self.app(scope, receive, send)
            return
        kind, key = await self._caller(scope)
        limit = self.limits[kind]
        wait = self._take((kind, key), limit) if limit > 0 else 0.0
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        await self.answer(scope, receive, send, _too_many(kind, limit, wait))

    async def _caller(self, scope: Scope) -> tuple[str, str]:
        sent = [
            value.decode("latin-1")
            for name, value in scope.get("headers", [])
            if name == b"x-app-token" and value
        ]
        sent += parse_qs(scope.get("query_string", b"").decode("latin-1")).get("$$app_token", [])
        for token in sent:
            if token in self.tokens or await self._live_account_token(token):
                return "token", token
        client = scope.get("client")
        return "address", client[0] if client else "unknown"

    async def _live_account_token(self, token: str) -> bool:
        if self.account_token is None or not token.startswith("blt_"):
            return False
        now = time.monotonic()
        live, at = self.checked.get(token, (False, -math.inf))
        if now - at < self.recheck_s:
            return live
        live = await anyio.to_thread.run_sync(self.account_token, token)
        if len(self.checked) >= _MAX_CALLERS:
            self.checked.clear()
        self.checked[token] = (live, now)
        return live

    def _take(self, caller: tuple[str, str], per_minute: int) -> float:
        """Spend one request; return 0 if allowed, else seconds until the next is."""
        now = time.monotonic()
        rate = per_minute / 60.0
        bucket = self.buckets.get(caller)
        if bucket is None:
            if len(self.buckets) >= _MAX_CALLERS:
                self.buckets.clear()
            bucket = self.buckets[caller] = _Bucket(tokens=float(per_minute), stamp=now)
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate


def _too_many(kind: str, limit: int, wait: float) -> TooManyRequests:
    advice = (
        "Send an app token (X-App-Token header) for a higher limit, or slow down."
        if kind == "address"
        else "Slow down, or ask the portal's administrators for a higher limit."
    )
    return TooManyRequests(
        f"Too many requests: the limit is {limit} a minute per "
        f"{'address' if kind == 'address' else 'app token'}. {advice}",
        limit_per_minute=limit,
        retry_after_s=math.ceil(wait),
    )
