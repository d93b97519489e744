"""A number's own voicemail greeting: uploaded as any common WAV, converted, played."""

from __future__ import annotations

import asyncio
import io
import itertools
import math
import os
import shutil
import struct
import wave

import pytest
from fastapi.testclient import TestClient

from renvoi.api.conversions import RUNNING, WAITING, ConversionError, Conversions
from renvoi.audio.wav import default_greeting, greeting_from_upload, pcm_of_wav
from renvoi.errors import RateLimitedError
from tests.harness import Tenant

URL = "/v1/vn/voicemail/greeting"
A = "+33757000001"


def wav(seconds: float, *, rate: int, channels: int = 1, width: int = 2, hz: float = 440) -> bytes:
    frames = bytearray()
    for n in range(int(seconds * rate)):
        value = int(0.5 * math.sin(2 * math.pi * hz * n / rate) * (2 ** (8 * width - 1) - 1))
        sample = (
            (value + 128).to_bytes(1, "little")
            if width == 1
            else value.to_bytes(width, "little", signed=True)
        )
        frames += sample * channels
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(bytes(frames))
    return out.getvalue()


def crossings(pcm: bytes) -> int:
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    return sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))


@pytest.mark.parametrize(
    ("rate", "channels", "width"),
    [(8000, 1, 2), (16000, 2, 2), (44100, 1, 1), (48000, 2, 3), (22050, 1, 4)],
)
def test_uploads_are_converted_to_8_khz_mono_16_bit(rate: int, channels: int, width: int) -> None:
    pcm = greeting_from_upload(wav(1.0, rate=rate, channels=channels, width=width))
    assert abs(len(pcm) // 2 - 8000) <= 1  # one second at 8 kHz
    assert abs(crossings(pcm) - 880) <= 8  # still 440 Hz: two zero crossings a period


@pytest.mark.parametrize("data", [b"not a wav", wav(31, rate=8000), b"RIFF\x00\x00\x00\x00WAVE"])
def test_unusable_uploads_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        greeting_from_upload(data)


def test_upload_read_and_remove(client: TestClient, tenant: Tenant, other_tenant: Tenant) -> None:
    key = {"apiKey": tenant.key, "number": A}
    default = client.get(URL, params=key)
    assert default.headers["content-type"] == "audio/wav"
    assert pcm_of_wav(default.content) == default_greeting()
    uploaded = client.put(
        URL, params=key, content=wav(2, rate=16000), headers={"Content-Type": "audio/wav"}
    )
    assert uploaded.json() == {"success": True, "code": 200, "message": "OK"}
    mine = pcm_of_wav(client.get(URL, params=key).content)
    assert len(mine) == 2 * 8000 * 2
    foreign = client.get(URL, params={"apiKey": other_tenant.key, "number": A})
    assert foreign.json()["code"] == 13
    assert client.delete(URL, params=key).json()["success"] is True
    assert pcm_of_wav(client.get(URL, params=key).content) == default_greeting()


def test_bad_or_huge_uploads_answer_code_4(client: TestClient, tenant: Tenant) -> None:
    key = {"apiKey": tenant.key, "number": A}
    bad = client.put(URL, params=key, content=b"garbage")
    assert (bad.status_code, bad.json()["code"]) == (400, 4)
    assert "WAV" in bad.json()["message"]
    huge = client.put(URL, params=key, content=b"\0" * (8 * 1024 * 1024 + 1))
    assert (huge.status_code, huge.json()["code"]) == (413, 4)


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None and os.environ.get("RENVOI_TEST_REQUIRE_VOICE") != "1",
    reason="espeak-ng not installed (CI installs it and requires this test)",
)
def test_a_greeting_read_by_text_to_speech(client: TestClient, tenant: Tenant) -> None:
    key = {"apiKey": tenant.key, "number": A}
    spoken = client.put(URL, params=key, json={"text": "Bonjour, laissez un message."})
    assert spoken.json()["success"] is True
    pcm = pcm_of_wav(client.get(URL, params=key).content)
    assert 8000 < len(pcm) // 2 < 8000 * 10 and pcm != default_greeting()


def test_text_to_speech_refuses_what_it_cannot_say(client: TestClient, tenant: Tenant) -> None:
    key = {"apiKey": tenant.key, "number": A}
    for body in ({"text": ""}, {"text": "x" * 501}, {"text": "Hi", "language": "xx"}, {}):
        refused = client.put(URL, params=key, json=body)
        assert (refused.status_code, refused.json()["code"]) == (400, 4), body


def test_the_number_is_checked_before_the_upload_is_read(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    """An upload to another account's number once went through the whole conversion
    (seconds of CPU) before answering 13: four at once stalled the worker."""
    upload = wav(1.0, rate=48000, channels=2)
    for number, code in (("+33757000020", 13), ("+33757000010", 15), ("+33757000009", 14)):
        answer = client.put(URL, params={"apiKey": tenant.key, "number": number}, content=upload)
        assert answer.json()["code"] == code, number
    garbage = client.put(URL, params={"apiKey": tenant.key, "number": "+33757000020"}, content=b"x")
    assert garbage.json()["code"] == 13  # not 4: the body is never looked at


def test_conversions_wait_their_turn_and_past_that_are_refused() -> None:
    """At most ``RUNNING`` conversions run in a worker and ``WAITING`` more wait; the
    next is refused with 19 at once, never queued without bound."""
    conversions = Conversions()
    upload = wav(2.0, rate=48000, channels=2)

    async def crowd() -> list[object]:
        tasks = [conversions.greeting(upload) for _ in range(RUNNING + WAITING + 1)]
        return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = asyncio.run(crowd())
    refused = [o for o in outcomes if isinstance(o, RateLimitedError)]
    converted = [o for o in outcomes if isinstance(o, bytes)]
    assert len(refused) == 1 and len(converted) == RUNNING + WAITING
    assert all(len(pcm) == 2 * 8000 * 2 for pcm in converted)


def test_a_conversion_refusal_says_why() -> None:
    with pytest.raises(ConversionError, match="at most 30 s"):
        asyncio.run(Conversions().greeting(wav(31.0, rate=8000)))


def test_a_refused_upload_says_what_is_wrong(client: TestClient, tenant: Tenant) -> None:
    """``curl -F file=@…`` and a 31-second file once got the same generic answer."""
    key = {"apiKey": tenant.key, "number": A}
    form = client.put(URL, params=key, files={"file": ("g.wav", wav(1.0, rate=8000))})
    assert (form.status_code, form.json()["code"]) == (415, 4)
    assert "not a form" in form.json()["message"]
    long = client.put(URL, params=key, content=wav(31.0, rate=8000))
    assert (long.status_code, long.json()["message"]) == (400, "The greeting lasts more than 30 s")
    garbage = client.put(
        URL, params=key, content=b"RIFF-not-really", headers={"Accept-Language": "fr"}
    )
    assert garbage.json()["message"].startswith("Le corps n’est pas un fichier WAV")
