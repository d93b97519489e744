"""The voicemail endpoint over a real UDP socket, without Kamailio: its refusals and its
answers to requests outside a call (the calls themselves: tests/calls/test_voicemail.py)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from renvoi.config import Settings
from renvoi.domain.callforward import Command
from renvoi.domain.modes import Mode, Setting
from renvoi.store import forwarding
from renvoi.store.database import Database
from renvoi.voice.endpoint import VoicemailEndpoint
from renvoi.voice.sansio import sip
from tests.harness import Tenant, free_udp_port

A = "+33757000001"


def request(method: str, number: str, *, sdp: str = "8", to_tag: str = "") -> bytes:
    body = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio 40000 RTP/AVP {sdp}\r\n"
        if method == "INVITE"
        else ""
    )
    return sip.render(
        f"{method} sip:{number}@127.0.0.1 SIP/2.0",
        [
            ("Via", "SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-test-" + method),
            ("From", "<sip:+33140000001@127.0.0.1>;tag=caller"),
            ("To", f"<sip:{number}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")),
            ("Call-ID", f"endpoint-test-{method}-{number}"),
            ("CSeq", f"1 {method}"),
            ("Contact", "<sip:+33140000001@127.0.0.1:5999>"),
            ("Content-Type", "application/sdp"),
        ],
        body.encode(),
    )


def exchange(database: Database, tmp_path: Path, datagrams: list[bytes]) -> list[int]:
    """Send each datagram to a running endpoint; the final statuses it answered."""
    port = free_udp_port()
    settings = Settings(data_dir=tmp_path, voicemail_listen=f"127.0.0.1:{port}")

    async def scenario() -> list[int]:
        endpoint = VoicemailEndpoint(settings, database)
        await endpoint.start()
        statuses = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.setblocking(False)
            loop = asyncio.get_running_loop()
            for datagram in datagrams:
                await loop.sock_sendto(peer, datagram, ("127.0.0.1", port))
                final = 0
                while not final:
                    try:
                        data = await asyncio.wait_for(loop.sock_recv(peer, 65535), 2)
                    except TimeoutError:
                        break  # no answer (a datagram that is not SIP)
                    status = sip.parse(data).status or 0
                    final = status if status >= 200 else 0
                statuses.append(final)
        await endpoint.stop()
        return statuses

    return asyncio.run(scenario())


def test_refusals_and_answers_outside_a_call(
    database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    assert exchange(
        database,
        tmp_path,
        [
            request("INVITE", "+33757999999"),  # not on the platform
            request("INVITE", A),  # on it, not in voicemail mode
            request("INVITE", "+33757000010"),  # suspended: as the route endpoint says
            request("INVITE", "+33757000009"),  # SMS-only: no calls at all
            request("OPTIONS", A),
            request("BYE", A, to_tag="nobody"),  # no such dialog
            request("INFO", A),
            b"this is not SIP\r\n\r\n",
        ],
    ) == [404, 480, 403, 404, 200, 481, 405, 0]


def test_an_offer_without_g711_is_488(database: Database, tenant: Tenant, tmp_path: Path) -> None:
    command = Command(A, Setting(Mode.VOICEMAIL, "ann@example.com"))
    forwarding.change_forwarding(database, command, principal=tenant.principal, region="FR")
    assert exchange(database, tmp_path, [request("INVITE", A, sdp="18 9")]) == [488]


@pytest.mark.parametrize("method", ["CANCEL", "ACK"])
def test_requests_for_unknown_transactions(
    database: Database, tenant: Tenant, tmp_path: Path, method: str
) -> None:
    # A CANCEL matching nothing: 481 (§9.2). A stray ACK: no answer at all (§17.2.1).
    assert exchange(database, tmp_path, [request(method, A)]) == [481 if method == "CANCEL" else 0]
