"""What a password check may cost: failures throttled per address before any hash is
computed, few Argon2 hashes at once, and verified Basic credentials remembered briefly.

Argon2 is slow and takes 64 MiB on purpose; without these bounds any ``Authorization: Basic``
header, made-up names included, would spend that on every request. The state lives in the
process (each worker keeps its own), like the API throttle's.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from blotter.errors import TooManyFailures
from blotter.model import User
from blotter.settings import Settings

_MAX_ADDRESSES = 100_000  # forget the oldest addresses past this many, so memory stays bounded
_MAX_REMEMBERED = 10_000


@dataclass(frozen=True)
class Verified:
    """Who a Basic credential proved to be, as ``auth`` builds its viewer from it."""

    user: User
    scopes: frozenset[str] | None
    via: str


@dataclass
class _Window:
    started: float
    count: int


class CredentialGuard:
    """Per-address failure windows, a cap on concurrent hashes, and a short-lived cache of
    verified ``Authorization`` header values (keyed by their SHA-256, never the secret)."""

    def __init__(
        self,
        *,
        failures: int = 20,
        window_s: float = 600.0,
        remember_s: float = 10.0,
        hashes_at_once: int = 4,
    ) -> None:
        self.failures = failures
        self.window_s = window_s
        self.remember_s = remember_s
        self._windows: OrderedDict[str, _Window] = OrderedDict()
        self._remembered: OrderedDict[str, tuple[Verified, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._hashing = threading.BoundedSemaphore(max(1, hashes_at_once))

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialGuard:
        return cls(
            failures=settings.password_failures_per_address,
            window_s=settings.password_failure_window_s,
            remember_s=settings.credential_cache_s,
            hashes_at_once=settings.password_checks_at_once,
        )

    @contextmanager
    def password_check(self, address: str) -> Iterator[None]:
        """Around one password check: refuse (429) an address past its failures, count this
        attempt as a failure until it succeeds (so a burst of parallel guesses is bounded
        too), and let only a few hashes run at once."""
        if self.failures > 0:
            self._attempt(address)
        with self._hashing:
            yield
        if self.failures > 0:
            self._succeeded(address)

    def _attempt(self, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            window = self._windows.get(address)
            if window is None or now - window.started >= self.window_s:
                window = _Window(started=now, count=0)
                self._windows[address] = window
                self._windows.move_to_end(address)
                while len(self._windows) > _MAX_ADDRESSES:
                    self._windows.popitem(last=False)
            if window.count >= self.failures:
                wait = math.ceil(window.started + self.window_s - now)
                raise TooManyFailures(
                    f"Too many wrong passwords from this address: try again in {wait} "
                    f"second{'s' if wait != 1 else ''}. Scripts can use an API token instead.",
                    retry_after_s=max(1, wait),
                )
            window.count += 1

    def _succeeded(self, address: str) -> None:
        with self._lock:
            window = self._windows.get(address)
            if window is not None and window.count > 0:
                window.count -= 1

    def remembered(self, header: str) -> Verified | None:
        """The identity a header value proved within the last ``remember_s`` seconds."""
        if self.remember_s <= 0:
            return None
        key = _key(header)
        with self._lock:
            found = self._remembered.get(key)
            if found is None:
                return None
            verified, until = found
            if time.monotonic() >= until:
                del self._remembered[key]
                return None
            return verified

    def remember(self, header: str, verified: Verified) -> None:
        if self.remember_s <= 0:
            return
        with self._lock:
            key = _key(header)
            self._remembered[key] = (verified, time.monotonic() + self.remember_s)
            self._remembered.move_to_end(key)
            while len(self._remembered) > _MAX_REMEMBERED:
                self._remembered.popitem(last=False)

    def forget(self, user_name: str) -> None:
        """Drop what is remembered for an account (disabled, changed, a token revoked here);
        other processes forget within ``remember_s`` seconds."""
        with self._lock:
            for key in [k for k, (v, _) in self._remembered.items() if v.user.name == user_name]:
                del self._remembered[key]


def _key(header: str) -> str:
    return hashlib.sha256(header.encode("utf-8", "surrogatepass")).hexdigest()
