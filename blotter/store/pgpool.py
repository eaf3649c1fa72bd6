"""PostgreSQL connections for the store: the database made if missing, a bounded pool, a
check before each use, and the database's faults turned into errors that say what happened.

A restart or failover of PostgreSQL ends every connection a pool holds. Each connection is
checked with one empty round trip when it is taken, and the first one found broken has the
pool drop every broken one at once, so requests get a fresh connection instead of an error.
While the database cannot be reached, a request waits at most ``wait_s`` and is answered 503
``store.unavailable`` with ``Retry-After``. While it answers but every connection of the pool
is in use (a burst of slow questions), a request queues for one up to ``busy_wait_s``, then is
answered 503 ``store.busy``: a full queue is not an outage, and is not reported as one.
Nor is an error of the request's own that psycopg also classes as operational (``fault``):
a server short of memory or disk is ``store.short-of-resources``, a deadlock or a lock not
granted in time ``store.conflict``, and neither makes the pool retry on another connection.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import psycopg.conninfo
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from blotter.errors import (
    BlotterError,
    StoreConflict,
    StoreSaturated,
    StoreShortOfResources,
    StoreUnavailable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class PoolLimits:
    """How many connections a pool keeps and opens, how long one may idle, and how long a
    request waits for one."""

    min_size: int = 1
    max_size: int = 8
    idle_s: float = 60.0
    wait_s: float = 5.0
    busy_wait_s: float = 30.0


class Pool(ConnectionPool):
    """A psycopg pool that knows how long a request queues for a connection while all of
    them are busy (``PoolLimits.busy_wait_s``)."""

    def __init__(self, *args: Any, busy_wait_s: float, **kwargs: Any) -> None:
        self.busy_wait_s = busy_wait_s
        super().__init__(*args, **kwargs)


def open_pool(url: str, schema: str, limits: PoolLimits) -> ConnectionPool:
    """A pool for ``url`` that opens connections in the background and never blocks."""
    connect_s = max(1, math.ceil(limits.wait_s))
    return Pool(
        url,
        min_size=min(limits.min_size, limits.max_size),
        max_size=limits.max_size,
        max_idle=limits.idle_s,
        timeout=limits.wait_s,
        # A failed attempt to connect is given up after the wait, so the next request starts
        # a fresh one at once: after an outage the pool reconnects within a second or two,
        # not after a back-off grown through the whole outage.
        reconnect_timeout=limits.wait_s,
        kwargs={
            "options": f"-c search_path={schema}",
            "autocommit": True,
            # A host that drops packets must not hold the pool's workers for minutes.
            "connect_timeout": connect_s,
        },
        open=True,
        busy_wait_s=max(limits.busy_wait_s, limits.wait_s),
    )


def checkout(pool: ConnectionPool, wait_s: float, first: bytes = b"") -> psycopg.Connection[Any]:
    """A connection that has just answered a round trip; StoreUnavailable after ``wait_s``.
    The round trip runs ``first`` (statements without parameters, such as a read's
    ``BEGIN``), so a read starting its transaction pays no round trip for the check."""
    conn, _ = checked(pool, wait_s, lambda conn: conn.execute(first))
    return conn


def checked(
    pool: ConnectionPool,
    wait_s: float,
    run: Callable[[psycopg.Connection[Any]], T],
) -> tuple[psycopg.Connection[Any], T]:
    """A connection and what ``run`` gave on it, ``run``'s first round trip being the
    connection's check: a connection ``run`` finds broken (an error that ``lost`` says
    ended it) is given back and ``run`` tried on another, until ``wait_s``, then
    StoreUnavailable. On any other error the connection goes back to the pool, its work
    undone."""
    deadline = time.monotonic() + wait_s
    while True:
        left = deadline - time.monotonic()
        try:
            conn = pool.getconn(timeout=max(left, 0.01))
        except PoolTimeout as err:
            conn = queued(pool, err, wait_s)
        except psycopg.OperationalError as err:  # nothing connects
            raise unavailable(err, wait_s) from err
        try:
            return conn, run(conn)
        except psycopg.OperationalError as err:
            if not lost(err):  # the question's own error: asking again elsewhere is no cure
                release(pool, conn)
                raise
            # A restart ends every connection at once: drop the others now rather than
            # find them broken one request at a time.
            log.warning("PostgreSQL connection found broken (%s); checking the pool", err)
            pool.putconn(conn)
            pool.check()
            if time.monotonic() >= deadline:
                raise unavailable(err, wait_s) from err
        except BaseException:
            release(pool, conn)  # nothing else holds it: back to the pool, its work undone
            raise


def saturated(pool: ConnectionPool) -> bool:
    """Whether every connection the pool may open is open and in use."""
    stats = pool.get_stats()
    return stats.get("pool_size", 0) >= pool.max_size and not stats.get("pool_available", 0)


def queued(pool: ConnectionPool, err: PoolTimeout, wait_s: float) -> psycopg.Connection[Any]:
    """After ``wait_s`` without a connection: if the pool is full of working connections,
    wait on for one up to the pool's ``busy_wait_s`` in all, then ``store.busy``; if it is
    not (its connections cannot be made), the database is unreachable."""
    busy_wait_s = pool.busy_wait_s if isinstance(pool, Pool) else wait_s
    if not saturated(pool):
        raise unavailable(err, wait_s) from err
    try:
        return pool.getconn(timeout=max(busy_wait_s - wait_s, 0.01))
    except PoolTimeout as again:
        if not saturated(pool):
            raise unavailable(again, wait_s) from again
        log.warning(
            "Every one of the %d PostgreSQL connections was busy for %.0f s; a request was "
            "answered 503 store.busy (raise BLOTTER_DATABASE_POOL_MAX or the database's "
            "capacity if this recurs)",
            pool.max_size,
            busy_wait_s,
        )
        raise StoreSaturated(
            "Every database connection of this server is answering other requests; please "
            "try again in a few seconds.",
            retry_after_s=max(1, math.ceil(wait_s)),
        ) from again


def lost(err: psycopg.OperationalError) -> bool:
    """Whether ``err`` means the connection ended or the server is gone: a connection
    exception (SQLSTATE class 08), the server shutting down, starting up or ending the
    session (57P01-57P05), or an error psycopg raised itself, with no SQLSTATE (a closed
    socket, a refused connection). psycopg classes many errors of a request's own as
    operational too: a cancelled statement, a deadlock, a full disk."""
    state = err.sqlstate
    return state is None or state.startswith(("08", "57P"))


def fault(err: psycopg.OperationalError, wait_s: float) -> BlotterError | None:
    """What an operational error tells the client, or None to let it through as it is (a
    cancelled statement, which the read's own time limit explains, or one not known here,
    which is reported as the bug it may be). Its cause is logged, not shown: it may name
    files or hosts."""
    state = err.sqlstate or ""
    if lost(err):
        return unavailable(err, wait_s)
    if state.startswith("53"):  # insufficient resources: disk, memory, connections
        log.warning("PostgreSQL short of resources (%s): %s", state, str(err).strip())
        return StoreShortOfResources(
            "The database ran short of memory, disk space or connections while working on "
            "this request, so it was stopped and nothing it would have changed was kept. "
            "Please try again in a few minutes; if it keeps failing, ask for fewer rows, or "
            "tell the portal's operator (the server's log says which limit was met).",
            retry_after_s=60,
        )
    if state.startswith("40") or state == "55P03":  # deadlock, serialization, lock wait
        log.warning("PostgreSQL conflict (%s): %s", state, str(err).strip())
        return StoreConflict(
            "Another change to the database at the same moment held what this request "
            "needed, so it was rolled back and nothing changed. Please send it again.",
            retry_after_s=1,
        )
    return None


@contextmanager
def database_faults(wait_s: float) -> Iterator[None]:
    """Turn a database fault into the error that says what it was (``fault``): a lost or
    unreachable database is StoreUnavailable (a 503). Every other error (a timeout, a
    constraint) is left as it is."""
    try:
        yield
    except psycopg.OperationalError as err:
        mapped = fault(err, wait_s)
        if mapped is None:
            raise
        raise mapped from err


@contextmanager
def write_lost() -> Iterator[None]:
    """Say what a write cut by a lost database left: PostgreSQL rolls back the open
    transaction, so nothing, unless the loss fell on the commit itself."""
    try:
        yield
    except StoreUnavailable as err:
        raise StoreUnavailable(
            "The database was lost during the write, so it was rolled back and nothing "
            "changed (unless the loss came as it committed: check the dataset's versions "
            "before running it again).",
            **err.data,
        ) from err


def unavailable(err: BaseException, wait_s: float) -> StoreUnavailable:
    """The 503 for a database fault; its cause is logged, not shown (it may name hosts)."""
    log.warning("PostgreSQL unavailable: %s", str(err).strip() or type(err).__name__)
    return StoreUnavailable(
        "The database is not reachable just now; please try again in a few seconds.",
        retry_after_s=max(1, math.ceil(wait_s)),
    )


def release(pool: ConnectionPool, conn: psycopg.Connection[Any]) -> None:
    """Give a read's connection back: its transaction ended (``rollback`` sends ROLLBACK
    whenever one is open, in autocommit mode too) and autocommit restored, or, if it is
    broken, to the pool that closes and replaces it."""
    with contextlib.suppress(psycopg.Error):
        if not conn.broken:
            conn.rollback()
            conn.autocommit = True
    pool.putconn(conn)


def ensure_database(url: str, wait_s: float) -> None:
    """Create the database the URL names if the server does not have it yet: no DBA needed."""
    connect_s = max(1, math.ceil(wait_s))
    try:
        psycopg.connect(url, connect_timeout=connect_s).close()
        return
    except psycopg.OperationalError as err:
        if "does not exist" not in str(err):
            reason = " ".join(str(err).split())  # one line, for the command line and logs
            raise StoreUnavailable(f"Cannot reach PostgreSQL at {_safe(url)}: {reason}") from err
    info = psycopg.conninfo.conninfo_to_dict(url)
    name = str(info.get("dbname", ""))
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    # Another worker may have created it first.
    with (
        database_faults(wait_s),
        psycopg.connect(admin, autocommit=True, connect_timeout=connect_s) as conn,
        contextlib.suppress(psycopg.errors.DuplicateDatabase),
    ):
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]
