"""accounts' own webhooks; outbox rows that carry an event of their own

accounts gain a webhook URL and its signing secret; an outbox row is a voicemail
message's notice (voicemail_id) or an event with its payload and account, and says
when it was queued (for the backlog's age).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("webhook_url", sa.String(length=2000), nullable=True))
        batch.add_column(sa.Column("webhook_secret", sa.String(length=100), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("voicemail_id", existing_type=BigId, nullable=True)
        batch.add_column(sa.Column("account_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("payload", sa.Text(), nullable=True))
        batch.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE voicemail_id IS NULL")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("queued_at")
        batch.drop_column("payload")
        batch.drop_column("account_id")
        batch.alter_column("voicemail_id", existing_type=BigId, nullable=False)
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("webhook_secret")
        batch.drop_column("webhook_url")
