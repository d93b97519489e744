"""PostgreSQL in the event loop: the connections a process's requests read and change
through without leaving the loop, and the detection of connections the server ended.

``LoopPool`` holds, for one event loop, a psycopg pool in autocommit (the look-ups and
the one-statement changes) and an async SQLAlchemy engine (the locked changes, run in
its greenlets), opened by the app's lifespan. A hand-off to a worker thread and back
per statement costs more than the statement; awaited in the loop, it costs only the
statement. ``Database`` (``database.py``) uses it; nothing else should.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Connection, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from renvoi.errors import StoreUnavailableError
from renvoi.store.failures import from_driver

if TYPE_CHECKING:
    from renvoi.store.driver import Compiled

T = TypeVar("T")


class LoopPool:
    """The pool and engine of one event loop (PostgreSQL).

    Args:
        url: the SQLAlchemy URL (for the async engine).
        conninfo: the driver's connection string (for the pool).
        size: connections of each kind.
        timeout: seconds to wait for a connection or a server before giving up.
    """

    def __init__(self, *, url: str, conninfo: str, size: int, timeout: float) -> None:
        self._url = url
        self._conninfo = conninfo
        self._size = size
        self._timeout = timeout
        self._pool: AsyncConnectionPool[Any] | None = None
        self._engine: AsyncEngine | None = None
        self._turns: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def here(self) -> bool:
        """Whether it is open in the running event loop (else callers use a thread)."""
        try:
            return self._pool is not None and self._loop is asyncio.get_running_loop()
        except RuntimeError:
            return False

    async def open(self) -> None:
        """Open it in the running loop; its connections are made in the background."""
        if self._pool is not None:
            return
        pool = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self._size,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(self._timeout))},
            timeout=self._timeout,
            check=_check_not_ended,
            open=False,
        )
        await pool.open(wait=False)
        self._engine = create_async_engine(
            self._url,
            pool_size=self._size,
            max_overflow=0,  # at most pool_size changes at once per process; more queue
            pool_timeout=self._timeout,
            connect_args={"connect_timeout": max(1, round(self._timeout))},
        )
        event.listen(self._engine.sync_engine, "checkout", discard_if_ended)
        self._turns = asyncio.Semaphore(self._size)
        self._pool, self._loop = pool, asyncio.get_running_loop()

    async def close(self) -> None:
        """Close what ``open`` opened."""
        pool, self._pool, self._loop = self._pool, None, None
        engine, self._engine = self._engine, None
        self._turns = None  # bound to this loop, as the rest
        if pool is not None:
            await pool.close()
        if engine is not None:
            await engine.dispose()

    async def fetch_one(
        self, compiled: Compiled, values: list[Any] | dict[str, Any], *, retry: bool
    ) -> Sequence[Any] | None:
        """The first row of a statement run alone on the pool.

        Args:
            retry: once more on a new connection if the connection was lost (a server
                restarted meanwhile): for reads only, since a lost write may have been
                committed.

        Raises:
            StoreError: refused, or unavailable.
        """
        assert self._pool is not None
        pool = self._pool
        try:
            return await _fetch(pool, compiled.sql, values)
        except PoolTimeout as exc:
            raise StoreUnavailableError("no database connection free") from exc
        except psycopg.OperationalError as exc:
            if not retry:
                raise from_driver(exc) from exc
            # The pool drops those it finds broken, and the read is tried once more.
            try:
                await pool.check()
            except psycopg.Error:  # the pool closing meanwhile
                pass
            try:
                return await _fetch(pool, compiled.sql, values)
            except psycopg.Error as again:
                raise from_driver(again) from again
        except psycopg.Error as exc:
            raise from_driver(exc) from exc

    async def write(self, work: Callable[[Connection], T], mapped: Any) -> T:
        """``work`` in a transaction of its own on the loop's async engine, after waiting
        its turn first come, first served (``asyncio.Semaphore`` is fair) up to the
        timeout: in the engine's pool a newcomer could take a connection just given back
        before an older waiter woke.

        Args:
            mapped: the context manager that maps SQLAlchemy's errors
                (``Database._mapped``).
        """
        assert self._engine is not None and self._turns is not None
        try:
            async with asyncio.timeout(self._timeout):
                await self._turns.acquire()
        except TimeoutError:
            raise StoreUnavailableError("no database connection free") from None
        try:
            with mapped():
                async with self._engine.connect() as connection, connection.begin():
                    return await connection.run_sync(work)
        finally:
            self._turns.release()


async def _fetch(
    pool: AsyncConnectionPool[Any], sql: str, values: list[Any] | dict[str, Any]
) -> Sequence[Any] | None:
    async with pool.connection() as connection:
        cursor = await connection.execute(sql, values)
        row: Sequence[Any] | None = await cursor.fetchone()
        return row


def discard_if_ended(
    _dbapi_connection: object, record: ConnectionPoolEntry, _proxy: object
) -> None:
    """SQLAlchemy pool checkout on PostgreSQL: a connection the server has ended is
    replaced (``ended``), with one ``poll`` instead of a pre-ping ``SELECT 1`` round
    trip. SQLAlchemy connects again on ``DisconnectionError``."""
    driver = cast(
        "psycopg.Connection[Any] | psycopg.AsyncConnection[Any]", record.driver_connection
    )
    if ended(driver):
        raise DisconnectionError("the server ended this connection")


async def _check_not_ended(connection: psycopg.AsyncConnection[Any]) -> None:
    """The loop's pool on getting a connection: one the server has ended is replaced
    (``ended``), so that a change is never sent on it. (Closed, the pool discards it;
    only failing the check, it would be handed out again.)"""
    if ended(connection):
        await connection.close()
        raise psycopg.OperationalError("the server ended this connection")


def ended(connection: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether the server has ended an idle connection, without a round trip.

    A restart, or an administrator, leaves dead connections in a pool. An idle
    connection has nothing to read unless the server said goodbye (its last error, then
    the end of the stream), so its socket is only polled. (A reloaded server setting may
    also be announced to an idle connection: it is replaced too, which costs a
    connection and nothing else.)
    """
    pgconn = connection.pgconn
    try:
        if pgconn.status != psycopg.pq.ConnStatus.OK:
            return True
        idle = select.poll()  # not select(): a busy process's descriptors pass 1024
        idle.register(pgconn.socket, select.POLLIN)
        return bool(idle.poll(0))
    except (psycopg.Error, OSError):
        return True
