"""Whether a parsed SIP request must be refused, and with what (RFC 3261, RFC 4475).

The validation step between ``sip.parse`` and the dialog logic: a request the parser
could read but that RFC 3261 says a UAS must not act on gets the refusal the RFC names
(RFC 4475's torture messages are the test vectors). In order:

- 505 for another protocol version (§8.2.2.1 would have it 400 only if SIP/2.0);
- 400 for what is malformed: the request line (one SP between elements, no LWS in or
  ``<>`` around the Request-URI, no escaped headers in it, §19.1.1), missing or
  repeated single-value header fields, scalars out of range (Max-Forwards 0-255, CSeq
  below 2**31, Content-Length not larger than the body, §18.3), unbalanced quotes,
  spaces inside an addr-spec, a display name that is neither tokens nor quoted, an
  unbracketed URI with headers, empty parameters or list entries, a Date not in GMT,
  control characters outside quoted pairs;
- 501 for a method nobody here knows, 405 for one we know but do not do (§8.2.1);
- 400 for a CSeq method other than the request's (§8.1.1.5);
- 416 for a Request-URI scheme other than sip and sips (§8.2.2.1);
- 420 for a Require of anything (we support no extension, §8.2.2.3);
- for an INVITE, 415 for a body that is not SDP and 406 for an Accept without SDP
  (§8.2.3, RFC 4475 §3.3.15).

An ACK is never answered (§17.2.1): its refusal is silence, as is a response's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from renvoi.domain.routing import split_header_list
from renvoi.voice.sansio.sip import Message

# Methods of RFC 3261 and its extensions a UAS may meet; those we do not do are 405.
KNOWN_METHODS = frozenset(
    {
        "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
        "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
    }
)  # fmt: skip
SINGLE_VALUE = ("to", "from", "call-id", "cseq", "max-forwards", "content-length", "content-type")
REQUIRED = ("to", "from", "call-id", "cseq", "via")
# Header fields whose values are name-addr or addr-spec (§20): From, To, Contact...
ADDRESSES = frozenset({"from", "to", "contact", "route", "record-route", "reply-to"})
# Header fields whose parameters and list entries are checked for emptiness.
PARAMETERIZED = ADDRESSES | {"via"}
MAX_CSEQ = 2**31 - 1
MAX_FORWARDS = 255

_REQUEST_LINE = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+ [^\s<>]+ SIP/2\.0$")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETED = re.compile(r"<[^<>]*>")
_DISPLAY_TOKENS = re.compile(r"^[A-Za-z0-9.!%*_+`'~\- \t]*$")
_SDP_TYPES = ("application/sdp", "application/*", "*/*")


@dataclass(frozen=True)
class Refusal:
    """A refusal: its status, reason phrase, and the header fields it must carry."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


def refusal(message: Message, *, supported: frozenset[str]) -> Refusal | None:
    """The refusal a request calls for, or None when the dialog logic may take it.

    Args:
        message: a request, as ``sip.parse`` read it.
        supported: the methods this UAS does (its ``Allow``).
    """
    if message.method is None:
        return None
    if message.version != "SIP/2.0":
        return Refusal(505, "Version Not Supported")
    malformed = _malformed(message)
    if malformed is not None:
        return Refusal(400, malformed)
    method = message.method
    allow = (("Allow", ", ".join(sorted(supported))),)
    if method not in KNOWN_METHODS:
        return Refusal(501, "Not Implemented", allow)
    if method not in supported:
        return Refusal(405, "Method Not Allowed", allow)
    if message.cseq[1] != method:
        return Refusal(400, "CSeq Method Does Not Match")
    if not re.match(r"^sips?:", message.uri or "", re.I):
        return Refusal(416, "Unsupported URI Scheme")
    required = [entry for value in message.all("require") for entry in split_header_list(value)]
    if required and method not in ("ACK", "CANCEL"):
        return Refusal(420, "Bad Extension", (("Unsupported", ", ".join(required)),))
    if method == "INVITE":
        return _invite_media(message)
    return None


def _malformed(message: Message) -> str | None:
    """Why a request is not well-formed (the reason phrase of its 400), or None."""
    if not _REQUEST_LINE.match(message.start):
        return "Bad Request-Line"
    if "?" in (message.uri or "").rpartition("@")[2]:  # user parts may hold "?"
        return "Headers in Request-URI"
    for name in REQUIRED:
        if message.get(name) is None:
            return f"Missing {name.title()}"
    for name in SINGLE_VALUE:
        if len(message.all(name)) > 1:
            return f"Repeated {name.title()}"
    cseq = message.get("cseq") or ""
    number, _, cseq_method = cseq.strip().partition(" ")
    if not number.isdigit() or int(number) > MAX_CSEQ or not cseq_method.strip():
        return "Bad CSeq"
    forwards = message.get("max-forwards")
    if forwards is not None and (not forwards.isdigit() or int(forwards) > MAX_FORWARDS):
        return "Bad Max-Forwards"
    length = message.declared_length
    if length is not None and (not length.isdigit() or int(length) > len(message.body)):
        return "Bad Content-Length"
    date = message.get("date")
    if date is not None and not date.rstrip().endswith("GMT"):
        return "Bad Date"
    for name, value in message.headers:
        problem = _bad_value(name, value)
        if problem is not None:
            return f"{problem} in {name.title()}"
    return None


def _bad_value(name: str, value: str) -> str | None:
    """What is wrong with one header field's value, or None."""
    if name in PARAMETERIZED and not _quotes_balanced(value):
        return "Unterminated Quoted String"
    unquoted = _QUOTED.sub('"q"', value)
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in unquoted):
        return "Control Character"
    if name in PARAMETERIZED and _empty_parts(unquoted):
        return "Empty Parameter"
    if name in ADDRESSES:
        for entry in split_header_list(value) if name not in ("from", "to") else [value]:
            problem = _bad_address(entry)
            if problem is not None:
                return problem
    return None


def _quotes_balanced(value: str) -> bool:
    """Whether every quoted string of ``value`` is closed (a backslash escapes)."""
    inside, escaped = False, False
    for char in value:
        if escaped:
            escaped = False
        elif inside and char == "\\":
            escaped = True
        elif char == '"':
            inside = not inside
    return not inside


def _empty_parts(unquoted: str) -> bool:
    """Whether a value (its quoted strings blanked) has an empty parameter or list
    entry: ``;;``, ``;,``, ``,,``, or one at an end (RFC 4475 §3.1.2.1)."""
    compact = re.sub(r"\s+", "", _BRACKETED.sub("<u>", unquoted))
    return bool(
        re.search(r";[;,]|,[,;]", compact) or compact.endswith((";", ",")) or compact[:1] in ";,"
    )


def _bad_address(entry: str) -> str | None:
    """What is wrong with one name-addr or addr-spec (§20.10, §25.1), or None."""
    unquoted = _QUOTED.sub('"q"', entry)
    if "<" in unquoted:
        display, _, rest = unquoted.partition("<")
        spec = rest.partition(">")[0]
        if spec != spec.strip() or not spec:
            return "Spaces In Address"
        if not display.strip().startswith('"') and not _DISPLAY_TOKENS.match(display):
            return "Bad Display Name"
        return None
    # An addr-spec alone: its parameters are the header's, so a URI with headers (?)
    # or a display name (a comma, spaces before the URI) must have been in <>.
    spec = unquoted.split(";", 1)[0].strip()
    if "?" in spec or "," in unquoted or " " in spec:
        return "Address Not In Brackets"
    return None


def _invite_media(message: Message) -> Refusal | None:
    """An INVITE's offer must be SDP, and its answer may be (§8.2.3)."""
    content_type = (message.get("content-type") or "").split(";")[0].strip().lower()
    if message.body and content_type not in ("", "application/sdp"):
        return Refusal(415, "Unsupported Media Type", (("Accept", "application/sdp"),))
    accept = message.get("accept")
    if accept is not None and accept.strip():
        offered = [entry.split(";")[0].strip().lower() for entry in accept.split(",")]
        if not any(kind in _SDP_TYPES for kind in offered):
            return Refusal(406, "Not Acceptable", (("Accept", "application/sdp"),))
    return None
