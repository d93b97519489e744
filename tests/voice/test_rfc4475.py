"""The voicemail endpoint against RFC 4475's torture messages, over a real UDP socket.

Each message is sent as it is published (``sansio/rfc4475/``); the endpoint must answer
what RFC 3261 and RFC 4475 ask (a valid request as its method deserves, an invalid one
with the refusal the RFC names), or stay silent where the RFC allows it (a response, or
a datagram too broken to answer over UDP); and it must still answer an OPTIONS after
each. The test id is the message's RFC 4475 section.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from renvoi.config import Settings
from renvoi.store.database import Database
from renvoi.voice.endpoint import VoicemailEndpoint
from renvoi.voice.sansio import sip
from tests.harness import free_udp_port

CORPUS = Path(__file__).parent / "sansio" / "rfc4475"
SILENCE = 0

# (RFC 4475 section, file, the final answer: a status, or SILENCE)
VECTORS = [
    # §3.1.1 Valid messages: parsed, and answered as their method deserves. The INVITEs
    # name no number of the platform (404); REGISTER and MESSAGE are known methods the
    # endpoint does not do (405); unknown methods are 501 (§8.2.1). wsinv's To carries a
    # tag: a request in a dialog the endpoint does not have, 481 (§12.2.2).
    ("3.1.1.1", "TC_WSINV", 481),
    ("3.1.1.2", "TC_INTMETH", 501),
    ("3.1.1.3", "TC_ESC01_V", 404),
    ("3.1.1.4", "TC_ESCNULL_V", 405),
    ("3.1.1.5", "TC_ESC02_V", 501),
    ("3.1.1.6", "TC_LWSDISP_V", 200),
    ("3.1.1.7", "TC_LONGREQ_V", 404),
    ("3.1.1.8", "TC_DBLREQ", 405),
    ("3.1.1.9", "TC_SEMIURI_V", 200),
    ("3.1.1.10", "TC_TRANSPORTS_V", 200),
    ("3.1.1.11", "TC_MPART01", 405),
    ("3.1.1.12", "TC_UNREASON_V", SILENCE),  # a response
    ("3.1.1.13", "TC_NOREASON_V", SILENCE),  # a response
    # §3.1.2 Invalid messages: 400, but the version (505) and an unknown method with a
    # mismatched CSeq (501, the RFC's first choice); responses are dropped.
    ("3.1.2.1", "TC_BADINV01_I", 400),
    ("3.1.2.2", "TC_CLERR_I", 400),
    ("3.1.2.3", "TC_NCL_I", 400),
    ("3.1.2.4", "TC_SCALAR02_V", 400),
    ("3.1.2.5", "TC_SCALARLG_V", SILENCE),  # a response
    ("3.1.2.6", "TC_QUOTBAL_I", 400),
    ("3.1.2.7", "TC_LTGTRURI_I", 400),
    ("3.1.2.8", "TC_LWSRURI_I", 400),
    ("3.1.2.9", "TC_LWSSTART_V", 400),
    ("3.1.2.10", "TC_TRWS_I", 400),
    ("3.1.2.11", "TC_ESCRURI_V", 400),
    ("3.1.2.12", "TC_BADDATE_V", 400),
    ("3.1.2.13", "TC_REGBADCT_I", 400),
    ("3.1.2.14", "TC_BADASPEC_I", 400),
    ("3.1.2.15", "TC_BADDN_I", 400),
    ("3.1.2.16", "TC_BADVERS_V", 505),
    ("3.1.2.17", "TC_MISMATCH01_V", 400),
    ("3.1.2.18", "TC_MISMATCH02_V", 501),
    ("3.1.2.19", "TC_BIGCODE_V", SILENCE),  # a response
    # §3.2 Transaction layer.
    ("3.2.1", "TC_BADBRANCH_V", 200),
    # §3.3 Application layer.
    ("3.3.1", "TC_INSUF_I", 400),
    ("3.3.2", "TC_UNKSCM_V", 416),
    ("3.3.3", "TC_NOVELSC_V", 416),
    ("3.3.4", "TC_UNKSM2_V", 405),
    ("3.3.5", "TC_BEXT01_V", 420),
    ("3.3.6", "TC_INVUT_V", 415),
    ("3.3.7", "TC_REGAUT01_V", 405),
    ("3.3.8", "TC_MULTI01_I", 400),
    ("3.3.9", "TC_MCL01_I", 400),
    ("3.3.10", "TC_BCAST_V", SILENCE),  # a response
    ("3.3.11", "TC_ZEROMF_V", 200),
    ("3.3.12", "TC_CPARAM01_V", 405),
    ("3.3.13", "TC_CPARAM02_V", 405),
    ("3.3.14", "TC_REGESCRT_V", 405),
    ("3.3.15", "TC_SDP01_V", 406),
    # §3.4 Backward compatibility: an RFC 2543 INVITE is taken (and names no number).
    ("3.4.1", "TC_INV2543_I", 404),
    # Not an RFC 4475 message: no SIP version, a header line without a colon.
    ("corpus-only", "TC_TEST_I", SILENCE),
]

OPTIONS = sip.render(
    "OPTIONS sip:voicemail@127.0.0.1 SIP/2.0",
    [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-after"),
        ("From", "<sip:probe@127.0.0.1>;tag=probe"),
        ("To", "<sip:voicemail@127.0.0.1>"),
        ("Call-ID", "rfc4475-after"),
        ("CSeq", "1 OPTIONS"),
        ("Max-Forwards", "70"),
    ],
)


def test_every_message_of_the_corpus_is_a_vector() -> None:
    assert sorted(f.stem for f in CORPUS.glob("*.dat")) == sorted(v[1] for v in VECTORS)
    assert len(VECTORS) == 50


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, int, bytes]]:
    """Each vector's final answer (status, or SILENCE), the status of the OPTIONS sent
    after it, and the answer's bytes, from one endpoint on an empty SQLite database."""
    from renvoi.store.migrate import upgrade

    tmp = tmp_path_factory.mktemp("rfc4475")
    database = Database(f"sqlite:///{tmp / 'renvoi.db'}")
    upgrade(database)
    port = free_udp_port()
    settings = Settings(data_dir=tmp, voicemail_listen=f"127.0.0.1:{port}")

    async def final(peer: socket.socket, wait: float) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await asyncio.wait_for(loop.sock_recv(peer, 65535), wait)
            except TimeoutError:
                return SILENCE, b""
            status = sip.parse(data).status or 0
            if status >= 200:
                return status, data

    async def run() -> dict[str, tuple[int, int, bytes]]:
        endpoint = VoicemailEndpoint(settings, database)
        await endpoint.start()
        found = {}
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
                peer.setblocking(False)
                loop = asyncio.get_running_loop()
                for _, name, expected in VECTORS:
                    data = (CORPUS / f"{name}.dat").read_bytes()
                    await loop.sock_sendto(peer, data, ("127.0.0.1", port))
                    # Silence is waited for a while; an answer comes at once.
                    status, raw = await final(peer, 1.0 if expected == SILENCE else 5.0)
                    await loop.sock_sendto(peer, OPTIONS, ("127.0.0.1", port))
                    after, _ = await final(peer, 5.0)
                    found[name] = (status, after, raw)
        finally:
            await endpoint.stop()
        return found

    try:
        return asyncio.run(run())
    finally:
        database.dispose()


@pytest.mark.parametrize(
    ("name", "expected"),
    [pytest.param(name, expected, id=section) for section, name, expected in VECTORS],
)
def test_the_endpoint_answers_as_rfc_3261_asks(
    answers: dict[str, tuple[int, int, bytes]], name: str, expected: int
) -> None:
    status, after, raw = answers[name]
    assert status == expected, raw.decode(errors="replace")[:300]
    assert after == 200  # and it still answers


@pytest.mark.parametrize(
    ("name", "header"),
    [
        pytest.param(
            "TC_BEXT01_V",
            b"Unsupported: nothingSupportsThis, nothingSupportsThisEither",
            id="420-unsupported",
        ),
        pytest.param("TC_INVUT_V", b"Accept: application/sdp", id="415-accept"),
        pytest.param("TC_INTMETH", b"Allow: ACK, BYE, CANCEL, INVITE, OPTIONS", id="501-allow"),
        pytest.param("TC_ESCNULL_V", b"Allow: ACK, BYE, CANCEL, INVITE, OPTIONS", id="405-allow"),
    ],
)
def test_refusals_carry_the_header_fields_the_rfc_asks(
    answers: dict[str, tuple[int, int, bytes]], name: str, header: bytes
) -> None:
    assert header in answers[name][2]
