"""Datasets kept per process on PostgreSQL, dropped when any process changes one.

Reading a dataset (the catalog query and its JSON validated into models) costs about a
millisecond and every request does it. A trigger on ``blotter_datasets`` sends
``NOTIFY`` with the dataset's id in the writing transaction, whichever process or code path
writes (PostgreSQL delivers it only when that transaction commits). Each process LISTENs on
a dedicated connection, on a background thread, and drops the named dataset (and the list).
Writes made by this process that may change a dataset (its row, metadata, permissions or
current version) drop its entries at once, when their transaction ends; the writes that
cannot (page views, audit entries, sessions, accounts, quality reports) keep them, so a busy
page's view counts do not empty the cache (``reloads`` and ``drops`` count what happened).

Never stale silently: datasets are kept only while the listening connection is up. When it
is lost the whole cache is dropped and reads go to the database until the thread has
listened again. Another process's change is seen once its notification arrives, which
PostgreSQL sends at the commit (well under a millisecond on one host). With a read replica
nothing is kept: notifications come from the primary, which the replica may trail.
"""

from __future__ import annotations

import hashlib
import logging
import select
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

T = TypeVar("T")
_LIST = ""  # the key of the list of every dataset (ids are never empty)
# The listening connection's name in pg_stat_activity: one per process, outside the pool.
LISTENER_NAME = "blotter-listen"


def channel(schema: str) -> str:
    """The notification channel of one portal's schema (several may share a database)."""
    return "blotter_datasets_" + hashlib.sha256(schema.encode()).hexdigest()[:16]


def install_trigger(conn: psycopg.Connection[Any], schema: str) -> None:
    """The trigger sending each changed dataset's id (idempotent; run at every start)."""
    conn.execute(
        "CREATE OR REPLACE FUNCTION blotter_dataset_changed() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "PERFORM pg_notify(TG_ARGV[0], CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END); "
        "RETURN NULL; END $$"
    )
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE TRIGGER blotter_dataset_changed AFTER INSERT OR UPDATE OR DELETE "
            "ON blotter_datasets FOR EACH ROW EXECUTE FUNCTION blotter_dataset_changed({})"
        ).format(sql.Literal(channel(schema)))
    )


class DatasetCache:
    """Values read from the catalog, by dataset id, kept while notifications are heard."""

    def __init__(self, url: str, schema: str, *, retry_s: float = 1.0) -> None:
        self._url, self._channel, self._retry_s = url, channel(schema), retry_s
        self._entries: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._generation = 0  # counts drops, so a read that raced one is not kept
        self.reloads = 0  # reads that went to the catalog because nothing was kept
        self.drops = 0
        self._listening = threading.Event()
        self._stop = threading.Event()
        # close() writes to one end so the listening thread stops at once, not at its next
        # half-second check (a test or a server stopping would otherwise wait for it).
        self._wake_r, self._wake_w = socket.socketpair()
        self.backend_pid: int | None = None  # the listening connection's server process
        self._thread = threading.Thread(target=self._listen, name="blotter-listen", daemon=True)
        self._thread.start()

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def wait_listening(self, timeout_s: float) -> bool:
        return self._listening.wait(timeout_s)

    def get(self, key: str, read: Callable[[], T]) -> T:
        """The kept value of ``key``, or ``read()``'s (kept if nothing changed meanwhile)."""
        if not self._listening.is_set():
            return read()
        with self._lock:
            generation = self._generation
            if key in self._entries:
                kept: T = self._entries[key]
                return kept
            self.reloads += 1
        value = read()
        with self._lock:
            if self._generation == generation and self._listening.is_set():
                self._entries[key] = value
        return value

    def get_list(self, read: Callable[[], T]) -> T:
        return self.get(_LIST, read)

    def drop(self, key: str | None = None) -> None:
        """Forget one dataset (and the list), or everything."""
        with self._lock:
            self._generation += 1
            self.drops += 1
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)
                self._entries.pop(_LIST, None)

    def close(self) -> None:
        self._stop.set()
        if self._wake_w.fileno() != -1:  # not closed before
            self._wake_w.send(b"x")  # wakes the thread from its wait for notifications
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._wake_r.close()
            self._wake_w.close()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._url, autocommit=True, connect_timeout=5, application_name=LISTENER_NAME
                ) as conn:
                    self.backend_pid = conn.info.backend_pid
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    # Anything kept before now may have missed a notification.
                    self.drop()
                    self._listening.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0):  # those arrived, if any
                            self.drop(note.payload)
                        # Until more arrive, close() wakes it, or half a second passes.
                        select.select([conn.fileno(), self._wake_r.fileno()], [], [], 0.5)
            except psycopg.Error as err:
                if not self._stop.is_set():
                    log.warning("Lost the dataset notifications (%s); not caching until back", err)
            finally:
                self._listening.clear()
                self.backend_pid = None
                self.drop()
            self._stop.wait(self._retry_s)
