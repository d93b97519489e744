"""What a database failure means (``store/failures.py``): every driver's and SQLAlchemy's
error mapped to refused (``StoreError``) or try-again (``StoreUnavailableError``), in one
line with no SQL."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from renvoi.errors import StoreError, StoreUnavailableError
from renvoi.store.failures import from_driver, from_sqlalchemy


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        pytest.param(sqlite3.OperationalError("database is locked"), True, id="sqlite-locked"),
        pytest.param(sqlite3.OperationalError("database or disk is full"), True, id="full"),
        pytest.param(sqlite3.OperationalError("disk I/O error"), True, id="io"),
        pytest.param(sqlite3.OperationalError("unable to open database file"), True, id="open"),
        pytest.param(sqlite3.IntegrityError("UNIQUE constraint failed"), False, id="sqlite-unique"),
        pytest.param(sqlite3.OperationalError("no such table: x"), False, id="sqlite-schema"),
        pytest.param(psycopg.OperationalError("server closed the connection"), True, id="pg-lost"),
        pytest.param(psycopg.errors.UniqueViolation("duplicate key"), False, id="pg-unique"),
    ],
)
def test_driver_errors(error: sqlite3.Error | psycopg.Error, unavailable: bool) -> None:
    mapped = from_driver(error)
    assert isinstance(mapped, StoreUnavailableError) is unavailable
    assert isinstance(mapped, StoreError)
    assert str(mapped).startswith(type(error).__name__ + ": ")


def statement_error(kind: type[DBAPIError], driver: BaseException) -> DBAPIError:
    return kind("SELECT secret FROM api_keys WHERE x = ?", ("rv_key",), driver)


@pytest.mark.parametrize(
    ("error", "sqlite", "unavailable"),
    [
        pytest.param(PoolTimeoutError(), False, True, id="no-connection-free"),
        pytest.param(
            statement_error(OperationalError, psycopg.OperationalError("down")),
            False,
            True,
            id="operational",
        ),
        pytest.param(
            statement_error(DBAPIError, sqlite3.DatabaseError("database is locked")),
            True,
            True,
            id="sqlite-locked-as-dbapi",
        ),
        pytest.param(
            statement_error(IntegrityError, sqlite3.IntegrityError("UNIQUE")),
            True,
            False,
            id="refused",
        ),
        pytest.param(SQLAlchemyError("misuse"), False, False, id="not-the-database"),
    ],
)
def test_sqlalchemy_errors(error: SQLAlchemyError, sqlite: bool, unavailable: bool) -> None:
    mapped = from_sqlalchemy(error, sqlite=sqlite)
    assert isinstance(mapped, StoreUnavailableError) is unavailable
    assert "SELECT" not in str(mapped) and "rv_key" not in str(mapped)  # never SQL or values
    assert "\n" not in str(mapped)
