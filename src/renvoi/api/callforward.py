"""``/v1/vn/callforward``: the SMS Partner endpoint, and renvoi's read extensions.

A route parses, calls the domain and the store, and shapes the answer; the checks and
their order are ``domain.callforward``'s, the transaction is ``store.numbers``'.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from renvoi.api.bodies import MAX_BODY, is_json, parse_fields, read_body
from renvoi.api.conversions import ConversionError
from renvoi.api.deps import (
    CustomerDep,
    Services,
    ServicesDep,
    admit,
    authenticate,
    check_address,
    customer_and_record,
    customer_and_state,
    platform_number,
    presented_key,
    services_of,
)
from renvoi.api.direct import DirectRoute, query_parameter
from renvoi.api.envelope import (
    ENVELOPE_SCHEMA,
    envelope,
    render,
    request_format,
    wanted_format,
)
from renvoi.api.errors import BAD_REQUEST_STATUS, STATUS
from renvoi.audio import wav
from renvoi.domain.callforward import Mode, parse_command, require_api_key, wants_dry_run
from renvoi.domain.codes import MESSAGES, Code
from renvoi.domain.numbers import check_country, normalize_number
from renvoi.errors import ContractError, NotFoundError
from renvoi.store import calls, forwarding, numbers, voicemail
from renvoi.store.records import NumberRecord, Principal, as_json

router = APIRouter(prefix="/v1/vn", tags=["call forwarding"])
# The SMS Partner endpoint and its read: documented here, served without FastAPI's
# per-request machinery (``direct.py``), since they are what customers call most.
hot = APIRouter(prefix="/v1/vn", tags=["call forwarding"], route_class=DirectRoute)

T = TypeVar("T")

_FIELDS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiKey": {"type": "string", "description": "The account's API key."},
        "number": {
            "type": "string",
            "description": "The virtual number: E.164, international digits or national "
            "format; spaces, dots, dashes and parentheses are ignored.",
            "example": "+33612345678",
        },
        "type": {
            "description": "0 disable, 1 forward calls, 2 voicemail: an integer, or a "
            "string holding one digit.",
            "oneOf": [
                {"type": "integer", "enum": [0, 1, 2]},
                {"type": "string", "enum": ["0", "1", "2"]},
            ],
        },
        "param": {
            "type": "string",
            "description": "Type 0: empty. Type 1: the destination number. Type 2: the "
            "email address notified of each new voicemail message.",
        },
        "_format": {"type": "string", "enum": ["json", "xml"], "default": "json"},
        "dryRun": {
            "description": "renvoi extension: true runs every check and answers the code "
            "the change would get, with `dryRun: true`, changing nothing. JSON boolean, or "
            "true/false/1/0 in a form.",
            "oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false", "1", "0"]}],
        },
    },
    "required": ["apiKey", "number", "type"],
}


def _codes_by_status() -> dict[int, list[str]]:
    """The contract's codes grouped by HTTP status, for the OpenAPI page."""
    by_status: dict[int, list[str]] = {}
    for code, status in STATUS.items():
        by_status.setdefault(status, []).append(f"{int(code)}: {MESSAGES[code.name].en}")
    for detail, status in BAD_REQUEST_STATUS.items():
        by_status.setdefault(status, []).append(f"4: {MESSAGES[detail].en}")
    by_status.setdefault(500, []).append("20: Internal server error")
    return by_status


def _responses(success: str) -> dict[int | str, dict[str, Any]]:
    xml = {"application/xml": {"schema": {"type": "string"}}}
    responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": success,
            "content": {"application/json": {"schema": ENVELOPE_SCHEMA}, **xml},
        }
    }
    for status, codes in sorted(_codes_by_status().items()):
        responses[status] = {
            "description": "; ".join(codes),
            "content": {"application/json": {"schema": ENVELOPE_SCHEMA}, **xml},
        }
    return responses


@hot.post(
    "/callforward",
    summary="Set what happens to calls on a virtual number",
    description='The SMS Partner endpoint "Gérer le transfert d\'appel": type 0 disables '
    "forwarding, 1 forwards every call to `param`, 2 sends calls to voicemail notified "
    f"to `param`. JSON or form body, at most {MAX_BODY} bytes. Checks run in the "
    "contract's order; the first that fails answers.",
    responses=_responses("1: Callforward enabled; 2: Callforward disabled; 3: Voicemail enabled"),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _FIELDS_SCHEMA},
                "application/x-www-form-urlencoded": {"schema": _FIELDS_SCHEMA},
            },
        }
    },
)
async def set_callforward(request: Request) -> Response:
    """Set what happens to calls on a virtual number."""
    services = services_of(request)
    check_address(services, request)
    fields = parse_fields(await read_body(request), request.headers.get("content-type"))
    request.state.format = wanted_format(fields.get("_format"))
    dry_run = request.state.dry_run = wants_dry_run(fields)
    api_key = require_api_key(fields)
    region = services.settings.default_region
    try:
        command = parse_command(fields, region=region, refused=services.refused)
    except ContractError:
        await authenticate(services, request, api_key)  # checks 3 to 8 come after 2
        raise
    e164 = normalize_number(command.number, region=region)
    principal, read = await customer_and_state(services, api_key, e164, command.wanted)
    principal = admit(services, request, principal)
    if command.wanted.mode is Mode.FORWARD and command.wanted.param is not None:
        check_country(command.wanted.param, principal.countries)
    if e164 is None:
        raise ContractError(Code.NUMBER_NOT_FOUND)
    applied = await forwarding.apply_forwarding_async(
        services.writer,
        services.db,
        e164,
        command.wanted,
        principal=principal,
        dry_run=dry_run,
        read=read,
    )
    if applied.dry_run:
        body = envelope(applied.code, success=True, dryRun=True)
        return render(body, fmt=request_format(request))
    # This node never answers from the state it just replaced (other nodes: statecache).
    services.cache.invalidate(applied.number)
    return render(envelope(applied.code, success=True), fmt=request_format(request))


NumberQuery = Annotated[
    str | None, Query(description="The virtual number, in any accepted spelling.")
]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="How many, newest first.")]


def _require(number: str | None) -> str:
    if number is None or not number.strip():
        raise ContractError(Code.NUMBER_REQUIRED)
    return number


def _customer_number(services: Services, number: str | None) -> str:
    """The number a read extension names, in E.164.

    Raises:
        ContractError: 5 when it is absent, 13 when it does not parse.
    """
    e164 = normalize_number(_require(number), region=services.settings.default_region)
    if e164 is None:
        raise ContractError(Code.NUMBER_NOT_FOUND)
    return e164


async def _owned_record(
    services: Services, principal: Principal, number: str | None
) -> NumberRecord:
    """The caller's number, as a read extension names it.

    Raises:
        ContractError: 5 when it is absent; 13 when it does not parse, is nowhere, or is
            another account's (``_owned``).
    """
    _, record = await platform_number(
        services.records, _require(number), region=services.settings.default_region
    )
    return _owned(record, principal)


def _owned(record: NumberRecord | None, principal: Principal) -> NumberRecord:
    """A number the caller may read: 13 when it is nowhere or another account's (the
    same answer for both)."""
    if record is None or record.account_id != principal.account_id:
        raise ContractError(Code.NUMBER_NOT_FOUND)
    return record


async def _read_owned(read: Callable[[], T]) -> T:
    """Run a store read of the caller's number in the threadpool: a number that is
    nowhere, or another account's, is 13 (the same answer for both)."""
    try:
        return await run_in_threadpool(read)
    except NotFoundError as exc:
        raise ContractError(Code.NUMBER_NOT_FOUND) from exc


@hot.get(
    "/callforward",
    summary="Read a number's forwarding (renvoi extension)",
    responses=_responses("200: OK, with number, type, param, status and updatedAt"),
    openapi_extra={
        "parameters": [
            query_parameter("number", "The virtual number, in any accepted spelling."),
            query_parameter("apiKey", "The account's API key."),
            {
                "name": "x-api-key",
                "in": "header",
                "required": False,
                "description": "The API key, instead of the query string.",
                "schema": {"type": "string"},
            },
            query_parameter("_format", "json (default) or xml", enum=["json", "xml"]),
        ]
    },
)
async def get_callforward(request: Request) -> Response:
    """Read what happens to calls on a virtual number now."""
    services = services_of(request)
    query = request.query_params
    api_key = presented_key(
        services,
        request,
        api_key=request.headers.get("x-api-key") or query.get("apiKey"),
        format_=query.get("_format"),
    )
    try:
        number = _require(query.get("number"))
    except ContractError:
        await authenticate(services, request, api_key)  # check 2 answers first
        raise
    principal, record = await customer_and_record(services, api_key, number)
    record = _owned(record, admit(services, request, principal))
    body = envelope(
        Code.OK,
        success=True,
        number=record.number,
        type=record.type,
        param=record.param,
        status=record.status,
        updatedAt=as_json(record.updated_at),
    )
    return render(body, fmt=request_format(request))


@router.get(
    "/calls",
    summary="A number's calls, newest first (renvoi extension)",
    responses=_responses("200: OK, with number and calls"),
)
async def get_calls(
    request: Request,
    services: ServicesDep,
    principal: CustomerDep,
    number: NumberQuery = None,
    limit: LimitQuery = 100,
) -> Response:
    """List the calls routed to a number: caller, action, destination, status, duration."""
    e164 = _customer_number(services, number)
    records = await _read_owned(
        lambda: calls.list_calls(services.db, e164, account_id=principal.account_id, limit=limit)
    )
    body = envelope(
        Code.OK,
        success=True,
        number=e164,
        calls=[
            {
                "callId": call.call_id,
                "caller": call.caller,
                "action": call.action,
                "destination": call.destination,
                "status": call.status,
                "startedAt": as_json(call.started_at),
                "answeredAt": as_json(call.answered_at),
                "endedAt": as_json(call.ended_at),
                "duration": call.duration,
            }
            for call in records
        ],
    )
    return render(body, fmt=request_format(request))


@router.get(
    "/callforward/history",
    summary="A number's forwarding changes, newest first (renvoi extension)",
    responses=_responses("200: OK, with number and changes"),
)
async def get_history(
    request: Request,
    services: ServicesDep,
    principal: CustomerDep,
    number: NumberQuery = None,
    limit: LimitQuery = 100,
) -> Response:
    """List the changes made to a number's forwarding, newest first."""
    e164 = _customer_number(services, number)
    changes = await _read_owned(
        lambda: numbers.history(
            services.db,
            e164,
            region=services.settings.default_region,
            account_id=principal.account_id,
            limit=limit,
        )
    )
    body = envelope(
        Code.OK,
        success=True,
        number=e164,
        changes=[
            {
                "type": change.type,
                "param": change.param,
                "previousType": change.previous_type,
                "previousParam": change.previous_param,
                "changedAt": as_json(change.changed_at),
                "keyId": change.key_id,
            }
            for change in changes
        ],
    )
    return render(body, fmt=request_format(request))


@router.get(
    "/voicemail",
    summary="A number's voicemail messages, newest first (renvoi extension)",
    responses=_responses("200: OK, with number and messages"),
)
async def get_voicemail(
    request: Request,
    services: ServicesDep,
    principal: CustomerDep,
    number: NumberQuery = None,
    limit: LimitQuery = 100,
) -> Response:
    """List the messages left on a number: id, caller, time, length. Download one at
    ``/v1/vn/voicemail/{id}/audio``."""
    e164 = _customer_number(services, number)
    records = await _read_owned(
        lambda: voicemail.list_messages(
            services.db, e164, account_id=principal.account_id, limit=limit
        )
    )
    body = envelope(
        Code.OK,
        success=True,
        number=e164,
        messages=[
            {
                "id": message.id,
                "caller": message.caller,
                "receivedAt": as_json(message.received_at),
                "durationMs": message.duration_ms,
                "size": message.size,
            }
            for message in records
        ],
    )
    return render(body, fmt=request_format(request))


@router.get(
    "/voicemail/{message_id}/audio",
    summary="A voicemail message's audio, WAV (renvoi extension)",
    response_class=FileResponse,
    responses={200: {"content": {"audio/wav": {}}}, **_responses("")},
)
async def get_voicemail_audio(
    message_id: str, services: ServicesDep, principal: CustomerDep, number: NumberQuery = None
) -> Response:
    """The recording as 16-bit PCM, 8 kHz, mono WAV; 13 for an unknown message."""
    e164 = _customer_number(services, number)
    relative = await _read_owned(
        lambda: voicemail.message_audio(
            services.db, e164, message_id, account_id=principal.account_id
        )
    )
    path = services.settings.voicemail_dir / (relative or "")
    if relative is None or not path.is_file():
        raise ContractError(Code.NUMBER_NOT_FOUND)  # an unknown message: as an unknown number
    return FileResponse(path, media_type="audio/wav", filename=f"{message_id}.wav")


MAX_GREETING_UPLOAD = 8 * 1024 * 1024


@router.put(
    "/voicemail/greeting",
    summary="Set a number's own voicemail greeting (renvoi extension)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses=_responses("200: OK"),
)
async def put_greeting(
    request: Request, services: ServicesDep, principal: CustomerDep, number: NumberQuery = None
) -> Response:
    """Upload a WAV file (PCM, mono or stereo, any common rate, at most 30 s): it is
    converted to 8 kHz and played to callers instead of the default greeting. Or send
    JSON ``{"text": "...", "language": "fr"}``: read by espeak-ng, where the server has it.
    """
    # The number first (5, 13, 15, 14): nobody reads, let alone converts, an upload for a
    # number that is not theirs to change.
    record = _changeable(await _owned_record(services, principal, number))
    data = await read_body(request, limit=MAX_GREETING_UPLOAD, too_large="audio_too_large")
    content_type = request.headers.get("content-type")
    speech = is_json(content_type)
    if (content_type or "").lower().startswith("multipart/"):
        raise ContractError(Code.BAD_REQUEST, detail="audio_multipart")
    try:
        if speech:
            fields = parse_fields(data, content_type)
            text, language = fields.get("text"), fields.get("language", "fr")
            if not isinstance(text, str) or language not in ("fr", "en"):
                raise ContractError(Code.BAD_REQUEST, detail="invalid_speech")
            pcm = await services.conversions.speech(text, language=language)
        else:
            pcm = await services.conversions.greeting(data)
    except ConversionError as exc:
        detail = f"audio_{exc.reason}" if f"audio_{exc.reason}" in MESSAGES else "invalid_audio"
        raise ContractError(Code.BAD_REQUEST, detail=detail) from exc
    await _read_owned(
        lambda: voicemail.set_greeting(
            services.db, record.number, pcm, now=datetime.now(UTC), account_id=principal.account_id
        )
    )
    return render(envelope(Code.OK, success=True), fmt=request_format(request))


def _changeable(record: NumberRecord) -> NumberRecord:
    """A number of the caller's whose voicemail may be changed: 15 when it is suspended,
    14 when it has no calls to answer (SMS-only), in the contract's order."""
    if record.status == "suspended":
        raise ContractError(Code.NUMBER_DISABLED)
    if not record.voice:
        raise ContractError(Code.NO_CALL_FORWARDING)
    return record


@router.get(
    "/voicemail/greeting",
    summary="A number's voicemail greeting, WAV (renvoi extension)",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}}, **_responses("")},
)
async def get_greeting(
    services: ServicesDep, principal: CustomerDep, number: NumberQuery = None
) -> Response:
    """What callers hear: the number's own greeting, or the default one."""
    record = await _owned_record(services, principal, number)
    pcm = await run_in_threadpool(voicemail.greeting_of, services.db, record.number)
    audio = wav.wav_of_pcm(pcm if pcm is not None else wav.default_greeting())
    return Response(audio, media_type="audio/wav")


@router.delete(
    "/voicemail/greeting",
    summary="Go back to the default voicemail greeting (renvoi extension)",
    responses=_responses("200: OK"),
)
async def delete_greeting(
    request: Request, services: ServicesDep, principal: CustomerDep, number: NumberQuery = None
) -> Response:
    """Remove the number's own greeting."""
    record = _changeable(await _owned_record(services, principal, number))
    await _read_owned(
        lambda: voicemail.set_greeting(
            services.db, record.number, None, now=datetime.now(UTC), account_id=principal.account_id
        )
    )
    return render(envelope(Code.OK, success=True), fmt=request_format(request))


# After /voicemail/greeting: a message id never shadows it.
@router.delete(
    "/voicemail/{message_id}",
    summary="Delete a voicemail message (renvoi extension)",
    responses=_responses("200: OK"),
)
async def delete_voicemail(
    request: Request,
    message_id: str,
    services: ServicesDep,
    principal: CustomerDep,
    number: NumberQuery = None,
) -> Response:
    """Delete a message and its audio (and its email, if not sent yet)."""
    e164 = _customer_number(services, number)
    relative = await _read_owned(
        lambda: voicemail.delete_message(
            services.db, e164, message_id, account_id=principal.account_id
        )
    )
    if relative is None:
        raise ContractError(Code.NUMBER_NOT_FOUND)  # an unknown message: as an unknown number
    (services.settings.voicemail_dir / relative).unlink(missing_ok=True)
    return render(envelope(Code.OK, success=True), fmt=request_format(request))
