"""SIPp scenarios for the voice tests, written per test: a caller, and callee stand-ins.

Each scenario is real SIP over UDP through Kamailio. The callee stand-ins check what they
receive with ``check_it`` regular expressions, so a wrong request URI or a missing
Diversion header fails the SIPp process (exit status 1), and with it the test.
"""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from renvoi.audio import g711
from renvoi.voice.sansio.rtp import RtpPacket
from tests.harness import free_udp_port

SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8
a=rtpmap:8 PCMA/8000"""


def caller_scenario(
    *,
    number: str,
    expect: int,
    headers: list[str] | None = None,
    hold_ms: int = 200,
    rtd: bool = False,
) -> str:
    """A caller that INVITEs ``number`` and expects the final status ``expect``.

    With ``rtd``, SIPp times INVITE→180 (for the benchmark, whose callee rings).
    """
    extra = "".join(f"      {h}\n" for h in headers or [])
    has_max_forwards = any(h.lower().startswith("max-forwards") for h in headers or [])
    max_forwards = "" if has_max_forwards else "      Max-Forwards: 70\n"
    invite = _invite(number, extra=max_forwards + extra, rtd=rtd)
    if 200 <= expect < 300:
        tail = (
            '  <recv response="200" rrs="true"/>\n'
            + _in_dialog("ACK", 1)
            + f'  <pause milliseconds="{hold_ms}"/>\n'
            + _in_dialog("BYE", 2, retrans=True)
            + '  <recv response="200" crlf="true"/>\n'
        )
    else:
        tail = f'  <recv response="{expect}"/>\n' + _ack_of_failure(number)
    return _scenario("caller", invite + tail)


# The callers are strict: each answer must come in its place, and a provisional answer
# after the final one aborts the call (SIPp's "unexpected message"). Nothing renvoi
# sends or relays may arrive that way: its voicemail endpoint rings only for a set time,
# and the callee stand-ins ring before they answer or do not ring at all (a 180 and a
# 200 leaving together reach the caller in either order through the proxy's workers).


def _invite(number: str, *, extra: str = "      Max-Forwards: 70\n", rtd: bool = False) -> str:
    """The caller's INVITE (with ``extra`` header lines), and its provisional answers."""
    return f"""  <send retrans="500"{' start_rtd="1"' if rtd else ""}>
    <![CDATA[
      INVITE sip:{number}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Alice" <sip:+33140000001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{number}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:+33140000001@[local_ip]:[local_port]>
{extra}      Content-Type: application/sdp
      Content-Length: [len]

{SDP}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"{' rtd="1"' if rtd else ""}/>
  <recv response="183" optional="true"/>
"""


def voicemail_caller_scenario(
    *, number: str, wait_ms: int, pcap: str | None = None, then: str = "hang-up"
) -> str:
    """A caller reaching voicemail: after ``wait_ms`` (the greeting and the beep) it plays
    ``pcap``, then hangs up after it (``then="hang-up"``), or waits for the endpoint to
    hang up (``"wait-for-bye"``); ``"lose-ack"`` loses the first ACK (SIPp sends it again
    when the 200 comes again)."""
    body = _invite(number) + '  <recv response="200" rrs="true"/>\n'
    # Losing the ACK: SIPp answers the retransmitted 200 by sending the ACK again.
    body += _in_dialog("ACK", 1, lost=then == "lose-ack")
    body += f'  <pause milliseconds="{wait_ms}"/>\n'
    if pcap:
        body += f"""  <nop>
    <action>
      <exec play_pcap_audio="{pcap}"/>
    </action>
  </nop>
"""
    if then == "wait-for-bye":
        body += _bye_answered()
    else:
        body += '  <pause milliseconds="7500"/>\n' if pcap else ""
        body += _in_dialog("BYE", 2, retrans=True) + '  <recv response="200" crlf="true"/>\n'
    return _scenario("voicemail-caller", body)


def cancelling_caller_scenario(*, number: str) -> str:
    """A caller that hangs up while it rings: CANCEL (same Via branch), then the CANCEL's
    200 and the INVITE's 487, in either order: the proxy answers the CANCEL itself while
    another of its workers relays the 487, and over UDP either may arrive first."""
    return _scenario(
        "cancelling-caller",
        # The CANCEL goes once it rings; SIPp needs no optional receive just before it.
        _invite(number)
        .replace(
            '<recv response="180" optional="true"/>',
            '<recv response="180"/>',
        )
        .replace('  <recv response="183" optional="true"/>\n', "")
        + f"""  <send>
    <![CDATA[
      CANCEL sip:{number}@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: "Alice" <sip:+33140000001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{number}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="487" optional="true" next="late"/>
  <recv response="200"/>
  <recv response="487"/>
"""
        + _ack_of_failure(number)
        + """  <nop next="done"/>
  <label id="late"/>
"""
        + _ack_of_failure(number)
        + """  <recv response="200"/>
  <label id="done"/>
""",
    )


def _bye_answered() -> str:
    """The other side hangs up: its BYE, our 200."""
    return """  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
"""


def _ack_of_failure(number: str) -> str:
    """The ACK of a final failure answer: hop by hop, same branch as the INVITE (§17.1.1.3)."""
    return f"""  <send>
    <![CDATA[
      ACK sip:{number}@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: "Alice" <sip:+33140000001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""


def _in_dialog(method: str, cseq: int, *, retrans: bool = False, lost: bool = False) -> str:
    """The caller's request inside the dialog (ACK of a 2xx, BYE), on the route set;
    ``lost``: SIPp drops it instead of sending it."""
    options = (' retrans="500"' if retrans else "") + (' lost="100"' if lost else "")
    return f"""  <send{options}>
    <![CDATA[
      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Alice" <sip:+33140000001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""


def _answer(status: str, *, sdp: bool = False) -> str:
    """The callee's provisional or final answer to the INVITE, echoing its Record-Route
    (SIPp's built-in uas does not, and the ACK then never comes back through the proxy)."""
    body = "Content-Type: application/sdp\n      Content-Length: [len]\n\n" + SDP
    return f"""  <send{' retrans="500"' if sdp else ""}>
    <![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      {body if sdp else "Content-Length: 0"}
    ]]>
  </send>
"""


def callee_scenario(*, checks: list[str], ring_ms: int = 0) -> str:
    """A callee that answers one call, after checking the INVITE against ``checks``
    (regular expressions over the whole message; each must match): at once (a 200, no
    180), or after ringing ``ring_ms`` (a 180, then the 200). Never both at once: the
    proxy's workers may relay them in either order (UDP promises none), and the strict
    callers abort on a 180 after the 200."""
    eregs = "".join(
        f'      <ereg regexp="{escape(check, {chr(34): "&quot;"})}" search_in="msg" '
        f'check_it="true" assign_to="m{i}"/>\n'
        for i, check in enumerate(checks)
    )
    ring = _answer("180 Ringing") + f'  <pause milliseconds="{ring_ms}"/>\n' if ring_ms else ""
    body = f"""  <recv request="INVITE" crlf="true">
    <action>
{eregs}    </action>
  </recv>
{ring}{_answer("200 OK", sdp=True)}  <recv request="ACK" crlf="true"/>
{_bye_answered()}"""
    variables = ",".join(f"m{i}" for i in range(len(checks)))
    return _scenario("callee", body, variables)


def carrier_scenario(*, ring_ms: int, busy: str) -> str:
    """The benchmark's carrier: answers every call after ringing ``ring_ms``, but an
    INVITE for ``busy`` gets 486 Busy Here, and that call's next INVITE (its busy
    fallback, same Call-ID) is answered."""
    number = re.escape(busy)
    answered = (
        _answer("180 Ringing")
        + f'  <pause milliseconds="{ring_ms}"/>\n'
        + _answer("200 OK", sdp=True)
        + '  <recv request="ACK" crlf="true"/>\n'
        + _bye_answered()
    )
    body = f"""  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="^INVITE sip:{number}@" search_in="msg" check_it="false" assign_to="busy"/>
    </action>
  </recv>
  <nop test="busy" next="refuse"/>
{answered}  <nop next="done"/>
  <label id="refuse"/>
{_answer("486 Busy Here")}  <recv request="ACK"/>
  <recv request="INVITE" crlf="true"/>
{answered}  <label id="done"/>
"""
    return _scenario("carrier", body, "busy")


def _scenario(name: str, body: str, variables: str = "") -> str:
    # Variables assigned by ereg must be declared used, or SIPp warns and refuses.
    uses = f'  <Reference variables="{variables}"/>\n' if variables else ""
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        f'<scenario name="{name}">\n{body}{uses}</scenario>\n'
    )


@dataclass
class Sipp:
    """A SIPp process and where its logs go."""

    process: subprocess.Popen[bytes]
    workdir: Path
    name: str

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return -1

    def errors(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-3000:]
            for path in self.workdir.glob(f"{self.name}*_errors.log")
        )


def run_sipp(
    workdir: Path,
    name: str,
    scenario: str,
    *,
    port: int,
    remote: str | None = None,
    calls: int = 1,
    extra: list[str] | None = None,
) -> Sipp:
    """Start SIPp with ``scenario`` on ``port``; a caller when ``remote`` is given."""
    path = workdir / f"{name}.xml"
    path.write_text(scenario)
    command = [
        "sipp",
        "-sf",
        str(path),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-cp",  # SIPp's control socket is UDP: a free TCP port may be taken (errno 98)
        str(free_udp_port(media=False)),
        "-mp",
        str(port + 10000),
        "-m",
        str(calls),
        "-nostdin",
        "-trace_err",
        "-error_file",
        str(workdir / f"{name}_errors.log"),
        "-timeout",
        "25s",
        "-timeout_error",
        "-max_recv_loops",
        "1000",
        *(extra or []),
    ]
    if remote:
        command.append(remote)
    process = subprocess.Popen(
        command,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return Sipp(process, workdir, name)


# SIPp's own recording (PCMA, 7.08 s), which the voicemail callers play after the beep.
PCAP = "/usr/share/sip-tester/g711a.pcap"


def pcap_samples(path: str) -> bytes:
    """The PCM of every RTP packet in a pcap (Ethernet, IPv4, UDP), decoded from PCMA."""
    data = Path(path).read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4  # little-endian, microseconds
    offset, payload = 24, b""
    while offset < len(data):
        _, _, captured, _ = struct.unpack_from("<IIII", data, offset)
        frame = data[offset + 16 : offset + 16 + captured]
        offset += 16 + captured
        ip_header = (frame[14] & 0x0F) * 4
        packet = RtpPacket.parse(frame[14 + ip_header + 8 :])
        assert packet.payload_type == g711.PCMA
        payload += packet.payload
    return g711.decode(g711.PCMA, payload)


def write_pcap(path: Path, pcm: bytes, *, payload_type: int = g711.PCMA) -> Path:
    """``pcm`` (16-bit mono 8 kHz) as RTP in a pcap SIPp can play (``play_pcap_audio``):
    20 ms packets, each in Ethernet, IPv4 and UDP as ``pcap_samples`` reads them."""
    chunk = 160 * 2
    pcm = pcm.ljust(-(-len(pcm) // chunk) * chunk, b"\0")
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for n, start in enumerate(range(0, len(pcm), chunk)):
        payload = g711.encode(payload_type, pcm[start : start + chunk])
        rtp = RtpPacket(payload_type, n & 0xFFFF, n * 160, 0x5EED, payload, marker=n == 0).build()
        udp = struct.pack("!HHHH", 16384, 16384, 8 + len(rtp), 0) + rtp
        ip = (
            struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                0,
                20 + len(udp),
                n & 0xFFFF,
                0,
                64,
                17,
                0,
                bytes([127, 0, 0, 1]),
                bytes([127, 0, 0, 1]),
            )
            + udp
        )
        frame = bytes(12) + b"\x08\x00" + ip
        out += struct.pack("<IIII", n // 50, (n % 50) * 20_000, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
    return path
