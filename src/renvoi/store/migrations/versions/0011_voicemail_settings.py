"""voicemail settings per number and per account; messages' transcripts

numbers gain their own voicemail limits, greeting language and audio format (null: the
installation's); accounts an audio format for their numbers; messages their transcript
and what became of it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("numbers") as batch:
        batch.add_column(sa.Column("voicemail_max_seconds", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("voicemail_min_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("voicemail_silence_seconds", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("voicemail_language", sa.String(length=2), nullable=True))
        batch.add_column(sa.Column("voicemail_audio_format", sa.String(length=3), nullable=True))
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("voicemail_audio_format", sa.String(length=3), nullable=True))
    with op.batch_alter_table("voicemails") as batch:
        batch.add_column(sa.Column("transcript_state", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("transcript_language", sa.String(length=2), nullable=True))
        batch.add_column(sa.Column("transcript", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("voicemails") as batch:
        batch.drop_column("transcript")
        batch.drop_column("transcript_language")
        batch.drop_column("transcript_state")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("voicemail_audio_format")
    with op.batch_alter_table("numbers") as batch:
        batch.drop_column("voicemail_audio_format")
        batch.drop_column("voicemail_language")
        batch.drop_column("voicemail_silence_seconds")
        batch.drop_column("voicemail_min_seconds")
        batch.drop_column("voicemail_max_seconds")
