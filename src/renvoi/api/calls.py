"""``/v1/vn/calls``: the calls routed to a number (a renvoi extension)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from renvoi.api.deps import CustomerDep, ServicesDep
from renvoi.api.openapi import responses
from renvoi.api.owned import LimitQuery, NumberQuery, listing
from renvoi.store import calls
from renvoi.store.records import as_json

router = APIRouter(prefix="/v1/vn", tags=["calls"])


@router.get(
    "/calls",
    summary="A number's calls, newest first (renvoi extension)",
    responses=responses("200: OK, with number and calls"),
)
async def get_calls(
    request: Request,
    services: ServicesDep,
    principal: CustomerDep,
    number: NumberQuery = None,
    limit: LimitQuery = 100,
) -> Response:
    """List the calls routed to a number: caller, action, destination, status, duration,
    and the fallback that took it (``diverted``, ``divertedTo``)."""
    return await listing(
        request,
        services,
        number,
        field="calls",
        read=lambda e164: calls.list_calls(
            services.db, e164, account_id=principal.account_id, limit=limit
        ),
        shape=lambda call: {
            "callId": call.call_id,
            "caller": call.caller,
            "action": call.action,
            "destination": call.destination,
            "status": call.status,
            "startedAt": as_json(call.started_at),
            "answeredAt": as_json(call.answered_at),
            "endedAt": as_json(call.ended_at),
            "duration": call.duration,
            "diverted": call.diverted,
            "divertedTo": call.diverted_to,
        },
    )
