"""Voicemail's audio as bytes: 16-bit mono 8 kHz PCM, WAV files, uploads converted to
it, the default greeting and the beep.

Pure computation on bytes, no file or network I/O (the default greeting is read from the
package): the API converts greetings with it, the voicemail endpoint plays and records.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from importlib import resources

RATE = 8000
BEEP_SECONDS = 0.4


class AudioError(ValueError):
    """Audio that cannot be made a greeting. ``reason`` says why, as a key the API turns
    into its message: ``not_wav``, ``format``, ``too_long``; for speech ``no_speech``
    (espeak-ng is missing or failed) and ``text`` (1 to 500 characters)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


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


MAX_GREETING_SECONDS = 30


def greeting_from_upload(data: bytes) -> bytes:
    """An uploaded WAV as a greeting: PCM (8, 16, 24 or 32-bit), mono or stereo, any
    common rate; returned as 16-bit mono 8 kHz PCM, at most 30 s.

    Raises:
        AudioError: not a PCM WAV file, or longer than 30 s.
    """
    try:
        with wave.open(io.BytesIO(data)) as reader:
            channels, width, rate = (
                reader.getnchannels(),
                reader.getsampwidth(),
                reader.getframerate(),
            )
            frames = reader.getnframes()
            if not (1 <= channels <= 2 and 1 <= width <= 4 and 8000 <= rate <= 192_000):
                raise AudioError("format", "PCM, mono or stereo, 8 to 192 kHz")
            if frames > rate * MAX_GREETING_SECONDS:
                raise AudioError("too_long", f"at most {MAX_GREETING_SECONDS} s")
            raw = reader.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise AudioError("not_wav", str(exc)) from None
    return resample(mono16(raw, width=width, channels=channels), rate)


def mono16(raw: bytes, *, width: int, channels: int) -> list[int]:
    """Interleaved PCM frames as mono 16-bit samples (channels averaged)."""
    step = width * channels
    samples = []
    for start in range(0, len(raw) - step + 1, step):
        total = 0
        for channel in range(channels):
            at = start + channel * width
            if width == 1:  # 8-bit WAV is unsigned
                value = (raw[at] - 128) << 8
            else:
                value = int.from_bytes(raw[at : at + width], "little", signed=True)
                value >>= 8 * (width - 2)
            total += value
        samples.append(total // channels)
    return samples


def resample(samples: list[int], rate: int) -> bytes:
    """Samples at ``rate`` as 16-bit PCM at 8 kHz: a moving average over each output
    sample's span (the low-pass that keeps the voice band), then linear interpolation."""
    if rate == RATE:
        return struct.pack(f"<{len(samples)}h", *samples)
    ratio = rate / RATE
    span = max(1, int(ratio))
    smoothed = samples
    if span > 1:
        running, smoothed = 0, []
        for n, value in enumerate(samples):
            running += value - (samples[n - span] if n >= span else 0)
            smoothed.append(running // min(n + 1, span))
    count = int(len(samples) / ratio)
    out = []
    for n in range(count):
        position = n * ratio
        index = int(position)
        following = smoothed[min(index + 1, len(smoothed) - 1)]
        interpolated = smoothed[index] + (following - smoothed[index]) * (position - index)
        out.append(max(-32768, min(32767, int(interpolated))))
    return struct.pack(f"<{count}h", *out)


def wav_of_pcm(pcm: bytes) -> bytes:
    """A WAV file (16-bit PCM, 8 kHz, mono) holding ``pcm``."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(pcm)
    return out.getvalue()


def default_greeting(language: str | None = None) -> bytes:
    """A greeting shipped with renvoi (``greetings/generate.sh`` made them), as PCM: in
    ``language`` (``fr``, ``en``), or with None in French then English."""
    name = {"fr": "fr.wav", "en": "en.wav"}.get(language or "", "default.wav")
    data = resources.files("renvoi.audio").joinpath(f"greetings/{name}").read_bytes()
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


def loudest(pcm: bytes) -> int:
    """The largest absolute sample of a PCM chunk (for silence detection)."""
    if len(pcm) < 2:
        return 0
    samples = memoryview(pcm[: len(pcm) // 2 * 2]).cast("h")
    return max(max(samples), -min(samples))
