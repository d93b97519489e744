"""A caller that dials one call at a time over real UDP and reads the final answer.

The call-plane tests dial hundreds of calls, one right after each change: a SIPp per call
would cost more than the call. This caller sends an INVITE, takes the final status,
and acknowledges a refusal as RFC 3261 §17.1.1.3 asks (a call answered is not its
business: the trunk stand-ins never answer).
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Sequence

from renvoi.voice.sansio import sip

_calls = itertools.count()


class Caller:
    """One UDP socket on 127.0.0.1, dialling through the proxy at ``proxy_port``."""

    def __init__(self, proxy_port: int) -> None:
        self.proxy = ("127.0.0.1", proxy_port)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]

    def dial(
        self, number: str, *, timeout: float = 5.0, extra: Sequence[tuple[str, str]] = ()
    ) -> int:
        """The final status of a call to ``number`` (0: none within ``timeout``), with
        the ``extra`` headers."""
        n = next(_calls)
        call_id = f"dial-{n}-{time.monotonic_ns()}@127.0.0.1"
        branch = f"z9hG4bKdial{n}x{time.monotonic_ns()}"
        via = f"SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch}"
        start = f"INVITE sip:{number}@{self.proxy[0]}:{self.proxy[1]} SIP/2.0"
        headers = [
            ("Via", via),
            ("Max-Forwards", "70"),
            ("From", f"<sip:+33140000001@127.0.0.1>;tag=caller{n}"),
            ("To", f"<sip:{number}@127.0.0.1>"),
            ("Call-ID", call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:caller@127.0.0.1:{self.port}>"),
            *extra,
        ]
        invite = sip.render(start, headers)
        self._socket.sendto(invite, self.proxy)
        deadline = time.monotonic() + timeout
        resend = 0.5  # Timer A, long enough for loopback
        while (left := deadline - time.monotonic()) > 0:
            self._socket.settimeout(min(left, resend))
            try:
                data = self._socket.recv(65535)
            except TimeoutError:
                self._socket.sendto(invite, self.proxy)
                continue
            answer = sip.parse(data)
            if answer.call_id != call_id or answer.status is None or answer.status < 200:
                continue
            if answer.status >= 300:
                self._ack(start, via, headers, answer)
            return answer.status
        return 0

    def _ack(
        self, start: str, via: str, headers: list[tuple[str, str]], answer: sip.Message
    ) -> None:
        ack_headers = [
            ("Via", via),
            ("Max-Forwards", "70"),
            headers[2],
            ("To", answer.get("to") or headers[3][1]),
            headers[4],
            ("CSeq", "1 ACK"),
        ]
        self._socket.sendto(sip.render(start.replace("INVITE", "ACK", 1), ack_headers), self.proxy)

    def close(self) -> None:
        self._socket.close()
