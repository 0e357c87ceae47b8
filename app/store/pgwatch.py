"""The current version of every layer, kept in memory and dropped when PostgreSQL announces a change.

Asking PostgreSQL on every screening costs a round trip (~0.5 ms, as much as the rest of the overlay).
Migration 005 makes a trigger on ``layer`` send ``NOTIFY ecoredline_layer`` at commit; this object holds
one listening connection and, before answering from memory, reads whatever has arrived on its socket
without blocking (a few µs). Whenever the listening connection is not known to be alive, it answers
from the database, so a lost connection costs speed, never correctness; and what it holds is asked
again after ``max_age_s`` anyway, in case a connection died without a word (a network partition).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg

CHANNEL = "ecoredline_layer"
log = logging.getLogger(__name__)

Versions = dict[str, tuple[str, str]]


class CurrentVersions:
    def __init__(self, url: str, load: Callable[[], Versions], max_age_s: float = 30.0) -> None:
        self._url = url
        self._load = load
        self._max_age_s = max_age_s
        self._loaded_at = 0.0
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._value: Versions | None = None
        self.loads = 0  # how often the database was asked (tests watch it)

    def get(self) -> Versions:
        with self._lock:
            now = time.monotonic()
            if not self._listening() or self._changed() or now - self._loaded_at > self._max_age_s:
                self._value = None
            if self._value is None:
                self.loads += 1
                value = self._load()
                self._loaded_at = now
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
            self._drop()

    def _listening(self) -> bool:
        if self._conn is not None:
            return True
        try:
            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
            self._conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            log.warning("not listening for layer changes (%s); asking the database each time", exc)
            self._drop()
            return False
        self._value = None  # anything cached before this LISTEN may have missed a notification
        return True

    def _changed(self) -> bool:
        """Drain the notifications already on the socket; a broken connection counts as a change."""
        pg = self._conn.pgconn
        try:
            pg.consume_input()
            got = False
            while pg.notifies() is not None:
                got = True
            if pg.status != psycopg.pq.ConnStatus.OK:
                raise psycopg.OperationalError("listening connection lost")
            return got
        except psycopg.Error as exc:
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
