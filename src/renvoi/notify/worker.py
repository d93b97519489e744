"""The outbox worker: sends each pending voicemail email and webhook event, at least once.

Each round claims the due rows with a lease (``store.voicemail.claim``), hands each to
its sender (``mailer.Mailer``, ``webhook.Poster``) and records the outcome: sent;
refused for good (``PermanentDeliveryError``: a 5xx answer, an address the server
cannot take, a recipient no header can hold safely; the row is marked failed, with the
reason); or a temporary failure (``TemporaryDeliveryError``: the server down, a 4xx
answer, a timeout; tried again later, with ``domain.voicemail.retry_delay``). A worker
killed mid-send leaves its lease to expire and the notice is sent again, with the same
Message-ID (``X-Renvoi-Delivery`` for a webhook call), so the receiver can recognise the
duplicate.

The worker also deletes messages past ``RENVOI_VOICEMAIL_RETENTION_DAYS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import wave
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from renvoi import metrics
from renvoi.audio.isolated import IsolatedError, run_isolated
from renvoi.audio.mp3 import mp3_of_pcm
from renvoi.audio.wav import pcm_of_wav
from renvoi.config import Settings
from renvoi.domain.mailbox import Limits
from renvoi.domain.voicemail import (
    FAILED,
    NO_LANGUAGE,
    NO_MODEL,
    NOTHING_HEARD,
    TRANSCRIBED,
    NewMessage,
    Transcribed,
    clean_transcript,
    compose,
    retry_delay,
    transcript_json,
)
from renvoi.domain.webhooks import VOICEMAIL_MESSAGE, event_body
from renvoi.errors import PermanentDeliveryError, StoreError, TemporaryDeliveryError
from renvoi.notify.mailer import Mailer, SmtpMailer
from renvoi.notify.webhook import HttpPoster, Poster, signature
from renvoi.store import accounts
from renvoi.store import voicemail as store
from renvoi.store.database import Database
from renvoi.store.records import PendingEvent, PendingNotice

log = structlog.get_logger("renvoi.outbox")

POLL_SECONDS = 1.0
# Wall-clock time a transcription may take beyond its CPU time (start, a busy machine).
TRANSCRIPT_GRACE_SECONDS = 30
RETENTION_EVERY = timedelta(hours=1)


class OutboxWorker:
    """Delivers the outbox of one installation.

    Args:
        mailer: sends the emails (default: SMTP, ``RENVOI_SMTP_*``).
        poster: calls the webhook (default: HTTP).
        clock: the time (tests pass their own).
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        mailer: Mailer | None = None,
        poster: Poster | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.db = db
        self.mailer: Mailer = mailer or SmtpMailer(settings)
        self.poster: Poster = poster or HttpPoster(timeout=settings.smtp_timeout)
        self.clock = clock
        self.spool = settings.voicemail_dir
        self._wake = asyncio.Event()
        self._last_retention: datetime | None = None

    def nudge(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Send until cancelled."""
        while True:
            try:
                busy = await self.run_once()
            except StoreError as exc:
                log.warning("outbox_store_unavailable", error=str(exc))
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                self._wake.clear()

    async def run_once(self) -> int:
        """One round: returns how many emails it tried."""
        now = self.clock()
        if self._last_retention is None or now - self._last_retention >= RETENTION_EVERY:
            self._last_retention = now
            await self.apply_retention(now)
        lease = timedelta(seconds=self.settings.outbox_lease_seconds)
        # A transcription may take minutes: one notice at a time then, so that none
        # waits behind others past its lease (and is sent twice).
        limit = 1 if self.settings.transcribing else 10
        pending = await asyncio.to_thread(store.claim, self.db, now=now, lease=lease, limit=limit)
        for email in pending:
            await self.deliver(email)
        return len(pending)

    async def deliver(self, pending: PendingNotice | PendingEvent) -> None:
        try:
            if isinstance(pending, PendingEvent):
                await self.post(pending.account_id, pending.payload.encode(), pending.message_id)
            elif pending.kind == store.WEBHOOK:
                await self.call_webhook(pending)
            else:
                await self.send(pending)
        except PermanentDeliveryError as exc:
            self._count(pending, "failed")
            error = str(exc) or type(exc).__name__
            log.error("notice_refused", kind=pending.kind, outbox=pending.outbox_id, error=error)
            await asyncio.to_thread(
                store.failed, self.db, pending.outbox_id, now=self.clock(), error=error
            )
        except TemporaryDeliveryError as exc:
            await self._retry(pending, str(exc) or type(exc).__name__)
        except Exception:
            # A bug must not stop the other notices: this one waits, and is visible.
            log.exception("notice_failed_unexpectedly", kind=pending.kind, outbox=pending.outbox_id)
            await self._retry(pending, "unexpected error (see the worker's log)")
        else:
            self._count(pending, "sent")
            await asyncio.to_thread(store.sent, self.db, pending.outbox_id, now=self.clock())
            log.info(
                "notice_sent",
                kind=pending.kind,
                outbox=pending.outbox_id,
                message_id=pending.message_id,
            )

    def _count(self, pending: PendingNotice | PendingEvent, result: str) -> None:
        if self.settings.metrics:
            channel = "webhook" if pending.kind == store.WEBHOOK else "email"
            metrics.notifications.labels(channel, result).inc()

    async def _retry(self, pending: PendingNotice | PendingEvent, error: str) -> None:
        self._count(pending, "retry")
        delay = retry_delay(pending.attempts + 1)
        log.warning("notice_retry", kind=pending.kind, outbox=pending.outbox_id, error=error)
        at = self.clock() + timedelta(seconds=delay)
        await asyncio.to_thread(store.retry, self.db, pending.outbox_id, at=at, error=error)

    async def send(self, pending: PendingNotice) -> None:
        settings = self.settings
        limits, transcript = await self.prepare(pending)
        audio = await asyncio.to_thread(self._attachment, pending, limits.audio_format)
        message = compose(
            NewMessage(
                number=pending.number,
                caller=pending.caller,
                received_at=pending.received_at,
                duration_ms=pending.duration_ms,
                recipient=pending.recipient,
                message_id=pending.message_id,
                audio_name=f"message-{pending.received_at:%Y%m%d-%H%M%S}.{limits.audio_format}",
                audio_format=limits.audio_format,
                transcript=transcript,
            ),
            sender=settings.smtp_from,
            audio=audio,
            link=self._audio_link(pending, limits.audio_format),
        )
        await self.mailer.send(message)

    def _attachment(self, pending: PendingNotice, audio_format: str) -> bytes | None:
        """The recording as the email attaches it; None when it is gone, unreadable, or
        larger than ``RENVOI_VOICEMAIL_ATTACH_MAX_BYTES`` (the email links to it then)."""
        limit = self.settings.voicemail_attach_max_bytes
        # An MP3 is an eighth of the WAV at 16 kbit/s, a sixteenth at 8: no larger WAV
        # is worth encoding.
        if pending.size > (16 * limit if audio_format == "mp3" else limit):
            return None
        try:
            audio = (self.spool / pending.audio_path).read_bytes()
            if audio_format == "mp3":
                audio = mp3_of_pcm(pcm_of_wav(audio), kbps=self.settings.voicemail_mp3_kbps)
        except (OSError, ValueError, EOFError, wave.Error) as exc:
            log.error("recording_unreadable", message=pending.public_id, error=str(exc))
            return None
        return audio if len(audio) <= limit else None

    async def prepare(self, pending: PendingNotice) -> tuple[Limits, Transcribed | None]:
        """What applies to the message's number, and its transcript (made now if it is
        the first notice of the message to go; None when transcription is off)."""
        limits = self.settings.limits_of(pending.mailbox, pending.account_format)
        transcript = pending.transcript
        if transcript is None and self.settings.transcribing:
            transcript = await asyncio.to_thread(
                store.keep_transcript,
                self.db,
                pending.voicemail_id,
                await self.transcribe(pending, limits.language),
            )
        return limits, transcript

    async def transcribe(self, pending: PendingNotice, language: str | None) -> Transcribed:
        """The message heard by the engine (``audio.transcripts``), in a process of its
        own bounded in CPU time; whatever fails, the message still goes, once."""
        settings = self.settings
        if language is None:
            return Transcribed(NO_LANGUAGE)
        cpu = settings.transcriber_cpu_seconds
        try:
            pcm = pcm_of_wav(await asyncio.to_thread((self.spool / pending.audio_path).read_bytes))
            out = await run_isolated(
                [
                    "transcribe",
                    settings.transcriber,
                    language,
                    str(cpu),
                    settings.transcriber_models,
                ],
                pcm,
                timeout=cpu + TRANSCRIPT_GRACE_SECONDS,
            )
            heard = json.loads(out)["text"]
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            EOFError,
            wave.Error,
            IsolatedError,
        ) as exc:
            log.warning("transcript_failed", message=pending.public_id, error=str(exc))
            return Transcribed(FAILED, language)
        if heard is None:
            return Transcribed(NO_MODEL, language)
        text = clean_transcript(str(heard))
        return Transcribed(TRANSCRIBED if text else NOTHING_HEARD, language, text or None)

    async def call_webhook(self, pending: PendingNotice) -> None:
        """A voicemail message's ``voicemail.message`` event."""
        limits, transcript = await self.prepare(pending)
        body = event_body(
            VOICEMAIL_MESSAGE,
            id=pending.public_id,
            number=pending.number,
            caller=pending.caller,
            receivedAt=pending.received_at.isoformat().replace("+00:00", "Z"),
            durationMs=pending.duration_ms,
            audio=self._audio_link(pending, limits.audio_format),
            transcript=transcript_json(transcript),
        )
        await self.post(pending.account_id, body.encode(), pending.message_id)

    async def post(self, account_id: str | None, body: bytes, delivery: str) -> None:
        """Post a signed event to the account's own webhook, or else the installation's.

        Raises:
            PermanentDeliveryError: there is no webhook to call (any more), or it refuses.
            TemporaryDeliveryError: try again later.
        """
        settings = self.settings
        own = await asyncio.to_thread(accounts.webhook_of, self.db, account_id)
        if own is not None:
            url, secret = own[0], own[1].encode()
        elif settings.webhook_url is not None and settings.webhook_secret is not None:
            url, secret = settings.webhook_url, settings.webhook_secret.get_secret_value().encode()
        else:
            raise PermanentDeliveryError("the account has no webhook, nor has the installation")
        timestamp = str(int(self.clock().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "X-Renvoi-Timestamp": timestamp,
            "X-Renvoi-Signature": signature(secret, timestamp, body),
            "X-Renvoi-Delivery": delivery,
        }
        await self.poster.post(url, body, headers)

    def _audio_link(self, pending: PendingNotice, audio_format: str) -> str:
        return (
            f"{self.settings.public_url.rstrip('/')}/v1/vn/voicemail/{pending.public_id}/audio"
            f"?number={pending.number}" + ("&format=mp3" if audio_format == "mp3" else "")
        )

    async def apply_retention(self, now: datetime) -> None:
        before = now - timedelta(days=self.settings.voicemail_retention_days)
        while paths := await asyncio.to_thread(store.delete_older_than, self.db, before):
            for relative in paths:
                with contextlib.suppress(FileNotFoundError):
                    Path(self.spool / relative).unlink()
            log.info("voicemail_expired", count=len(paths))
        if forgotten := await asyncio.to_thread(store.forget_events, self.db, before):
            log.info("events_forgotten", count=forgotten)
