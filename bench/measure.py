"""Timing, throughput and memory, measured from outside the servers.

Latencies are warm: each question is asked twice before its runs count. The systems take
turns (A, B, C, A, B, C…), one run each per pass, so a slow minute of a shared machine falls on
all of them alike. Passes repeat until a count or a time budget is reached, whichever comes
first, so a slow system still finishes. Each latency keeps its spread (quartiles, min, max).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import httpx

WARM_RUNS = 2
T = TypeVar("T")


@dataclass
class Latency:
    runs: int
    median_ms: float
    p95_ms: float
    min_ms: float
    q1_ms: float
    q3_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (no interpolation: a p95 is a time some run really took)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summarize(seconds: Sequence[float]) -> Latency:
    ms = [s * 1000 for s in seconds]
    return Latency(
        runs=len(ms),
        median_ms=statistics.median(ms),
        p95_ms=percentile(ms, 0.95),
        min_ms=min(ms),
        q1_ms=percentile(ms, 0.25),
        q3_ms=percentile(ms, 0.75),
        max_ms=max(ms),
    )


def interleaved(
    actions: dict[str, Callable[[], object]], *, runs: int, budget_s: float, min_runs: int = 3
) -> dict[str, Latency]:
    """Time every action warm, taking turns: one run of each per pass, ``runs`` passes or
    until ``budget_s`` per action is spent (at least ``min_runs`` passes)."""
    for action in actions.values():
        for _ in range(WARM_RUNS):
            action()
    times: dict[str, list[float]] = {name: [] for name in actions}
    spent = 0.0
    passes = 0
    while passes < runs and (spent < budget_s * len(actions) or passes < min_runs):
        for name, action in actions.items():
            start = time.perf_counter()
            action()
            took = time.perf_counter() - start
            times[name].append(took)
            spent += took
        passes += 1
    return {name: summarize(t) for name, t in times.items()}


def repeat(
    action: Callable[[], T], *, runs: int, budget_s: float, min_runs: int = 3
) -> tuple[Latency, T]:
    """Time ``action`` warm; the last result comes back for checking."""
    result = action()  # the first of the warm-up runs
    for _ in range(WARM_RUNS - 1):
        result = action()
    times: list[float] = []
    spent = 0.0
    while len(times) < runs and (spent < budget_s or len(times) < min_runs):
        start = time.perf_counter()
        result = action()
        took = time.perf_counter() - start
        times.append(took)
        spent += took
    return summarize(times), result


def http_json(client: httpx.Client, url: str, params: dict[str, str]) -> Callable[[], Any]:
    # Any: httpx's Response.json() returns whatever the body decodes to, untyped.
    def ask() -> Any:
        response = client.get(url, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    return ask


def stream_download(
    client: httpx.Client, url: str, params: dict[str, str] | None = None
) -> tuple[int, int, float, bool]:
    """Bytes, lines and seconds of one full download, read as it streams, and whether it
    was sent from a file (the answer offers byte ranges)."""
    size = lines = 0
    start = time.perf_counter()
    if params:  # merged with the URL's own query (an empty dict would replace it)
        url = str(httpx.URL(url).copy_merge_params(params))
    with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        from_file = response.headers.get("accept-ranges") == "bytes"
        for chunk in response.iter_raw(1 << 20):
            size += len(chunk)
            lines += chunk.count(b"\n")
    return size, lines, time.perf_counter() - start, from_file


class RssSampler:
    """The highest resident set seen while a block runs, sampled every 20 ms."""

    def __init__(self, read_mb: Callable[[], float]) -> None:
        self.read_mb = read_mb
        self.peak_mb = 0.0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self.read_mb())
            self._stop.wait(0.02)

    @contextmanager
    def watching(self) -> Iterator[RssSampler]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.peak_mb = max(self.peak_mb, self.read_mb())


@dataclass
class Load:
    clients: int
    seconds: float  # the measured window
    requests: int  # answered within the window
    errors: int
    throughput_rps: float
    median_ms: float
    p99_ms: float
    distinct_requests: int
    unfinished_at_end: int  # still running when the window closed (not counted)
    first_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def concurrent_load(
    requests: Sequence[tuple[str, dict[str, str]]],
    *,
    clients: int,
    window_s: float,
    warmup_s: float,
) -> Load:
    """``clients`` keep-alive clients, each taking the next request of ``requests`` as soon as
    its last one is answered; counted are the requests answered within a window of
    ``window_s`` that opens ``warmup_s`` after the start. No request starts after the window;
    those still running when it closes are awaited (so the next measurement starts on an idle
    server) but not counted."""
    return asyncio.run(_load(requests, clients, window_s, warmup_s))


async def _load(
    requests: Sequence[tuple[str, dict[str, str]]],
    clients: int,
    window_s: float,
    warmup_s: float,
) -> Load:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    times: list[float] = []
    errors: list[str] = []
    unfinished = 0
    next_request = 0
    async with httpx.AsyncClient(limits=limits, timeout=600) as client:
        start = time.perf_counter()
        opens, closes = start + warmup_s, start + warmup_s + window_s

        async def worker() -> None:
            nonlocal next_request, unfinished
            while time.perf_counter() < closes:
                url, params = requests[next_request % len(requests)]
                next_request += 1
                began = time.perf_counter()
                error = ""
                try:
                    response = await client.get(url, params=params)
                    await response.aread()
                    if response.status_code != 200:
                        error = f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as err:
                    error = (
                        f"{type(err).__name__} ({err!r}, cause {err.__cause__!r}) after "
                        f"{time.perf_counter() - began:.2f} s, {began - start:.1f} s into the "
                        f"run: {params}"
                    )
                ended = time.perf_counter()
                if ended > closes:
                    unfinished += 1
                elif ended >= opens:
                    times.append(ended - began)
                    if error:
                        errors.append(error)

        await asyncio.gather(*(worker() for _ in range(clients)))
    ms = [t * 1000 for t in times] or [0.0]
    return Load(
        clients=clients,
        seconds=window_s,
        requests=len(times),
        errors=len(errors),
        throughput_rps=len(times) / window_s,
        median_ms=statistics.median(ms),
        p99_ms=percentile(ms, 0.99),
        distinct_requests=len({(u, tuple(sorted(p.items()))) for u, p in requests}),
        unfinished_at_end=unfinished,
        first_error=errors[0] if errors else "",
    )
