"""What the voicemail endpoint keeps on disk, and how a message becomes a committed one.

A message is written as a WAV file and a sidecar of its metadata, each to a temporary
name, fsync'ed, renamed, and the directory fsync'ed, so a file that exists is whole;
then the message and its email are committed in one transaction
(``store.voicemail.save_message``) and the sidecar removed. At start the endpoint
commits any sidecar a crash left (``Spool.recover``): no recorded message is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from renvoi import metrics
from renvoi.audio import wav
from renvoi.errors import AlreadyExistsError, StoreError
from renvoi.store import voicemail as store
from renvoi.store.database import Database
from renvoi.voice.dialog import Call
from renvoi.voice.sansio import sip

log = structlog.get_logger("renvoi.voicemail")


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` so that after a crash it is there whole, or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class Spool:
    """The messages of one voicemail endpoint, from the recording to the database.

    Args:
        directory: where recordings are kept (``RENVOI_DATA_DIR``/voicemail); the
            database holds paths relative to it.
        db: the store.
        sender_domain: the domain of the emails' Message-ID.
        webhook: whether each message is also announced to the webhook.
        on_message: called after a message is committed (wakes the outbox worker).
    """

    def __init__(
        self,
        directory: Path,
        db: Database,
        *,
        sender_domain: str,
        webhook: bool,
        on_message: Callable[[], None],
        counting: bool = False,
    ) -> None:
        self.directory = directory
        self.db = db
        self.sender_domain = sender_domain
        self.webhook = webhook
        self.on_message = on_message
        self.counting = counting  # renvoi_voicemail_messages_total

    async def keep(self, call: Call, pcm: bytes) -> None:
        """Write the call's message and its metadata durably, then commit it."""
        public_id = uuid.uuid4().hex
        received = call.started_at
        relative = f"{received:%Y/%m}/{public_id}.wav"
        meta: dict[str, Any] = {
            "public_id": public_id,
            "e164": call.number,
            "call_id": call.call_id,
            "caller": sip.user_of(sip.uri_of(call.invite.need("from"))) or None,
            "recipient": call.recipient,
            "received_at": received.isoformat(),
            "duration_ms": len(pcm) * 1000 // (2 * wav.RATE),
            "audio_path": relative,
            "message_id": f"<voicemail.{public_id}@{self.sender_domain}>",
        }
        audio = wav.wav_of_pcm(pcm)
        meta["size"] = len(audio)
        path = self.directory / relative
        await asyncio.to_thread(write_durably, path, audio)
        sidecar = path.with_suffix(".json")
        await asyncio.to_thread(write_durably, sidecar, json.dumps(meta).encode())
        await self.commit(sidecar, meta)

    async def commit(self, sidecar: Path, meta: dict[str, Any]) -> None:
        """The message and its email in the database (tried again while the database is
        unavailable); then the sidecar goes."""
        values = {**meta, "received_at": datetime.fromisoformat(meta["received_at"])}
        values["webhook"] = self.webhook
        delay = 1.0
        while True:
            try:
                stored = await asyncio.to_thread(lambda: store.save_message(self.db, **values))
                if stored and self.counting:
                    metrics.voicemail_messages.inc()
                break
            except AlreadyExistsError:
                break  # committed before a crash that left the sidecar
            except StoreError as exc:
                log.warning("voicemail_commit_retry", error=str(exc), delay=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
        with contextlib.suppress(FileNotFoundError):
            sidecar.unlink()
        log.info("voicemail_kept", number=meta["e164"], message=meta["public_id"])
        self.on_message()

    async def recover(self) -> None:
        """Commit the messages a crash left recorded but not committed."""
        for sidecar in sorted(self.directory.glob("*/*/*.json")):
            try:
                meta = json.loads(sidecar.read_text())
            except (OSError, ValueError):
                log.error("voicemail_sidecar_unreadable", path=str(sidecar))
                continue
            await self.commit(sidecar, meta)
