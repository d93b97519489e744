"""The request path's direct way to the database: prebuilt statements compiled once and
run straight on the driver (sqlite3, psycopg), with SQLAlchemy's parameter and result
processing applied, but without its execution machinery, which costs more than a point
read itself.

``Statements`` compiles and keeps them; ``bound`` and ``processed`` apply the types'
processing on the way in and out; ``ThreadConnections`` gives each thread a driver
connection of its own, outside the pool (autocommit on PostgreSQL), for statements that
run alone. ``Database`` (``database.py``) uses these; nothing else should.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

import psycopg
from sqlalchemy import ClauseElement, Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from renvoi.store.failures import from_driver
from renvoi.store.pgpool import ended

Processor = Callable[[Any], Any]
DriverConnection = sqlite3.Connection | psycopg.Connection[Any]

# ``Database.execute_batch``'s parameter for a whole batch, on PostgreSQL.
BATCH_ROWS: Final = "batch_rows"


@dataclass(frozen=True)
class Compiled:
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


class Statements:
    """Statements compiled once for one dialect, kept by the statement and the names of
    the parameters it is given."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._compiled: dict[tuple[ClauseElement, tuple[str, ...]], Compiled] = {}

    def compiled(self, statement: ClauseElement, params: dict[str, Any]) -> Compiled:
        # Keyed by the statement itself, not its id(): a statement built per call could
        # otherwise be collected and its id reused by another, finding the wrong SQL.
        key = (statement, tuple(params))
        found = self._compiled.get(key)
        if found is not None:
            return found
        dialect = self._dialect
        compiled = cast("SQLCompiler", statement.compile(dialect=dialect, column_keys=list(params)))
        # The parameters as rendered (an anonymous literal's name is made at compile).
        bound_names = {name: bind for bind, name in compiled.bind_names.items()}
        keys = None
        if compiled.positiontup is None:  # pyformat (PostgreSQL): by name
            names = tuple(bound_names)
            keys = tuple(compiled.escaped_bind_names.get(name, name) for name in names)
        else:
            names = tuple(compiled.positiontup)
        binds = [
            cast(
                "Processor | None",
                bound_names[name].type.dialect_impl(dialect).bind_processor(dialect),
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
        entry = Compiled(str(compiled), names, binds, results, fixed, keys)
        self._compiled[key] = entry
        return entry


def bound(compiled: Compiled, params: dict[str, Any]) -> list[Any] | dict[str, Any]:
    """A compiled statement's values for ``params``, as SQLAlchemy binds them: by
    position, or by name for a driver that takes names."""
    fixed = compiled.fixed
    values = []
    for name, process in zip(compiled.names, compiled.binds, strict=True):
        value = fixed[name] if name in fixed else params[name]
        values.append(value if process is None else process(value))
    return values if compiled.keys is None else dict(zip(compiled.keys, values, strict=True))


def processed(compiled: Compiled, found: Sequence[Any] | None) -> tuple[Any, ...] | None:
    """A row as SQLAlchemy would give it (its result processors applied)."""
    if found is None:
        return None
    return tuple(
        value if process is None else process(value)
        for value, process in zip(found, compiled.results, strict=True)
    )


def on_driver(
    driver: DriverConnection, sql: str, values: list[Any] | dict[str, Any] | None = None
) -> sqlite3.Cursor | psycopg.Cursor[Any]:
    """Run SQL on a driver connection, its errors mapped (``failures.from_driver``)."""
    try:
        return driver.execute(sql, values or ())
    except (sqlite3.Error, psycopg.Error) as exc:
        raise from_driver(exc) from exc


def dbapi_of(conn: Connection) -> Any:
    """The DBAPI connection under ``conn``: the driver's, or SQLAlchemy's adapter of an
    async driver's (whose calls then wait in the event loop, ``Database.write_async``)."""
    return conn.connection.dbapi_connection


def sqlite_of(conn: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under ``conn`` (SQLite only)."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver


class ThreadConnections:
    """A driver connection per thread, made on first use, outside SQLAlchemy's pool.

    Args:
        sqlite_path: the SQLite file, or None for PostgreSQL.
        conninfo: PostgreSQL's connection string (autocommit).
        mmap: SQLite's ``mmap_size`` for each connection.
        timeout: seconds to wait for a lock or a server.
    """

    def __init__(
        self, *, sqlite_path: str | None, conninfo: str, mmap: int, timeout: float
    ) -> None:
        self._sqlite_path = sqlite_path
        self._conninfo = conninfo
        self._mmap = mmap
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[DriverConnection] = []

    def get(self) -> DriverConnection:
        """The calling thread's connection (on PostgreSQL made again when the server has
        ended it, ``pgpool.ended``, as the pools do).

        Raises:
            StoreError: it cannot be made.
        """
        connection: DriverConnection | None = getattr(self._local, "connection", None)
        if isinstance(connection, psycopg.Connection) and ended(connection):
            self.drop()
            connection = None
        if connection is None:
            try:
                if self._sqlite_path is not None:
                    connection = sqlite3.connect(
                        self._sqlite_path, timeout=self._timeout, check_same_thread=False
                    )
                    connection.execute(f"PRAGMA mmap_size={int(self._mmap)}")
                else:
                    connection = psycopg.connect(
                        self._conninfo,
                        autocommit=True,
                        connect_timeout=max(1, round(self._timeout)),
                    )
            except (sqlite3.Error, psycopg.Error) as exc:
                raise from_driver(exc) from exc
            self._local.connection = connection
            self._all.append(connection)
        return connection

    def drop(self) -> None:
        """Forget the calling thread's connection (lost: the next is new)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            self._local.connection = None
            with contextlib.suppress(ValueError):
                self._all.remove(connection)
            with contextlib.suppress(sqlite3.Error, psycopg.Error):
                connection.close()

    def close_all(self) -> None:
        """Close every thread's connection (at shutdown, or after a fork)."""
        for connection in self._all:
            connection.close()
        self._all.clear()
        self._local = threading.local()
