"""``/v1/vn/callforward``: the SMS Partner endpoint, its read, and the fallbacks'
endpoint ``/conditional`` (both renvoi extensions).

A route parses, calls the domain and the store, and shapes the answer; the checks and
their order are ``domain.callforward``'s and ``domain.conditions``'s, the transactions
``store.lockfree``'s, ``store.forwarding``'s and ``store.fallbacks``'s. These are what
customers call most: served without FastAPI's per-request machinery (``direct.py``),
documented here all the same.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from renvoi import metrics
from renvoi.api.bodies import MAX_BODY, parse_fields, read_body
from renvoi.api.deps import (
    Services,
    admit,
    authenticate,
    check_address,
    customer_and_record,
    customer_and_state,
    presented_key,
    services_of,
)
from renvoi.api.direct import DirectRoute, query_parameter
from renvoi.api.envelope import envelope, render, request_format, wanted_format
from renvoi.api.openapi import responses
from renvoi.api.owned import owned, require
from renvoi.domain.callforward import e164_of, parse_command, require_api_key, wants_dry_run
from renvoi.domain.codes import Code
from renvoi.domain.conditions import FallbackCommand, parse_fallback
from renvoi.domain.modes import Condition, Mode, Setting
from renvoi.domain.numbers import check_country, normalize_number
from renvoi.errors import ContractError
from renvoi.store import fallbacks, lockfree
from renvoi.store.forwarding import Applied
from renvoi.store.records import Principal, as_json

hot = APIRouter(prefix="/v1/vn", tags=["call forwarding"], route_class=DirectRoute)

FIELDS_SCHEMA: dict[str, Any] = {
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


@hot.post(
    "/callforward",
    summary="Set what happens to calls on a virtual number",
    description='The SMS Partner endpoint "Gérer le transfert d\'appel": type 0 disables '
    "forwarding, 1 forwards every call to `param`, 2 sends calls to voicemail notified "
    f"to `param`. JSON or form body, at most {MAX_BODY} bytes. Checks run in the "
    "contract's order; the first that fails answers.",
    responses=responses("1: Callforward enabled; 2: Callforward disabled; 3: Voicemail enabled"),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": FIELDS_SCHEMA},
                "application/x-www-form-urlencoded": {"schema": FIELDS_SCHEMA},
            },
        }
    },
)
async def set_callforward(request: Request) -> Response:
    """Set what happens to calls on a virtual number."""
    services, fields, dry_run, api_key = await _change_request(request)
    region = services.settings.default_region
    try:
        command = parse_command(fields, region=region, refused=services.refused)
    except ContractError:
        await authenticate(services, request, api_key)  # checks 3 to 8 come after 2
        raise
    e164 = normalize_number(command.number, region=region)
    principal, read = await customer_and_state(services, api_key, e164, command.wanted)
    principal = admit(services, request, principal)
    _check_country(command.wanted, principal)
    if e164 is None:
        raise ContractError(Code.NUMBER_NOT_FOUND)
    applied = await lockfree.apply_forwarding_async(
        services.writer,
        services.db,
        e164,
        command.wanted,
        principal=principal,
        dry_run=dry_run,
        read=read,
    )
    return await _changed(services, request, applied, command.wanted)


async def _change_request(request: Request) -> tuple[Services, dict[str, Any], bool, str]:
    """What both change endpoints read first, in the contract's order: the address's
    limit, the body, its format and ``dryRun``, then check 1 (the key, for check 2)."""
    services = services_of(request)
    check_address(services, request)
    fields = parse_fields(await read_body(request), request.headers.get("content-type"))
    request.state.format = wanted_format(fields.get("_format"))
    dry_run = request.state.dry_run = wants_dry_run(fields)
    return services, fields, dry_run, require_api_key(fields)


async def _changed(
    services: Services,
    request: Request,
    applied: Applied,
    wanted: Setting,
    condition: Condition | None = None,
) -> Response:
    """A change's success: the code, with ``dryRun`` when nothing was written."""
    if applied.dry_run:
        body = envelope(applied.code, success=True, dryRun=True)
        return render(body, fmt=request_format(request))
    await settled(services, applied, wanted, condition)
    return render(envelope(applied.code, success=True), fmt=request_format(request))


def _check_country(wanted: Setting, principal: Principal) -> None:
    """Check 12's country rule: a forward to a country the account may not call is 12."""
    if wanted.mode is Mode.FORWARD and wanted.param is not None:
        check_country(wanted.param, principal.countries)


async def settled(
    services: Services, applied: Applied, wanted: Setting, condition: Condition | None
) -> None:
    """After a change, before its answer: this node never answers from the state it
    just replaced (other nodes: statecache), every Kamailio has the change for the next
    call (``renvoi.proxies``), and the change is counted."""
    services.cache.invalidate(applied.number)
    await services.proxies.push(applied.number)
    if services.settings.metrics:
        named = condition.value if condition is not None else metrics.NO_DIVERSION
        metrics.forwarding_changes.labels(str(int(wanted.mode)), named).inc()


async def change_forwarding(
    services: Services, principal: Principal, fields: dict[str, Any]
) -> Applied:
    """The seed endpoint's change for a caller already admitted (the console's): checks
    3 to 16 in the contract's order, then the same transaction.

    Raises:
        ContractError: the check that failed (nothing written).
    """
    region = services.settings.default_region
    command = parse_command(fields, region=region, refused=services.refused)
    _check_country(command.wanted, principal)
    e164 = e164_of(command.number, region=region)
    applied = await lockfree.apply_forwarding_async(
        services.writer, services.db, e164, command.wanted, principal=principal
    )
    await settled(services, applied, command.wanted, None)
    return applied


async def change_fallback(
    services: Services, principal: Principal, fields: dict[str, Any]
) -> Applied:
    """The conditional endpoint's change for a caller already admitted (the console's).

    Raises:
        ContractError: the check that failed (nothing written).
    """
    applied, command = await _apply_fallback(services, principal, fields, dry_run=False)
    await settled(services, applied, command.wanted, command.condition)
    return applied


async def _apply_fallback(
    services: Services, principal: Principal, fields: dict[str, Any], *, dry_run: bool
) -> tuple[Applied, FallbackCommand]:
    """Checks 3 to 16 of the conditional endpoint, then its transaction."""
    region = services.settings.default_region
    command = parse_fallback(fields, region=region, refused=services.refused)
    _check_country(command.wanted, principal)
    e164 = e164_of(command.number, region=region)
    applied = await fallbacks.apply_fallback_async(
        services.writer, services.db, e164, command, principal=principal, dry_run=dry_run
    )
    return applied, command


CONDITIONAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **FIELDS_SCHEMA["properties"],
        "condition": {
            "type": "string",
            "enum": [condition.value for condition in Condition],
            "description": "When the fallback is taken: the primary destination answers "
            "busy (486, 600), does not answer within the ring time, or cannot be reached "
            "(no answer in 8 s; 408, 480, 502, 503, 504).",
        },
        "type": {
            **FIELDS_SCHEMA["properties"]["type"],
            "description": "0 removes this condition's fallback, 1 forwards to `param`, 2 "
            "sends the call to voicemail notified to `param`.",
        },
        "ringSeconds": {
            "description": "With `noAnswer` only: how long the primary destination rings "
            "first, 5 to 120 s (20 until set). Absent keeps the current value.",
            "oneOf": [
                {"type": "integer", "minimum": 5, "maximum": 120},
                {"type": "string", "pattern": "^[0-9]{1,3}$"},
            ],
        },
    },
    "required": ["apiKey", "number", "condition", "type"],
}


@hot.post(
    "/callforward/conditional",
    summary="Set a fallback on busy, no answer or unavailable (renvoi extension)",
    description="What a number does when its primary destination does not take a call "
    "(contract/conditions.md). Same body rules, limits and successes as the seed "
    "endpoint; checks run in the contract's order, the first that fails answers.",
    responses=responses("1: Callforward enabled; 2: Callforward disabled; 3: Voicemail enabled"),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": CONDITIONAL_SCHEMA},
                "application/x-www-form-urlencoded": {"schema": CONDITIONAL_SCHEMA},
            },
        }
    },
)
async def set_conditional(request: Request) -> Response:
    """Set, change or remove one condition's fallback on a virtual number."""
    services, fields, dry_run, api_key = await _change_request(request)
    principal = await authenticate(services, request, api_key)  # check 2 answers first
    applied, command = await _apply_fallback(services, principal, fields, dry_run=dry_run)
    return await _changed(services, request, applied, command.wanted, command.condition)


@hot.get(
    "/callforward",
    summary="Read a number's forwarding (renvoi extension)",
    responses=responses(
        "200: OK, with number, type, param, status, updatedAt and conditions (the "
        "fallbacks by condition)"
    ),
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
        number = require(query.get("number"))
    except ContractError:
        await authenticate(services, request, api_key)  # check 2 answers first
        raise
    principal, record = await customer_and_record(services, api_key, number)
    record = owned(record, admit(services, request, principal))
    body = envelope(
        Code.OK,
        success=True,
        number=record.number,
        type=record.type,
        param=record.param,
        status=record.status,
        updatedAt=as_json(record.updated_at),
        conditions=record.conditions,
    )
    return render(body, fmt=request_format(request))
