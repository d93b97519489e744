"""Recordings as MP3 (LAME, through lameenc), for the emails of the numbers that choose it.

Every phone plays MP3. 16 kbit/s keeps the whole telephone band (LAME low-passes at
3.7 kHz there; at 8 kbit/s it cuts near 2 kHz, taking consonants with it) for about
120 KB a minute, an eighth of the WAV's (docs/voicemail.md has the measurements).
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
    encoder.set_quality(2)  # LAME's "high quality": costs ~0.1 s of CPU a minute here
    return bytes(encoder.encode(pcm) + encoder.flush())
