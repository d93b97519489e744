"""cache events: which number changed, so SQLite caches forget that number, not everything

Replaces the single route epoch of 0003: with it, every change to any number emptied
every process's caches, and a cache of API keys would not hold under a write load.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cache_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_cache_events")),
        sqlite_autoincrement=True,
    )
    op.drop_table("route_epoch")


def downgrade() -> None:
    epoch = op.create_table(
        "route_epoch",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_epoch")),
    )
    op.bulk_insert(epoch, [{"id": 1, "value": 0}])
    op.drop_table("cache_events")
