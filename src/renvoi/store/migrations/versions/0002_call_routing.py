"""call routing: a number's normal SIP destination, call records

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 17:07:58.304882
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "number_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("caller", sa.String(length=255), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("destination", sa.String(length=255), nullable=True),
        sa.Column("status", sa.SmallInteger(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["number_id"],
            ["numbers.id"],
            name=op.f("fk_calls_number_id_numbers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calls_call_id"), ["call_id"], unique=False)
        batch_op.create_index("ix_calls_number_id_id", ["number_id", "id"], unique=False)

    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sip_destination", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.drop_column("sip_destination")

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_number_id_id")
        batch_op.drop_index(batch_op.f("ix_calls_call_id"))

    op.drop_table("calls")
