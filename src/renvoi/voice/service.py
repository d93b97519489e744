"""The voicemail process: the SIP endpoint and the outbox worker, on one event loop.

``renvoi voicemail serve`` runs this; ``renvoi serve`` runs it too, in a thread beside
the API, unless told not to (``--no-voicemail``, ``--no-worker``).
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from renvoi.config import Settings
from renvoi.notify.worker import OutboxWorker
from renvoi.store.database import Database
from renvoi.voice.endpoint import VoicemailEndpoint

log = structlog.get_logger("renvoi.voicemail")


async def run(
    settings: Settings, *, endpoint: bool = True, worker: bool = True, stop: asyncio.Event
) -> None:
    """Serve until ``stop`` is set; then hang up the calls and keep their messages."""
    db = Database(
        settings.database,
        sqlite_synchronous=settings.sqlite_synchronous,
        pool_size=2,
        timeout=settings.database_timeout,
    )
    sender = OutboxWorker(settings, db) if worker else None
    answering = (
        VoicemailEndpoint(settings, db, on_message=sender.nudge if sender else lambda: None)
        if endpoint
        else None
    )
    tasks = []
    try:
        if answering is not None:
            await answering.start()
        if sender is not None:
            tasks.append(asyncio.create_task(sender.run()))
        await stop.wait()
    finally:
        if answering is not None:
            await answering.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        db.dispose()
