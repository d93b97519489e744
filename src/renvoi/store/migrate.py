"""Schema migrations with Alembic, run by ``renvoi db upgrade`` and at ``renvoi serve``.

The scripts live in ``migrations/versions``; the configuration is built here rather than
read from an ``alembic.ini``, so an installed package migrates with no file beside it.
"""

from __future__ import annotations

import logging

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from renvoi.errors import MigrationNeededError
from renvoi.store.database import Database


def alembic_config(db: Database) -> Config:
    """An Alembic configuration pointing at this package's scripts and ``db``."""
    config = Config()
    config.set_main_option("script_location", "renvoi.store:migrations")
    config.attributes["engine"] = db.engine
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default).

    Raises:
        StoreError: the database failed.
    """
    with db._mapped():
        command.upgrade(alembic_config(db), revision)


def check_current(db: Database) -> None:
    """Refuse a database whose schema is not this renvoi's newest.

    Raises:
        MigrationNeededError: no schema yet, or an older one.
        StoreError: the database failed.
    """
    quiet = logging.getLogger("alembic")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # its set-up lines on every command are noise
    try:
        head = ScriptDirectory.from_config(alembic_config(db)).get_current_head()
        with db.read() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        quiet.setLevel(level)
    if current != head:
        found = f"at revision {current}" if current else "empty"
        raise MigrationNeededError(
            f"the database is {found}, this renvoi needs revision {head}: "
            "run `renvoi db upgrade` first"
        )
