"""The answer's envelope, ``{"success", "code", "message", ...}``, as JSON or as XML.

The XML form is the platform's (contract, "XML form"): one positional ``<entry>`` per
field, in the JSON order, strings in CDATA. Nested lists and objects nest entries the
same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.responses import Response

from renvoi.domain.codes import Code, Language, Reason, message

Format = Literal["json", "xml"]


def wanted_format(value: object) -> Format | None:
    """The format a ``_format`` value asks for, or None if it asks for none we know."""
    if isinstance(value, str) and value.strip().lower() in ("json", "xml"):
        return "xml" if value.strip().lower() == "xml" else "json"
    return None


def request_format(request: Request) -> Format:
    """The format of the answer: the body's ``_format`` (stored on the request once the
    body is read) wins over the query string's; JSON by default."""
    chosen: Format | None = getattr(request.state, "format", None)
    return chosen or wanted_format(request.query_params.get("_format")) or "json"


# What XML 1.0 cannot hold at all, CDATA or not (its production 2, "Char"): the C0
# controls but tab and line breaks, surrogates, U+FFFE and U+FFFF. A caller id may carry
# them; each is shown as U+FFFD, so the answer stays a document any parser reads.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _cdata(text: str) -> str:
    text = _NOT_XML.sub("\ufffd", text)
    # "]]>" cannot appear inside CDATA: close the section between its characters. A
    # carriage return would reach the reader as a line feed (XML's end-of-line
    # handling, §2.11): it goes between sections, as a character reference.
    text = text.replace("]]>", "]]]]><![CDATA[>").replace("\r", "]]>&#13;<![CDATA[")
    return "<![CDATA[" + text + "]]>"


def _entries(values: Any, depth: int) -> list[str]:
    pad = "  " * depth
    items = values.values() if isinstance(values, Mapping) else values
    lines: list[str] = []
    for value in items:
        if isinstance(value, Mapping | list):
            lines.append(f"{pad}<entry>")
            lines.extend(_entries(value, depth + 1))
            lines.append(f"{pad}</entry>")
        elif value is None:
            lines.append(f"{pad}<entry/>")
        elif isinstance(value, bool):
            lines.append(f"{pad}<entry>{'true' if value else 'false'}</entry>")
        elif isinstance(value, int | float):
            lines.append(f"{pad}<entry>{value}</entry>")
        else:
            lines.append(f"{pad}<entry>{_cdata(str(value))}</entry>")
    return lines


def to_xml(body: Mapping[str, Any]) -> bytes:
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", "<result>", *_entries(body, 1), "</result>"]
    return ("\n".join(lines) + "\n").encode()


def render(
    body: Mapping[str, Any],
    *,
    status: int = 200,
    fmt: Format = "json",
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A response holding ``body`` in the chosen format."""
    if fmt == "xml":
        return Response(to_xml(body), status, headers, media_type="application/xml")
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


# The envelope every answer of the customer and admin APIs shares, for the OpenAPI page.
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["success", "code", "message"],
    "properties": {
        "success": {"type": "boolean"},
        "code": {"type": "integer"},
        "message": {"type": "string"},
    },
}


def envelope(
    code: Code,
    *,
    success: bool,
    language: Language = "en",
    detail: str | None = None,
    reason: Reason | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The body of an answer: success, code, message, then any extra fields."""
    return {
        "success": success,
        "code": int(code),
        "message": message(code, language=language, detail=detail, reason=reason),
        **extra,
    }
