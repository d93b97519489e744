"""Audio the endpoint plays and keeps: the greeting, the beep, WAV files on disk.

Files are written the way the rest of renvoi commits: to a temporary name, fsync'ed,
renamed, and the directory fsync'ed, so a file that exists is whole.
"""

from __future__ import annotations

import io
import math
import os
import struct
import wave
from importlib import resources
from pathlib import Path

RATE = 8000
BEEP_SECONDS = 0.4


def pcm_of_wav(data: bytes) -> bytes:
    """16-bit mono 8 kHz PCM from a WAV file in that format.

    Raises:
        ValueError: another format (greetings are converted when they are uploaded).
    """
    with wave.open(io.BytesIO(data)) as reader:
        if (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) != (1, 2, RATE):
            raise ValueError("greetings are 16-bit mono 8 kHz WAV")
        pcm: bytes = reader.readframes(reader.getnframes())
        return pcm


def wav_of_pcm(pcm: bytes) -> bytes:
    """A WAV file (16-bit PCM, 8 kHz, mono) holding ``pcm``."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(pcm)
    return out.getvalue()


def default_greeting() -> bytes:
    """The greeting shipped with renvoi (``greetings/generate.sh`` made it), as PCM."""
    data = resources.files("renvoi.voice").joinpath("greetings/default.wav").read_bytes()
    return pcm_of_wav(data)


def beep(seconds: float = BEEP_SECONDS, frequency: float = 1000.0) -> bytes:
    """A sine tone as PCM, with 5 ms ramps so that it does not click."""
    count = int(RATE * seconds)
    ramp = RATE // 200
    samples = []
    for n in range(count):
        gain = min(1.0, n / ramp, (count - 1 - n) / ramp)
        samples.append(int(8000 * gain * math.sin(2 * math.pi * frequency * n / RATE)))
    return struct.pack(f"<{count}h", *samples)


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


def loudest(pcm: bytes) -> int:
    """The largest absolute sample of a PCM chunk (for silence detection)."""
    if len(pcm) < 2:
        return 0
    samples = memoryview(pcm[: len(pcm) // 2 * 2]).cast("h")
    return max(max(samples), -min(samples))
