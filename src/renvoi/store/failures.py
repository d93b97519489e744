"""What a database failure means to renvoi, in one place.

Every error of a driver (sqlite3, psycopg) or of SQLAlchemy leaves the store as a
``StoreError`` when the database refused the statement, or a ``StoreUnavailableError``
when it cannot answer now (unreachable, a connection lost, SQLite locked, full or
unreadable), so that no caller handles a driver's exception and no client sees one. The
message is one line: the driver's class and first line, never SQL or parameters.
"""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from renvoi.errors import StoreError, StoreUnavailableError

# SQLite's messages that mean "try again later" rather than "this statement is wrong".
SQLITE_UNAVAILABLE = ("database is locked", "disk is full", "unable to open", "disk i/o")


def from_driver(exc: sqlite3.Error | psycopg.Error) -> StoreError:
    """A driver's error met outside SQLAlchemy (the direct path, ``driver.py``)."""
    if isinstance(exc, psycopg.Error):
        unavailable = isinstance(exc, psycopg.OperationalError)
    else:
        unavailable = _sqlite_unavailable(exc)
    kind = StoreUnavailableError if unavailable else StoreError
    return kind(one_line(exc))


def from_sqlalchemy(exc: SQLAlchemyError, *, sqlite: bool) -> StoreError:
    """What SQLAlchemy's ``exc`` means: unavailable when the database cannot answer now
    (no connection free, unreachable, SQLite locked, full or unreadable), else refused."""
    if isinstance(exc, PoolTimeoutError):
        return StoreUnavailableError("no database connection free")
    if isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and sqlite and _sqlite_unavailable(exc.orig)
    ):
        return StoreUnavailableError(one_line(exc.orig))
    if isinstance(exc, DBAPIError):
        return StoreError(one_line(exc.orig))
    return StoreError(type(exc).__name__)


def _sqlite_unavailable(driver_error: BaseException | None) -> bool:
    text = str(driver_error).lower()
    return any(marker in text for marker in SQLITE_UNAVAILABLE)


def one_line(driver_error: BaseException | None) -> str:
    """A one-line description for logs: the driver's class and first line, no SQL."""
    text = str(driver_error).strip()
    first_line = text.splitlines()[0] if text else ""
    return f"{type(driver_error).__name__}: {first_line}"
