"""A number's mailbox: its own greeting and voicemail settings, and its account's audio
format (``domain.mailbox`` says what applies), as the API, the console and the voicemail
endpoint read and change them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update

from renvoi.domain.mailbox import MailboxSettings
from renvoi.errors import NotFoundError
from renvoi.store.database import Database
from renvoi.store.models import Account, Greeting, Number
from renvoi.store.numbers import owned_number_id

# A number's own voicemail settings, in ``MailboxSettings``' order.
MAILBOX_COLUMNS = (
    Number.voicemail_max_seconds,
    Number.voicemail_min_seconds,
    Number.voicemail_silence_seconds,
    Number.voicemail_language,
    Number.voicemail_audio_format,
)


def mailbox_of(
    db: Database, e164: str, *, account_id: str | None = None
) -> tuple[MailboxSettings, str | None]:
    """A number's own voicemail settings, and its account's audio format.

    Raises:
        NotFoundError: no such number (or not that account's).
    """
    with db.read() as conn:
        row = conn.execute(
            select(Number.account_id, Account.voicemail_audio_format, *MAILBOX_COLUMNS)
            .join(Account, Account.id == Number.account_id)
            .where(Number.e164 == e164)
        ).one_or_none()
    if row is None or (account_id is not None and row[0] != account_id):
        raise NotFoundError(f"no number {e164}")
    return MailboxSettings(*row[2:]), row[1]


def set_mailbox(
    db: Database, e164: str, settings: MailboxSettings, *, account_id: str | None = None
) -> None:
    """Store a number's own voicemail settings (each None: the account's or the
    installation's). The next call and the next message sent follow them.

    Raises:
        NotFoundError: no such number (or not that account's).
    """
    with db.write() as conn:
        number_id = owned_number_id(conn, e164, account_id=account_id)
        conn.execute(
            update(Number)
            .where(Number.id == number_id)
            .values(
                voicemail_max_seconds=settings.max_seconds,
                voicemail_min_seconds=settings.min_seconds,
                voicemail_silence_seconds=settings.silence_seconds,
                voicemail_language=settings.language,
                voicemail_audio_format=settings.audio_format,
            )
        )


def setup_of(db: Database, e164: str) -> tuple[bytes | None, MailboxSettings, str | None]:
    """What the voicemail endpoint needs to answer a number's call, in one read: its own
    greeting (None: the default), its settings and its account's audio format.

    Raises:
        NotFoundError: no such number.
    """
    with db.read() as conn:
        row = conn.execute(
            select(Greeting.pcm, Account.voicemail_audio_format, *MAILBOX_COLUMNS)
            .select_from(Number)
            .join(Account, Account.id == Number.account_id)
            .outerjoin(Greeting, Greeting.number_id == Number.id)
            .where(Number.e164 == e164)
        ).one_or_none()
    if row is None:
        raise NotFoundError(f"no number {e164}")
    return row[0], MailboxSettings(*row[2:]), row[1]


def set_greeting(
    db: Database, e164: str, pcm: bytes | None, *, now: datetime, account_id: str | None = None
) -> None:
    """A number's own greeting (PCM, 16-bit mono 8 kHz); None goes back to the default.

    Raises:
        NotFoundError: no such number (or not that account's).
    """
    with db.write() as conn:
        number_id = owned_number_id(conn, e164, account_id=account_id)
        conn.execute(delete(Greeting).where(Greeting.number_id == number_id))
        if pcm is not None:
            conn.execute(insert(Greeting).values(number_id=number_id, pcm=pcm, updated_at=now))
