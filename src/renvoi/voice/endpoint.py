"""The voicemail endpoint: an asyncio SIP user agent server that answers, greets, records.

Kamailio relays mode-2 calls here (``RENVOI_VOICEMAIL_LISTEN``, UDP). What it does,
with the RFC 3261 sections it follows:

- INVITE (§13.3): 100 Trying, then 200 OK with an SDP answer (180 Ringing between them
  only with a ring time, ``RENVOI_VOICEMAIL_RING_SECONDS``) (RFC 3264: PCMA or PCMU,
  else 488). Whether a number takes a message is ``domain.routing.mailbox_of``'s rule
  (404, 403, 480 otherwise). The 200 is retransmitted until the ACK (``dialog.py``).
  A retransmitted INVITE gets the last response again (§17.2.1).
- CANCEL (§9.2) before the answer: 200 to the CANCEL, 487 to the INVITE.
- BYE (§15.1.2): 200, and the message is kept. We send BYE ourselves (§15.1.1) at the
  maximum length or after a long silence.
- OPTIONS (§11.2): 200. A request for a dialog we do not have: 481 (§12.2.2).
- Before any of that, a request the RFC says to refuse is refused (``sansio/validate``:
  400, 405, 406, 415, 416, 420, 501, 505), whether Kamailio is in front or not.

The mailbox is the request URI's virtual number; a fallback's call carries the condition
as the reason of its first Diversion entry (RFC 5806), naming that number. The media is
``session.py``'s, the message's way to the database ``spool.py``'s.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Callable, Coroutine
from typing import Any, cast

import structlog

from renvoi.audio import wav
from renvoi.config import Settings
from renvoi.domain.mailbox import LANGUAGES, Limits
from renvoi.domain.numbers import normalize_number
from renvoi.domain.routing import (
    UNAVAILABLE,
    Mailbox,
    Route,
    diversion_condition,
    mailbox_of,
)
from renvoi.errors import NotFoundError, ServiceError, StoreError
from renvoi.store import mailboxes, routetable
from renvoi.store.database import Database
from renvoi.voice import session
from renvoi.voice.dialog import T1, Address, Call, retransmit_ok, send_bye
from renvoi.voice.sansio import sdp, sip
from renvoi.voice.sansio.validate import refusal
from renvoi.voice.spool import Spool

log = structlog.get_logger("renvoi.voicemail")

SUPPORTED = frozenset({"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"})
ALLOW = ", ".join(sorted(SUPPORTED))


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
        self.host, self.port = settings.voicemail_address
        self.spool = Spool(
            settings.voicemail_dir,
            db,
            sender_domain=settings.smtp_from.rpartition("@")[2] or "renvoi",
            webhook=settings.webhook_url is not None,
            on_message=on_message,
            counting=settings.metrics,
        )
        self.calls: dict[str, Call] = {}
        self.starting: set[str] = set()  # INVITEs whose Call is not made yet
        # Answers to non-INVITE requests, for their retransmissions (§17.2.2).
        self.answered: dict[tuple[str, str, str], bytes] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.default_greetings = {
            language: wav.default_greeting(language) for language in (None, *LANGUAGES)
        }
        self.beep = wav.beep()
        self._background: set[asyncio.Task[Any]] = set()

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Commit what a crash left, then listen.

        Raises:
            ServiceError: the address cannot be had (its port is taken, say).
        """
        await self.spool.recover()
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
            if call.live:
                await self.hang_up(call, "shutdown")
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.transport is not None:
            self.transport.close()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
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
        refused = refusal(message, supported=SUPPORTED)
        if refused is not None:
            log.info("sip_refused", status=refused.status, reason=refused.reason)
            if message.method != "ACK":  # an ACK is never answered (§17.2.1)
                answer = sip.response(
                    message,
                    refused.status,
                    refused.reason,
                    to_tag=secrets.token_hex(6),
                    headers=list(refused.headers),
                )
                self.send(answer, addr)
            return
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
        mailbox = await self.mailbox(invite)
        if isinstance(mailbox, Route):
            to_tag = secrets.token_hex(6)
            self.send(sip.response(invite, mailbox.status, mailbox.reason, to_tag=to_tag), source)
            return
        call = Call(invite, source, mailbox.number, mailbox.recipient, last_response=trying)
        own, limits = await self.setup(mailbox.number)
        call.greeting = (own or self.default_greetings[limits.language]) + self.beep
        call.min_seconds = limits.min_seconds
        call.payload_type = offer.payload_type
        call.remote_media = (offer.address, offer.port)
        self.calls[call.call_id] = call
        if self.settings.voicemail_ring_seconds:
            # Rings only for a configured time: a 180 sent with the 200 may reach the
            # caller after it (relayed by parallel proxy workers over UDP), and strict
            # callers abort the call on that.
            call.last_response = sip.response(invite, 180, "Ringing", to_tag=call.to_tag)
            self.send(call.last_response, source)
            await asyncio.sleep(self.settings.voicemail_ring_seconds)
            if call.state != "proceeding":
                return  # cancelled while ringing
        port = await session.open_media(call, host=self.host, ports=self.settings.rtp_ports)
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
            self.spawn(retransmit_ok(call, self.send, self.hang_up)),
            self.spawn(session.play_greeting(call, max_seconds=limits.max_seconds)),
            self.spawn(
                session.watch(call, silence_seconds=limits.silence_seconds, hang_up=self.hang_up)
            ),
        ]

    async def mailbox(self, invite: sip.Message) -> Mailbox | Route:
        """The mailbox a call is for, or the refusal of it (``domain.routing.mailbox_of``):
        the request URI's number, and the condition of the first Diversion entry when
        that entry names the same number (a fallback's, put first by the proxy)."""
        region = self.settings.default_region
        user = sip.user_of(invite.uri or "")
        number = normalize_number(user, region=region) if user else None
        if number is None:
            return mailbox_of(None)
        condition = None
        diversions = invite.all("diversion")
        if diversions:  # the entries, lists split
            diverted_by = sip.user_of(sip.uri_of(diversions[0]))
            if diverted_by and normalize_number(diverted_by, region=region) == number:
                condition = diversion_condition(diversions[0])
        try:
            state = await asyncio.to_thread(routetable.route_state, self.db, number)
        except StoreError:
            return UNAVAILABLE  # 480: try later
        return mailbox_of(state, condition)

    async def setup(self, number: str) -> tuple[bytes | None, Limits]:
        """The number's own greeting (None: the default one), and the limits that apply
        to its messages (``Settings.limits_of``)."""
        try:
            own, settings, account_format = await asyncio.to_thread(
                mailboxes.setup_of, self.db, number
            )
        except (StoreError, NotFoundError):
            return None, self.settings.voicemail_limits  # the installation's will do
        return own, self.settings.limits_of(settings, account_format)

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

    # --- the end of a call ------------------------------------------------------------------

    async def hang_up(self, call: Call, why: str) -> None:
        """Send BYE (``dialog.send_bye``), then keep the message."""
        if not call.live:
            return
        ended = self.spawn(self.finish(call, why))
        await send_bye(call, self.send, via=f"{self.host}:{self.port}", ended=ended)
        await ended

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
        if recording is None or samples < call.min_seconds * wav.RATE:
            return
        await self.spool.keep(call, recording.pcm())
