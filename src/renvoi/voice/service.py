"""The voicemail process: the SIP endpoint and the outbox worker, on one event loop.

``renvoi voicemail serve`` runs this; ``renvoi serve`` runs it too, in a thread beside
the API, unless told not to (``--no-voicemail``, ``--no-worker``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from renvoi.config import Settings
from renvoi.notify.worker import OutboxWorker
from renvoi.store.database import open_database
from renvoi.voice.endpoint import VoicemailEndpoint

log = structlog.get_logger("renvoi.voicemail")


async def run(
    settings: Settings,
    *,
    endpoint: bool = True,
    worker: bool = True,
    stop: asyncio.Event,
    ready: Callable[[], None] = lambda: None,
) -> None:
    """Serve until ``stop`` is set; then hang up the calls and keep their messages.

    Args:
        ready: called once the endpoint listens and the worker runs.

    Raises:
        OSError: the endpoint cannot listen (its port is taken).
    """
    db = open_database(settings, pool_size=2)
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
        ready()
        await stop.wait()
    finally:
        if answering is not None:
            await answering.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        db.dispose()
