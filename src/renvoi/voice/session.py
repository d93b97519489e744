"""A voicemail call's media: its RTP socket, the greeting and beep played as paced
packets, what the caller says after the beep recorded, and when to stop (RFC 3550).

The packets themselves are ``sansio/rtp.py``'s; this module does their I/O for one
``Call`` (``dialog.py``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from renvoi.audio import g711, wav
from renvoi.voice.dialog import Address, Call
from renvoi.voice.sansio.rtp import SAMPLES_PER_PACKET, Recording, RtpError, RtpPacket

SILENCE_LEVEL = 300  # peak sample below which 20 ms of audio counts as silence


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, on_packet: Callable[[bytes], None]) -> None:
        self.on_packet = on_packet

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.on_packet(data)


async def open_media(call: Call, *, host: str, ports: range) -> int:
    """Bind an even port of ``ports`` for the call's RTP, received into its recording.

    Raises:
        OSError: no port of the range is free.
    """
    loop = asyncio.get_running_loop()
    start = random.randrange(len(ports))
    for offset in range(len(ports)):
        port = ports[(start + offset) % len(ports)]
        if port % 2:
            continue
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Receiver(lambda data: record(call, data)), local_addr=(host, port)
            )
        except OSError:
            continue
        call.media = transport
        return port
    raise OSError("no free voicemail RTP port")


async def play_greeting(call: Call, *, max_seconds: int) -> None:
    """The greeting and the beep, as paced 20 ms packets; then the recording starts."""
    loop = asyncio.get_running_loop()
    chunk = SAMPLES_PER_PACKET * 2
    ssrc, sequence, timestamp = (random.randrange(2**32) for _ in range(3))
    sequence &= 0xFFFF
    next_at = loop.time()
    for n, start in enumerate(range(0, len(call.greeting), chunk)):
        if not call.live or call.media is None:
            return
        pcm = call.greeting[start : start + chunk].ljust(chunk, b"\0")
        packet = RtpPacket(
            call.payload_type,
            (sequence + n) & 0xFFFF,
            (timestamp + n * SAMPLES_PER_PACKET) & 0xFFFFFFFF,
            ssrc,
            g711.encode(call.payload_type, pcm),
            marker=n == 0,
        )
        assert call.remote_media is not None
        call.media.sendto(packet.build(), call.remote_media)
        next_at += 0.02
        await asyncio.sleep(max(0.0, next_at - loop.time()))
    call.recording = Recording(max_seconds * wav.RATE)
    call.recording_from = call.last_voice = loop.time()


def record(call: Call, data: bytes) -> None:
    """A packet from the caller: recorded once the beep has played, and heard as voice
    when loud enough."""
    if call.recording is None or not call.live:
        return  # still greeting: what the caller says now is not the message
    try:
        packet = RtpPacket.parse(data)
    except RtpError:
        return
    pcm = call.recording.add(packet)
    if pcm and wav.loudest(pcm) >= SILENCE_LEVEL:
        call.last_voice = asyncio.get_running_loop().time()


async def watch(
    call: Call, *, silence_seconds: int, hang_up: Callable[[Call, str], Awaitable[None]]
) -> None:
    """Hang up at the maximum length, or after ``silence_seconds`` without a voice."""
    loop = asyncio.get_running_loop()
    while call.live:
        await asyncio.sleep(0.1)
        if call.recording is None:
            continue
        if call.recording.full:
            await hang_up(call, "maximum length")
        elif loop.time() - call.last_voice > silence_seconds:
            await hang_up(call, "silence")
