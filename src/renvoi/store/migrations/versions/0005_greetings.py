"""greetings: a number's own voicemail greeting

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "greetings",
        sa.Column(
            "number_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("pcm", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["number_id"],
            ["numbers.id"],
            name=op.f("fk_greetings_number_id_numbers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("number_id", name=op.f("pk_greetings")),
    )


def downgrade() -> None:
    op.drop_table("greetings")
