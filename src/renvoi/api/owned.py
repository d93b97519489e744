"""The number a read extension names, and the caller's right to it: what every
customer route but the seed endpoint starts with.

A number that does not parse, is nowhere, or is another account's answers 13, the same
for all three (tenancy: a key never learns that another account's number exists).
``listing`` is the one shape of the three list reads (history, calls, messages).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from renvoi.api.deps import Services, platform_number
from renvoi.api.envelope import envelope, render, request_format
from renvoi.domain.callforward import e164_of
from renvoi.domain.codes import Code
from renvoi.errors import ContractError, NotFoundError
from renvoi.store.records import NumberRecord, Principal

T = TypeVar("T")

NumberQuery = Annotated[
    str | None, Query(description="The virtual number, in any accepted spelling.")
]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="How many, newest first.")]


def require(number: str | None) -> str:
    """The number as sent. Raises ContractError 5 when it is absent or empty."""
    if number is None or not number.strip():
        raise ContractError(Code.NUMBER_REQUIRED)
    return number


def customer_number(services: Services, number: str | None) -> str:
    """The number a read extension names, in E.164.

    Raises:
        ContractError: 5 when it is absent, 13 when it does not parse.
    """
    return e164_of(require(number), region=services.settings.default_region)


async def owned_record(
    services: Services, principal: Principal, number: str | None
) -> NumberRecord:
    """The caller's number, as a read extension names it.

    Raises:
        ContractError: 5 when it is absent; 13 when it does not parse, is nowhere, or is
            another account's (``owned``).
    """
    _, record = await platform_number(
        services.records, require(number), region=services.settings.default_region
    )
    return owned(record, principal)


def owned(record: NumberRecord | None, principal: Principal) -> NumberRecord:
    """A number the caller may read: 13 when it is nowhere or another account's (the
    same answer for both)."""
    if record is None or record.account_id != principal.account_id:
        raise ContractError(Code.NUMBER_NOT_FOUND)
    return record


def changeable(record: NumberRecord) -> NumberRecord:
    """A number of the caller's that may be changed: 15 when it is suspended, 14 when it
    has no calls to answer (SMS-only), in the contract's order."""
    if record.status == "suspended":
        raise ContractError(Code.NUMBER_DISABLED)
    if not record.voice:
        raise ContractError(Code.NO_CALL_FORWARDING)
    return record


async def read_owned(read: Callable[[], T]) -> T:
    """Run a store read of the caller's number in the threadpool: a number that is
    nowhere, or another account's, is 13 (the same answer for both)."""
    try:
        return await run_in_threadpool(read)
    except NotFoundError as exc:
        raise ContractError(Code.NUMBER_NOT_FOUND) from exc


async def listing(
    request: Request,
    services: Services,
    number: str | None,
    *,
    field: str,
    read: Callable[[str], Sequence[T]],
    shape: Callable[[T], Mapping[str, Any]],
) -> Response:
    """A list read's answer: the number in E.164, and under ``field`` each record
    ``read`` gives for it, as ``shape`` shows it.

    Args:
        read: the store's read of the caller's number (``NotFoundError`` is 13).
    """
    e164 = customer_number(services, number)
    records = await read_owned(lambda: read(e164))
    body = envelope(Code.OK, success=True, number=e164)
    body[field] = [dict(shape(record)) for record in records]
    return render(body, fmt=request_format(request))
