"""Greeting conversions, run outside the API's processes and bounded.

Converting an upload is pure-Python work of up to a few CPU seconds: done in a worker,
it would hold the event loop (and every request behind it) that long. Each conversion
runs in a process of its own (``audio.isolated``), which the operating system stops past
its CPU limit; a worker runs at most ``RUNNING`` at once and lets at most
``WAITING`` more wait, and refuses the rest with code 19.
"""

from __future__ import annotations

import asyncio

from renvoi.audio.isolated import IsolatedError, run_isolated
from renvoi.domain.codes import MESSAGES, Code
from renvoi.errors import ContractError, RateLimitedError

RUNNING = 1
WAITING = 4
TIMEOUT_SECONDS = 30


# A conversion's refusal or failure (``reason``: ``not_wav``, ``format``, ``too_long``,
# ``no_speech``, ``text``, or ``failed``).
ConversionError = IsolatedError


def refusal(exc: ConversionError) -> ContractError:
    """A conversion's refusal as the contract's code 4, its message naming what is
    wrong with the audio (or the text)."""
    detail = f"audio_{exc.reason}"
    return ContractError(Code.BAD_REQUEST, detail=detail if detail in MESSAGES else "invalid_audio")


class Conversions:
    """The conversions of one worker process."""

    def __init__(self) -> None:
        self._turns = asyncio.Semaphore(RUNNING)
        self._held = 0

    async def greeting(self, upload: bytes) -> bytes:
        """An uploaded WAV as greeting PCM (``audio.wav.greeting_from_upload``).

        Raises:
            ConversionError: not a usable WAV file.
            RateLimitedError: too many conversions already wait in this process (19).
        """
        return await self._run(["greeting"], upload)

    async def speech(self, text: str, *, language: str) -> bytes:
        """``text`` read by espeak-ng, as greeting PCM (``audio.speech.speak``).

        Raises:
            ConversionError: nothing to say, or no espeak-ng.
            RateLimitedError: too many conversions already wait in this process (19).
        """
        return await self._run(["speak", language], text.encode())

    async def _run(self, args: list[str], data: bytes) -> bytes:
        if self._held >= RUNNING + WAITING:
            raise RateLimitedError(retry_after=1)
        self._held += 1
        try:
            async with self._turns:
                return await run_isolated(args, data, timeout=TIMEOUT_SECONDS)
        finally:
            self._held -= 1
