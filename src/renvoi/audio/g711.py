"""G.711 A-law and μ-law (ITU-T G.711), with our own tables.

The stdlib ``audioop`` did this; it is deprecated and gone from Python 3.13. The formulas
are the classic ones of the ITU reference (and of Sun's public-domain ``g711.c``):
decoding is a 256-entry table, encoding a 65,536-entry one, both built at import.
Samples are signed 16-bit little-endian PCM (what a WAV file holds).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from typing import Final

_SIGN, _QUANT, _SEG_MASK, _SEG_SHIFT = 0x80, 0x0F, 0x70, 4
_BIAS, _CLIP = 0x84, 8159
_SEG_A_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)
_SEG_U_END = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)


def alaw_to_linear(code: int) -> int:
    """One A-law byte as a 16-bit sample."""
    code ^= 0x55
    value = (code & _QUANT) << 4
    segment = (code & _SEG_MASK) >> _SEG_SHIFT
    if segment == 0:
        value += 8
    else:
        value = (value + 0x108) << (segment - 1)
    return value if code & _SIGN else -value


def ulaw_to_linear(code: int) -> int:
    """One μ-law byte as a 16-bit sample."""
    code = ~code & 0xFF
    value = (((code & _QUANT) << 3) + _BIAS) << ((code & _SEG_MASK) >> _SEG_SHIFT)
    return _BIAS - value if code & _SIGN else value - _BIAS


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for segment, end in enumerate(ends):
        if value <= end:
            return segment
    return len(ends)


def linear_to_alaw(sample: int) -> int:
    """One 16-bit sample as an A-law byte."""
    sample >>= 3
    if sample >= 0:
        mask = 0xD5
    else:
        mask, sample = 0x55, -sample - 1
    segment = _segment(sample, _SEG_A_END)
    if segment >= 8:
        return 0x7F ^ mask
    shift = 1 if segment < 2 else segment
    return ((segment << 4) | ((sample >> shift) & _QUANT)) ^ mask


def linear_to_ulaw(sample: int) -> int:
    """One 16-bit sample as a μ-law byte."""
    sample >>= 2
    if sample < 0:
        mask, sample = 0x7F, -sample
    else:
        mask = 0xFF
    sample = min(sample, _CLIP) + (_BIAS >> 2)
    segment = _segment(sample, _SEG_U_END)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((sample >> (segment + 1)) & _QUANT)) ^ mask


def _decoder(to_linear: Callable[[int], int]) -> tuple[bytes, ...]:
    return tuple(struct.pack("<h", to_linear(code)) for code in range(256))


def _encoder(to_code: Callable[[int], int]) -> bytes:
    # Indexed by the sample's 16 bits read as unsigned.
    return bytes(to_code(u - 0x10000 if u >= 0x8000 else u) for u in range(0x10000))


_DECODE: Final = {8: _decoder(alaw_to_linear), 0: _decoder(ulaw_to_linear)}
_ENCODE: Final = {8: _encoder(linear_to_alaw), 0: _encoder(linear_to_ulaw)}

assert sys.byteorder == "little", "encode() reads PCM in native byte order"

# RTP static payload types (RFC 3551): what SDP calls them.
PCMU: Final = 0
PCMA: Final = 8
NAMES: Final = {PCMU: "PCMU", PCMA: "PCMA"}


def decode(payload_type: int, data: bytes) -> bytes:
    """G.711 bytes (``PCMA`` or ``PCMU``) as 16-bit little-endian PCM."""
    table = _DECODE[payload_type]
    return b"".join([table[code] for code in data])


def encode(payload_type: int, pcm: bytes) -> bytes:
    """16-bit little-endian PCM as G.711 bytes."""
    table = _ENCODE[payload_type]
    samples = memoryview(pcm).cast("H")  # native order: little-endian, checked below
    return bytes([table[u] for u in samples])
