"""The current version of every layer, kept in memory and dropped when PostgreSQL announces a change.

Asking PostgreSQL on every screening costs a round trip (~0.5 ms, as much as the rest of the overlay).
Migration 005 makes a trigger on ``layer`` send ``NOTIFY ecoredline_layer`` at commit; this object holds
one listening connection and, before answering from memory, reads whatever has arrived on its socket
without blocking (a few µs). Whenever the listening connection is not known to be alive, it answers
from the database, so a lost connection costs speed, never correctness. A connection that dies without
a word (a failover, a NAT timeout) cannot be told from a quiet one, so the listener is replaced every
``max_age_s`` and what it held is asked again; TCP keepalives find such a death sooner.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable

import psycopg

CHANNEL = "ecoredline_layer"
RETRY_S = 5.0  # after a failed LISTEN, ask the database each time and try again this much later
log = logging.getLogger(__name__)

Versions = dict[str, tuple[str, str]]


class CurrentVersions:
    def __init__(self, url: str, load: Callable[[], Versions], max_age_s: float = 30.0) -> None:
        self._url = url
        self._load = load
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._poll: select.poll | None = None  # poll, not select: a descriptor past 1024 is fine
        self._value: Versions | None = None
        self._listening_since = 0.0
        self._retry_at = 0.0
        self._closed = False
        self._told = False  # the server sent the listening connection a notice (FATAL before it goes)
        self.loads = 0  # how often the database was asked (tests watch it)

    def get(self) -> Versions:
        with self._lock:
            now = time.monotonic()
            if self._conn is not None and now - self._listening_since > self._max_age_s:
                self._drop()  # replaced, in case it died silently; what it held is asked again
            if not self._listening(now) or self._changed():
                self._value = None
                self._listening(now)  # after a loss, listen again before asking (or wait RETRY_S)
            if self._value is None:
                self.loads += 1
                value = self._load()
                if self._conn is None:
                    return value  # not listening: nothing would tell us when it goes stale
                self._value = value
            return dict(self._value)

    def invalidate(self) -> None:
        """Forget at once (this process published; the notification is on its way too)."""
        with self._lock:
            self._value = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()

    def _listening(self, now: float) -> bool:
        if self._conn is not None:
            return True
        if self._closed or now < self._retry_at:
            return False
        try:
            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5, keepalives=1,
                                         keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
            self._conn.execute(f"LISTEN {CHANNEL}")
            self._told = False
            self._conn.add_notice_handler(self._notice)
            self._poll = select.poll()
            self._poll.register(self._conn.pgconn.socket, select.POLLIN)
        except psycopg.Error as exc:
            log.warning("not listening for layer changes (%s); asking the database each time", exc)
            self._drop()
            self._retry_at = now + RETRY_S
            return False
        self._listening_since = now
        self._value = None  # anything cached before this LISTEN may have missed a notification
        return True

    def _notice(self, _diagnostic: psycopg.errors.Diagnostic) -> None:
        self._told = True

    def _changed(self) -> bool:
        """Drain what has arrived on the socket; a connection that is closing counts as a change.

        A server shutting down sends its last message and then closes: the first read takes the
        message, so the socket is read again while it has more (the close raises). A backend that is
        terminated sends a FATAL message first, which libpq hands to the notice handler while the close
        may still be on its way: any message but a notification counts as a loss."""
        pg = self._conn.pgconn
        try:
            got = False
            for _ in range(8):
                pg.consume_input()
                while pg.notifies() is not None:
                    got = True
                if self._told or pg.status != psycopg.pq.ConnStatus.OK:
                    raise psycopg.OperationalError("listening connection lost")
                if not self._poll.poll(0):
                    return got
            return True  # still more after eight reads: treat as changed
        except (psycopg.Error, OSError, ValueError) as exc:
            log.warning("layer-change listener lost (%s); reconnecting", exc)
            self._drop()
            return True

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None
        self._poll = None
