"""Recordings as MP3 (LAME, through lameenc), for the emails of the numbers that choose it.

Every phone plays MP3. The default, 16 kbit/s, keeps the whole telephone band (at
8 kbit/s LAME low-passes below it, taking consonants with it); docs/voicemail.md gives
each bitrate's size and fidelity.
"""

from __future__ import annotations

import lameenc

from renvoi.audio.wav import RATE

BITRATES = (8, 16, 24, 32)  # kbit/s that MPEG-2.5 Layer III offers at 8 kHz and suit a voice


def mp3_of_pcm(pcm: bytes, *, kbps: int = 16) -> bytes:
    """16-bit mono 8 kHz PCM as an MP3 file (constant bitrate)."""
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(1)
    encoder.set_quality(2)  # LAME's "high quality"; its cost: docs/voicemail.md
    return bytes(encoder.encode(pcm) + encoder.flush())
