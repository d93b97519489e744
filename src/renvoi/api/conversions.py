"""Greeting conversions, run outside the API's processes and bounded.

Converting an upload is pure-Python work of up to a few CPU seconds: done in a worker,
it would hold the event loop (and every request behind it) that long. Each conversion
runs in a process of its own (``python -m renvoi.audio``), which the operating system
stops past its CPU limit; a worker runs at most ``RUNNING`` at once and lets at most
``WAITING`` more wait, and refuses the rest with code 19.
"""

from __future__ import annotations

import asyncio
import sys

from renvoi.errors import RateLimitedError

RUNNING = 1
WAITING = 4
TIMEOUT_SECONDS = 30


class ConversionError(ValueError):
    """The input cannot be made a greeting. ``reason`` is ``audio.wav.AudioError``'s
    key (``not_wav``, ``format``, ``too_long``, ``no_speech``, ``text``), or
    ``failed`` when the conversion itself failed (too long, out of CPU)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


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
                return await _convert(args, data)
        finally:
            self._held -= 1


async def _convert(args: list[str], data: bytes) -> bytes:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "renvoi.audio",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(data), TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ConversionError("failed", "the conversion took too long") from None
    if process.returncode == 2:  # the converter's refusal: "reason: detail"
        reason, _, detail = err.decode("utf-8", "replace").strip().partition(": ")
        raise ConversionError(reason, detail)
    if process.returncode != 0:
        raise ConversionError("failed", f"the converter exited with {process.returncode}")
    return out
