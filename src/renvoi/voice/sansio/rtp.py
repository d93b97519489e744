"""RTP packets (RFC 3550 §5.1) and a recording assembled from them.

Parsing accepts what senders really send: CSRC lists, a header extension (§5.3.1),
padding (§5.1, P bit), sequence and timestamp wrap-around, and a change of SSRC (a new
source continues the recording where it stands). Samples are placed by RTP timestamp, so
a gap becomes silence and a late packet fills its gap.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from renvoi.audio import g711

HEADER = struct.Struct("!BBHII")
VERSION = 2
SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz


class RtpError(ValueError):
    """Not an RTP packet we can use."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < HEADER.size:
            raise RtpError("shorter than an RTP header")
        first, second, sequence, timestamp, ssrc = HEADER.unpack_from(data)
        if first >> 6 != VERSION:
            raise RtpError("not RTP version 2")
        offset = HEADER.size + 4 * (first & 0x0F)  # CSRC identifiers
        if first & 0x10:  # header extension: 16-bit profile, 16-bit length in words
            if len(data) < offset + 4:
                raise RtpError("truncated header extension")
            (words,) = struct.unpack_from("!H", data, offset + 2)
            offset += 4 + 4 * words
        end = len(data)
        if first & 0x20:  # padding: its length is the last byte
            if end == offset or data[-1] == 0 or data[-1] > end - offset:
                raise RtpError("bad padding")
            end -= data[-1]
        if offset > end:
            raise RtpError("truncated packet")
        return cls(second & 0x7F, sequence, timestamp, ssrc, data[offset:end], bool(second & 0x80))

    def build(self) -> bytes:
        second = (0x80 if self.marker else 0) | self.payload_type
        header = HEADER.pack(VERSION << 6, second, self.sequence, self.timestamp, self.ssrc)
        return header + self.payload


class Recording:
    """The caller's audio as 16-bit PCM, placed by RTP timestamp (8 kHz).

    Args:
        max_samples: samples kept at most (the maximum message length).
    """

    def __init__(self, max_samples: int) -> None:
        self.max_samples = max_samples
        self._pcm = bytearray()
        self._ssrc: int | None = None
        self._base = 0

    @property
    def samples(self) -> int:
        return len(self._pcm) // 2

    @property
    def full(self) -> bool:
        return self.samples >= self.max_samples

    def pcm(self) -> bytes:
        return bytes(self._pcm)

    def add(self, packet: RtpPacket) -> bytes:
        """Place a packet's audio; returns its decoded PCM (empty if it was not used)."""
        if packet.payload_type not in g711.NAMES or not packet.payload:
            return b""  # comfort noise, DTMF events, ...: not audio we record
        if packet.ssrc != self._ssrc:
            # A new source (first packet, or a re-INVITE, a transfer): continue at the end.
            self._ssrc = packet.ssrc
            self._base = (packet.timestamp - self.samples) & 0xFFFFFFFF
        position = (packet.timestamp - self._base) & 0xFFFFFFFF
        if position >= 0x80000000:
            return b""  # from before this source's first packet: too late to place
        pcm = g711.decode(packet.payload_type, packet.payload)
        start = position * 2
        end = min(start + len(pcm), self.max_samples * 2)
        if start >= end:
            return b""
        if start > len(self._pcm):
            self._pcm.extend(bytes(start - len(self._pcm)))  # a gap: silence
        self._pcm[start:end] = pcm[: end - start]
        return pcm
