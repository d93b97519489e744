"""what Kamailio holds of each number: its plan, and the generation of the last change

One row per number that was ever on the platform (htable's columns, with ``version``
beside them: Kamailio loads the rows in the order of the index), and a ``generation`` row
counting the changes; every number's row is written now, from its state.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from renvoi.store.routetable import GENERATION_KEY, publish_all

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kamailio_routes",
        sa.Column("key_name", sa.String(length=64), primary_key=True),
        sa.Column("key_type", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("value_type", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("key_value", sa.String(length=1024), nullable=False),
        sa.Column("expires", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.create_index("kamailio_routes_version", "kamailio_routes", ["version", "key_name"])
    op.execute(
        sa.text(
            "INSERT INTO kamailio_routes (key_name, key_type, value_type, key_value, expires,"
            " version) VALUES (:key, 0, 0, '0', 0, 0)"
        ).bindparams(key=GENERATION_KEY)
    )
    publish_all(op.get_bind())


def downgrade() -> None:
    op.drop_index("kamailio_routes_version", table_name="kamailio_routes")
    op.drop_table("kamailio_routes")
