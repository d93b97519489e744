"""The database: one engine for SQLite or PostgreSQL, and the transactions renvoi runs.

Two kinds of transaction:

- ``write()``: on SQLite ``BEGIN IMMEDIATE``, after the writer's turn (``sqlite.Turn``),
  so writers queue up front instead of failing to upgrade a read lock half way; on
  PostgreSQL an ordinary transaction in which the caller locks rows
  (``SELECT ... FOR UPDATE``).
- ``read()``: a plain transaction, for answers that change nothing.

The request path runs prebuilt statements straight on the driver (``driver.py``): alone
(``fetch_one``, ``fetch_one_async``, ``write_one_async``) or in a transaction
(``execute``, ``execute_batch``); on PostgreSQL a coroutine awaits them on its event
loop's own connections (``pgpool.py``). Every failure leaves as a ``StoreError``
(``failures.py``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio.to_thread
import orjson
import psycopg
from sqlalchemy import ClauseElement, Connection, Engine, Select, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from renvoi.config import Settings
from renvoi.errors import StoreError, StoreUnavailableError
from renvoi.store import failures, sqlite
from renvoi.store.driver import (
    BATCH_ROWS,
    Compiled,
    Statements,
    ThreadConnections,
    bound,
    dbapi_of,
    on_driver,
    processed,
    sqlite_of,
)
from renvoi.store.pgpool import LoopPool, discard_if_ended

T = TypeVar("T")
AnySelect = Select[*tuple[Any, ...]]

__all__ = ["BATCH_ROWS", "AnySelect", "Database", "open_database"]


def _normalize_url(url: str) -> str:
    """Pick the drivers renvoi ships: psycopg 3 for PostgreSQL, stdlib sqlite3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """One engine and the transactions renvoi runs on it.

    Args:
        url: SQLAlchemy URL (``sqlite:///path`` or ``postgresql://...``).
        sqlite_synchronous: SQLite's ``synchronous`` pragma (WAL mode).
        sqlite_mmap_bytes: SQLite's ``mmap_size`` (every connection): reads touch mapped
            pages instead of making a read syscall per page.
        pool_size: connections kept per process.
        timeout: seconds to wait for a connection, a lock or a server before giving up.
    """

    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "FULL",
        sqlite_mmap_bytes: int = 0,
        pool_size: int = 10,
        timeout: float = 5.0,
    ) -> None:
        self.url = _normalize_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.timeout = timeout
        kwargs: dict[str, Any] = {"pool_size": pool_size, "max_overflow": pool_size * 2}
        path = parsed.database if self.is_sqlite and parsed.database != ":memory:" else None
        if self.is_sqlite:
            if path:
                # Where it cannot be made, the first query fails as "unavailable" (code 20).
                with contextlib.suppress(OSError):
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": timeout, "check_same_thread": False}
        else:
            kwargs["connect_args"] = {"connect_timeout": max(1, round(timeout))}
        kwargs["pool_timeout"] = timeout
        self.engine: Engine = create_engine(self.url, **kwargs)
        conninfo = (
            "" if self.is_sqlite else parsed.set(drivername="postgresql").render_as_string(False)
        )
        self._turn: sqlite.Turn | None = None
        self._loop_pool: LoopPool | None = None
        if self.is_sqlite:
            sqlite.configure(
                self.engine, synchronous=sqlite_synchronous, timeout=timeout, mmap=sqlite_mmap_bytes
            )
            self._turn = sqlite.Turn(path or None, timeout=timeout)
        else:
            event.listen(self.engine, "checkout", discard_if_ended)
            self._loop_pool = LoopPool(
                url=self.url, conninfo=conninfo, size=pool_size, timeout=timeout
            )
        self._statements = Statements(self.engine.dialect)
        self._threads = ThreadConnections(
            sqlite_path=(parsed.database or "") if self.is_sqlite else None,
            conninfo=conninfo,
            mmap=sqlite_mmap_bytes,
            timeout=timeout,
        )

    # --- transactions ---------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that will write; committed when the block ends without error."""
        queued = self._turn.queued() if self._turn is not None else contextlib.nullcontext()
        with self._mapped(), queued, self.engine.connect() as connection:
            if self.is_sqlite:
                connection = connection.execution_options(sqlite_begin="IMMEDIATE")
            with connection.begin():
                yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction that only reads."""
        with self._mapped(), self.engine.connect() as connection, connection.begin():
            yield connection

    def try_turn(self) -> bool:
        """Take the turn to write without waiting (SQLite), for a writer that must not
        block (``groupcommit``); ``end_turn`` gives it back. False: another writer has
        it."""
        assert self._turn is not None, "SQLite only"
        return self._turn.try_take()

    def end_turn(self) -> None:
        assert self._turn is not None, "SQLite only"
        self._turn.give_back()

    @contextmanager
    def write_in_turn(self) -> Iterator[Connection]:
        """``write()`` for the holder of the turn (``try_turn``), on a connection kept for
        the turn's holders (``sqlite.Turn.transaction``)."""
        assert self._turn is not None, "SQLite only"
        with self._mapped(), self._turn.transaction(self.engine, self._threads) as connection:
            yield connection

    async def write_async(self, work: Callable[[Connection], T]) -> T:
        """``write()`` for a coroutine, on PostgreSQL: ``work`` (the same function as for
        ``write()``) runs in a transaction of its own, awaited in the event loop on its
        async engine (``pgpool.LoopPool.write``), each statement without a hand-off to a
        thread. Without that engine (no ``open_async`` in this loop), in a worker thread.
        """
        if self._loop_pool is None or not self._loop_pool.here:
            return await anyio.to_thread.run_sync(self._write_alone, work)
        return await self._loop_pool.write(work, self._mapped)

    def _write_alone(self, work: Callable[[Connection], T]) -> T:
        with self.write() as conn:
            return work(conn)

    @contextmanager
    def savepoint(self, conn: Connection) -> Iterator[None]:
        """A savepoint in ``conn``'s transaction, rolled back if the block raises (on
        SQLite through the driver, as ``fetch_one``).

        Raises:
            StoreUnavailableError: the block raised and could not be undone alone (after
                some errors, out of memory or interrupted, SQLite rolls back the whole
                transaction, savepoint included): the transaction must not go on.
        """
        if not self.is_sqlite:
            with conn.begin_nested():
                yield
            return
        driver = sqlite_of(conn)
        on_driver(driver, "SAVEPOINT renvoi_work")
        try:
            yield
        except BaseException:
            try:
                on_driver(driver, "ROLLBACK TO renvoi_work")
                on_driver(driver, "RELEASE renvoi_work")
            except StoreError as exc:
                raise StoreUnavailableError(f"not undone: {exc}") from exc
            raise
        on_driver(driver, "RELEASE renvoi_work")

    @contextmanager
    def _mapped(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise self.mapped_error(exc) from exc

    def mapped_error(self, exc: SQLAlchemyError) -> StoreError:
        """What SQLAlchemy's ``exc`` means here (``failures.from_sqlalchemy``)."""
        return failures.from_sqlalchemy(exc, sqlite=self.is_sqlite)

    # --- the direct path --------------------------------------------------------------

    def fetch_one(
        self, statement: AnySelect, params: dict[str, Any], *, conn: Connection | None = None
    ) -> tuple[Any, ...] | None:
        """The first row of a prebuilt SELECT (a module constant), or None: in the
        transaction ``conn``, or else on its own (one statement, one snapshot).

        On its own, on PostgreSQL, it is one statement in autocommit on the calling
        thread's connection, tried once more on a new connection if that one was lost
        (a server restarted meanwhile).
        """
        compiled = self._statements.compiled(statement, params)
        if conn is None and not self.is_sqlite:
            try:
                found = self._run(None, compiled, params).fetchone()
            except StoreUnavailableError:
                self._threads.drop()
                found = self._run(None, compiled, params).fetchone()
        else:
            found = self._run(conn, compiled, params).fetchone()
        return processed(compiled, found)

    async def fetch_one_async(
        self, statement: AnySelect, params: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        """``fetch_one`` on its own, for a coroutine (a request, a cache load).

        On SQLite in the event loop's own thread: a read in WAL mode never waits on a
        lock, and a hand-off to a thread and back costs far more than the read. On
        PostgreSQL awaited on the loop's own pool (``open_async``), for the same reason;
        without that pool, in a worker thread.
        """
        if self.is_sqlite:
            return self.fetch_one(statement, params)
        if self._loop_pool is None or not self._loop_pool.here:
            return await anyio.to_thread.run_sync(partial(self.fetch_one, statement, params))
        compiled = self._statements.compiled(statement, params)
        found = await self._loop_pool.fetch_one(compiled, bound(compiled, params), retry=True)
        return processed(compiled, found)

    async def write_one_async(
        self, statement: AnySelect, params: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        """One prebuilt statement that writes (data-modifying CTEs under a SELECT), as a
        transaction of its own on the loop's pool (``open_async``; PostgreSQL only): the
        first row it returns, or None.

        Never tried again: a connection lost under it may have committed it. It fails
        as unavailable instead, as a change whose commit was not acknowledged. Without
        that pool (no ``open_async`` in this loop), in a worker thread.
        """
        compiled = self._statements.compiled(statement, params)
        if self._loop_pool is None or not self._loop_pool.here:
            return await anyio.to_thread.run_sync(self._write_one, compiled, params)
        found = await self._loop_pool.fetch_one(compiled, bound(compiled, params), retry=False)
        return processed(compiled, found)

    def _write_one(self, compiled: Compiled, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """``write_one_async`` on the calling thread's own connection; one lost under
        the statement is dropped, the next is new."""
        try:
            cursor = self._run(None, compiled, params)
        except StoreUnavailableError:
            self._threads.drop()
            raise
        return processed(compiled, cursor.fetchone())

    def execute(
        self, conn: Connection, statement: ClauseElement, params: dict[str, Any]
    ) -> int | None:
        """Run a prebuilt INSERT, UPDATE or DELETE in the transaction ``conn``, straight
        through the driver, as ``fetch_one``. On SQLite, the new row's id."""
        cursor = self._run(conn, self._statements.compiled(statement, params), params)
        return cursor.lastrowid if self.is_sqlite else None

    def execute_batch(
        self,
        conn: Connection,
        rows: list[dict[str, Any]],
        *,
        each: ClauseElement,
        together: ClauseElement,
    ) -> None:
        """Run a statement for each of ``rows`` (the same keys in each), in the
        transaction ``conn``.

        On SQLite, ``each`` once per row, as one executemany (the driver's own loop). On
        PostgreSQL, ``together`` once: its one parameter, ``BATCH_ROWS``, is a JSON array
        of the rows, each an object of ``each``'s parameters as bound (its types' bind
        processing applied) and ``ord``, the row's place: one statement where psycopg's
        executemany sends one per row.
        """
        if not rows:
            return
        compiled = self._statements.compiled(each, rows[0])
        if not self.is_sqlite:
            batch = [
                {**cast("dict[str, Any]", bound(compiled, row)), "ord": i}
                for i, row in enumerate(rows)
            ]
            self.execute(conn, together, {BATCH_ROWS: orjson.dumps(batch).decode()})
            return
        values = [bound(compiled, params) for params in rows]
        try:
            dbapi_of(conn).cursor().executemany(compiled.sql, values)
        except (sqlite3.Error, psycopg.Error) as exc:
            raise failures.from_driver(exc) from exc

    def _run(self, conn: Connection | None, compiled: Compiled, params: dict[str, Any]) -> Any:
        """Run a compiled statement: on ``conn``'s transaction, or else on the calling
        thread's own connection; its cursor."""
        values = bound(compiled, params)
        if conn is None:
            return on_driver(self._threads.get(), compiled.sql, values)
        # In a transaction: on the DBAPI connection's cursor, the driver's own or (on
        # PostgreSQL in the event loop, ``write_async``) SQLAlchemy's adapter of its
        # async connection.
        cursor = dbapi_of(conn).cursor()
        try:
            cursor.execute(compiled.sql, values)
        except (sqlite3.Error, psycopg.Error) as exc:
            raise failures.from_driver(exc) from exc
        return cursor

    # --- life cycle -------------------------------------------------------------------

    async def open_async(self) -> None:
        """Open the running event loop's pool and engine for the coroutines
        (PostgreSQL; the app's lifespan). Its connections are made in the background."""
        if self._loop_pool is not None:
            await self._loop_pool.open()

    async def close_async(self) -> None:
        """Close what ``open_async`` opened."""
        if self._loop_pool is not None:
            await self._loop_pool.close()

    def dispose(self) -> None:
        """Close every connection (at shutdown, or after a fork)."""
        if self._turn is not None:
            self._turn.close()
        self.engine.dispose()
        self._threads.close_all()


def open_database(settings: Settings, *, pool_size: int | None = None) -> Database:
    """The database the settings name: the one way every process opens its store.

    Args:
        pool_size: connections to keep, where a process needs fewer than the API's
            ``RENVOI_DATABASE_POOL_SIZE`` (the voicemail process).
    """
    return Database(
        settings.database,
        sqlite_synchronous=settings.sqlite_synchronous,
        sqlite_mmap_bytes=settings.sqlite_mmap_mib * 1024 * 1024,
        pool_size=pool_size or settings.database_pool_size,
        timeout=settings.database_timeout,
    )
