"""``/v1/vn/callforward/history``: a number's forwarding changes (a renvoi extension)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from renvoi.api.deps import CustomerDep, ServicesDep
from renvoi.api.openapi import responses
from renvoi.api.owned import LimitQuery, NumberQuery, listing
from renvoi.store import numbers
from renvoi.store.records import as_json

router = APIRouter(prefix="/v1/vn", tags=["call forwarding"])


@router.get(
    "/callforward/history",
    summary="A number's forwarding changes, newest first (renvoi extension)",
    responses=responses("200: OK, with number and changes"),
)
async def get_history(
    request: Request,
    services: ServicesDep,
    principal: CustomerDep,
    number: NumberQuery = None,
    limit: LimitQuery = 100,
) -> Response:
    """List the changes made to a number's forwarding, newest first: of its primary
    setting (``condition`` null) and of its fallbacks."""
    region = services.settings.default_region
    return await listing(
        request,
        services,
        number,
        field="changes",
        read=lambda e164: numbers.history(
            services.db, e164, region=region, account_id=principal.account_id, limit=limit
        ),
        shape=lambda change: {
            "type": change.type,
            "param": change.param,
            "previousType": change.previous_type,
            "previousParam": change.previous_param,
            "changedAt": as_json(change.changed_at),
            "keyId": change.key_id,
            "condition": change.condition,
            "ringSeconds": change.ring_seconds,
            "previousRingSeconds": change.previous_ring_seconds,
        },
    )
