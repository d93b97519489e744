"""SIP messages (RFC 3261 §7, §20): parse one datagram, build requests and responses.

Only what a user agent server needs. ``parse`` is liberal: compact header names
(§7.3.3), folded lines (§7.3.1), header names in any case, several values of one header
on one line or several (§7.3.1), a start line read even when it is malformed, so that
the message can still be answered; it raises ``SipError`` only for a datagram that
cannot be answered at all (not SIP, no header block, a header line without a colon),
which is dropped, never answered with a traceback. Whether a parsed message must be
refused, and how, is ``validate.py``'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from renvoi.domain.routing import split_header_list

# §7.3.3 compact forms, and the canonical spelling used when building.
COMPACT = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
}
# Headers whose values may be comma-separated lists (§7.3.1, and RFC 5806 §4 for
# Diversion; not From/To/Call-ID/CSeq).
LIST_HEADERS = frozenset(
    {"via", "route", "record-route", "contact", "allow", "supported", "diversion"}
)
MAX_SIZE = 65_535
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
# Read liberally: a status line, or a request line however its spaces fall (the strict
# form of each is checked by ``validate.py``).
_STATUS = re.compile(r"^(SIP/[^ ]*) +([0-9]+) ?(.*)$")
_REQUEST = re.compile(r"^([A-Za-z0-9.!%*_+`'~-]+) +(.*?) *(SIP/[0-9A-Za-z.]+) *$")


class SipError(ValueError):
    """Not a SIP message we can handle."""


@dataclass
class Message:
    """A request (``method``, ``uri``) or a response (``status``, ``reason``)."""

    method: str | None = None
    uri: str | None = None
    status: int | None = None
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)  # lower-case names
    body: bytes = b""
    start: str = ""  # the start line as it came
    version: str = "SIP/2.0"
    declared_length: str | None = None  # Content-Length as written, when it is

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def all(self, name: str) -> list[str]:
        """Every value of a header, lists split (§7.3.1), in order."""
        values = [v for n, v in self.headers if n == name]
        if name in LIST_HEADERS:
            return [part for v in values for part in split_header_list(v)]
        return values

    def get(self, name: str) -> str | None:
        for n, value in self.headers:
            if n == name:
                return value
        return None

    def need(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SipError(f"no {name} header")
        return value

    @property
    def call_id(self) -> str:
        return self.need("call-id")

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.need("cseq").strip().partition(" ")
        if not number.isdigit() or not method.strip():
            raise SipError("bad CSeq")
        return int(number), method.strip()

    @property
    def branch(self) -> str:
        return param(self.all("via")[0], "branch") or ""

    @property
    def from_tag(self) -> str:
        return param(self.need("from"), "tag") or ""

    @property
    def to_tag(self) -> str:
        return param(self.need("to"), "tag") or ""


def parse(data: bytes) -> Message:
    """One SIP message from one datagram, as it came: ``validate.refusal`` then says
    whether it must be refused.

    Raises:
        SipError: a datagram that cannot be answered at all.
    """
    if len(data) > MAX_SIZE:
        raise SipError("too large")
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        head, separator, body = data.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipError("header not UTF-8") from None
    lines = text.replace("\r\n", "\n").lstrip("\n").split("\n")
    start, raw_headers = lines[0], lines[1:]
    message = Message(start=start)
    if match := _STATUS.match(start):
        message.version, message.status, message.reason = match[1], int(match[2]), match[3]
    elif match := _REQUEST.match(start):
        message.method, message.uri, message.version = match[1], match[2], match[3]
    else:
        raise SipError("bad start line")
    unfolded: list[str] = []
    for line in raw_headers:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        elif line.strip():
            unfolded.append(line)
    for line in unfolded:
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        if not colon or not _TOKEN.match(name):
            raise SipError("bad header line")
        message.headers.append((COMPACT.get(name, name), value.strip()))
    message.declared_length = message.get("content-length")
    length = message.declared_length
    if length is not None and length.isdigit() and int(length) <= len(body):
        body = body[: int(length)]  # what follows in the datagram is not this message's
    message.body = body
    return message


def param(value: str, name: str) -> str | None:
    """A header parameter (``;tag=...``) outside the ``<>`` of its URI."""
    outside = value.rsplit(">", 1)[-1] if ">" in value else value
    for part in outside.split(";")[1:]:
        key, _, found = part.partition("=")
        if key.strip().lower() == name:
            return found.strip()
    return None


def uri_of(value: str) -> str:
    """The URI of a name-addr (``"Name" <sip:...>;tag=x``) or addr-spec value."""
    if "<" in value:
        return value.split("<", 1)[1].split(">", 1)[0].strip()
    return value.split(";", 1)[0].strip()


def user_of(uri: str) -> str:
    """The user part of a SIP URI (``sip:+33757000001@host`` gives ``+33757000001``)."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    return rest.split("@", 1)[0] if "@" in rest else ""


def host_port(uri: str, default_port: int = 5060) -> tuple[str, int]:
    """The host and port a SIP URI sends to."""
    rest = uri.split(":", 1)[1] if uri.lower().startswith(("sip:", "sips:")) else uri
    rest = rest.split("@", 1)[-1].split(";", 1)[0].split("?", 1)[0]
    host, _, port = rest.partition(":")
    if not host or (port and not port.isdigit()):
        raise SipError(f"bad URI {uri!r}")
    return host, int(port) if port else default_port


def render(start: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    """A message's bytes; Content-Length is computed here."""
    lines = [start] + [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


_CANONICAL = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
}


def canonical(name: str) -> str:
    return _CANONICAL.get(name, "-".join(part.capitalize() for part in name.split("-")))


def response(
    request: Message,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> bytes:
    """A response to ``request`` (§8.2.6): its Via, From, Call-ID, CSeq, and To with our
    tag; Record-Route copied when the response makes a dialog (§12.1.1). A header the
    request lacks is left out (a refusal of a request missing it still goes back)."""
    copied: list[tuple[str, str]] = [("Via", v) for v in request.all("via")]
    to = request.get("to")
    if to is not None and to_tag and param(to, "tag") is None:
        to = f"{to};tag={to_tag}"
    for name, value in (
        ("From", request.get("from")),
        ("To", to),
        ("Call-ID", request.get("call-id")),
        ("CSeq", request.get("cseq")),
    ):
        if value is not None:
            copied.append((name, value))
    if request.method == "INVITE" and 200 <= status < 300:
        copied += [("Record-Route", v) for v in request.all("record-route")]
    return render(f"SIP/2.0 {status} {reason}", copied + (headers or []), body)


def bye(invite: Message, *, to_tag: str, cseq: int, via: str, branch: str) -> tuple[bytes, str]:
    """A BYE ending the dialog that ``invite`` made with us as its UAS (§15.1.1), and the
    URI to send it to: the first of the route set (§12.1.1, kept in its order by a UAS),
    else the caller's Contact.

    Args:
        to_tag: the tag our answer put in To (our From now).
        cseq: our own CSeq number in the dialog.
        via: ``host:port`` of our Via.
        branch: a new transaction's branch (``z9hG4bK…``, §8.1.1.7).
    """
    route_set = invite.all("record-route")
    target = uri_of(invite.need("contact"))
    ours = invite.need("to")
    message = render(
        f"BYE {target} SIP/2.0",
        [
            ("Via", f"SIP/2.0/UDP {via};branch={branch};rport"),
            ("Max-Forwards", "70"),
            *[("Route", entry) for entry in route_set],
            ("From", ours if param(ours, "tag") is not None else f"{ours};tag={to_tag}"),
            ("To", invite.need("from")),
            ("Call-ID", invite.call_id),
            ("CSeq", f"{cseq} BYE"),
        ],
    )
    return message, uri_of(route_set[0]) if route_set else target
