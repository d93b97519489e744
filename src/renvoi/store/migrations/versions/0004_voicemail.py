"""voicemail: recorded messages, and the outbox of their notifications

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "voicemails",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("number_id", BigId, nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("caller", sa.String(length=255), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("received_at", When, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("audio_path", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["number_id"],
            ["numbers.id"],
            name=op.f("fk_voicemails_number_id_numbers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voicemails")),
        sa.UniqueConstraint("public_id", name=op.f("uq_voicemails_public_id")),
    )
    with op.batch_alter_table("voicemails", schema=None) as batch_op:
        batch_op.create_index("ix_voicemails_number_id_id", ["number_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_voicemails_received_at"), ["received_at"])
    op.create_table(
        "outbox",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("voicemail_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", When, nullable=False),
        sa.Column("lease_until", When, nullable=True),
        sa.Column("sent_at", When, nullable=True),
        sa.Column("failed_at", When, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["voicemail_id"],
            ["voicemails.id"],
            name=op.f("fk_outbox_voicemail_id_voicemails"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_voicemail_id"), ["voicemail_id"])
        batch_op.create_index(batch_op.f("ix_outbox_next_attempt_at"), ["next_attempt_at"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("voicemails")
