"""The benchmark's carrier: a small UDP stand-in that answers every forwarded call and
timestamps its INVITE.

SIPp's own timer has a 4 ms resolution on this machine's kernel: too coarse for a proxy
whose work is well under a millisecond. The caller puts its clock in the INVITE
(``X-Sent: [timestamp]``, SIPp's gettimeofday with microseconds); this carrier reads the
kernel's receive time of the forwarded INVITE (SO_TIMESTAMPNS, the same clock) and
keeps the difference: the time from the caller's send to the carrier's receive, through
the proxy. Every INVITE is answered 200 at once, every BYE 200; ACKs are taken.
"""

from __future__ import annotations

import multiprocessing
import socket
import struct
from multiprocessing.connection import Connection
from pathlib import Path

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
STOP = b"stop"
# The headers a response copies from its request (RFC 3261 §8.2.6.2), lower-cased.
_COPIED = (b"via", b"v", b"record-route", b"from", b"f", b"call-id", b"i", b"cseq")


def _answer(request: bytes, port: int) -> bytes:
    head = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    lines = [b"SIP/2.0 200 OK"]
    for line in head[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name in _COPIED:
            lines.append(line)
        elif name in (b"to", b"t"):
            lines.append(line if b";tag=" in line else line + b";tag=carrier")
    lines += [f"Contact: <sip:carrier@127.0.0.1:{port}>".encode(), b"Content-Length: 0"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _sent_at(request: bytes) -> float | None:
    """The caller's clock in the INVITE: SIPp's ``[timestamp]`` ends with seconds since
    the epoch, to the microsecond."""
    start = request.find(b"\r\nX-Sent:")
    if start < 0:
        return None
    end = request.find(b"\r\n", start + 2)
    return float(request[start + 9 : end].split()[-1])


def serve(port: int, out: Path, ready: Connection) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    ready.send(True)
    seen: set[bytes] = set()
    delays: list[float] = []
    while True:
        data, ancillary, _, peer = sock.recvmsg(65535, 256)
        if data == STOP:
            break
        if data.startswith(b"INVITE "):
            branch = data.split(b"branch=", 1)[-1][:64]
            if branch not in seen:  # a retransmission is answered, not timed again
                seen.add(branch)
                sent = _sent_at(data)
                for level, kind, value in ancillary:
                    if sent is not None and level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        seconds, nanoseconds = _TIMESPEC.unpack(value[: _TIMESPEC.size])
                        delays.append(seconds + nanoseconds / 1e9 - sent)
            sock.sendto(_answer(data, port), peer)
        elif data.startswith(b"BYE "):
            sock.sendto(_answer(data, port), peer)
    out.write_text("\n".join(f"{d:.6f}" for d in delays))
    sock.close()


class Carrier:
    """The stand-in in a process of its own (so that its work is counted apart)."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.out = workdir / f"carrier-{port}.txt"
        parent, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=serve, args=(port, self.out, child))
        self.process.start()
        parent.recv()

    def stop(self) -> list[float]:
        """Stop it; the delays it measured, in seconds."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(STOP, ("127.0.0.1", self.port))
        self.process.join(timeout=30)
        text = self.out.read_text()
        return [float(line) for line in text.split("\n") if line]
