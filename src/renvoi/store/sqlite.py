"""SQLite as renvoi runs it: WAL mode and its pragmas on every connection, and the
writer's turn.

SQLite has one writer at a time. Writers queue here rather than in SQLite's own busy
handler, which makes a waiting writer sleep and poll (up to 100 ms a nap) and under load
turns a queue of short transactions into a convoy of sleepers: first on a thread lock
(the writers of one process), then on a lock file beside the database, polled every half
millisecond (the processes of one machine, uvicorn's workers).

The turn's holder that writes in batches (``groupcommit``) keeps a connection of its
own, which never checkpoints the WAL inside its commits: a thread does, every
``CHECKPOINT_EVERY`` seconds. ``Database`` (``database.py``) uses this; nothing else
should.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, event

from renvoi.errors import StoreError, StoreUnavailableError
from renvoi.store.driver import ThreadConnections, on_driver, sqlite_of

# Seconds between the turn's WAL checkpoints (``Turn.write_in_turn``).
CHECKPOINT_EVERY = 0.1


def configure(engine: Engine, *, synchronous: str, timeout: float, mmap: int) -> None:
    """Every connection of ``engine``: WAL, ``synchronous``, a busy timeout, foreign keys,
    ``mmap_size``; and transactions begun by SQLAlchemy's events, in the mode a
    connection asks for (``sqlite_begin``: ``DEFERRED`` or ``IMMEDIATE``)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy's events emit BEGIN (pysqlite's own BEGIN is deferred, and late).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA mmap_size={int(mmap)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


class Turn:
    """The turn to write on one SQLite database, for the threads and processes of one
    machine.

    Args:
        path: the database file (its lock file is ``path.writer-lock``), or None for a
            database in memory (then only the thread lock).
        timeout: seconds a writer waits for its turn before code 20.
    """

    def __init__(self, path: str | None, *, timeout: float) -> None:
        self._timeout = timeout
        self._threads = threading.Lock()
        self._lock_file: int | None = None
        if path is not None:
            with contextlib.suppress(OSError):  # unwritable: SQLite's busy handler only
                self._lock_file = os.open(f"{path}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._connection: Connection | None = None
        self._checkpoints: tuple[threading.Event, threading.Thread] | None = None

    @contextmanager
    def queued(self) -> Iterator[None]:
        """Wait for the turn, hold it for the block.

        Raises:
            StoreUnavailableError: not had within the timeout ("database is locked").
        """
        deadline = time.monotonic() + self._timeout
        if not self._threads.acquire(timeout=self._timeout):
            raise StoreUnavailableError("database is locked")
        try:
            while not self._lock_machine():
                if time.monotonic() > deadline:
                    raise StoreUnavailableError("database is locked")
                time.sleep(0.0005)
            try:
                yield
            finally:
                self._unlock_machine()
        finally:
            self._threads.release()

    def try_take(self) -> bool:
        """Take the turn without waiting; False: another writer has it."""
        if not self._threads.acquire(blocking=False):
            return False
        if not self._lock_machine():
            self._threads.release()
            return False
        return True

    def give_back(self) -> None:
        """End a turn ``try_take`` took."""
        self._unlock_machine()
        self._threads.release()

    @contextmanager
    def transaction(self, engine: Engine, connections: ThreadConnections) -> Iterator[Connection]:
        """A write transaction for the turn's holder, on the connection kept for it (a
        pool checkout and return per batch costs twice the transaction's own BEGIN and
        COMMIT). That connection never checkpoints the WAL: a thread does, on its own
        connection of ``connections``, every ``CHECKPOINT_EVERY`` seconds."""
        if self._connection is None:
            connection = engine.connect().execution_options(sqlite_begin="IMMEDIATE")
            on_driver(sqlite_of(connection), "PRAGMA wal_autocheckpoint=0")
            self._connection = connection
            self._start_checkpoints(connections)
        connection = self._connection
        try:
            with connection.begin():
                yield connection
        except BaseException:
            # Whatever state a failure left it in, the next batch starts afresh.
            self._connection = None
            connection.close()
            raise

    def _start_checkpoints(self, connections: ThreadConnections) -> None:
        if self._checkpoints is not None:
            return
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(CHECKPOINT_EVERY):
                # PASSIVE: copies what no reader still needs, waits for nobody. A failure
                # (the database busy or gone) is tried again at the next tick.
                with contextlib.suppress(StoreError):
                    on_driver(connections.get(), "PRAGMA wal_checkpoint(PASSIVE)")
            connections.drop()

        self._checkpoints = (
            stop,
            threading.Thread(target=run, name="renvoi-checkpoints", daemon=True),
        )
        self._checkpoints[1].start()

    def _lock_machine(self) -> bool:
        """The lock file shared by the processes of this machine, if any: taken?"""
        if self._lock_file is None:
            return True
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock_machine(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def close(self) -> None:
        """Stop the checkpoints, close the kept connection and the lock file."""
        if self._checkpoints is not None:
            stop, thread = self._checkpoints
            stop.set()
            thread.join()
            self._checkpoints = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None
