"""A phone at the far end of a call, over real UDP: busy, ringing until cancelled,
failing with a status, silent, or answering; chosen per dialled number.

The fallback tests need destinations that refuse, ring and never answer, and must see
when each request arrived (the ring time). SIPp's UAS scenarios cannot answer a CANCEL's
INVITE with the INVITE's own Via headers, which a proxy needs to relay its 487; this
stand-in can, and records every request with its arrival time.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from renvoi.voice.sansio import sdp, sip

# What the phone does with an INVITE: "answer" (200, then the caller's ACK and BYE),
# "ring" (180, until a CANCEL), "silent" (nothing at all), or a final status to refuse
# with ("486 Busy Here", "503 Service Unavailable"...).
Behaviour = str


# The kernel's receive time of each datagram (Linux: SO_TIMESTAMPNS, a timespec of
# CLOCK_REALTIME), so that a phone thread scheduled late does not move the arrival.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")


@dataclass(frozen=True)
class Received:
    """A request the phone received: its method, request URI, text and arrival time
    (seconds, the kernel's clock: compare them with each other only)."""

    method: str
    uri: str
    text: str
    at: float


@dataclass
class Phone:
    """A SIP user agent server on 127.0.0.1: ``behaviours`` by dialled number (the
    request URI's user), ``default`` for any other."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    default: Behaviour = "answer"
    port: int = 0
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", self.port))
        self._socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self._answers: dict[str, bytes] = {}  # by Via branch: retransmissions
        self._ringing: dict[str, sip.Message] = {}  # by Call-ID: INVITEs to cancel
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def invites(self) -> list[Received]:
        """The INVITEs received, retransmissions left out, in their order."""
        seen: set[str] = set()
        first: list[Received] = []
        for request in self.received:
            branch = sip.param(sip.parse(request.text.encode()).all("via")[0], "branch")
            if request.method == "INVITE" and branch not in seen:
                seen.add(branch or "")
                first.append(request)
        return first

    def methods(self) -> list[str]:
        return [request.method for request in self.received]

    def wait_for(self, method: str, count: int = 1, timeout: float = 30) -> list[Received]:
        """The requests of ``method`` once ``count`` arrived (or what arrived by then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.received if r.method == method]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        return [r for r in self.received if r.method == method]

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                data, ancillary, _, peer = self._socket.recvmsg(65535, 1024)
            except TimeoutError:
                continue
            at = time.time()
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    seconds, nanoseconds = _TIMESPEC.unpack(value[: _TIMESPEC.size])
                    at = seconds + nanoseconds / 1e9
            request = sip.parse(data)
            if request.method is None:
                continue  # a response (to nothing we sent): ignored
            self.received.append(
                Received(request.method, request.uri or "", data.decode(errors="replace"), at)
            )
            for answer in self._answer(request):
                self._socket.sendto(answer, peer)

    def _answer(self, request: sip.Message) -> list[bytes]:
        branch = sip.param(request.all("via")[0], "branch") or ""
        if request.method == "INVITE":
            if branch in self._answers:
                return [self._answers[branch]]  # a retransmission
            behaviour = self.behaviours.get(sip.user_of(request.uri or ""), self.default)
            answer = self._invite(request, behaviour)
            if answer is not None:
                self._answers[branch] = answer
            return [] if answer is None else [answer]
        if request.method == "CANCEL":
            ok = sip.response(request, 200, "OK")
            invite = self._ringing.pop(request.call_id, None)
            if invite is None:
                return [ok]
            return [ok, sip.response(invite, 487, "Request Terminated", to_tag="phone")]
        if request.method == "BYE":
            return [sip.response(request, 200, "OK")]
        return []  # ACK

    def _invite(self, invite: sip.Message, behaviour: Behaviour) -> bytes | None:
        if behaviour == "silent":
            return None
        if behaviour == "ring":
            self._ringing[invite.call_id] = invite
            return sip.response(invite, 180, "Ringing", to_tag="phone")
        if behaviour == "answer":
            body = sdp.answer(address="127.0.0.1", port=self.port + 2, payload_type=8, session_id=1)
            return sip.response(
                invite,
                200,
                "OK",
                to_tag="phone",
                headers=[
                    ("Contact", f"<sip:phone@127.0.0.1:{self.port}>"),
                    ("Content-Type", "application/sdp"),
                ],
                body=body,
            )
        status, _, reason = behaviour.partition(" ")
        return sip.response(invite, int(status), reason, to_tag="phone")
