"""Voicemail messages, and the outbox of their emails and of the webhooks' events.

A message's row and its outbox row are written in one transaction, after its audio is
on disk (``voice/endpoint.py`` fsyncs the file first): a crash leaves either both rows,
whose email the worker will send, or neither, and at worst an orphan file.

The outbox is claimed with a lease: ``claim`` sets ``lease_until`` on rows that are due
and free, in one conditional UPDATE per row, so two workers never send the same row at
the same time; a worker that dies leaves its lease to expire and the row is sent again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from renvoi.domain.mailbox import MailboxSettings
from renvoi.domain.voicemail import Transcribed
from renvoi.errors import AlreadyExistsError
from renvoi.store.database import Database
from renvoi.store.mailboxes import MAILBOX_COLUMNS
from renvoi.store.models import Account, Number, Outbox, Voicemail
from renvoi.store.numbers import newest, owned_number_id
from renvoi.store.records import PendingEvent, PendingNotice, VoicemailRecord

EMAIL = "email"
WEBHOOK = "webhook"


def save_message(
    db: Database,
    *,
    public_id: str,
    e164: str,
    call_id: str,
    caller: str | None,
    recipient: str,
    received_at: datetime,
    duration_ms: int,
    audio_path: str,
    size: int,
    message_id: str,
    webhook: bool = False,
) -> bool:
    """Store a message and queue its email, and its webhook call when the account has a
    webhook or ``webhook`` says the installation has one; False if the number left the
    platform.

    Raises:
        AlreadyExistsError: a message of this ``public_id`` is stored already (committed
            before a crash that left its sidecar, ``voice/spool.py``).
    """
    with db.write() as conn:
        found = conn.execute(
            select(Number.id, Account.webhook_url.is_not(None))
            .join(Account, Account.id == Number.account_id)
            .where(Number.e164 == e164)
        ).one_or_none()
        if found is None:
            return False
        number_id, own_webhook = found
        webhook = webhook or bool(own_webhook)
        try:
            with conn.begin_nested():
                voicemail_id = conn.scalar(
                    insert(Voicemail)
                    .values(
                        public_id=public_id,
                        number_id=number_id,
                        call_id=call_id[:255],
                        caller=caller[:255] if caller else None,
                        recipient=recipient,
                        received_at=received_at,
                        duration_ms=duration_ms,
                        audio_path=audio_path,
                        size=size,
                    )
                    .returning(Voicemail.id)
                )
        except IntegrityError as exc:
            raise AlreadyExistsError(f"message {public_id} is stored already") from exc
        conn.execute(
            insert(Outbox),
            [
                {
                    "voicemail_id": voicemail_id,
                    "kind": kind,
                    "message_id": message_id,
                    "attempts": 0,
                    "next_attempt_at": received_at,
                    "queued_at": received_at,
                }
                for kind in ([EMAIL, WEBHOOK] if webhook else [EMAIL])
            ],
        )
    return True


def _transcribed(state: str | None, language: str | None, text: str | None) -> Transcribed | None:
    return None if state is None else Transcribed(state, language, text)


def _notice(row: tuple[Any, ...]) -> PendingNotice:
    account_format, state, language, text = row[19:]
    mailbox = MailboxSettings(*row[14:19])
    fields: list[Any] = [*row[:14], mailbox, account_format, _transcribed(state, language, text)]
    return PendingNotice(*fields)


def keep_transcript(db: Database, voicemail_id: int, transcript: Transcribed) -> Transcribed:
    """Record what became of a message's transcription, unless another worker did first;
    returns the one recorded, so a message's email and event say the same."""
    with db.write() as conn:
        conn.execute(
            update(Voicemail)
            .where(Voicemail.id == voicemail_id, Voicemail.transcript_state.is_(None))
            .values(
                transcript_state=transcript.state,
                transcript_language=transcript.language,
                transcript=transcript.text,
            )
        )
        row = conn.execute(
            select(
                Voicemail.transcript_state, Voicemail.transcript_language, Voicemail.transcript
            ).where(Voicemail.id == voicemail_id)
        ).one_or_none()
    kept = _transcribed(*row) if row is not None else None
    return kept or transcript


_RECORD = (
    Voicemail.public_id,
    Number.e164,
    Voicemail.caller,
    Voicemail.received_at,
    Voicemail.duration_ms,
    Voicemail.size,
    Voicemail.transcript_state,
    Voicemail.transcript_language,
    Voicemail.transcript,
)


def list_messages(
    db: Database, e164: str, *, account_id: str | None = None, limit: int = 100
) -> list[VoicemailRecord]:
    """A number's messages, newest first.

    Raises:
        NotFoundError: no such number (or, with ``account_id``, not that account's).
    """
    rows = newest(db, e164, Voicemail, _RECORD, account_id=account_id, limit=limit)
    return [_message(*row) for row in rows]


def _message(
    public_id: str,
    e164: str,
    caller: str | None,
    received_at: datetime,
    duration_ms: int,
    size: int,
    *transcript: str | None,
) -> VoicemailRecord:
    state, language, text = transcript
    return VoicemailRecord(
        public_id, e164, caller, received_at, duration_ms, size, _transcribed(state, language, text)
    )


def message_audio(
    db: Database, e164: str, public_id: str, *, account_id: str | None = None
) -> str | None:
    """The audio path of one of a number's messages, or None.

    Raises:
        NotFoundError: no such number (or not that account's).
    """
    with db.read() as conn:
        number_id = owned_number_id(conn, e164, account_id=account_id)
        path: str | None = conn.scalar(
            select(Voicemail.audio_path).where(
                Voicemail.number_id == number_id, Voicemail.public_id == public_id
            )
        )
        return path


def delete_message(
    db: Database, e164: str, public_id: str, *, account_id: str | None = None
) -> str | None:
    """Delete a message (its pending email too); returns its audio path to remove.

    Raises:
        NotFoundError: no such number (or not that account's).
    """
    with db.write() as conn:
        number_id = owned_number_id(conn, e164, account_id=account_id)
        path: str | None = conn.scalar(
            delete(Voicemail)
            .where(Voicemail.number_id == number_id, Voicemail.public_id == public_id)
            .returning(Voicemail.audio_path)
        )
        return path


def forget_events(db: Database, before: datetime) -> int:
    """Delete the webhook events delivered (or failed for good) before ``before``: a
    message's notices go with the message, an event has nothing else to go with."""
    with db.write() as conn:
        done = (Outbox.sent_at < before) | (Outbox.failed_at < before)
        result = conn.execute(delete(Outbox).where(Outbox.voicemail_id.is_(None), done))
        return int(result.rowcount or 0)


def delete_older_than(db: Database, before: datetime, *, limit: int = 500) -> list[str]:
    """Delete messages received before ``before``; returns their audio paths."""
    with db.write() as conn:
        ids = conn.scalars(
            select(Voicemail.id).where(Voicemail.received_at < before).limit(limit)
        ).all()
        if not ids:
            return []
        return list(
            conn.scalars(
                delete(Voicemail).where(Voicemail.id.in_(ids)).returning(Voicemail.audio_path)
            )
        )


def queue_event(conn: Connection, account_id: str, payload: str, *, at: datetime) -> None:
    """Queue a webhook event (``payload``, as it will be posted) in the caller's
    transaction: it is sent if and only if what it tells of commits."""
    conn.execute(
        insert(Outbox).values(
            voicemail_id=None,
            account_id=account_id,
            payload=payload,
            kind=WEBHOOK,
            message_id=f"<event.{uuid.uuid4().hex}@renvoi>",
            attempts=0,
            next_attempt_at=at,
            queued_at=at,
        )
    )


def claim(
    db: Database, *, now: datetime, lease: timedelta, limit: int = 10
) -> list[PendingNotice | PendingEvent]:
    """Notices due and not leased by another worker, leased to this one."""
    with db.write() as conn:
        candidates = conn.scalars(
            select(Outbox.id)
            .where(
                Outbox.sent_at.is_(None),
                Outbox.failed_at.is_(None),
                Outbox.next_attempt_at <= now,
                (Outbox.lease_until.is_(None)) | (Outbox.lease_until < now),
            )
            .order_by(Outbox.id)
            .limit(limit)
        ).all()
        claimed = []
        for outbox_id in candidates:
            result = conn.execute(
                update(Outbox)
                .where(
                    Outbox.id == outbox_id,
                    (Outbox.lease_until.is_(None)) | (Outbox.lease_until < now),
                )
                .values(lease_until=now + lease)
            )
            if result.rowcount:
                claimed.append(outbox_id)
        if not claimed:
            return []
        rows = conn.execute(
            select(
                Outbox.id,
                Outbox.kind,
                Outbox.attempts,
                Outbox.message_id,
                Voicemail.public_id,
                Number.e164,
                Voicemail.caller,
                Voicemail.recipient,
                Voicemail.received_at,
                Voicemail.duration_ms,
                Voicemail.audio_path,
                Voicemail.size,
                Number.account_id,
                Voicemail.id,
                *MAILBOX_COLUMNS,
                Account.voicemail_audio_format,
                Voicemail.transcript_state,
                Voicemail.transcript_language,
                Voicemail.transcript,
            )
            .join(Voicemail, Voicemail.id == Outbox.voicemail_id)
            .join(Number, Number.id == Voicemail.number_id)
            .join(Account, Account.id == Number.account_id)
            .where(Outbox.id.in_(claimed))
        )
        notices: list[PendingNotice | PendingEvent] = [_notice(tuple(row)) for row in rows]
        events = conn.execute(
            select(
                Outbox.id,
                Outbox.kind,
                Outbox.attempts,
                Outbox.message_id,
                Outbox.account_id,
                Outbox.payload,
            ).where(Outbox.id.in_(claimed), Outbox.voicemail_id.is_(None))
        )
        notices += [
            PendingEvent(outbox_id, kind, attempts, message_id, account_id, payload or "")
            for outbox_id, kind, attempts, message_id, account_id, payload in events
        ]
        return sorted(notices, key=lambda notice: notice.outbox_id)


def sent(db: Database, outbox_id: int, *, now: datetime) -> None:
    with db.write() as conn:
        conn.execute(
            update(Outbox).where(Outbox.id == outbox_id).values(sent_at=now, lease_until=None)
        )


def retry(db: Database, outbox_id: int, *, at: datetime, error: str) -> None:
    """A temporary failure: try again at ``at``."""
    with db.write() as conn:
        conn.execute(
            update(Outbox)
            .where(Outbox.id == outbox_id)
            .values(
                attempts=Outbox.attempts + 1,
                next_attempt_at=at,
                lease_until=None,
                last_error=error[:500],
            )
        )


def failed(db: Database, outbox_id: int, *, now: datetime, error: str) -> None:
    """A permanent failure (the server refused the message for good)."""
    with db.write() as conn:
        conn.execute(
            update(Outbox)
            .where(Outbox.id == outbox_id)
            .values(
                attempts=Outbox.attempts + 1,
                failed_at=now,
                lease_until=None,
                last_error=error[:500],
            )
        )


def backlog(db: Database, now: datetime) -> dict[str, tuple[int, float]]:
    """By channel (``email``, ``webhook``): how many notices wait to be sent, and how
    long the oldest has waited, in seconds (0 when none waits)."""
    with db.read() as conn:
        rows = conn.execute(
            select(
                Outbox.kind,
                func.count(),
                func.min(func.coalesce(Outbox.queued_at, Outbox.next_attempt_at)),
            )
            .where(Outbox.sent_at.is_(None), Outbox.failed_at.is_(None))
            .group_by(Outbox.kind)
        ).all()
    found: dict[str, tuple[int, float]] = {}
    for kind, count, oldest in rows:
        waited = 0.0 if oldest is None else max((now - _utc(oldest)).total_seconds(), 0.0)
        found[kind] = (int(count), waited)
    return found


def _utc(moment: datetime | str) -> datetime:
    """An aggregate's time: SQLite hands back the stored text, naive and in UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def pending_count(db: Database) -> int:
    """Notices not sent yet (nor failed for good)."""
    with db.read() as conn:
        return len(
            conn.scalars(
                select(Outbox.id).where(Outbox.sent_at.is_(None), Outbox.failed_at.is_(None))
            ).all()
        )
