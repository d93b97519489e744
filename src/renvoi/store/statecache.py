"""What the request path keeps in memory, and how every process hears that it changed.

Most requests ask about a state that has not changed since the last one: the route of a
number called again, the API key of a customer's next request, the number it reads.
Each process keeps these on *shelves* (one per kind of answer) and forgets an entry the
moment it may be stale. Writers *announce* what they change, inside their transaction:
a number (its E.164), or everything (an API key or an account changed).

How a cache hears it depends on the backend:

- SQLite (exact): ``PRAGMA data_version`` on a connection of the cache's own moves
  whenever any other connection, in any process, commits. It is checked on every
  look-up: a pragma answered from the WAL index, microseconds, no table read. Most
  commits are call records, which announce nothing; when it moves, the cache reads the
  ``cache_events`` written since the last it saw and forgets those subjects. So a look-up
  that starts after a change has committed never sees the old state: a revoked key
  fails at its very next request, on every process.
- PostgreSQL (within delivery): every announcement is a ``pg_notify`` in the writer's
  transaction; a listener per process (a task of its event loop) forgets the subject
  when the commit is delivered (typically well under a millisecond on one network),
  and everything whenever it (re)connects, since notifications sent while it was away
  are lost. The cache serves only while the listener hears from the server (a probe
  every ``HEARTBEAT_SECONDS``). Until delivery another node may still answer from the
  old state, so only the route shelf serves on PostgreSQL (a call routed a millisecond
  after a change, as it would have been a millisecond before it). API keys and
  customers' reads are shelves that serve only where the cache is exact: on PostgreSQL
  they read the database every time, and a revoked key fails at once there too.

A generation counter guards the race between a load and an invalidation: a state read
before an invalidation is not stored after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections import OrderedDict
from typing import Any, Final, Generic, TypeVar, cast

import psycopg
import structlog
from sqlalchemy import Connection, Select, bindparam, delete, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.sql.dml import UpdateBase

from renvoi.store.database import Database
from renvoi.store.models import CacheEvent
from renvoi.store.pointread import PointRead

CHANNEL: Final = "renvoi_routes"
log = structlog.get_logger("renvoi.statecache")

# What a shelf answers for a key it does not hold.
MISSING: Final = object()
# Events kept in ``cache_events``: a cache further behind than this forgets everything.
KEEP_EVENTS: Final = 1024
# How often a PostgreSQL listener proves that its connection still answers. A server
# that vanished without closing the socket (a partition) sends nothing, which a quiet
# listener cannot tell from no changes: the cache stops serving once it has heard
# nothing, neither a notification nor a probe's answer, for two of these.
HEARTBEAT_SECONDS: Final = 1.0

V = TypeVar("V")

_INSERT_EVENT = insert(CacheEvent).values(subject=bindparam("b_subject"))
_PRUNE_EVENTS = delete(CacheEvent).where(CacheEvent.seq <= bindparam("b_seq"))


def announcing(*statements: UpdateBase) -> Select[tuple[Any]]:
    """PostgreSQL: ``statements`` (an UPDATE, an INSERT), then ``announce``'s
    notification, as one statement (data-modifying CTEs): one round trip instead of one
    each. Built once, run with the statements' parameters and ``notice(subject)``."""
    notify = select(func.pg_notify(bindparam("channel"), bindparam("subject")))
    return notify.add_cte(*(s.cte(f"step_{i}") for i, s in enumerate(statements)))


def notice(subject: str | None) -> dict[str, str]:
    """The parameters of ``announcing``'s notification that ``subject`` changed."""
    return {"channel": CHANNEL, "subject": subject or ""}


_NOTIFY = announcing()


def announce(db: Database, conn: Connection, subject: str | None) -> None:
    """Tell every process's caches, within the writer's transaction, that ``subject``
    changed: a number in E.164, or None for everything (keys, accounts).

    Delivered at commit, never for a rolled-back change: on PostgreSQL a notification
    is part of the transaction; on SQLite the event row is.
    """
    if not db.is_sqlite:
        db.execute(conn, _NOTIFY, notice(subject))
        return
    seq = db.execute(conn, _INSERT_EVENT, {"b_subject": subject})
    if seq is not None and seq % KEEP_EVENTS == 0:
        db.execute(conn, _PRUNE_EVENTS, {"b_seq": seq - KEEP_EVENTS})


class StateCache:
    """One process's shelves, and the watch that empties them.

    Args:
        db: the database whose changes invalidate the cache.
        enabled: False turns every shelf off (every look-up reads the database).
        entries: the most entries a shelf keeps; the oldest goes first.
    """

    def __init__(
        self,
        db: Database,
        *,
        enabled: bool = True,
        entries: int = 100_000,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.enabled = enabled
        self.heartbeat = heartbeat
        self.entries = entries
        self.exact = db.is_sqlite
        self.db = db
        self._shelves: list[Shelf[object]] = []
        self.lock = threading.Lock()
        self.generation = 0
        self._listener: asyncio.Task[None] | None = None
        self._sqlite: sqlite3.Connection | None = None
        self._data_version: int | None = None
        self._seq = 0
        # Serving: SQLite once watching (``start``); PostgreSQL until ``_heard_by``
        # (0 while its listener is not connected).
        self._watching = False
        self._heard_by = 0.0

    def shelf(
        self, load: PointRead[V], *, per_number: bool, keep_missing: bool, exact_only: bool
    ) -> Shelf[V | None]:
        """A new shelf of this cache.

        Args:
            load: reads the answer for a key from the database (a store look-up).
            per_number: its keys are numbers, forgotten one by one as they change (else
                only an announcement of everything empties it).
            keep_missing: whether a None answer is kept (a number that is not on the
                platform is; an unknown API key is not, or guesses would fill memory).
            exact_only: serve only where the cache is exact (SQLite; see the module).
        """
        new: Shelf[V | None] = Shelf(
            self, load, per_number=per_number, keep_missing=keep_missing, exact_only=exact_only
        )
        self._shelves.append(cast("Shelf[object]", new))
        return new

    async def start(self) -> None:
        """Begin watching the database for changes (PostgreSQL: a task of the running
        loop, which hears a notification in the same wait as the requests, not in a
        thread of its own that every change would wake)."""
        if not self.enabled:
            return
        if self.db.is_sqlite:
            path = make_url(self.db.url).database or ""
            try:
                self._sqlite = sqlite3.connect(path, check_same_thread=False, timeout=5)
                self._data_version = self._sqlite.execute("PRAGMA data_version").fetchone()[0]
                (self._seq,) = self._sqlite.execute(
                    "SELECT coalesce(max(seq), 0) FROM cache_events"
                ).fetchone()
                self._watching = True
            except sqlite3.Error as exc:
                # No way to see changes: serve from the database, uncached (still correct).
                self._sqlite = None
                log.warning("state_cache_off", error=type(exc).__name__)
        else:
            self._listener = asyncio.create_task(self._listen(), name="renvoi-cache-listener")

    @property
    def live(self) -> bool:
        """Whether the cache serves (PostgreSQL: its listener is connected and has heard
        from the server within two heartbeats)."""
        if not self.enabled:
            return False
        return self._watching if self.exact else time.monotonic() < self._heard_by

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._sqlite is not None:
            self._sqlite.close()

    def invalidate(self, subject: str | None = None) -> None:
        """Forget one number, or everything."""
        with self.lock:
            self.generation += 1
            for shelf in self._shelves:
                if subject is None:
                    shelf.entries.clear()
                elif shelf.per_number:
                    shelf.entries.pop(subject, None)

    def refresh(self) -> None:
        """Forget whatever changed since the last look-up (SQLite)."""
        assert self._sqlite is not None
        try:
            (version,) = self._sqlite.execute("PRAGMA data_version").fetchone()
            if version == self._data_version:
                return
            self._data_version = version
            events = self._sqlite.execute(
                "SELECT seq, subject FROM cache_events WHERE seq > ? ORDER BY seq LIMIT ?",
                (self._seq, KEEP_EVENTS),
            ).fetchall()
        except sqlite3.Error:
            self._data_version = None
            self.invalidate()
            return
        if not events:
            return
        # Sequence numbers of committed events are consecutive (SQLite's AUTOINCREMENT
        # is transactional): a gap means pruned events this cache never read.
        behind = events[0][0] != self._seq + 1 or len(events) == KEEP_EVENTS
        self._seq = events[-1][0]
        if behind or any(subject is None for _, subject in events):
            self.invalidate()
            return
        for _, subject in events:
            self.invalidate(subject)

    async def _listen(self) -> None:
        url = make_url(self.db.url).set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        try:
            while True:
                try:
                    async with await psycopg.AsyncConnection.connect(
                        dsn, autocommit=True, connect_timeout=5
                    ) as conn:
                        await conn.execute(f"LISTEN {CHANNEL}")
                        self._heard()
                        while True:
                            async for notice in conn.notifies(timeout=self.heartbeat):
                                self._heard()
                                self.invalidate(notice.payload or None)
                            await self._probe(conn)
                except (psycopg.Error, TimeoutError) as exc:
                    self._heard_by = 0.0
                    log.warning("cache_listener_reconnecting", error=type(exc).__name__)
                    await asyncio.sleep(1.0)
        finally:
            self._heard_by = 0.0

    def _heard(self) -> None:
        now = time.monotonic()
        if now >= self._heard_by:
            # Heard after a silence or a (re)connection: what was sent meanwhile is
            # lost or still on its way, so nothing kept from before is trusted.
            self.invalidate()
        self._heard_by = now + 2 * self.heartbeat

    async def _probe(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The server still answers (else ``TimeoutError``, and the listener reconnects;
        the cache has stopped serving meanwhile, ``live``). A notification that arrives
        during the probe is kept by psycopg (3.3: ``notifies()`` yields it next)."""
        async with asyncio.timeout(5 * self.heartbeat):
            await conn.execute("SELECT 1")
        self._heard()


class Shelf(Generic[V]):
    """One kind of cached answer, by key (made by ``StateCache.shelf``)."""

    def __init__(
        self,
        cache: StateCache,
        load: PointRead[Any],
        *,
        per_number: bool,
        keep_missing: bool,
        exact_only: bool,
    ) -> None:
        self._cache = cache
        self._load = load
        self.per_number = per_number
        self._keep_missing = keep_missing
        self._exact_only = exact_only
        # Oldest first. Not a plain dict: deleting a dict's first key leaves a hole that
        # every later ``next(iter(...))`` walks over until the dict is resized, so that
        # eviction from a full shelf grows with its size; ``popitem`` does not.
        self.entries: OrderedDict[str, V] = OrderedDict()

    @property
    def serving(self) -> bool:
        cache = self._cache
        return cache.live and (cache.exact or not self._exact_only)

    async def lookup(self, key: str) -> V:
        """The answer for ``key``: from memory, or read (``PointRead.read``) and kept."""
        cached = self.get(key)
        if cached is not MISSING:
            return cast("V", cached)
        generation = self._cache.generation
        value = cast("V", await self._load.read(self._cache.db, key))
        self.put(key, value, generation)
        return value

    def get(self, key: str) -> V | object:
        """The kept answer, or ``MISSING`` (read it, then ``put``)."""
        if not self.serving:
            return MISSING
        if self._cache.exact:
            self._cache.refresh()
        return self.entries.get(key, MISSING)

    def put(self, key: str, value: V, generation: int) -> None:
        """Keep an answer read while the cache was at ``generation``."""
        if not self.serving or (value is None and not self._keep_missing):
            return
        with self._cache.lock:
            if generation != self._cache.generation:
                return
            if len(self.entries) >= self._cache.entries:
                self.entries.popitem(last=False)  # full: the oldest entry goes
            self.entries[key] = value
