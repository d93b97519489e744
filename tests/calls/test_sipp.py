"""The tests' SIPp caller is strict: a 180 that arrives after its 200 fails the call.

Kamailio's workers relay a 180 and a 200 that leave together in either order, and strict
UACs (SIPp among them) abort the call on the late 180. renvoi never sends them together
(its voicemail endpoint rings only for a set time), and the tests' callee stand-ins ring
before they answer, or do not ring: the callers need no leniency, and show it if any
part of the path starts sending them together again. Here a plain UDP answerer sends
them in the bad order on purpose.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from renvoi.voice.sansio import sip
from tests.harness import free_udp_port
from tests.harness.sipp import caller_scenario, run_sipp


class ReorderingAnswerer:
    """Answers one INVITE with its 200 followed by a late 180, then its BYE with a 200;
    records the methods it received."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(5)
        self.port: int = self.socket.getsockname()[1]
        self.received: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        contact = [("Contact", f"<sip:127.0.0.1:{self.port}>")]
        with self.socket:
            while "BYE" not in self.received:
                try:
                    data, peer = self.socket.recvfrom(65535)
                except TimeoutError:
                    return  # the caller gave up without a BYE
                request = sip.parse(data)
                assert request.method is not None, f"not a request: {data!r}"
                self.received.append(request.method)
                if request.method not in ("INVITE", "BYE"):
                    continue
                ok = sip.response(request, 200, "OK", to_tag="answerer", headers=contact)
                self.socket.sendto(ok, peer)
                if request.method == "INVITE":
                    late = sip.response(request, 180, "Ringing", to_tag="answerer")
                    self.socket.sendto(late, peer)


def test_a_180_after_the_200_fails_the_call(tmp_path: Path) -> None:
    answerer = ReorderingAnswerer()
    caller = run_sipp(
        tmp_path,
        "caller",
        caller_scenario(number="+33757000001", expect=200),
        port=free_udp_port(),
        remote=f"127.0.0.1:{answerer.port}",
    )
    assert caller.wait() != 0
    assert "Aborting call on unexpected message" in caller.errors()
    assert "SIP/2.0 180 Ringing" in caller.errors()
