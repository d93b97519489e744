"""Alembic's environment: run migrations on the engine renvoi hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from renvoi.store.models import Base

config = context.config
engine = config.attributes["engine"]
assert isinstance(engine, Engine)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite alters tables by copying them; batch mode does that for every ALTER.
        render_as_batch=engine.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
