"""The one place where errors become HTTP answers.

Every error body is the contract's envelope (``{"success": false, "code", "message"}``,
or its XML form), never an HTML page or a trace. A domain error carries its contract
code; the HTTP status is chosen here, from the contract's tables. Unexpected faults are
logged with their traceback and answered with a generic code 20: a library's text never
reaches a client.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from fastapi.exceptions import RequestValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from renvoi.api.envelope import envelope, render, request_format
from renvoi.domain.codes import Code, message
from renvoi.domain.language import preferred_language
from renvoi.errors import (
    AlreadyExistsError,
    ConflictError,
    ContractError,
    InvalidValueError,
    NotFoundError,
    OperatorError,
    RateLimitedError,
    StoreError,
    StoreUnavailableError,
)

log = structlog.get_logger("renvoi.api")

# callforward.md: "Checks, in this order" and "Errors outside the page's table".
STATUS: dict[Code, int] = {
    Code.BAD_REQUEST: 400,
    Code.NUMBER_REQUIRED: 400,
    Code.TYPE_REQUIRED: 400,
    Code.TYPE_INVALID: 400,
    Code.PARAM_REQUIRED: 400,
    Code.EMAIL_INVALID: 400,
    Code.API_KEY: 401,
    Code.FORWARD_INVALID: 400,
    Code.NUMBER_NOT_FOUND: 404,
    Code.NO_CALL_FORWARDING: 403,
    Code.NUMBER_DISABLED: 403,
    Code.ALREADY_FORWARDING: 409,
    Code.ALREADY_VOICEMAIL: 409,
    Code.ALREADY_DISABLED: 409,
    Code.TOO_MANY_REQUESTS: 429,
    Code.UNAVAILABLE: 503,
    Code.CONDITION: 400,
    Code.RING_TIME: 400,
    Code.VOICEMAIL_SETTING: 400,
}

# Code 4 has one status per way a request is malformed.
BAD_REQUEST_STATUS: dict[str, int] = {
    "too_large": 413,
    "audio_too_large": 413,
    "unsupported_type": 415,
    "audio_multipart": 415,
    "not_found": 404,
    "method_not_allowed": 405,
}

OPERATOR_STATUS: dict[type[OperatorError], int] = {
    NotFoundError: 404,
    AlreadyExistsError: 409,
    InvalidValueError: 400,
    ConflictError: 409,
}


def error_response(
    request: Request,
    code: Code,
    *,
    status: int,
    detail: str | None = None,
    exc: ContractError | None = None,
    headers: Mapping[str, str] | None = None,
    message: str | None = None,
) -> Response:
    """The error envelope for ``request``, in its language and format."""
    language = preferred_language(request.headers.get("accept-language"))
    body = envelope(
        code,
        success=False,
        language=language,
        detail=detail,
        reason=exc.reason if exc is not None else None,
    )
    if message is not None:
        body["message"] = message
    if getattr(request.state, "dry_run", False):
        body["dryRun"] = True  # a refused dry run says so too (callforward.md, Extensions)
    return render(body, status=status, fmt=request_format(request), headers=headers)


async def _contract(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ContractError)
    status = STATUS[exc.code]
    if exc.code is Code.BAD_REQUEST and exc.detail:
        status = BAD_REQUEST_STATUS.get(exc.detail, 400)
    headers = None
    if isinstance(exc, RateLimitedError):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(
        request, exc.code, status=status, detail=exc.detail, exc=exc, headers=headers
    )


async def _operator(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OperatorError)
    status = next((s for cls, s in OPERATOR_STATUS.items() if isinstance(exc, cls)), 400)
    # Operator errors are renvoi's own sentences (no library text), safe to show.
    return error_response(request, Code.BAD_REQUEST, status=status, message=str(exc))


async def _store(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreError)
    unavailable = isinstance(exc, StoreUnavailableError)
    log.error("store_failed", error=str(exc), unavailable=unavailable, path=request.url.path)
    return error_response(
        request,
        Code.UNAVAILABLE,
        status=503 if unavailable else 500,
        detail=None if unavailable else "internal",
        headers={"Retry-After": "1"} if unavailable else None,
    )


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return error_response(
        request, Code.BAD_REQUEST, status=exc.status_code, detail=detail, headers=exc.headers
    )


def _invalid_part(exc: RequestValidationError) -> tuple[str, str]:
    """Where a request failed FastAPI's validation (``query`` or ``body``), and what the
    first problem is, naming the field: never the library's whole report."""
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ())]
    where = location[0] if location else "query"
    field = ".".join(location[1:])
    if first.get("type") == "extra_forbidden":
        return where, f"unknown field: {field}"
    if first.get("type") == "missing":
        return where, f"{field}: required"
    return where, f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg"))


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    where, problem = _invalid_part(exc)
    detail = "invalid_body" if where == "body" else "invalid_query"
    language = preferred_language(request.headers.get("accept-language"))
    text = message(Code.BAD_REQUEST, language=language, detail=detail)
    return error_response(
        request, Code.BAD_REQUEST, status=400, detail=detail, message=f"{text}: {problem}"
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected_error", path=request.url.path)
    return error_response(request, Code.UNAVAILABLE, status=500, detail="internal")


def install(app: Starlette) -> None:
    """Register the handlers on ``app`` (the API, or the internal endpoints')."""
    app.add_exception_handler(ContractError, _contract)
    app.add_exception_handler(OperatorError, _operator)
    app.add_exception_handler(StoreError, _store)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _unexpected)
