"""fallbacks: a number's forward or voicemail on busy, no answer and unavailable

numbers gain one mode and param per condition and the ring time; changes say which
condition they changed (NULL: the primary setting), calls how they were diverted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CONDITIONS = ("busy", "no_answer", "unavailable")


def upgrade() -> None:
    with op.batch_alter_table("numbers") as batch:
        for condition in CONDITIONS:
            batch.add_column(
                sa.Column(
                    f"{condition}_mode", sa.SmallInteger(), server_default="0", nullable=False
                )
            )
            batch.add_column(sa.Column(f"{condition}_param", sa.String(length=320), nullable=True))
        batch.add_column(
            sa.Column("ring_seconds", sa.SmallInteger(), server_default="20", nullable=False)
        )
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("condition", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("old_ring_seconds", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("new_ring_seconds", sa.SmallInteger(), nullable=True))
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("diverted", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("diverted_to", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("diverted_to")
        batch.drop_column("diverted")
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("new_ring_seconds")
        batch.drop_column("old_ring_seconds")
        batch.drop_column("condition")
    with op.batch_alter_table("numbers") as batch:
        batch.drop_column("ring_seconds")
        for condition in reversed(CONDITIONS):
            batch.drop_column(f"{condition}_param")
            batch.drop_column(f"{condition}_mode")
