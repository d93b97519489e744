"""What routes receive: the app's services, and the caller's identity.

Routes declare these with the ``Annotated`` aliases below (as the FastAPI full-stack
template's ``api/deps.py``); nothing else reaches into ``app.state``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, TypeGuard, TypeVar

import structlog
from fastapi import Depends, Header, HTTPException, Query, Request
from pydantic import SecretStr

from renvoi.api.conversions import Conversions
from renvoi.api.envelope import wanted_format
from renvoi.api.ratelimit import Limiter
from renvoi.api.usage import KeyUsage
from renvoi.config import Settings, is_loopback
from renvoi.domain.callforward import require_api_key
from renvoi.domain.codes import Code
from renvoi.domain.modes import Setting
from renvoi.domain.numbers import normalize_number, stored_spelling
from renvoi.domain.routing import RouteState, SipTargets
from renvoi.errors import ContractError
from renvoi.proxies import Proxies
from renvoi.store import accounts, lockfree
from renvoi.store.calllog import CallLog
from renvoi.store.database import Database
from renvoi.store.groupcommit import Writer
from renvoi.store.lockfree import StateRead
from renvoi.store.records import NumberRecord, Principal
from renvoi.store.statecache import Shelf, StateCache

V = TypeVar("V")
log = structlog.get_logger("renvoi.api")


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
    conversions: Conversions  # greetings, converted in processes of their own
    proxies: Proxies  # every Kamailio, told of each change before the API answers


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


def count_bad_key(services: Services, request: Request) -> None:
    """Count an unknown key (or admin token) against the client's address. When that
    locks out an address that sent no ``X-Forwarded-For`` and is a trusted proxy's, say
    so: every client behind that proxy is now refused (the proxy must send the header).
    """
    address = client_address(request)
    if (
        services.limiter.bad_key(address)
        and "x-forwarded-for" not in request.headers
        and services.settings.trusts_proxy(address)
    ):
        log.warning(
            "proxy_locked_out",
            address=address,
            why="unknown keys from a trusted proxy's own address: every client behind it "
            "is refused until it cools down; the proxy must send X-Forwarded-For",
        )


def check_address(services: Services, request: Request) -> None:
    """Refuse an address that sent too many unknown keys, before reading anything else.

    Raises:
        RateLimitedError: code 19.
    """
    services.limiter.check_address(client_address(request))


async def authenticate(services: Services, request: Request, api_key: str) -> Principal:
    """Contract check 2 on a present key (check 1: ``require_api_key``), then the key's
    own rate limit.

    Raises:
        ContractError: code 10 (invalid) or 19.
    """
    return admit(services, request, await services.principals.lookup(accounts.hash_key(api_key)))


def usable(principal: Principal | None) -> TypeGuard[Principal]:
    """Whether a looked-up key still speaks for its account: found (not revoked), and not
    a rotated key past its grace."""
    return principal is not None and (
        principal.expires_at is None or principal.expires_at > datetime.now(UTC)
    )


def admit(services: Services, request: Request, principal: Principal | None) -> Principal:
    """``authenticate`` on a key already looked up: None is an unknown or revoked key,
    and a rotated key past its grace is one too.

    Raises:
        ContractError: code 10 (invalid) or 19.
    """
    if not usable(principal):
        count_bad_key(services, request)
        raise ContractError(Code.API_KEY, detail="api_key_invalid")
    services.limiter.check_key(principal.key_id)
    services.usage.note(principal.key_id)
    if services.settings.webhook_url is not None and not principal.notify:
        return replace(principal, notify=True)  # the installation's webhook hears it
    return principal


async def customer_and_state(
    services: Services, api_key: str, e164: str | None, wanted: Setting
) -> tuple[Principal | None, StateRead | None]:
    """Who a key speaks for (None: unknown or revoked) and, on PostgreSQL, the state of
    the number it asks to change, read in the same round trip (``lockfree.key_and_state``).

    SQLite answers the key from its exact cache and reads the state in the change's
    transaction: a read there costs no round trip to save.
    """
    key_hash = accounts.hash_key(api_key)
    if services.db.is_sqlite or e164 is None:
        return await services.principals.lookup(key_hash), None
    return await lockfree.key_and_state(services.db, key_hash, e164, wanted)


async def customer_and_record(
    services: Services, api_key: str, raw: str
) -> tuple[Principal | None, NumberRecord | None]:
    """Who a key speaks for (None: unknown or revoked) and the number it reads, in any
    spelling (None: not on the platform), as ``platform_number`` finds it.

    On PostgreSQL the key and the number's first look-up are one round trip
    (``lockfree.key_and_record``). SQLite answers both from its exact caches.
    """
    key_hash = accounts.hash_key(api_key)
    region = services.settings.default_region
    if services.db.is_sqlite:
        principal = await services.principals.lookup(key_hash)
        if principal is None:
            return None, None
        return principal, (await platform_number(services.records, raw, region=region))[1]
    stored = stored_spelling(raw)
    first = stored if stored is not None else normalize_number(raw, region=region)
    if first is None:
        return await services.principals.lookup(key_hash), None
    principal, record = await lockfree.key_and_record(services.db, key_hash, first)
    if principal is None or record is not None or stored is None:
        return principal, record
    return principal, (await _as_parsed(services.records, raw, stored, region=region))[1]


async def platform_number(
    shelf: Shelf[V | None], raw: str, *, region: str
) -> tuple[str | None, V | None]:
    """A number a request names, in E.164 (None: it does not parse), and the shelf's
    answer for it (None: not on the platform).

    Written internationally, the number is looked up first in the spelling the platform
    stores, and parsed only if the platform does not hold it
    (``domain.numbers.stored_spelling``).
    """
    stored = stored_spelling(raw)
    if stored is not None:
        found = await shelf.lookup(stored)
        if found is not None:
            return stored, found
    return await _as_parsed(shelf, raw, stored, region=region)


async def _as_parsed(
    shelf: Shelf[V | None], raw: str, looked_up: str | None, *, region: str
) -> tuple[str | None, V | None]:
    """``platform_number`` after its look-up of ``raw``'s stored spelling, if any
    (``looked_up``)."""
    e164 = normalize_number(raw, region=region)
    if e164 is None or e164 == looked_up:  # no number, or one that just missed
        return e164, None
    return e164, await shelf.lookup(e164)


def presented_key(
    services: Services, request: Request, *, api_key: str | None, format_: str | None
) -> str:
    """What the caller of a read extension (renvoi's GET endpoints) presents: the
    answer's format, then contract check 1 on the key from ``apiKey`` or ``X-Api-Key``."""
    request.state.format = wanted_format(format_)
    check_address(services, request)
    return require_api_key({"apiKey": api_key})


async def identify(
    services: Services, request: Request, *, api_key: str | None, format_: str | None
) -> Principal:
    """``presented_key``, then check 2 on it."""
    key = presented_key(services, request, api_key=api_key, format_=format_)
    return await authenticate(services, request, key)


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
    if not expected:  # never a match against nothing (Settings refuses it anyway)
        return False
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.encode(), expected)


# Headers a proxy adds: a request that carries one came through a proxy, never straight
# from this machine, whatever its connection's address.
_PROXIED = ("x-forwarded-for", "forwarded", "x-real-ip")


def from_this_machine(request: Request) -> bool:
    """Connected from loopback, directly: a request that carries a proxy's header came
    through a proxy, which may run on this machine for anyone."""
    headers = request.headers
    if any(name in headers for name in _PROXIED):
        return False
    return is_loopback(client_address(request))


# The admin token's own bucket, beside the API keys' (whose ids start with "key_").
ADMIN_BUCKET = "admin"


async def admin(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """The admin API's gate: ``Authorization: Bearer $RENVOI_ADMIN_TOKEN``.

    Unset token: the admin API does not exist (404). Wrong token: 401, counted against
    the address like an unknown API key, and an address past that limit is refused (19)
    before its token is looked at. The right token: the rate of an API key (19).
    """
    token = services.settings.admin_token
    if token is None:
        raise HTTPException(404)
    check_address(services, request)
    if not bearer_matches(authorization, token):
        count_bad_key(services, request)
        raise HTTPException(401, headers={"WWW-Authenticate": "Bearer"})
    services.limiter.check_key(ADMIN_BUCKET)


AdminDep = Depends(admin)
