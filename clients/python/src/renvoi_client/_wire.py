"""Each operation as a request to make and a reader of its answer, without I/O:
``Client`` and ``AsyncClient`` send what this builds and return what it reads, so the
two cannot differ but by ``await``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from renvoi_client.errors import RateLimitedError, RenvoiError, error_for
from renvoi_client.models import (
    SETTING_FIELDS,
    Call,
    Change,
    Result,
    State,
    VoicemailSettings,
    call_of,
    change_of,
    message_fields,
    settings_of,
    state_of,
)

T = TypeVar("T")
PATH = "/v1/vn/callforward"
SETTINGS_PATH = "/v1/vn/voicemail/settings"
DISABLE, FORWARD, VOICEMAIL = 0, 1, 2
ALREADY = frozenset({16, 17, 18})
USER_AGENT = "renvoi-client/0.1"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, as any HTTP library gives it."""

    status: int
    content: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Operation(Generic[T]):
    """One HTTP request, and how to read its answer."""

    method: str
    path: str
    read: Callable[[Answer], T]
    params: dict[str, str | int] | None = None
    json: dict[str, Any] | None = None


def change(
    api_key: str, number: str, type_: int, param: str | None, *, exist_ok: bool, dry_run: bool
) -> Operation[Result]:
    """A change of the number's primary setting (the SMS Partner endpoint)."""
    body = _change_body(api_key, number, type_, param, dry_run)
    return Operation("POST", PATH, lambda answer: result_of(answer, exist_ok=exist_ok), json=body)


def fallback(
    api_key: str,
    number: str,
    condition: str,
    *,
    forward: str | None,
    voicemail: str | None,
    ring_seconds: int | None,
    exist_ok: bool,
    dry_run: bool,
) -> Operation[Result]:
    """A change of one condition's fallback; with neither ``forward`` nor ``voicemail``,
    its removal."""
    if forward is not None and voicemail is not None:
        raise ValueError("a fallback forwards or goes to voicemail, not both")
    if forward is not None:
        type_, param = FORWARD, forward
    elif voicemail is not None:
        type_, param = VOICEMAIL, voicemail
    else:
        type_, param = DISABLE, None
    body = _change_body(api_key, number, type_, param, dry_run)
    body["condition"] = condition
    if ring_seconds is not None:
        body["ringSeconds"] = ring_seconds
    return Operation(
        "POST",
        PATH + "/conditional",
        lambda answer: result_of(answer, exist_ok=exist_ok),
        json=body,
    )


def _change_body(
    api_key: str, number: str, type_: int, param: str | None, dry_run: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {"apiKey": api_key, "number": number, "type": type_}
    if param is not None:
        body["param"] = param
    if dry_run:
        body["dryRun"] = True
    return body


def state(number: str) -> Operation[State]:
    return Operation("GET", PATH, lambda answer: state_of(body_of(answer)), {"number": number})


def history(number: str, limit: int) -> Operation[list[Change]]:
    def read(answer: Answer) -> list[Change]:
        return [change_of(item) for item in body_of(answer)["changes"]]

    return Operation("GET", PATH + "/history", read, {"number": number, "limit": limit})


def calls(number: str, limit: int) -> Operation[list[Call]]:
    def read(answer: Answer) -> list[Call]:
        return [call_of(item) for item in body_of(answer)["calls"]]

    return Operation("GET", "/v1/vn/calls", read, {"number": number, "limit": limit})


def messages(number: str, limit: int) -> Operation[list[dict[str, Any]]]:
    """The messages' fields; each client makes them ``Message`` or ``AsyncMessage``."""

    def read(answer: Answer) -> list[dict[str, Any]]:
        body = body_of(answer)
        return [message_fields(body["number"], item) for item in body["messages"]]

    return Operation("GET", "/v1/vn/voicemail", read, {"number": number, "limit": limit})


def audio(number: str, message_id: str) -> Operation[bytes]:
    def read(answer: Answer) -> bytes:
        if answer.status != 200:
            body_of(answer)  # raises the refusal
        return answer.content

    path = f"/v1/vn/voicemail/{quote(message_id, safe='')}/audio"
    return Operation("GET", path, read, {"number": number})


def voicemail_settings(number: str) -> Operation[VoicemailSettings]:
    return Operation(
        "GET", SETTINGS_PATH, lambda answer: settings_of(body_of(answer)), {"number": number}
    )


def set_voicemail_settings(number: str, changes: Mapping[str, Any]) -> Operation[VoicemailSettings]:
    """The settings named in ``changes`` (``max_seconds=60``; None unsets one)."""
    unknown = set(changes) - set(SETTING_FIELDS)
    if unknown:
        raise TypeError(f"unknown voicemail settings: {', '.join(sorted(unknown))}")
    body = {SETTING_FIELDS[name]: value for name, value in changes.items()}
    return Operation(
        "PUT",
        SETTINGS_PATH,
        lambda answer: settings_of(body_of(answer)),
        {"number": number},
        json=body,
    )


def headers(api_key: str) -> dict[str, str]:
    """Every request's headers: the reads carry the key in ``X-Api-Key``, never in a
    URL that a proxy may log."""
    return {"X-Api-Key": api_key, "User-Agent": USER_AGENT, "Accept": "application/json"}


def body_of(answer: Answer) -> dict[str, Any]:
    """The envelope of a successful answer.

    Raises:
        RenvoiError: the subclass for the answer's code.
    """
    try:
        body = json.loads(answer.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):  # not renvoi's envelope: a proxy's page, say
        text = answer.content[:200].decode("utf-8", "replace").strip()
        raise error_for(None, answer.status, text or f"HTTP {answer.status}")
    if body.get("success") is True and answer.status < 400:
        return body
    code = body.get("code")
    retry_after = answer.headers.get("retry-after", "")
    raise error_for(
        code if isinstance(code, int) else None,
        answer.status,
        str(body.get("message", "")),
        float(retry_after) if retry_after.isdigit() else None,
    )


def result_of(answer: Answer, *, exist_ok: bool) -> Result:
    """A change's answer; with ``exist_ok``, 16, 17 and 18 are results too."""
    try:
        body = body_of(answer)
    except RenvoiError as error:
        if exist_ok and error.code in ALREADY:
            return Result(error.code or 0, error.message, dry_run=_dry_run(answer))
        raise
    return Result(int(body["code"]), str(body["message"]), dry_run=bool(body.get("dryRun")))


def _dry_run(answer: Answer) -> bool:
    body = json.loads(answer.content)
    return isinstance(body, dict) and bool(body.get("dryRun"))


def retry_in(error: RenvoiError, attempt: int, backoff: float) -> float | None:
    """Seconds to wait before trying again after ``attempt`` tries (None: do not).
    Only 19 (after its ``Retry-After``) and HTTP 503 are worth another try."""
    if isinstance(error, RateLimitedError):
        return error.retry_after if error.retry_after is not None else backoff * 2.0**attempt
    if error.http_status == 503:
        return backoff * 2.0**attempt
    return None
