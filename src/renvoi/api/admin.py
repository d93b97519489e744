"""``/admin/v1/``: the operator's operations over HTTP (contract/operator.md).

The same operations as the ``renvoi`` command, JSON in and out, behind
``Authorization: Bearer $RENVOI_ADMIN_TOKEN``; without that setting every path here
answers 404, as if the admin API did not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from renvoi.api.deps import AdminDep, Services, ServicesDep
from renvoi.api.envelope import ENVELOPE_SCHEMA, render
from renvoi.errors import InvalidValueError
from renvoi.store import accounts, calls, numbers
from renvoi.store.records import (
    AccountAudio,
    AccountCountries,
    AccountRecord,
    AccountWebhook,
    CallRecord,
    ChangeRecord,
    KeyRecord,
    NewAccount,
    NewKey,
    NumberRecord,
    RotatedKey,
    as_json,
)


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": ENVELOPE_SCHEMA}},
    }


# What any admin operation may answer besides its success (operator errors: errors.py).
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("Invalid value (code 4), e.g. a number that does not parse"),
    401: {"description": "Wrong admin token"},
    404: _error("No such account, key or number (or the admin API is off)"),
    409: _error("Already exists"),
    429: _error("Too many requests (code 19), or too many wrong tokens from this address"),
    503: _error("Database unavailable (code 20)"),
}


async def _known_query(request: Request) -> None:
    """Refuse a query parameter the operation does not take (code 4, naming it): a
    misspelt filter (``?account_id=`` for ``?account=``) must not widen the answer to
    every account's."""
    route = request.scope.get("route")
    known = (
        {param.alias for param in route.dependant.query_params}
        if isinstance(route, APIRoute)
        else set()
    )
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InvalidValueError(f"unknown query parameter: {', '.join(unknown)}")


router = APIRouter(
    prefix="/admin/v1",
    tags=["admin"],
    dependencies=[AdminDep, Depends(_known_query)],
    responses=_ERRORS,
)


class _Body(BaseModel):
    """A body whose unknown fields are refused (code 4, naming them), not ignored."""

    model_config = ConfigDict(extra="forbid")


class AccountIn(_Body):
    name: str = Field(min_length=1, max_length=200)


class CountriesIn(_Body):
    countries: list[str] | None = Field(
        description="ISO 3166 codes the account's numbers may forward to; null: all.",
        examples=[["FR", "BE"]],
        max_length=300,
    )


class NumberIn(_Body):
    number: str = Field(min_length=1, max_length=40, examples=["+33612345678"])
    account_id: str = Field(min_length=1, max_length=40)
    sms_only: bool = Field(False, description="No call-forwarding capability (code 14).")


class AudioIn(_Body):
    format: Literal["wav", "mp3"] = Field(
        description="The emailed recordings' format for the account's numbers that choose "
        "none themselves.",
        examples=["mp3"],
    )


class WebhookIn(_Body):
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="Where the account's events are posted: an http:// or https:// URL.",
        examples=["https://hooks.example.com/renvoi"],
    )


class RotateIn(_Body):
    grace: int = Field(
        accounts.DEFAULT_GRACE,
        ge=0,
        le=accounts.MAX_GRACE,
        description="Seconds the old key keeps working (0: not at all).",
    )


class RouteIn(_Body):
    sip: str = Field(
        min_length=1,
        max_length=255,
        description="Where the number's calls go in mode 0, a SIP URI.",
        examples=["sip:+33757000001@pbx.example.com"],
    )


def _json(value: Any, status: int = 200) -> Response:
    return render(as_json(value), status=status)


async def _number_changed(
    services: Services, change: Callable[[], NumberRecord], status: int = 200
) -> Response:
    """An operator's change to a number (in the thread pool), told to every Kamailio
    before the answer (``renvoi.proxies``), as a customer's is."""
    record = await run_in_threadpool(change)
    await services.proxies.push(record.number)
    return _json(record, status)


@router.get("/accounts/{account_id}/countries", response_model=AccountCountries)
async def get_countries(account_id: str, services: ServicesDep) -> Response:
    """The countries an account's numbers may forward to (null: all)."""
    return _json(await run_in_threadpool(accounts.countries_of, services.db, account_id))


@router.put("/accounts/{account_id}/countries", response_model=AccountCountries)
async def put_countries(account_id: str, body: CountriesIn, services: ServicesDep) -> Response:
    """Limit the countries an account's numbers may forward to (renvoi extension; null
    lifts the limit). A refused destination answers 12 with the country's code."""
    record = await run_in_threadpool(
        accounts.set_countries, services.db, account_id, body.countries
    )
    return _json(record)


@router.put("/accounts/{account_id}/webhook", response_model=AccountWebhook)
async def put_webhook(account_id: str, body: WebhookIn, services: ServicesDep) -> Response:
    """Give the account a webhook of its own; its signing secret is in this answer only."""
    return _json(await run_in_threadpool(accounts.set_webhook, services.db, account_id, body.url))


@router.put("/accounts/{account_id}/audio", response_model=AccountAudio)
async def put_audio(account_id: str, body: AudioIn, services: ServicesDep) -> Response:
    """Choose the voicemail recordings' format for the account's numbers."""
    return _json(
        await run_in_threadpool(accounts.set_audio_format, services.db, account_id, body.format)
    )


@router.delete("/accounts/{account_id}/audio", response_model=AccountAudio)
async def delete_audio(account_id: str, services: ServicesDep) -> Response:
    """The installation's format again for the account's numbers."""
    return _json(await run_in_threadpool(accounts.set_audio_format, services.db, account_id, None))


@router.delete("/accounts/{account_id}/webhook", response_model=AccountWebhook)
async def delete_webhook(account_id: str, services: ServicesDep) -> Response:
    """Take the account's own webhook away (the installation's is called again, if any)."""
    return _json(await run_in_threadpool(accounts.set_webhook, services.db, account_id, None))


@router.post("/accounts", status_code=201, response_model=NewAccount)
async def create_account(body: AccountIn, services: ServicesDep) -> Response:
    """Create an account and its first API key (shown only here)."""
    created = await run_in_threadpool(accounts.create_account, services.db, body.name)
    return _json(created, 201)


@router.get("/accounts", response_model=list[AccountRecord])
async def list_accounts(services: ServicesDep) -> Response:
    """List the accounts."""
    return _json(await run_in_threadpool(accounts.list_accounts, services.db))


@router.post("/accounts/{account_id}/keys", status_code=201, response_model=NewKey)
async def create_key(account_id: str, services: ServicesDep) -> Response:
    """Add an API key to an account (shown only here)."""
    return _json(await run_in_threadpool(accounts.create_key, services.db, account_id), 201)


@router.get("/accounts/{account_id}/keys", response_model=list[KeyRecord])
async def list_keys(account_id: str, services: ServicesDep) -> Response:
    """List an account's keys (never the keys themselves)."""
    return _json(await run_in_threadpool(accounts.list_keys, services.db, account_id))


@router.post("/keys/{key_id}/revoke", response_model=KeyRecord)
async def revoke_key(key_id: str, services: ServicesDep) -> Response:
    """Revoke a key: it stops working at once."""
    return _json(await run_in_threadpool(accounts.revoke_key, services.db, key_id))


@router.post("/keys/{key_id}/rotate", status_code=201, response_model=RotatedKey)
async def rotate_key(key_id: str, services: ServicesDep, body: RotateIn | None = None) -> Response:
    """A new key for the same account (shown only here); the old one keeps working for
    ``grace`` seconds (a day by default), then is revoked."""
    grace = (body or RotateIn()).grace
    return _json(
        await run_in_threadpool(lambda: accounts.rotate_key(services.db, key_id, grace=grace)),
        201,
    )


@router.post("/numbers", status_code=201, response_model=NumberRecord)
async def add_number(body: NumberIn, services: ServicesDep) -> Response:
    """Put a virtual number on the platform."""
    return await _number_changed(
        services,
        lambda: numbers.add_number(
            services.db,
            body.number,
            account_id=body.account_id,
            voice=not body.sms_only,
            region=services.settings.default_region,
        ),
        201,
    )


@router.get("/numbers", response_model=list[NumberRecord])
async def list_numbers(
    services: ServicesDep, account: Annotated[str | None, Query()] = None
) -> Response:
    """List the numbers, of one account or of all."""
    return _json(
        await run_in_threadpool(lambda: numbers.list_numbers(services.db, account_id=account))
    )


@router.get("/numbers/{number}", response_model=NumberRecord)
async def show_number(number: str, services: ServicesDep) -> Response:
    """Show a number's record."""
    region = services.settings.default_region
    return _json(
        await run_in_threadpool(lambda: numbers.get_number(services.db, number, region=region))
    )


async def _set_suspended(number: str, services: ServicesDep, *, suspended: bool) -> Response:
    region = services.settings.default_region
    return await _number_changed(
        services,
        lambda: numbers.set_suspended(services.db, number, suspended=suspended, region=region),
    )


@router.post("/numbers/{number}/suspend", response_model=NumberRecord)
async def suspend_number(number: str, services: ServicesDep) -> Response:
    """Suspend a number: the API answers 15 and calls are refused."""
    return await _set_suspended(number, services, suspended=True)


@router.post("/numbers/{number}/resume", response_model=NumberRecord)
async def resume_number(number: str, services: ServicesDep) -> Response:
    """Resume a suspended number."""
    return await _set_suspended(number, services, suspended=False)


@router.delete("/numbers/{number}", response_model=NumberRecord)
async def remove_number(number: str, services: ServicesDep) -> Response:
    """Take a number off the platform, with its history."""
    region = services.settings.default_region
    return await _number_changed(
        services, lambda: numbers.remove_number(services.db, number, region=region)
    )


@router.get("/numbers/{number}/history", response_model=list[ChangeRecord])
async def number_history(number: str, services: ServicesDep) -> Response:
    """A number's forwarding changes, newest first."""
    region = services.settings.default_region
    return _json(
        await run_in_threadpool(lambda: numbers.history(services.db, number, region=region))
    )


async def _set_route(number: str, services: ServicesDep, uri: str | None) -> Response:
    region = services.settings.default_region
    return await _number_changed(
        services, lambda: numbers.set_sip_destination(services.db, number, uri, region=region)
    )


@router.put("/numbers/{number}/route", response_model=NumberRecord)
async def put_route(number: str, body: RouteIn, services: ServicesDep) -> Response:
    """Set where the number's calls go when it is not forwarding (mode 0)."""
    return await _set_route(number, services, body.sip)


@router.delete("/numbers/{number}/route", response_model=NumberRecord)
async def delete_route(number: str, services: ServicesDep) -> Response:
    """Remove the number's normal destination: in mode 0 its calls get 480 (or its
    unavailable fallback)."""
    return await _set_route(number, services, None)


@router.get("/numbers/{number}/calls", response_model=list[CallRecord])
async def number_calls(
    number: str,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    """The calls routed to a number, newest first."""
    region = services.settings.default_region

    def read() -> list[CallRecord]:
        e164 = numbers.parse_operator_number(number, region=region)
        return calls.list_calls(services.db, e164, limit=limit)

    return _json(await run_in_threadpool(read))
