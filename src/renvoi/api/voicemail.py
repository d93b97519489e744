"""``/v1/vn/voicemail``: a number's messages, their audio, and its greeting (renvoi
extensions).

A greeting upload is converted outside the worker (``conversions.py``), once the number
is known to be the caller's to change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from renvoi.api.bodies import is_json, parse_fields, read_body
from renvoi.api.conversions import ConversionError, refusal
from renvoi.api.deps import CustomerDep, Services, ServicesDep
from renvoi.api.envelope import envelope, render, request_format
from renvoi.api.openapi import responses
from renvoi.api.owned import (
    LimitQuery,
    NumberQuery,
    changeable,
    customer_number,
    listing,
    owned_record,
    read_owned,
)
from renvoi.audio import wav
from renvoi.audio.mp3 import mp3_of_pcm
from renvoi.audio.wav import pcm_of_wav
from renvoi.domain.codes import Code
from renvoi.domain.mailbox import FIELDS, MailboxSettings, parse_update
from renvoi.domain.voicemail import transcript_json
from renvoi.errors import ContractError
from renvoi.store import mailboxes, voicemail
from renvoi.store.records import as_json

router = APIRouter(prefix="/v1/vn", tags=["voicemail"])


@router.get(
    "/voicemail",
    summary="A number's voicemail messages, newest first (renvoi extension)",
    responses=responses("200: OK, with number and messages"),
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
    return await listing(
        request,
        services,
        number,
        field="messages",
        read=lambda e164: voicemail.list_messages(
            services.db, e164, account_id=principal.account_id, limit=limit
        ),
        shape=lambda message: {
            "id": message.id,
            "caller": message.caller,
            "receivedAt": as_json(message.received_at),
            "durationMs": message.duration_ms,
            "size": message.size,
            "transcript": transcript_json(message.transcript),
        },
    )


FormatQuery = Annotated[
    Literal["wav", "mp3"], Query(description="wav (16-bit PCM, 8 kHz, mono) or mp3.")
]


@router.get(
    "/voicemail/{message_id}/audio",
    summary="A voicemail message's audio, WAV or MP3 (renvoi extension)",
    response_class=FileResponse,
    responses={200: {"content": {"audio/wav": {}, "audio/mpeg": {}}}, **responses("")},
)
async def get_voicemail_audio(
    message_id: str,
    services: ServicesDep,
    principal: CustomerDep,
    number: NumberQuery = None,
    format: FormatQuery = "wav",
) -> Response:
    """The recording as 16-bit PCM, 8 kHz, mono WAV, or with ``format=mp3`` as MP3; 13
    for an unknown message."""
    e164 = customer_number(services, number)
    path = await recording_of(services, e164, message_id, account_id=principal.account_id)
    if format == "mp3":
        # LAME's C code, a small fraction of a second a minute (docs/voicemail.md).
        kbps = services.settings.voicemail_mp3_kbps
        audio = await run_in_threadpool(
            lambda: mp3_of_pcm(pcm_of_wav(path.read_bytes()), kbps=kbps)
        )
        # message_id is a stored message's (hex): safe in the header.
        disposition = f'attachment; filename="{message_id}.mp3"'
        return Response(
            audio, media_type="audio/mpeg", headers={"Content-Disposition": disposition}
        )
    return FileResponse(path, media_type="audio/wav", filename=f"{message_id}.wav")


async def recording_of(services: Services, e164: str, message_id: str, *, account_id: str) -> Path:
    """Where one of the account's messages is recorded.

    Raises:
        ContractError: 13, an unknown message (or number, or another account's), or
            one whose recording is gone: as an unknown number.
    """
    relative = await read_owned(
        lambda: voicemail.message_audio(services.db, e164, message_id, account_id=account_id)
    )
    path = services.settings.voicemail_dir / (relative or "")
    if relative is None or not path.is_file():
        raise ContractError(Code.NUMBER_NOT_FOUND)
    return path


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
    responses=responses("200: OK"),
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
    record = changeable(await owned_record(services, principal, number))
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
        raise refusal(exc) from exc
    await read_owned(
        lambda: mailboxes.set_greeting(
            services.db, record.number, pcm, now=datetime.now(UTC), account_id=principal.account_id
        )
    )
    return render(envelope(Code.OK, success=True), fmt=request_format(request))


@router.get(
    "/voicemail/greeting",
    summary="A number's voicemail greeting, WAV (renvoi extension)",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}}, **responses("")},
)
async def get_greeting(
    services: ServicesDep, principal: CustomerDep, number: NumberQuery = None
) -> Response:
    """What callers hear: the number's own greeting, or the default one (in the number's
    language, or French then English)."""
    record = await owned_record(services, principal, number)
    audio = await greeting_heard(services, record.number)
    return Response(audio, media_type="audio/wav")


async def greeting_heard(services: Services, e164: str) -> bytes:
    """What a number's callers hear, as a WAV: its own greeting, or the default one in
    its language (or French then English).

    Raises:
        ContractError: 13, the number left the platform meanwhile.
    """
    own, settings, account_format = await read_owned(lambda: mailboxes.setup_of(services.db, e164))
    limits = services.settings.limits_of(settings, account_format)
    return wav.wav_of_pcm(own if own is not None else wav.default_greeting(limits.language))


@router.delete(
    "/voicemail/greeting",
    summary="Go back to the default voicemail greeting (renvoi extension)",
    responses=responses("200: OK"),
)
async def delete_greeting(
    request: Request, services: ServicesDep, principal: CustomerDep, number: NumberQuery = None
) -> Response:
    """Remove the number's own greeting."""
    record = changeable(await owned_record(services, principal, number))
    await read_owned(
        lambda: mailboxes.set_greeting(
            services.db, record.number, None, now=datetime.now(UTC), account_id=principal.account_id
        )
    )
    return render(envelope(Code.OK, success=True), fmt=request_format(request))


# After /voicemail/greeting: a message id never shadows it.
@router.delete(
    "/voicemail/{message_id}",
    summary="Delete a voicemail message (renvoi extension)",
    responses=responses("200: OK"),
)
async def delete_voicemail(
    request: Request,
    message_id: str,
    services: ServicesDep,
    principal: CustomerDep,
    number: NumberQuery = None,
) -> Response:
    """Delete a message and its audio (and its email, if not sent yet)."""
    e164 = customer_number(services, number)
    relative = await read_owned(
        lambda: voicemail.delete_message(
            services.db, e164, message_id, account_id=principal.account_id
        )
    )
    if relative is None:
        raise ContractError(Code.NUMBER_NOT_FOUND)  # an unknown message: as an unknown number
    (services.settings.voicemail_dir / relative).unlink(missing_ok=True)
    return render(envelope(Code.OK, success=True), fmt=request_format(request))


SETTINGS_SCHEMA: dict[str, object] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "maxSeconds": {"type": ["integer", "null"], "minimum": 5, "maximum": 600},
        "minSeconds": {"type": ["number", "null"], "minimum": 0, "maximum": 30},
        "silenceSeconds": {"type": ["integer", "null"], "minimum": 2, "maximum": 60},
        "language": {"enum": ["fr", "en", None]},
        "audioFormat": {"enum": ["wav", "mp3", None]},
    },
}


@router.get(
    "/voicemail/settings",
    summary="A number's voicemail settings (renvoi extension)",
    responses=responses("200: OK, with number, settings and effective"),
)
async def get_settings(
    request: Request, services: ServicesDep, principal: CustomerDep, number: NumberQuery = None
) -> Response:
    """What the number sets itself (``settings``, null where unset) and what applies to
    its calls and messages (``effective``: its own, else its account's, else the
    installation's)."""
    record = await owned_record(services, principal, number)
    own, account_format = await read_owned(
        lambda: mailboxes.mailbox_of(services.db, record.number, account_id=principal.account_id)
    )
    return _settings_answer(request, services, record.number, own, account_format)


@router.put(
    "/voicemail/settings",
    summary="Change a number's voicemail settings (renvoi extension)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": SETTINGS_SCHEMA},
                "application/x-www-form-urlencoded": {"schema": SETTINGS_SCHEMA},
            },
        }
    },
    responses=responses("200: OK, with number, settings and effective"),
)
async def put_settings(
    request: Request, services: ServicesDep, principal: CustomerDep, number: NumberQuery = None
) -> Response:
    """Set the fields sent (``maxSeconds`` 5-600, ``minSeconds`` 0-30 in tenths,
    ``silenceSeconds`` 2-60, ``language`` fr or en, ``audioFormat`` wav or mp3); ``null``
    or "" unsets one (back to the account's or the installation's); absent ones are kept.
    A value refused is code 23, naming the field and its rule."""
    record = changeable(await owned_record(services, principal, number))
    data = await read_body(request)
    fields = parse_fields(data, request.headers.get("content-type"))
    unknown = sorted(set(fields) - set(FIELDS) - {"apiKey", "number"})
    if unknown:
        raise ContractError(Code.BAD_REQUEST, detail="unknown_setting")
    installation = services.settings.voicemail_limits
    own, account_format = await read_owned(
        lambda: mailboxes.mailbox_of(services.db, record.number, account_id=principal.account_id)
    )
    updated = parse_update(fields, own, installation=installation)
    await read_owned(
        lambda: mailboxes.set_mailbox(
            services.db, record.number, updated, account_id=principal.account_id
        )
    )
    return _settings_answer(request, services, record.number, updated, account_format)


def _settings_answer(
    request: Request,
    services: ServicesDep,
    e164: str,
    own: MailboxSettings,
    account_format: str | None,
) -> Response:
    limits = services.settings.limits_of(own, account_format)
    body = envelope(Code.OK, success=True, number=e164)
    body["settings"] = own.as_json()
    body["effective"] = limits.as_json()
    return render(body, fmt=request_format(request))
