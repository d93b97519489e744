"""The tests' SIPp caller behaves as a UAC must where UDP reorders a call's answers.

Kamailio's workers relay a 180 and a 200 that leave together in either order. A caller
that aborted on the late 180 made the voice tests flaky (the voicemail endpoint answers
at once). Here a plain UDP answerer sends them in the bad order on purpose.
"""

from __future__ import annotations

import re
import socket
import threading
from pathlib import Path

from tests.conftest import free_port, free_udp_port
from tests.voice.sipp import caller_scenario, run_sipp


def _header(message: str, name: str) -> str:
    found = re.search(rf"^{name}:[^\r\n]*", message, re.MULTILINE | re.IGNORECASE)
    assert found, f"no {name} in {message!r}"
    return found.group(0)


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
        with self.socket:
            while "BYE" not in self.received:
                data, peer = self.socket.recvfrom(65535)
                message = data.decode()
                method = message.split(" ", 1)[0]
                self.received.append(method)
                if method not in ("INVITE", "BYE"):
                    continue
                common = "\r\n".join(
                    _header(message, name) for name in ("Via", "From", "Call-ID", "CSeq")
                )
                to = _header(message, "To")
                to += "" if "tag=" in to else ";tag=answerer"
                head = f"{common}\r\n{to}\r\nContent-Length: 0\r\n\r\n"
                contact = f"Contact: <sip:127.0.0.1:{self.port}>\r\n"
                self.socket.sendto(f"SIP/2.0 200 OK\r\n{contact}{head}".encode(), peer)
                if method == "INVITE":
                    self.socket.sendto(f"SIP/2.0 180 Ringing\r\n{head}".encode(), peer)


def test_a_180_after_the_200_is_ignored_and_the_call_completes(tmp_path: Path) -> None:
    answerer = ReorderingAnswerer()
    caller = run_sipp(
        tmp_path,
        "caller",
        caller_scenario(number="+33757000001", expect=200),
        port=free_udp_port(),
        control_port=free_port(),
        remote=f"127.0.0.1:{answerer.port}",
    )
    assert caller.wait() == 0, caller.errors()
    answerer.thread.join(timeout=10)
    assert answerer.received == ["INVITE", "ACK", "BYE"]
