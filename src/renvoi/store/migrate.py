"""Schema migrations with Alembic, run by ``renvoi db upgrade`` and at ``renvoi serve``.

The scripts live in ``migrations/versions``; the configuration is built here rather than
read from an ``alembic.ini``, so an installed package migrates with no file beside it.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config

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
