"""Alembic migrations: they build exactly the models' schema, both ways, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from renvoi.store import accounts
from renvoi.store.database import Database
from renvoi.store.migrate import alembic_config, check_current, upgrade
from renvoi.store.models import Base
from tests.harness import scratch_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield db
        db.dispose()
        return
    with scratch_postgres("renvoi_mig") as url:
        db = Database(url)
        yield db
        db.dispose()


def test_upgrade_builds_the_models_schema(empty_database: Database) -> None:
    upgrade(empty_database)
    with empty_database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_to_base_and_up_again(empty_database: Database) -> None:
    upgrade(empty_database)
    command.downgrade(alembic_config(empty_database), "base")
    assert set(inspect(empty_database.engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_database)
    assert {"accounts", "api_keys", "numbers", "changes"} <= set(
        inspect(empty_database.engine).get_table_names()
    )


def test_upgrade_twice_is_a_no_op(empty_database: Database) -> None:
    """What ``serve`` does at every start, on a database already at the newest schema:
    the same revision, the same tables, and the data kept."""
    upgrade(empty_database)
    created = accounts.create_account(empty_database, "acme")
    with empty_database.engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
    tables = set(inspect(empty_database.engine).get_table_names())
    upgrade(empty_database)
    with empty_database.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == revision
    assert set(inspect(empty_database.engine).get_table_names()) == tables
    assert [a.id for a in accounts.list_accounts(empty_database)] == [created.id]
    check_current(empty_database)  # what every command checks first


def test_request_path_lookups_are_indexed(empty_database: Database) -> None:
    upgrade(empty_database)
    inspector = inspect(empty_database.engine)
    unique = {
        table: {tuple(c["column_names"]) for c in inspector.get_unique_constraints(table)}
        | {tuple(i["column_names"]) for i in inspector.get_indexes(table) if i["unique"]}
        for table in ("api_keys", "numbers")
    }
    assert ("key_hash",) in unique["api_keys"]
    assert ("e164",) in unique["numbers"]
    indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("changes")}
    assert ("number_id", "id") in indexes
