"""What the customer API's OpenAPI page says every route may answer: the contract's
codes, grouped by HTTP status, each with its message."""

from __future__ import annotations

from typing import Any

from renvoi.api.envelope import ENVELOPE_SCHEMA
from renvoi.api.errors import BAD_REQUEST_STATUS, STATUS
from renvoi.domain.codes import MESSAGES


def _codes_by_status() -> dict[int, list[str]]:
    """The contract's codes grouped by HTTP status, for the OpenAPI page."""
    by_status: dict[int, list[str]] = {}
    for code, status in STATUS.items():
        by_status.setdefault(status, []).append(f"{int(code)}: {MESSAGES[code.name].en}")
    for detail, status in BAD_REQUEST_STATUS.items():
        by_status.setdefault(status, []).append(f"4: {MESSAGES[detail].en}")
    by_status.setdefault(500, []).append("20: Internal server error")
    return by_status


def responses(success: str) -> dict[int | str, dict[str, Any]]:
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
