"""What routes receive: the app's services, and the caller's identity.

Routes declare these with the ``Annotated`` aliases below (as the FastAPI full-stack
template's ``api/deps.py``); nothing else reaches into ``app.state``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Header, HTTPException, Query, Request
from pydantic import SecretStr

from renvoi.api.envelope import wanted_format
from renvoi.api.ratelimit import Limiter
from renvoi.api.usage import KeyUsage
from renvoi.config import Settings
from renvoi.domain.callforward import require_api_key
from renvoi.domain.codes import Code
from renvoi.domain.numbers import normalize_number, spelled_as_stored
from renvoi.domain.routing import RouteState, SipTargets
from renvoi.errors import ContractError
from renvoi.store import accounts
from renvoi.store.calllog import CallLog
from renvoi.store.database import Database
from renvoi.store.groupcommit import Writer
from renvoi.store.records import NumberRecord, Principal
from renvoi.store.statecache import Shelf, StateCache

V = TypeVar("V")


@dataclass
class Services:
    """Everything a request may use, built once per process by ``create_app``."""

    settings: Settings
    db: Database
    limiter: Limiter
    usage: KeyUsage
    refused: frozenset[int]  # settings.refused_types, computed once
    cache: StateCache
    routes: Shelf[RouteState | None]  # by E.164: what a call to the number does
    records: Shelf[NumberRecord | None]  # by E.164: what the read extension answers
    principals: Shelf[Principal | None]  # by key hash: who an API key speaks for
    writer: Writer  # the customers' changes, batched on SQLite
    sip_targets: SipTargets
    call_log: CallLog


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency
# in the thread pool, a hand-off that costs more than the check itself.
async def get_services(request: Request) -> Services:
    return services_of(request)


def services_of(request: Request) -> Services:
    """The app's services (for the endpoints outside FastAPI's dependencies)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def client_address(request: Request) -> str:
    """The client's address (uvicorn resolves X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else "unknown"


def check_address(services: Services, request: Request) -> None:
    """Refuse an address that sent too many unknown keys, before reading anything else.

    Raises:
        RateLimitedError: code 19.
    """
    services.limiter.check_address(client_address(request))


async def authenticate(
    services: Services, request: Request, fields: dict[str, object]
) -> Principal:
    """Contract checks 1 and 2, then the key's own rate limit.

    Raises:
        ContractError: code 10 (required or invalid) or 19.
    """
    address = client_address(request)
    api_key = require_api_key(fields)
    principal = await services.principals.lookup(accounts.hash_key(api_key))
    if principal is None:
        services.limiter.bad_key(address)
        raise ContractError(Code.API_KEY, detail="api_key_invalid")
    services.limiter.check_key(principal.key_id)
    services.usage.note(principal.key_id)
    return principal


async def platform_number(
    shelf: Shelf[V | None], raw: str, *, region: str
) -> tuple[str | None, V | None]:
    """A number a request names, in E.164 (None: it does not parse), and the shelf's
    answer for it (None: not on the platform).

    Spelled as stored, the number is looked up first and parsed only if the platform
    does not hold it (``domain.numbers.spelled_as_stored``).
    """
    if spelled_as_stored(raw):
        found = await shelf.lookup(raw)
        if found is not None:
            return raw, found
    e164 = normalize_number(raw, region=region)
    if e164 is None or e164 == raw:  # ``raw`` was just looked up
        return e164, None
    return e164, await shelf.lookup(e164)


async def identify(
    services: Services, request: Request, *, api_key: str | None, format_: str | None
) -> Principal:
    """The caller of a read extension (renvoi's GET endpoints): the answer's format, then
    contract checks 1 and 2 on the key from ``apiKey`` or ``X-Api-Key``."""
    request.state.format = wanted_format(format_)
    check_address(services, request)
    return await authenticate(services, request, {"apiKey": api_key})


async def customer(
    request: Request,
    services: ServicesDep,
    api_key: Annotated[
        str | None, Query(alias="apiKey", description="The account's API key.")
    ] = None,
    x_api_key: Annotated[
        str | None, Header(description="The API key, instead of the query string.")
    ] = None,
    format_: Annotated[
        str | None, Query(alias="_format", description="json (default) or xml")
    ] = None,
) -> Principal:
    """``identify`` as a FastAPI dependency."""
    return await identify(services, request, api_key=x_api_key or api_key, format_=format_)


CustomerDep = Annotated[Principal, Depends(customer)]


def bearer_matches(authorization: str | None, token: SecretStr) -> bool:
    """Whether an ``Authorization`` header presents ``token`` as a bearer token,
    compared in constant time."""
    scheme, _, presented = (authorization or "").partition(" ")
    expected = token.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.encode(), expected)


async def admin(
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """The admin API's gate: ``Authorization: Bearer $RENVOI_ADMIN_TOKEN``.

    Unset token: the admin API does not exist (404). Wrong token: 401.
    """
    token = services.settings.admin_token
    if token is None:
        raise HTTPException(404)
    if not bearer_matches(authorization, token):
        raise HTTPException(401, headers={"WWW-Authenticate": "Bearer"})


AdminDep = Depends(admin)
