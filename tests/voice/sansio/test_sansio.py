"""The voicemail endpoint's protocols without sockets: G.711, RTP, SDP, SIP; and fuzzing.

Fuzzing (hypothesis): whatever bytes arrive, the parsers raise only their own error type,
which the endpoint turns into a dropped datagram or a 400, never a traceback.
"""

from __future__ import annotations

import struct
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renvoi.audio import g711
from renvoi.voice.endpoint import SUPPORTED
from renvoi.voice.sansio import sdp, sip
from renvoi.voice.sansio.rtp import Recording, RtpError, RtpPacket
from renvoi.voice.sansio.validate import refusal

INVITE = (
    b"INVITE sip:+33757000001@127.0.0.1:5070 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy, SIP/2.0/UDP 10.0.0.2:5062"
    b";branch=z9hG4bKcaller\r\n"
    b"Record-Route: <sip:127.0.0.1:5060;lr>\r\n"
    b'f: "Alice" <sip:+33140000001@10.0.0.2>;tag=abc\r\n'
    b"t: <sip:+33757000001@127.0.0.1>\r\n"
    b"i: call-1@10.0.0.2\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Diversion: <sip:+33757000001@127.0.0.1:5060>;reason=unconditional\r\n"
    b"Subject: a folded\r\n  header\r\n"
    b"Contact: <sip:+33140000001@10.0.0.2:5062>\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"v=0\r\ntrailing bytes beyond Content-Length"
)


# --- G.711 ---------------------------------------------------------------------------------


def test_g711_tables_match_the_reference_points() -> None:
    # ITU-T G.711 reference values: the largest magnitudes and the smallest step.
    assert struct.unpack("<4h", g711.decode(g711.PCMA, bytes([0x55, 0xD5, 0x2A, 0xAA]))) == (
        -8,
        8,
        -32256,
        32256,
    )
    assert struct.unpack("<3h", g711.decode(g711.PCMU, bytes([0xFF, 0x00, 0x80]))) == (
        0,
        -32124,
        32124,
    )


def test_g711_agrees_with_audioop_where_it_still_exists() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # gone in Python 3.13
    codes = bytes(range(256))
    assert g711.decode(g711.PCMA, codes) == audioop.alaw2lin(codes, 2)
    assert g711.decode(g711.PCMU, codes) == audioop.ulaw2lin(codes, 2)
    pcm = struct.pack("<65536h", *range(-32768, 32768))
    assert g711.encode(g711.PCMA, pcm) == audioop.lin2alaw(pcm, 2)
    assert g711.encode(g711.PCMU, pcm) == audioop.lin2ulaw(pcm, 2)


@pytest.mark.parametrize("payload_type", [g711.PCMA, g711.PCMU])
def test_g711_decoded_samples_encode_back_to_the_same_codes(payload_type: int) -> None:
    codes = bytes(range(256))
    again = g711.encode(payload_type, g711.decode(payload_type, codes))
    decoded = g711.decode(payload_type, again)
    assert decoded == g711.decode(payload_type, codes)  # μ-law's two zeros: same sample


# --- RTP -----------------------------------------------------------------------------------


def rtp(seq: int, ts: int, payload: bytes, *, ssrc: int = 7, pt: int = 8) -> bytes:
    return RtpPacket(pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc, payload).build()


def test_rtp_with_csrcs_an_extension_and_padding() -> None:
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 8, 1, 160, 9)
    csrcs = struct.pack("!II", 1, 2)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x10\xaa\x00\x00"
    packet = RtpPacket.parse(header + csrcs + extension + b"\xd5" * 4 + b"\x00\x00\x03")
    assert (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc) == (8, 1, 160, 9)
    assert packet.payload == b"\xd5" * 4


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x08",  # short
        b"\x40" + b"\x00" * 11,  # version 1
        struct.pack("!BBHII", 0x90, 8, 1, 1, 1) + b"\x00\x00",  # extension cut short
        struct.pack("!BBHII", 0xA0, 8, 1, 1, 1) + b"\xd5\x00",  # zero padding length
        struct.pack("!BBHII", 0x8F, 8, 1, 1, 1),  # 15 CSRCs announced, none there
    ],
)
def test_rtp_refuses_what_it_cannot_use(data: bytes) -> None:
    with pytest.raises(RtpError):
        RtpPacket.parse(data)


def pcm_of(code: int, count: int = 160) -> bytes:
    return g711.decode(8, bytes([code]) * count)


def test_recording_places_by_timestamp_across_gaps_wrap_and_a_new_source() -> None:
    recording = Recording(max_samples=8000)
    start = 0xFFFFFF00  # the timestamp wraps during the call
    recording.add(RtpPacket.parse(rtp(65535, start, b"\x01" * 160)))
    recording.add(RtpPacket.parse(rtp(1, start + 320, b"\x03" * 160)))  # 2 before it: lost
    recording.add(RtpPacket.parse(rtp(0, start + 160, b"\x02" * 160)))  # late, fills the gap
    recording.add(RtpPacket.parse(rtp(5, 1000, b"\x04" * 160, ssrc=99)))  # a new source
    assert recording.pcm() == pcm_of(1) + pcm_of(2) + pcm_of(3) + pcm_of(4)


def test_recording_leaves_silence_for_a_lost_packet_and_stops_at_its_maximum() -> None:
    recording = Recording(max_samples=400)
    recording.add(RtpPacket.parse(rtp(1, 0, b"\x01" * 160)))
    recording.add(RtpPacket.parse(rtp(3, 320, b"\x03" * 160)))
    assert recording.pcm() == pcm_of(1) + bytes(320) + pcm_of(3, 80)
    assert recording.full
    assert recording.add(RtpPacket.parse(rtp(4, 480, b"\x04" * 160))) == b""


def test_recording_ignores_events_and_packets_older_than_its_source() -> None:
    recording = Recording(max_samples=8000)
    assert recording.add(RtpPacket.parse(rtp(1, 1000, b"\x01\x02\x03\x04", pt=101))) == b""
    recording.add(RtpPacket.parse(rtp(2, 1000, b"\x01" * 160)))
    assert recording.add(RtpPacket.parse(rtp(1, 840, b"\x01" * 160))) == b""
    assert recording.samples == 160


# --- SDP -----------------------------------------------------------------------------------

OFFER = b"v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n"


@pytest.mark.parametrize(
    ("media", "chosen"),
    [
        (b"m=audio 4000 RTP/AVP 0 8\r\n", g711.PCMU),
        (b"m=audio 4000 RTP/AVP 8 0\r\n", g711.PCMA),
        (b"m=audio 4000 RTP/AVP 18 96 8\r\na=rtpmap:96 PCMA/8000\r\n", g711.PCMA),
    ],
)
def test_sdp_answers_with_the_first_g711_offered(media: bytes, chosen: int) -> None:
    offer = sdp.parse_offer(OFFER + media)
    assert offer == sdp.Offer("10.0.0.2", 4000, chosen)
    answer = sdp.answer(address="127.0.0.1", port=20000, payload_type=chosen, session_id=5)
    assert f"m=audio 20000 RTP/AVP {chosen}".encode() in answer


def test_sdp_media_address_overrides_the_session_one() -> None:
    offer = sdp.parse_offer(OFFER + b"m=audio 4000 RTP/AVP 8\r\nc=IN IP4 10.9.9.9\r\n")
    assert offer.address == "10.9.9.9"


@pytest.mark.parametrize(
    "body",
    [
        OFFER + b"m=audio 4000 RTP/AVP 18 9\r\n",  # G.729, G.722 only: 488
        OFFER + b"m=video 4000 RTP/AVP 96\r\n",
        OFFER + b"m=audio x RTP/AVP 8\r\n",
        b"v=0\r\nm=audio 4000 RTP/AVP 8\r\n",  # no address
    ],
)
def test_sdp_refuses_offers_it_cannot_answer(body: bytes) -> None:
    with pytest.raises(sdp.SdpError):
        sdp.parse_offer(body)


# --- SIP -----------------------------------------------------------------------------------


def test_sip_parses_compact_folded_and_listed_headers() -> None:
    message = sip.parse(INVITE)
    assert (message.method, message.uri) == ("INVITE", "sip:+33757000001@127.0.0.1:5070")
    assert message.call_id == "call-1@10.0.0.2" and message.cseq == (1, "INVITE")
    assert len(message.all("via")) == 2 and message.branch == "z9hG4bKproxy"
    assert message.from_tag == "abc" and message.to_tag == ""
    assert message.get("subject") == "a folded header"
    assert message.body == b"v=0\r"  # Content-Length bounds the body
    assert sip.user_of(sip.uri_of(message.all("diversion")[0])) == "+33757000001"


def test_sip_response_copies_the_vias_in_order_and_adds_our_tag() -> None:
    request = sip.parse(INVITE)
    answer = sip.parse(sip.response(request, 200, "OK", to_tag="xyz"))
    assert answer.status == 200 and answer.all("via") == request.all("via")
    assert answer.to_tag == "xyz" and answer.from_tag == "abc"
    assert answer.all("record-route") == ["<sip:127.0.0.1:5060;lr>"]
    ringing = sip.parse(sip.response(request, 180, "Ringing", to_tag="xyz"))
    assert ringing.all("record-route") == []


@pytest.mark.parametrize(
    "data",
    [
        b"HELLO\r\n\r\n",
        INVITE.replace(b"i: call-1@10.0.0.2\r\n", b""),  # no Call-ID
        INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE"),
        INVITE.replace(b"l: 4", b"l: 4000"),  # longer than what came
        INVITE.replace(b"Subject: a folded", b"Sub ject: a folded"),
        INVITE.replace(b"Subject: a folded", b"Subject: a \x01 folded"),
        b"\xff\xfe" + INVITE,
    ],
)
def test_sip_refuses_malformed_messages(data: bytes) -> None:
    """Dropped when the datagram cannot be answered at all (``parse`` raises), refused
    with a status when it can (``validate.refusal``): never taken as it is."""
    try:
        message = sip.parse(data)
    except sip.SipError:
        return
    assert refusal(message, supported=SUPPORTED) is not None


def test_sip_uri_host_and_port() -> None:
    assert sip.host_port("sip:127.0.0.1:5060;lr") == ("127.0.0.1", 5060)
    assert sip.host_port("sip:+331@pbx.example") == ("pbx.example", 5060)
    with pytest.raises(sip.SipError):
        sip.host_port("sip:host:port")


# --- fuzzing -------------------------------------------------------------------------------


def mutations() -> st.SearchStrategy[bytes]:
    """Valid messages with bytes flipped, cut, or spliced: closer to the parser's edges
    than random bytes."""
    return st.builds(
        lambda cut, at, junk: INVITE[:cut] + junk + INVITE[at:],
        st.integers(0, len(INVITE)),
        st.integers(0, len(INVITE)),
        st.binary(max_size=40),
    )


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=600), mutations()))
def test_fuzz_sip_parser_raises_only_sip_errors(data: bytes) -> None:
    """Parsing raises only SipError; validating raises nothing; any message parsed can be
    answered; and a request validation lets through has what the dialog logic reads."""
    try:
        message = sip.parse(data)
    except sip.SipError:
        return
    refused = refusal(message, supported=SUPPORTED)
    sip.response(message, 400, "Bad Request", to_tag="t")
    if message.is_request and refused is None:
        message.branch, message.from_tag, message.to_tag, message.cseq  # noqa: B018


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_rtp_and_sdp_raise_only_their_errors(data: bytes) -> None:
    try:
        RtpPacket.parse(data)
    except RtpError:
        pass
    try:
        sdp.parse_offer(data)
    except sdp.SdpError:
        pass
