"""PCM and WAV (``audio/wav.py``): the shipped greeting, the beep, WAV in and out, the
loudness the endpoint hears silence by. Uploads converted: ``tests/api/test_greetings.py``."""

from __future__ import annotations

import io
import struct
import wave

import pytest

from renvoi.audio import wav


def test_the_shipped_greeting_and_beep_last_at_most_4_s_together() -> None:
    """voice.md: greeting and beep together at most 4 s with the default greeting."""
    seconds = (len(wav.default_greeting()) + len(wav.beep())) / 2 / wav.RATE
    assert 1 < seconds <= 4


def test_pcm_and_wav_round_trip() -> None:
    pcm = struct.pack("<4h", 0, 1000, -1000, 32767)
    data = wav.wav_of_pcm(pcm)
    with wave.open(io.BytesIO(data)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (
            1,
            2,
            8000,
        )
    assert wav.pcm_of_wav(data) == pcm


def test_another_format_is_refused_where_it_is_read() -> None:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(bytes(8))
    with pytest.raises(ValueError, match="16-bit mono 8 kHz"):
        wav.pcm_of_wav(out.getvalue())


@pytest.mark.parametrize(
    ("samples", "loudest"),
    [
        pytest.param([], 0, id="empty"),
        pytest.param([0, 0], 0, id="silence"),
        pytest.param([10, -300, 200], 300, id="negative-peak"),
        pytest.param([-32768], 32768, id="most-negative"),
    ],
)
def test_loudest(samples: list[int], loudest: int) -> None:
    assert wav.loudest(struct.pack(f"<{len(samples)}h", *samples)) == loudest


def test_a_refusal_says_why_by_its_reason() -> None:
    with pytest.raises(wav.AudioError) as caught:
        wav.greeting_from_upload(b"not a wav")
    assert caught.value.reason == "not_wav"
