"""The route cache: a number's routing state kept in memory, dropped the moment it changes.

Every call asks the route endpoint; most calls go to numbers whose state has not changed
since the last one, so the state is cached per process. Staleness is what must never
happen, and each backend says when to forget:

- SQLite: ``PRAGMA data_version`` on a connection of the cache's own changes whenever any
  other connection (any process) commits. Checked on every look-up — a pragma answered
  from the WAL index, microseconds, no table read. Most commits are call records, which
  change no route: when it moves, the cache reads the route epoch (one row, which every
  change to a number increments in its transaction) and clears itself only if that
  moved too.
- PostgreSQL: every change to a number runs ``pg_notify('renvoi_routes', number)`` in its
  transaction; a listener thread per process drops that number when the commit is
  delivered, and clears everything whenever it (re)connects, since notifications sent
  while it was away are lost. The process that made a change also drops it before it
  answers (``invalidate``), so it is never stale to the node that acknowledged it.

A generation counter guards the race between a load and an invalidation: a state read
before an invalidation is not stored after it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Final, cast

import anyio.to_thread
import psycopg
import structlog
from sqlalchemy.engine import make_url

from renvoi.domain.routing import RouteState
from renvoi.store.database import Database

CHANNEL: Final = "renvoi_routes"
log = structlog.get_logger("renvoi.routecache")

# What ``get`` answers for a number it does not hold.
MISSING: Final = object()


class RouteCache:
    """Per-process cache of ``RouteState`` by E.164 number.

    Args:
        db: the database whose changes invalidate the cache.
        load: reads a number's state from the database (``calls.route_state``, passed in
            because that module announces its changes through this one).
        enabled: False turns the cache off (every look-up reads the database).
    """

    def __init__(
        self,
        db: Database,
        *,
        load: Callable[[str], RouteState | None],
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self._db = db
        self._load = load
        self._states: dict[str, RouteState | None] = {}
        self._lock = threading.Lock()
        self.generation = 0
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self._sqlite: sqlite3.Connection | None = None
        self._data_version: int | None = None
        self._epoch: int | None = None
        # PostgreSQL: the cache serves only while its listener is connected.
        self._live = db.is_sqlite

    def start(self) -> None:
        """Begin watching the database for changes."""
        if not self.enabled:
            return
        if self._db.is_sqlite:
            path = make_url(self._db.url).database or ""
            try:
                self._sqlite = sqlite3.connect(path, check_same_thread=False, timeout=5)
                self._sqlite.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error as exc:
                # No way to see changes: serve from the database, uncached (still correct).
                self._live = False
                self._sqlite = None
                log.warning("route_cache_off", error=type(exc).__name__)
        else:
            self._listener = threading.Thread(
                target=self._listen, name="renvoi-route-listener", daemon=True
            )
            self._listener.start()

    @property
    def live(self) -> bool:
        """Whether the cache serves (PostgreSQL: its listener is connected)."""
        return self.enabled and self._live

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
        if self._sqlite is not None:
            self._sqlite.close()

    async def lookup(self, e164: str) -> RouteState | None:
        """The state of a number: from memory, or loaded in a worker thread and kept."""
        cached = self.get(e164)
        if cached is not MISSING:
            return cast("RouteState | None", cached)
        generation = self.generation
        state = await anyio.to_thread.run_sync(self._load, e164)
        self.put(e164, state, generation)
        return state

    def get(self, e164: str) -> RouteState | object | None:
        """The cached state, or ``MISSING`` (call ``load`` then ``put``)."""
        if not self.enabled or not self._live:
            return MISSING
        if self._sqlite is not None:
            self._check_sqlite()
        with self._lock:
            return self._states.get(e164, MISSING)

    def put(self, e164: str, state: RouteState | None, generation: int) -> None:
        """Keep a state loaded while the cache was at ``generation``."""
        if not self.enabled or not self._live:
            return
        with self._lock:
            if generation == self.generation:
                self._states[e164] = state

    def invalidate(self, e164: str | None = None) -> None:
        """Forget one number, or everything."""
        with self._lock:
            self.generation += 1
            if e164 is None:
                self._states.clear()
            else:
                self._states.pop(e164, None)

    def _check_sqlite(self) -> None:
        assert self._sqlite is not None
        try:
            (version,) = self._sqlite.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            self.invalidate()
            return
        if version == self._data_version:
            return
        self._data_version = version
        try:
            row = self._sqlite.execute("SELECT value FROM route_epoch WHERE id = 1").fetchone()
        except sqlite3.Error:
            row = None
        epoch = row[0] if row else None
        if epoch is None or epoch != self._epoch:
            self._epoch = epoch
            self.invalidate()

    def _listen(self) -> None:
        url = make_url(self._db.url).set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.invalidate()  # whatever changed while we were not listening
                    self._live = True
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=0.5):
                            self.invalidate(notice.payload or None)
            except psycopg.Error as exc:
                self._live = False
                self.invalidate()
                log.warning("route_listener_reconnecting", error=type(exc).__name__)
                self._stop.wait(1.0)
        self._live = False
