"""G.711 A-law and μ-law (``audio/g711.py``) against the ITU reference's known values."""

from __future__ import annotations

import struct

import pytest

from renvoi.audio import g711


@pytest.mark.parametrize(
    ("code", "linear"),
    [
        pytest.param(0xD5, 8, id="alaw-smallest-positive"),
        pytest.param(0x55, -8, id="alaw-smallest-negative"),
        pytest.param(0xAA, 32256, id="alaw-largest-positive"),
        pytest.param(0x2A, -32256, id="alaw-largest-negative"),
    ],
)
def test_alaw_reference_values(code: int, linear: int) -> None:
    assert g711.alaw_to_linear(code) == linear


@pytest.mark.parametrize(
    ("code", "linear"),
    [
        pytest.param(0xFF, 0, id="ulaw-zero"),
        pytest.param(0x80, 32124, id="ulaw-largest-positive"),
        pytest.param(0x00, -32124, id="ulaw-largest-negative"),
    ],
)
def test_ulaw_reference_values(code: int, linear: int) -> None:
    assert g711.ulaw_to_linear(code) == linear


@pytest.mark.parametrize("payload_type", [g711.PCMA, g711.PCMU])
def test_every_code_survives_a_round_trip(payload_type: int) -> None:
    """Decoding then encoding gives every one of the 256 codes back (μ-law's two zeros
    aside: 0x7F and 0xFF both decode to 0, which encodes as 0xFF)."""
    codes = bytes(range(256))
    again = g711.encode(payload_type, g711.decode(payload_type, codes))
    differing = {c for c, d in zip(codes, again, strict=True) if c != d}
    assert differing <= ({0x7F} if payload_type == g711.PCMU else set())


@pytest.mark.parametrize("payload_type", [g711.PCMA, g711.PCMU])
def test_encoding_keeps_the_signal_within_the_law_s_step(payload_type: int) -> None:
    samples = [0, 100, -100, 1000, -1000, 12345, -12345, 32767, -32768]
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    decoded = struct.unpack(
        f"<{len(samples)}h", g711.decode(payload_type, g711.encode(payload_type, pcm))
    )
    for sample, back in zip(samples, decoded, strict=True):
        assert abs(sample - back) <= max(16, abs(sample) // 16), (sample, back)
