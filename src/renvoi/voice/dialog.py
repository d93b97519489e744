"""One voicemail call as a SIP dialog: its state, our answer and its retransmissions,
and the BYE that ends it from our side (RFC 3261).

The endpoint (``endpoint.py``) makes a ``Call`` per INVITE it answers; the functions
here drive what the RFC's timers ask of a UAS, through the ``send`` they are given.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from renvoi.audio import g711
from renvoi.voice.sansio import sip
from renvoi.voice.sansio.rtp import Recording

log = structlog.get_logger("renvoi.voicemail")

T1, T2 = 0.5, 4.0  # RFC 3261 §17.1.1.1
Address = tuple[str, int]
Send = Callable[[bytes, Address], None]


@dataclass
class Call:
    """One dialog: the INVITE, our answer, the media, the recording."""

    invite: sip.Message
    source: Address
    number: str
    recipient: str
    to_tag: str = field(default_factory=lambda: secrets.token_hex(6))
    state: str = "proceeding"  # -> answered -> confirmed -> ended
    last_response: bytes = b""
    payload_type: int = g711.PCMA
    remote_media: Address | None = None
    media: asyncio.DatagramTransport | None = None
    recording: Recording | None = None
    greeting: bytes = b""  # PCM: the number's own greeting or the default, then the beep
    recording_from: float | None = None  # loop time the beep ends
    last_voice: float = 0.0
    min_seconds: float = 0.0  # a shorter recording is dropped (the number's setting)
    cseq: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def call_id(self) -> str:
        return self.invite.call_id

    @property
    def live(self) -> bool:
        """Answered, and not ended: media flows."""
        return self.state in ("answered", "confirmed")


async def retransmit_ok(
    call: Call, send: Send, give_up: Callable[[Call, str], Awaitable[None]]
) -> None:
    """§13.3.1.4: the 200 again at T1, 2·T1, ... up to T2, until the ACK; after 64·T1
    without one, ``give_up`` (the call is hung up)."""
    interval, waited = T1, 0.0
    while waited < 64 * T1:
        await asyncio.sleep(interval)
        waited += interval
        if call.state != "answered":
            return
        send(call.last_response, call.source)
        interval = min(interval * 2, T2)
    if call.state == "answered":
        log.warning("voicemail_no_ack", call_id=call.call_id)
        await give_up(call, "no ACK")


async def send_bye(call: Call, send: Send, *, via: str, ended: asyncio.Task[None]) -> None:
    """Our BYE (§15.1.1), sent again on timer E's schedule until ``ended`` (keeping the
    message) is done; the call is over whatever the other side answers."""
    call.cseq += 1
    bye, next_hop = sip.bye(
        call.invite,
        to_tag=call.to_tag,
        cseq=call.cseq,
        via=via,
        branch=f"z9hG4bK{secrets.token_hex(8)}",  # §8.1.1.7's magic cookie
    )
    address = sip.host_port(next_hop)
    for delay in (T1, 2 * T1, 4 * T1, T2):
        send(bye, address)
        await asyncio.sleep(delay)
        if ended.done():
            break
