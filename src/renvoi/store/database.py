"""The database connection: engines for SQLite and PostgreSQL, transactions, error mapping.

Two kinds of transaction:

- ``write()``: on SQLite ``BEGIN IMMEDIATE``, so writers queue on the database lock up
  front instead of failing to upgrade a read lock half way; on PostgreSQL an ordinary
  transaction in which the caller locks rows (``SELECT ... FOR UPDATE``). On SQLite the
  writers of one process first queue on a thread lock: SQLite's own busy handler makes
  a waiting writer sleep and poll (up to 100 ms a nap), which under load turns a queue
  of short transactions into a convoy of sleepers. Between the processes of one
  machine (uvicorn's workers) they then queue on a lock file beside the database,
  polled every half millisecond; measured with two workers (``bench/api.py``), the busy
  handler alone gave writes a p99 near one second.
- ``read()``: a plain transaction, for answers that change nothing.

Every driver error leaves here as a ``StoreError`` (``StoreUnavailableError`` when the
database cannot be reached, is locked past the timeout, or is out of disk), so that no
caller handles a driver's exception and no client sees one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, Generic, TypeVar, cast

import anyio.to_thread
import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import ClauseElement, Connection, Engine, Select, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.compiler import SQLCompiler

from renvoi.config import Settings
from renvoi.errors import StoreError, StoreUnavailableError

T = TypeVar("T")
V = TypeVar("V")
Processor = Callable[[Any], Any]
AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class _Compiled:
    """A statement compiled for the driver: its SQL, the names of its parameters with
    their processors, and its result columns' processors."""

    sql: str
    names: tuple[str, ...]
    binds: list[Processor | None]
    results: list[Processor | None]
    fixed: dict[str, Any]  # the values of the statement's own literals, by name
    # PostgreSQL's driver takes parameters by name (pyformat, these keys); SQLite's by
    # position (None).
    keys: tuple[str, ...] | None


# ``execute_batch``'s parameter for a whole batch, on PostgreSQL.
BATCH_ROWS: Final = "batch_rows"

# Seconds between the group commit's WAL checkpoints (``write_in_turn``).
CHECKPOINT_EVERY = 0.1

# SQLite result codes that mean "try again later" rather than "this request is wrong".
_SQLITE_UNAVAILABLE = {"database is locked", "disk is full", "unable to open", "disk i/o"}


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
        sqlite_mmap_bytes: SQLite's ``mmap_size`` (every connection): reads then touch
            mapped pages instead of making a read syscall per page (writes still go
            through write calls). Measured with 1M numbers, one worker: a read 579 ->
            about 510 µs of CPU.
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
        kwargs: dict[str, Any] = {"pool_size": pool_size, "max_overflow": pool_size * 2}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                # Where it cannot be made, the first query fails as "unavailable" (code 20).
                with contextlib.suppress(OSError):
                    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": timeout, "check_same_thread": False}
        else:
            kwargs["connect_args"] = {"connect_timeout": max(1, round(timeout))}
        kwargs["pool_timeout"] = timeout
        self.engine: Engine = create_engine(self.url, **kwargs)
        if not self.is_sqlite:
            event.listen(self.engine, "checkout", _discard_if_ended)
        self.timeout = timeout
        self._writer = threading.Lock() if self.is_sqlite else None
        self._lock_file: int | None = None
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            with contextlib.suppress(OSError):  # unwritable: SQLite's busy handler only
                self._lock_file = os.open(
                    f"{parsed.database}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600
                )
        if self.is_sqlite:
            self._setup_sqlite(
                synchronous=sqlite_synchronous, timeout=timeout, mmap=sqlite_mmap_bytes
            )
        # fetch_one on its own: a driver connection per thread (outside the pool, in
        # autocommit on PostgreSQL), and the prebuilt statements compiled once.
        self._path = parsed.database or ""
        self._conninfo = (
            "" if self.is_sqlite else parsed.set(drivername="postgresql").render_as_string(False)
        )
        self._mmap = sqlite_mmap_bytes
        self._local = threading.local()
        self._direct: list[sqlite3.Connection | psycopg.Connection[Any]] = []
        self._compiled: dict[tuple[ClauseElement, tuple[str, ...]], _Compiled] = {}
        self._turn_connection: Connection | None = None
        self._checkpoints: tuple[threading.Event, threading.Thread] | None = None
        self._pool_size = pool_size
        self._async_pool: AsyncConnectionPool[Any] | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._async_engine: AsyncEngine | None = None
        self._async_turns: asyncio.Semaphore | None = None

    def _setup_sqlite(self, *, synchronous: str, timeout: float, mmap: int) -> None:
        @event.listens_for(self.engine, "connect")
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

        @event.listens_for(self.engine, "begin")
        def _on_begin(connection: Connection) -> None:
            mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
            connection.exec_driver_sql(f"BEGIN {mode}")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that will write; committed when the block ends without error."""
        with self._mapped(), self._queued(), self._writing() as connection:
            yield connection

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            if self.is_sqlite:
                connection = connection.execution_options(sqlite_begin="IMMEDIATE")
            with connection.begin():
                yield connection

    @contextmanager
    def _queued(self) -> Iterator[None]:
        """This process's turn to write (SQLite only; PostgreSQL locks rows instead)."""
        if self._writer is None:
            yield
            return
        deadline = time.monotonic() + self.timeout
        if not self._writer.acquire(timeout=self.timeout):
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
            self._writer.release()

    def try_turn(self) -> bool:
        """Take the turn to write without waiting (SQLite), for a writer that must not
        block (``groupcommit``); ``end_turn`` gives it back. False: another writer has
        it."""
        assert self._writer is not None, "SQLite only"
        if not self._writer.acquire(blocking=False):
            return False
        if not self._lock_machine():
            self._writer.release()
            return False
        return True

    def end_turn(self) -> None:
        assert self._writer is not None, "SQLite only"
        self._unlock_machine()
        self._writer.release()

    @contextmanager
    def write_in_turn(self) -> Iterator[Connection]:
        """``write()`` for the holder of the turn (``try_turn``), on a connection kept for
        the turn's holders: a pool checkout and return per batch cost 75 µs (measured),
        twice the transaction's own BEGIN and COMMIT.

        That connection never checkpoints the WAL itself (the turn's holder is the event
        loop, ``groupcommit``): a thread of this ``Database`` does, every
        ``CHECKPOINT_EVERY`` seconds, while the connection exists. Measured (one worker,
        routes at 8 connections, each recording a call): requests/s +20 %, p99 6.5 ->
        5.3 ms, against SQLite's automatic checkpoints inside the loop's commits.
        """
        with self._mapped():
            if self._turn_connection is None:
                connection = self.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
                _on_driver(_sqlite_of(connection), "PRAGMA wal_autocheckpoint=0")
                self._turn_connection = connection
                self._start_checkpoints()
            connection = self._turn_connection
            try:
                with connection.begin():
                    yield connection
            except BaseException:
                # Whatever state a failure left it in, the next batch starts afresh.
                self._turn_connection = None
                connection.close()
                raise

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

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction that only reads."""
        with self._mapped(), self.engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def _mapped(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise self.mapped_error(exc) from exc

    def mapped_error(self, exc: SQLAlchemyError) -> StoreError:
        """What SQLAlchemy's ``exc`` means here: unavailable when the database cannot
        answer now (no connection free, unreachable, SQLite locked, full or unreadable),
        else refused."""
        if isinstance(exc, PoolTimeoutError):
            return StoreUnavailableError("no database connection free")
        if isinstance(exc, OperationalError) or (
            isinstance(exc, DBAPIError) and self.is_sqlite and _sqlite_unavailable(exc)
        ):
            return StoreUnavailableError(_describe(exc))
        if isinstance(exc, DBAPIError):
            return StoreError(_describe(exc))
        return StoreError(type(exc).__name__)

    def fetch_one(
        self, statement: AnySelect, params: dict[str, Any], *, conn: Connection | None = None
    ) -> tuple[Any, ...] | None:
        """The first row of a prebuilt SELECT (a module constant), or None: in the
        transaction ``conn``, or else on its own (one statement, one snapshot).

        For the statements on the request path. They go straight to the driver (on
        ``conn``'s, or else on a connection of the calling thread), compiled once, with
        SQLAlchemy's parameter and result processing applied: measured here, SQLAlchemy's
        execution costs about 0.3 ms a statement on SQLite, a point read itself tens of
        microseconds; on PostgreSQL a pooled connection also costs a round trip to test
        it and one to reset it. On its own, a read on PostgreSQL is one statement in
        autocommit (no BEGIN and COMMIT round trips), tried once more on a new
        connection if its connection was lost (a server restarted meanwhile).
        """
        compiled = self._compiled_for(statement, params)
        if conn is None and not self.is_sqlite:
            try:
                found = self._run(None, compiled, params).fetchone()
            except StoreUnavailableError:
                self._drop_driver()
                found = self._run(None, compiled, params).fetchone()
        else:
            found = self._run(conn, compiled, params).fetchone()
        return _processed(compiled, found)

    async def fetch_one_async(
        self, statement: AnySelect, params: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        """``fetch_one`` on its own, for a coroutine (a request, a cache load).

        On SQLite in the event loop's own thread: a read in WAL mode never waits on a
        lock and takes tens of microseconds of SQLite, while a hand-off to a worker
        thread and back was measured at about 0.5 ms, and far more under load, when the
        thread waits for the GIL. On PostgreSQL on the loop's own pool of driver
        connections (``open_async``), awaited in the loop, for the same reason (measured,
        one worker at 8 connections: about 1 ms of CPU per read of the API in threads).
        Without that pool (no ``open_async`` in this loop), in a worker thread.
        """
        if self.is_sqlite:
            return self.fetch_one(statement, params)
        pool = self._async_pool
        if pool is None or self._async_loop is not asyncio.get_running_loop():
            return await anyio.to_thread.run_sync(partial(self.fetch_one, statement, params))
        compiled = self._compiled_for(statement, params)
        try:
            found = await _fetch_async(pool, compiled, params)
        except PoolTimeout as exc:
            raise StoreUnavailableError("no database connection free") from exc
        except psycopg.OperationalError:
            # A lost connection (a server restarted meanwhile): the pool drops those it
            # finds broken, and the read is tried once more.
            with contextlib.suppress(psycopg.Error):  # the pool closing meanwhile
                await pool.check()
            try:
                found = await _fetch_async(pool, compiled, params)
            except psycopg.Error as exc:
                raise _store_error(exc) from exc
        except psycopg.Error as exc:
            raise _store_error(exc) from exc
        return _processed(compiled, found)

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
        compiled = self._compiled_for(statement, params)
        pool = self._async_pool
        if pool is None or self._async_loop is not asyncio.get_running_loop():
            return await anyio.to_thread.run_sync(self._write_one, compiled, params)
        try:
            found = await _fetch_async(pool, compiled, params)
        except PoolTimeout as exc:
            raise StoreUnavailableError("no database connection free") from exc
        except psycopg.Error as exc:
            raise _store_error(exc) from exc
        return _processed(compiled, found)

    def _write_one(self, compiled: _Compiled, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """``write_one_async`` on the calling thread's own connection (``_driver``); one
        lost under the statement is dropped, the next is new."""
        try:
            cursor = self._run(None, compiled, params)
        except StoreUnavailableError:
            self._drop_driver()
            raise
        return _processed(compiled, cursor.fetchone())

    async def open_async(self) -> None:
        """Open the running event loop's pool for ``fetch_one_async`` (PostgreSQL; the
        app's lifespan). Its connections are opened in the background."""
        if self.is_sqlite or self._async_pool is not None:
            return
        pool = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self._pool_size,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(self.timeout))},
            timeout=self.timeout,
            check=_check_not_ended,
            open=False,
        )
        await pool.open(wait=False)
        self._async_engine = create_async_engine(
            self.url,
            pool_size=self._pool_size,
            max_overflow=0,  # at most pool_size changes at once per process; more queue
            pool_timeout=self.timeout,
            connect_args={"connect_timeout": max(1, round(self.timeout))},
        )
        event.listen(self._async_engine.sync_engine, "checkout", _discard_if_ended)
        self._async_turns = asyncio.Semaphore(self._pool_size)
        self._async_pool, self._async_loop = pool, asyncio.get_running_loop()

    async def close_async(self) -> None:
        """Close what ``open_async`` opened."""
        pool, self._async_pool, self._async_loop = self._async_pool, None, None
        engine, self._async_engine = self._async_engine, None
        self._async_turns = None  # bound to this loop, as the rest
        if pool is not None:
            await pool.close()
        if engine is not None:
            await engine.dispose()

    async def write_async(self, work: Callable[[Connection], T]) -> T:
        """``write()`` for a coroutine, on PostgreSQL: ``work`` runs in a transaction of
        its own, in the event loop, on the loop's async engine (``open_async``).

        ``work`` is the same function as for ``write()``: SQLAlchemy runs it in a
        greenlet, where each statement waits in the loop. In a worker thread, each of a
        change's round trips paid a GIL hand-off (measured, one worker at 8 connections:
        about 3 ms of CPU per change). Without that engine (no ``open_async`` in this
        loop), in a worker thread.

        Changes past the engine's ``pool_size`` wait their turn first come, first
        served (``asyncio.Semaphore`` is fair), up to the database's timeout: waiting in
        the pool let a newcomer take a connection just given back before an older
        waiter woke. Measured A/B, two workers at 64 connections: p99 372-486 ->
        242-354 ms, requests/s unchanged.
        """
        engine, turns = self._async_engine, self._async_turns
        if engine is None or turns is None or self._async_loop is not asyncio.get_running_loop():
            return await anyio.to_thread.run_sync(self._write_alone, work)
        try:
            async with asyncio.timeout(self.timeout):
                await turns.acquire()
        except TimeoutError:
            raise StoreUnavailableError("no database connection free") from None
        try:
            with self._mapped():
                async with engine.connect() as connection, connection.begin():
                    return await connection.run_sync(work)
        finally:
            turns.release()

    def _write_alone(self, work: Callable[[Connection], T]) -> T:
        with self.write() as conn:
            return work(conn)

    def execute(
        self, conn: Connection, statement: ClauseElement, params: dict[str, Any]
    ) -> int | None:
        """Run a prebuilt INSERT, UPDATE or DELETE in the transaction ``conn``, straight
        through the driver, as ``fetch_one``. On SQLite, the new row's id."""
        cursor = self._run(conn, self._compiled_for(statement, params), params)
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
        processing applied) and ``ord``, the row's place. psycopg's executemany is a
        pipeline of one statement per row: measured on batches of 25 routed calls, it
        cost the client 15-20 µs of CPU a row more than this. Arrays (``unnest``) saved
        nothing: psycopg dumps a list element by element, in Python.
        """
        if not rows:
            return
        compiled = self._compiled_for(each, rows[0])
        if not self.is_sqlite:
            batch = [
                {**cast("dict[str, Any]", _bound(compiled, row)), "ord": i}
                for i, row in enumerate(rows)
            ]
            self.execute(conn, together, {BATCH_ROWS: orjson.dumps(batch).decode()})
            return
        values = [_bound(compiled, params) for params in rows]
        try:
            _dbapi_of(conn).cursor().executemany(compiled.sql, values)
        except (sqlite3.Error, psycopg.Error) as exc:
            raise _store_error(exc) from exc

    def _run(self, conn: Connection | None, compiled: _Compiled, params: dict[str, Any]) -> Any:
        """Run a compiled statement: on ``conn``'s transaction, or else on the calling
        thread's own connection; its cursor."""
        values = _bound(compiled, params)
        if conn is None:
            return _on_driver(self._driver(), compiled.sql, values)
        # In a transaction: on the DBAPI connection's cursor, the driver's own or (on
        # PostgreSQL in the event loop, ``write_async``) SQLAlchemy's adapter of its
        # async connection.
        cursor = _dbapi_of(conn).cursor()
        try:
            cursor.execute(compiled.sql, values)
        except (sqlite3.Error, psycopg.Error) as exc:
            raise _store_error(exc) from exc
        return cursor

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
        driver = _sqlite_of(conn)
        _on_driver(driver, "SAVEPOINT renvoi_work")
        try:
            yield
        except BaseException:
            try:
                _on_driver(driver, "ROLLBACK TO renvoi_work")
                _on_driver(driver, "RELEASE renvoi_work")
            except StoreError as exc:
                raise StoreUnavailableError(f"not undone: {exc}") from exc
            raise
        _on_driver(driver, "RELEASE renvoi_work")

    def _compiled_for(self, statement: ClauseElement, params: dict[str, Any]) -> _Compiled:
        # Keyed by the statement itself, not its id(): a statement built per call could
        # otherwise be collected and its id reused by another, finding the wrong SQL.
        key = (statement, tuple(params))
        found = self._compiled.get(key)
        if found is not None:
            return found
        dialect = self.engine.dialect
        compiled = cast("SQLCompiler", statement.compile(dialect=dialect, column_keys=list(params)))
        # The parameters as rendered (an anonymous literal's name is made at compile).
        bound = {name: bind for bind, name in compiled.bind_names.items()}
        keys = None
        if compiled.positiontup is None:  # pyformat (PostgreSQL): by name
            names = tuple(bound)
            keys = tuple(compiled.escaped_bind_names.get(name, name) for name in names)
        else:
            names = tuple(compiled.positiontup)
        binds = [
            cast(
                "Processor | None",
                bound[name].type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name in names
        ]
        results = [
            cast(
                "Processor | None",
                column.type.dialect_impl(dialect).result_processor(dialect, None),
            )
            for column in getattr(statement, "selected_columns", ())
        ]
        constructed = compiled.construct_params(params)
        fixed = {name: constructed[name] for name in names if name not in params}
        entry = _Compiled(str(compiled), names, binds, results, fixed, keys)
        self._compiled[key] = entry
        return entry

    def _driver(self) -> sqlite3.Connection | psycopg.Connection[Any]:
        """The calling thread's own driver connection (made on first use; on PostgreSQL
        made again when the server has ended it, ``_ended``, as the pools do)."""
        connection: sqlite3.Connection | psycopg.Connection[Any] | None = getattr(
            self._local, "connection", None
        )
        if isinstance(connection, psycopg.Connection) and _ended(connection):
            self._drop_driver()
            connection = None
        if connection is None:
            try:
                if self.is_sqlite:
                    connection = sqlite3.connect(
                        self._path, timeout=self.timeout, check_same_thread=False
                    )
                    connection.execute(f"PRAGMA mmap_size={int(self._mmap)}")
                else:
                    connection = psycopg.connect(
                        self._conninfo,
                        autocommit=True,
                        connect_timeout=max(1, round(self.timeout)),
                    )
            except (sqlite3.Error, psycopg.Error) as exc:
                raise _store_error(exc) from exc
            self._local.connection = connection
            self._direct.append(connection)
        return connection

    def _start_checkpoints(self) -> None:
        if self._checkpoints is not None:
            return
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(CHECKPOINT_EVERY):
                # PASSIVE: copies what no reader still needs, waits for nobody. A failure
                # (the database busy or gone) is tried again at the next tick.
                with contextlib.suppress(StoreError):
                    _on_driver(self._driver(), "PRAGMA wal_checkpoint(PASSIVE)")
            self._drop_driver()

        self._checkpoints = (
            stop,
            threading.Thread(target=run, name="renvoi-checkpoints", daemon=True),
        )
        self._checkpoints[1].start()

    def _drop_driver(self) -> None:
        """Forget the calling thread's driver connection (lost: the next is new)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            self._local.connection = None
            with contextlib.suppress(ValueError):
                self._direct.remove(connection)
            with contextlib.suppress(sqlite3.Error, psycopg.Error):
                connection.close()

    def dispose(self) -> None:
        """Close every pooled connection (at shutdown, or after a fork)."""
        if self._checkpoints is not None:
            stop, thread = self._checkpoints
            stop.set()
            thread.join()
            self._checkpoints = None
        if self._turn_connection is not None:
            self._turn_connection.close()
            self._turn_connection = None
        self.engine.dispose()
        for connection in self._direct:
            connection.close()
        self._direct.clear()
        self._local = threading.local()
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None


def _discard_if_ended(
    _dbapi_connection: object, record: ConnectionPoolEntry, _proxy: object
) -> None:
    """Pool checkout on PostgreSQL: a connection the server has ended is replaced
    (``_ended``). One ``poll`` instead of SQLAlchemy's pre-ping ``SELECT 1``, which was
    one of a change's ten round trips. SQLAlchemy connects again on
    ``DisconnectionError``."""
    driver = cast(
        "psycopg.Connection[Any] | psycopg.AsyncConnection[Any]", record.driver_connection
    )
    if _ended(driver):
        raise DisconnectionError("the server ended this connection")


async def _check_not_ended(connection: psycopg.AsyncConnection[Any]) -> None:
    """The loop's pool on getting a connection (``open_async``): one the server has
    ended is replaced (``_ended``), so that a change is never sent on it. (Closed, the
    pool discards it; only failing the check, it would be handed out again.)"""
    if _ended(connection):
        await connection.close()
        raise psycopg.OperationalError("the server ended this connection")


def _ended(connection: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
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


def _processed(compiled: _Compiled, found: Sequence[Any] | None) -> tuple[Any, ...] | None:
    """A row as SQLAlchemy would give it (its result processors applied)."""
    if found is None:
        return None
    return tuple(
        value if process is None else process(value)
        for value, process in zip(found, compiled.results, strict=True)
    )


async def _fetch_async(
    pool: AsyncConnectionPool[Any], compiled: _Compiled, params: dict[str, Any]
) -> Sequence[Any] | None:
    async with pool.connection() as connection:
        cursor = await connection.execute(compiled.sql, _bound(compiled, params))
        row: Sequence[Any] | None = await cursor.fetchone()
        return row


def _bound(compiled: _Compiled, params: dict[str, Any]) -> list[Any] | dict[str, Any]:
    """A compiled statement's values for ``params``, as SQLAlchemy binds them: by
    position, or by name for a driver that takes names."""
    fixed = compiled.fixed
    values = []
    for name, process in zip(compiled.names, compiled.binds, strict=True):
        value = fixed[name] if name in fixed else params[name]
        values.append(value if process is None else process(value))
    return values if compiled.keys is None else dict(zip(compiled.keys, values, strict=True))


def _dbapi_of(conn: Connection) -> Any:
    """The DBAPI connection under ``conn``: the driver's, or SQLAlchemy's adapter of an
    async driver's (whose calls then wait in the event loop, ``write_async``)."""
    return conn.connection.dbapi_connection


def _sqlite_of(conn: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under ``conn`` (SQLite only)."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver


def _on_driver(
    driver: sqlite3.Connection | psycopg.Connection[Any],
    sql: str,
    values: list[Any] | dict[str, Any] | None = None,
) -> sqlite3.Cursor | psycopg.Cursor[Any]:
    """Run SQL on a driver connection, its errors mapped as ``_mapped`` maps SQLAlchemy's."""
    try:
        return driver.execute(sql, values or ())
    except (sqlite3.Error, psycopg.Error) as exc:
        raise _store_error(exc) from exc


def _store_error(exc: sqlite3.Error | psycopg.Error) -> StoreError:
    """A driver's error met outside SQLAlchemy, mapped as ``_mapped`` maps SQLAlchemy's:
    unavailable when the database cannot answer now (SQLite locked, full or unreadable;
    PostgreSQL unreachable, or a connection lost)."""
    if isinstance(exc, psycopg.Error):
        unavailable = isinstance(exc, psycopg.OperationalError)
    else:
        unavailable = _unavailable(exc)
    kind = StoreUnavailableError if unavailable else StoreError
    return kind(_one_line(exc))


def _sqlite_unavailable(exc: DBAPIError) -> bool:
    return _unavailable(exc.orig)


def _unavailable(driver_error: BaseException | None) -> bool:
    text = str(driver_error).lower()
    return any(marker in text for marker in _SQLITE_UNAVAILABLE)


def _describe(exc: DBAPIError) -> str:
    return _one_line(exc.orig)


def _one_line(driver_error: BaseException | None) -> str:
    """A one-line description for logs: the driver's class and first line, no SQL."""
    text = str(driver_error).strip()
    first_line = text.splitlines()[0] if text else ""
    return f"{type(driver_error).__name__}: {first_line}"


class PointRead(Generic[V]):
    """A read of at most one row by one key: a prebuilt SELECT (a module constant) and
    what its row means. The store's request-path look-ups are these: called as a
    function, ``principal_of(db, key_hash)``, one reads in the calling thread; awaited,
    ``await principal_of.read(db, key_hash)``, it reads for a coroutine
    (``Database.fetch_one_async``).

    Args:
        statement: the SELECT, with one bound parameter.
        parameter: that parameter's name.
        build: the answer for a key and its row.
    """

    def __init__(
        self,
        statement: AnySelect,
        parameter: str,
        build: Callable[[str, tuple[Any, ...]], V],
    ) -> None:
        self.statement = statement
        self.parameter = parameter
        self.build = build

    def __call__(self, db: Database, key: str) -> V | None:
        row = db.fetch_one(self.statement, {self.parameter: key})
        return None if row is None else self.build(key, row)

    async def read(self, db: Database, key: str) -> V | None:
        row = await db.fetch_one_async(self.statement, {self.parameter: key})
        return None if row is None else self.build(key, row)


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
