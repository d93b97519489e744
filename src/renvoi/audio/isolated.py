"""Audio work run in a process of its own (``python -m renvoi.audio``), bounded.

Converting a greeting or transcribing a message is CPU work of seconds: in a server's
process it would hold the event loop (and every request or notice behind it) that long.
The child process has a CPU limit the kernel enforces and a wall-clock timeout here, so
no input, however built, costs more than that.
"""

from __future__ import annotations

import asyncio
import sys


class IsolatedError(ValueError):
    """The work was refused or failed. ``reason`` is ``audio.wav.AudioError``'s key
    (``not_wav``, ``format``, ``too_long``, ``no_speech``, ``text``) for a refusal, or
    ``failed`` when the process itself failed (out of time or CPU, crashed)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


async def run_isolated(args: list[str], data: bytes, *, timeout: float) -> bytes:
    """``python -m renvoi.audio ARGS`` with ``data`` on its stdin; its stdout.

    Raises:
        IsolatedError: its refusal (exit status 2, ``reason: detail`` on stderr), or
            ``failed``.
    """
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
        out, err = await asyncio.wait_for(process.communicate(data), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise IsolatedError("failed", "it took too long") from None
    if process.returncode == 2:  # a refusal: "reason: detail"
        reason, _, detail = err.decode("utf-8", "replace").strip().partition(": ")
        raise IsolatedError(reason, detail)
    if process.returncode != 0:
        raise IsolatedError("failed", f"python -m renvoi.audio exited with {process.returncode}")
    return out
