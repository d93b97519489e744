"""The tests' SIPp caller behaves as a UAC must where UDP reorders a call's answers.

Kamailio's workers relay a 180 and a 200 that leave together in either order. A caller
that aborted on the late 180 made the voice tests flaky (the voicemail endpoint answers
at once). Here a plain UDP answerer sends them in the bad order on purpose.
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
        self.socket.settimeout(20)
        self.port: int = self.socket.getsockname()[1]
        self.received: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        contact = [("Contact", f"<sip:127.0.0.1:{self.port}>")]
        with self.socket:
            while "BYE" not in self.received:
                data, peer = self.socket.recvfrom(65535)
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


def test_a_180_after_the_200_is_ignored_and_the_call_completes(tmp_path: Path) -> None:
    answerer = ReorderingAnswerer()
    caller = run_sipp(
        tmp_path,
        "caller",
        caller_scenario(number="+33757000001", expect=200),
        port=free_udp_port(),
        remote=f"127.0.0.1:{answerer.port}",
    )
    assert caller.wait() == 0, caller.errors()
    answerer.thread.join(timeout=10)
    assert answerer.received == ["INVITE", "ACK", "BYE"]
