"""The voicemail endpoint: an asyncio SIP user agent server that answers, greets, records.

Kamailio relays mode-2 calls here (``RENVOI_VOICEMAIL_LISTEN``, UDP). What it does,
with the RFC 3261 sections it follows:

- INVITE (§13.3): 100 Trying, then 200 OK with an SDP answer (RFC 3264: PCMA or PCMU,
  else 488); 404 for a number not on the platform, 480 for one not in voicemail mode.
  The 200 is retransmitted until the ACK (§13.3.1.4, timers G and H: T1 doubling up to
  T2, given up after 64·T1, then the call is hung up). A retransmitted INVITE gets the
  last response again (§17.2.1).
- CANCEL (§9.2) before the answer: 200 to the CANCEL, 487 to the INVITE.
- BYE (§15.1.2): 200, and the message is kept. We send BYE ourselves (§15.1.1, through
  the route set of §12.1.1) at the maximum length or after a long silence.
- OPTIONS (§11.2): 200. A request for a dialog we do not have: 481 (§12.2.2).

The mailbox is the virtual number named by the first Diversion header (RFC 5806), else
the request URI. Media: the greeting and a beep are sent as 20 ms RTP packets; what the
caller sends after the beep is recorded (``sansio/rtp.py``). At the end the WAV file
and a sidecar of its metadata are written durably, then the message and its email are
committed in one transaction (``store/voicemail.py``) and the sidecar removed: at start
the endpoint commits any sidecar left by a crash, so no recorded message is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import structlog

from renvoi.audio import g711, wav
from renvoi.config import Settings
from renvoi.domain.callforward import Mode
from renvoi.domain.numbers import normalize_number
from renvoi.errors import ServiceError, StoreError
from renvoi.store import calls
from renvoi.store import voicemail as store
from renvoi.store.database import Database
from renvoi.voice import spool
from renvoi.voice.sansio import sdp, sip
from renvoi.voice.sansio.rtp import SAMPLES_PER_PACKET, Recording, RtpError, RtpPacket

log = structlog.get_logger("renvoi.voicemail")

T1, T2 = 0.5, 4.0  # RFC 3261 §17.1.1.1
SILENCE_LEVEL = 300  # peak sample below which 20 ms of audio counts as silence
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS"
Address = tuple[str, int]


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
    cseq: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def call_id(self) -> str:
        return self.invite.call_id


class _Media(asyncio.DatagramProtocol):
    def __init__(self, on_packet: Callable[[bytes], None]) -> None:
        self.on_packet = on_packet

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.on_packet(data)


class VoicemailEndpoint(asyncio.DatagramProtocol):
    """Answers voicemail calls on ``settings.voicemail_listen``.

    Args:
        on_message: called after a message is committed (wakes the outbox worker).
    """

    def __init__(
        self, settings: Settings, db: Database, *, on_message: Callable[[], None] = lambda: None
    ) -> None:
        self.settings = settings
        self.db = db
        self.on_message = on_message
        self.host, self.port = settings.voicemail_address
        self.spool = settings.voicemail_dir
        self.calls: dict[str, Call] = {}
        self.starting: set[str] = set()  # INVITEs whose Call is not made yet
        # Answers to non-INVITE requests, for their retransmissions (§17.2.2).
        self.answered: dict[tuple[str, str, str], bytes] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.default_greeting = wav.default_greeting()
        self.beep = wav.beep()
        self._background: set[asyncio.Task[Any]] = set()

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Commit what a crash left, then listen.

        Raises:
            ServiceError: the address cannot be had (its port is taken, say).
        """
        await self.recover()
        loop = asyncio.get_running_loop()
        try:
            await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, self.port))
        except OSError as exc:
            raise ServiceError(
                f"cannot listen on {self.host}:{self.port} (RENVOI_VOICEMAIL_LISTEN): "
                f"{exc.strerror or exc}"
            ) from None
        log.info("voicemail_listening", address=f"{self.host}:{self.port}")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    async def stop(self) -> None:
        """Hang up every call, keeping what each recorded, then close."""
        for call in list(self.calls.values()):
            if call.state in ("answered", "confirmed"):
                await self.hang_up(call, "shutdown")
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.transport is not None:
            self.transport.close()

    def spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # --- SIP ------------------------------------------------------------------------------

    def send(self, data: bytes, address: Address) -> None:
        if self.transport is not None:
            self.transport.sendto(data, address)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if not data.strip():
            return  # keep-alive (RFC 5626 §4.4.1)
        try:
            message = sip.parse(data)
        except sip.SipError as exc:
            log.debug("sip_dropped", reason=str(exc), source=f"{addr[0]}:{addr[1]}")
            return
        if not message.is_request:
            return  # responses to our BYE: nothing more to do
        try:
            self.dispatch(message, addr)
        except sip.SipError as exc:
            self.send(sip.response(message, 400, "Bad Request"), addr)
            log.info("sip_bad_request", reason=str(exc))

    def dispatch(self, request: sip.Message, source: Address) -> None:
        method = request.method
        call = self.calls.get(request.call_id)
        if method == "INVITE":
            if call is not None and not request.to_tag:
                if call.last_response:  # a retransmission (§17.2.1)
                    self.send(call.last_response, source)
                return
            if request.to_tag:  # a re-INVITE: not supported, the call goes on as it is
                if call is None:
                    self.reply(request, source, 481, "Call/Transaction Does Not Exist")
                else:
                    self.reply(request, source, 488, "Not Acceptable Here")
                return
            if request.call_id in self.starting:
                return  # retransmitted while its mailbox is looked up: 100 Trying went
            self.spawn(self.on_invite(request, source))
        elif method == "ACK":
            if call is not None and call.state == "answered":
                call.state = "confirmed"
        elif method == "CANCEL":
            self.on_cancel(request, source, call)
        elif method == "BYE":
            if call is None or request.to_tag != call.to_tag:
                self.reply(request, source, 481, "Call/Transaction Does Not Exist")
                return
            self.reply(request, source, 200, "OK")
            self.spawn(self.finish(call, "caller hung up"))
        elif method == "OPTIONS":
            self.reply(
                request,
                source,
                200,
                "OK",
                headers=[("Allow", ALLOW), ("Accept", "application/sdp")],
            )
        elif request.to_tag and call is None:
            self.reply(request, source, 481, "Call/Transaction Does Not Exist")
        else:
            self.reply(request, source, 405, "Method Not Allowed", headers=[("Allow", ALLOW)])

    def reply(
        self,
        request: sip.Message,
        source: Address,
        status: int,
        reason: str,
        *,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        """Answer a non-INVITE request, remembering the answer for its retransmissions."""
        key = (request.call_id, request.branch, request.method or "")
        data = self.answered.get(key)
        if data is None:
            call = self.calls.get(request.call_id)
            data = sip.response(
                request, status, reason, to_tag=call.to_tag if call else None, headers=headers
            )
            self.answered[key] = data
            asyncio.get_running_loop().call_later(64 * T1, self.answered.pop, key, None)
        self.send(data, source)

    # --- INVITE -----------------------------------------------------------------------------

    async def on_invite(self, invite: sip.Message, source: Address) -> None:
        self.starting.add(invite.call_id)
        try:
            await self.answer(invite, source)
        finally:
            self.starting.discard(invite.call_id)

    async def answer(self, invite: sip.Message, source: Address) -> None:
        trying = sip.response(invite, 100, "Trying")
        self.send(trying, source)
        try:
            offer = sdp.parse_offer(invite.body)
        except sdp.SdpError:
            self.send(
                sip.response(invite, 488, "Not Acceptable Here", to_tag=secrets.token_hex(6)),
                source,
            )
            return
        number = self.mailbox_number(invite)
        recipient = await self.recipient(number) if number else None
        if not number or not recipient:  # None: not on the platform; "": not in mode 2
            status, reason = (
                (480, "Temporarily Unavailable") if recipient == "" else (404, "Not Found")
            )
            self.send(sip.response(invite, status, reason, to_tag=secrets.token_hex(6)), source)
            return
        call = Call(invite, source, number, recipient, last_response=trying)
        own = await self.own_greeting(number)
        call.greeting = (own or self.default_greeting) + self.beep
        call.payload_type = offer.payload_type
        call.remote_media = (offer.address, offer.port)
        self.calls[call.call_id] = call
        call.last_response = sip.response(invite, 180, "Ringing", to_tag=call.to_tag)
        self.send(call.last_response, source)
        if self.settings.voicemail_ring_seconds:
            await asyncio.sleep(self.settings.voicemail_ring_seconds)
        if call.state != "proceeding":
            return  # cancelled while ringing
        port = await self.open_media(call)
        body = sdp.answer(
            address=self.host,
            port=port,
            payload_type=call.payload_type,
            session_id=random.randrange(1, 2**31),
        )
        call.last_response = sip.response(
            invite,
            200,
            "OK",
            to_tag=call.to_tag,
            headers=[
                ("Contact", f"<sip:voicemail@{self.host}:{self.port}>"),
                ("Allow", ALLOW),
                ("Content-Type", "application/sdp"),
            ],
            body=body,
        )
        call.state = "answered"
        self.send(call.last_response, source)
        log.info("voicemail_answered", number=call.number, call_id=call.call_id)
        call.tasks += [
            self.spawn(self.retransmit_ok(call)),
            self.spawn(self.play_greeting(call)),
            self.spawn(self.watch(call)),
        ]

    def mailbox_number(self, invite: sip.Message) -> str | None:
        diversions = invite.all("diversion")
        uri = sip.uri_of(diversions[0]) if diversions else (invite.uri or "")
        user = sip.user_of(uri)
        return normalize_number(user, region=self.settings.default_region) if user else None

    async def recipient(self, number: str) -> str | None:
        """The address of the number's mailbox; "" when it is not in voicemail mode, None
        when it is not on the platform."""
        try:
            state = await asyncio.to_thread(calls.route_state, self.db, number)
        except StoreError:
            return ""  # 480: try later
        if state is None or not state.voice:
            return None
        if state.suspended or state.setting.mode is not Mode.VOICEMAIL or not state.setting.param:
            return ""
        return state.setting.param

    async def own_greeting(self, number: str) -> bytes | None:
        try:
            return await asyncio.to_thread(store.greeting_of, self.db, number)
        except StoreError:
            return None  # the default greeting will do

    async def retransmit_ok(self, call: Call) -> None:
        """§13.3.1.4: the 200 again at T1, 2·T1, ... up to T2, until the ACK or 64·T1."""
        interval, waited = T1, 0.0
        while waited < 64 * T1:
            await asyncio.sleep(interval)
            waited += interval
            if call.state != "answered":
                return
            self.send(call.last_response, call.source)
            interval = min(interval * 2, T2)
        if call.state == "answered":
            log.warning("voicemail_no_ack", call_id=call.call_id)
            await self.hang_up(call, "no ACK")

    def on_cancel(self, cancel: sip.Message, source: Address, call: Call | None) -> None:
        if call is None:
            self.reply(cancel, source, 481, "Call/Transaction Does Not Exist")
            return
        self.reply(cancel, source, 200, "OK")
        if call.state == "proceeding":
            call.state = "ended"
            call.last_response = sip.response(
                call.invite, 487, "Request Terminated", to_tag=call.to_tag
            )
            self.send(call.last_response, call.source)
            asyncio.get_running_loop().call_later(64 * T1, self.calls.pop, call.call_id, None)

    # --- media ------------------------------------------------------------------------------

    async def open_media(self, call: Call) -> int:
        """Bind an even port of the range for the call's RTP."""
        loop = asyncio.get_running_loop()
        ports = self.settings.rtp_ports
        start = random.randrange(len(ports))
        for offset in range(len(ports)):
            port = ports[(start + offset) % len(ports)]
            if port % 2:
                continue
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Media(lambda data: self.on_rtp(call, data)),
                    local_addr=(self.host, port),
                )
            except OSError:
                continue
            call.media = transport
            return port
        raise OSError("no free voicemail RTP port")

    async def play_greeting(self, call: Call) -> None:
        """The greeting and the beep, as paced 20 ms packets; then the recording starts."""
        loop = asyncio.get_running_loop()
        chunk = SAMPLES_PER_PACKET * 2
        ssrc, sequence, timestamp = (random.randrange(2**32) for _ in range(3))
        sequence &= 0xFFFF
        next_at = loop.time()
        for n, start in enumerate(range(0, len(call.greeting), chunk)):
            if call.state not in ("answered", "confirmed") or call.media is None:
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
        max_samples = self.settings.voicemail_max_seconds * wav.RATE
        call.recording = Recording(max_samples)
        call.recording_from = call.last_voice = loop.time()

    def on_rtp(self, call: Call, data: bytes) -> None:
        if call.recording is None or call.state not in ("answered", "confirmed"):
            return  # still greeting: what the caller says now is not the message
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            return
        pcm = call.recording.add(packet)
        if pcm and wav.loudest(pcm) >= SILENCE_LEVEL:
            call.last_voice = asyncio.get_running_loop().time()

    async def watch(self, call: Call) -> None:
        """Hang up at the maximum length, or after a long silence."""
        loop = asyncio.get_running_loop()
        silence = self.settings.voicemail_silence_seconds
        while call.state in ("answered", "confirmed"):
            await asyncio.sleep(0.1)
            if call.recording is None:
                continue
            if call.recording.full:
                await self.hang_up(call, "maximum length")
            elif loop.time() - call.last_voice > silence:
                await self.hang_up(call, "silence")

    # --- the end of a call ------------------------------------------------------------------

    async def hang_up(self, call: Call, why: str) -> None:
        """Send BYE (§15.1.1) through the route set, then keep the message."""
        if call.state not in ("answered", "confirmed"):
            return
        invite = call.invite
        route_set = invite.all("record-route")  # a UAS keeps their order (§12.1.1)
        target = sip.uri_of(invite.need("contact"))
        next_hop = sip.uri_of(route_set[0]) if route_set else target
        call.cseq += 1
        to_value = invite.need("to")
        branch = f"z9hG4bK{secrets.token_hex(8)}"  # §8.1.1.7's magic cookie
        bye = sip.render(
            f"BYE {target} SIP/2.0",
            [
                ("Via", f"SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport"),
                ("Max-Forwards", "70"),
                *[("Route", r) for r in route_set],
                ("From", f"{to_value};tag={call.to_tag}" if "tag=" not in to_value else to_value),
                ("To", invite.need("from")),
                ("Call-ID", call.call_id),
                ("CSeq", f"{call.cseq} BYE"),
            ],
        )
        address = sip.host_port(next_hop)
        task = self.spawn(self.finish(call, why))
        for delay in (T1, 2 * T1, 4 * T1, T2):  # timer E; the call is over regardless
            self.send(bye, address)
            await asyncio.sleep(delay)
            if task.done():
                break
        await task

    async def finish(self, call: Call, why: str) -> None:
        """Close the media and keep the message (if long enough)."""
        if call.state == "ended":
            return
        call.state = "ended"
        current = asyncio.current_task()
        for task in call.tasks:
            if task is not current:
                task.cancel()
        if call.media is not None:
            call.media.close()
        asyncio.get_running_loop().call_later(64 * T1, self.calls.pop, call.call_id, None)
        recording = call.recording
        samples = recording.samples if recording else 0
        log.info("voicemail_ended", call_id=call.call_id, why=why, seconds=samples / wav.RATE)
        if recording is None or samples < self.settings.voicemail_min_seconds * wav.RATE:
            return
        await self.keep(call, recording.pcm())

    async def keep(self, call: Call, pcm: bytes) -> None:
        public_id = uuid.uuid4().hex
        received = call.started_at
        relative = f"{received:%Y/%m}/{public_id}.wav"
        domain = self.settings.smtp_from.rpartition("@")[2] or "renvoi"
        meta = {
            "public_id": public_id,
            "e164": call.number,
            "call_id": call.call_id,
            "caller": sip.user_of(sip.uri_of(call.invite.need("from"))) or None,
            "recipient": call.recipient,
            "received_at": received.isoformat(),
            "duration_ms": len(pcm) * 1000 // (2 * wav.RATE),
            "audio_path": relative,
            "message_id": f"<voicemail.{public_id}@{domain}>",
        }
        audio = wav.wav_of_pcm(pcm)
        meta["size"] = len(audio)
        path = self.spool / relative
        await asyncio.to_thread(spool.write_durably, path, audio)
        sidecar = path.with_suffix(".json")
        await asyncio.to_thread(spool.write_durably, sidecar, json.dumps(meta).encode())
        await self.commit(sidecar, meta)

    async def commit(self, sidecar: Path, meta: dict[str, Any]) -> None:
        """The message and its email in the database; then the sidecar goes."""
        values = {**meta, "received_at": datetime.fromisoformat(meta["received_at"])}
        values["webhook"] = self.settings.webhook_url is not None
        delay = 1.0
        while True:
            try:
                await asyncio.to_thread(lambda: store.save_message(self.db, **values))
                break
            except StoreError as exc:
                if "unique" in str(exc).lower() or "duplicate" in str(exc).lower():
                    break  # committed before a crash that left the sidecar
                log.warning("voicemail_commit_retry", error=str(exc), delay=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
        with contextlib.suppress(FileNotFoundError):
            sidecar.unlink()
        log.info("voicemail_kept", number=meta["e164"], message=meta["public_id"])
        self.on_message()

    async def recover(self) -> None:
        """Commit the messages a crash left recorded but not committed."""
        for sidecar in sorted(self.spool.glob("*/*/*.json")):
            try:
                meta = json.loads(sidecar.read_text())
            except (OSError, ValueError):
                log.error("voicemail_sidecar_unreadable", path=str(sidecar))
                continue
            await self.commit(sidecar, meta)
