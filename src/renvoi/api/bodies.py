"""Reading a request body into fields, as liberally as the platform and no further.

callforward.md, "Request": a body that parses as a JSON object is JSON whatever its
declared type; otherwise a JSON type means a bad body (4/400), a form type or no type
means a form, and anything else is refused (4/415). Bodies over 65,536 bytes are refused
(4/413) from their ``Content-Length`` when they declare one, else as soon as the
stream passes the limit: never read whole.
"""

from __future__ import annotations

import codecs
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from renvoi.domain.codes import Code
from renvoi.errors import ContractError

MAX_BODY = 65_536
FORM = "application/x-www-form-urlencoded"


def _bad(detail: str) -> ContractError:
    return ContractError(Code.BAD_REQUEST, detail=detail)


async def read_body(
    request: Request, *, limit: int = MAX_BODY, too_large: str = "too_large"
) -> bytes:
    """The body, at most ``limit`` bytes, refused as soon as it is known to be larger.

    Raises:
        ContractError: code 4 (``too_large``, or the detail given).
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _bad(too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _bad(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(content_type: str | None) -> tuple[str | None, str]:
    """The media type (lower case) and charset of a ``Content-Type``."""
    if not content_type or not content_type.strip():
        return None, "utf-8"
    media, *params = content_type.split(";")
    charset = "utf-8"
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _is_json(media: str | None) -> bool:
    return media is not None and (media == "application/json" or media.endswith("+json"))


def is_json(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` header names JSON."""
    return _is_json(_media_type(content_type)[0])


def _decode(body: bytes, charset: str) -> str | None:
    try:
        return body.decode(codecs.lookup(charset).name)
    except (LookupError, UnicodeDecodeError):
        return None


def parse_fields(body: bytes, content_type: str | None) -> dict[str, object]:
    """The request's fields, from a JSON object or a form.

    Raises:
        ContractError: code 4 (``invalid_json``, ``not_object``, ``invalid_form``,
            ``unsupported_type``).
    """
    media, charset = _media_type(content_type)
    text = _decode(body, charset if _is_json(media) or media == FORM else "utf-8")
    parsed: object = None
    is_json = False
    if text is not None and text.strip():
        try:
            parsed, is_json = orjson.loads(text), True  # RFC 8259 strict: no NaN, no garbage
        except orjson.JSONDecodeError:
            pass
    if isinstance(parsed, dict):
        return parsed
    if _is_json(media):
        raise _bad("not_object" if is_json else "invalid_json")
    if media not in (None, FORM):
        raise _bad("unsupported_type")
    if text is None:
        raise _bad("invalid_form")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad("invalid_form") from exc
    return dict(pairs)  # a repeated field: the last one wins, as in PHP
