"""accounts.allowed_countries: an optional allowlist of forward destinations' countries

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 22:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("allowed_countries", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("allowed_countries")
