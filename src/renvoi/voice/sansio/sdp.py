"""SDP offer/answer for one audio stream (RFC 4566 syntax, RFC 3264 negotiation).

The endpoint speaks G.711 only: it answers with the first of PCMA and PCMU in the
offer's order of preference, or refuses the offer (488) when there is neither.
"""

from __future__ import annotations

from dataclasses import dataclass

from renvoi.audio import g711


class SdpError(ValueError):
    """An offer we cannot answer."""


@dataclass(frozen=True, slots=True)
class Offer:
    address: str
    port: int
    payload_type: int  # the codec chosen for the answer


def parse_offer(body: bytes) -> Offer:
    """The remote RTP address and the codec to use.

    Raises:
        SdpError: no audio stream, no address, or no G.711 codec offered.
    """
    session_address: str | None = None
    media_address: str | None = None
    port: int | None = None
    formats: list[int] = []
    rtpmap: dict[int, str] = {}
    in_audio = False
    for raw in body.decode("utf-8", "replace").splitlines():
        kind, _, value = raw.strip().partition("=")
        if kind == "m":
            fields = value.split()
            in_audio = len(fields) >= 4 and fields[0] == "audio" and port is None
            if in_audio:
                try:
                    port = int(fields[1])
                    formats = [int(f) for f in fields[3:] if f.isdigit()]
                except ValueError:
                    raise SdpError("bad m= line") from None
        elif kind == "c":
            fields = value.split()
            if len(fields) >= 3:
                address = fields[2].split("/")[0]
                if in_audio:
                    media_address = address
                elif port is None:
                    session_address = address
        elif kind == "a" and in_audio and value.startswith("rtpmap:"):
            payload_type, _, encoding = value[len("rtpmap:") :].partition(" ")
            if payload_type.isdigit():
                rtpmap[int(payload_type)] = encoding.split("/")[0].upper()
    remote = media_address or session_address
    if port is None or not 0 < port < 65536 or remote is None:
        raise SdpError("no audio stream with an address")
    wanted = {codec: number for number, codec in g711.NAMES.items()}
    for number in formats:
        # Static types need no rtpmap; a dynamic one may name PCMA/PCMU too.
        codec = rtpmap.get(number, g711.NAMES.get(number, ""))
        if codec in wanted:
            return Offer(remote, port, wanted[codec])
    raise SdpError("neither PCMA nor PCMU offered")


def answer(*, address: str, port: int, payload_type: int, session_id: int) -> bytes:
    """Our answer: one audio stream, the chosen codec, send and receive."""
    name = g711.NAMES[payload_type]
    lines = [
        "v=0",
        f"o=renvoi {session_id} {session_id} IN IP4 {address}",
        "s=renvoi voicemail",
        f"c=IN IP4 {address}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {payload_type}",
        f"a=rtpmap:{payload_type} {name}/8000",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()
