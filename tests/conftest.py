"""Shared fixtures: databases on SQLite and PostgreSQL, the app, tenants, a real server.

Every test that takes ``database`` (or a fixture built on it) runs twice: on a fresh
SQLite file and on PostgreSQL. PostgreSQL tests skip when no server answers, unless
``RENVOI_TEST_REQUIRE_POSTGRES=1`` (CI sets it): then they fail.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from renvoi.api.app import create_app
from renvoi.config import Settings
from renvoi.store import numbers
from renvoi.store.database import Database
from renvoi.store.migrate import upgrade
from renvoi.store.models import Base
from tests.harness import (
    ADMIN_TOKEN,
    Server,
    Tenant,
    make_tenant,
    scratch_postgres,
    start_server,
)


@pytest.fixture(autouse=True)
def clean_environ(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No RENVOI_* variable of the developer's shell leaks into a test, and the default
    data directory is the test run's, not the developer's."""
    for name in list(os.environ):
        if name.startswith("RENVOI_") and not name.startswith("RENVOI_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.getbasetemp() / "xdg"))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own on the PostgreSQL server, migrated, dropped at the end."""
    with scratch_postgres("renvoi_test") as url:
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'renvoi.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated, empty database (SQLite file or PostgreSQL, per the parameter)."""
    db = Database(database_url)
    if db.is_sqlite:
        upgrade(db)
    else:
        with db.engine.begin() as conn:
            tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield db
    db.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, admin_token=ADMIN_TOKEN)


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db=database)) as test_client:
        yield test_client


@pytest.fixture
def tenant(database: Database) -> Tenant:
    """Account "acme": three voice numbers, an SMS-only one, a suspended one."""
    acme = make_tenant(database, "acme", ["+33757000001", "+33757000002", "+33757000003"])
    numbers.add_number(
        database, "+33757000009", account_id=acme.account_id, voice=False, region="FR"
    )
    numbers.add_number(database, "+33757000010", account_id=acme.account_id, region="FR")
    numbers.set_suspended(database, "+33757000010", suspended=True, region="FR")
    return acme


@pytest.fixture
def other_tenant(database: Database) -> Tenant:
    """Account "globex", with one number of its own."""
    return make_tenant(database, "globex", ["+33757000020"])


@pytest.fixture
def server_factory(database_url: str, tmp_path: Path) -> Iterator[object]:
    started: list[Server] = []

    def factory(workers: int = 1) -> Server:
        server = start_server(database_url, tmp_path, workers=workers)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop(signal.SIGKILL)
