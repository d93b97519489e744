"""The refusals a renvoi answer can carry, one class per family of the contract's codes.

Every one carries ``code`` (the contract's, or None when the answer was not renvoi's
envelope, e.g. a proxy's error page), ``http_status`` and ``message`` (as the server
wrote it, in the language it was asked for).
"""

from __future__ import annotations


class RenvoiError(Exception):
    """An answer that is not a success."""

    def __init__(self, code: int | None, http_status: int, message: str) -> None:
        super().__init__(f"{message} (code {code}, HTTP {http_status})")
        self.code = code
        self.http_status = http_status
        self.message = message


class AuthenticationError(RenvoiError):
    """10: the API key is missing, unknown or revoked."""


class InvalidRequestError(RenvoiError):
    """4, 5, 6, 7, 8, 9, 12, 21, 22, 23: the request itself is wrong; sending it again
    changes nothing."""


class NotFoundError(RenvoiError):
    """13: no such number (or message) for this key."""


class ForbiddenError(RenvoiError):
    """14, 15: the number cannot forward calls, or is suspended."""


class AlreadySetError(RenvoiError):
    """16, 17, 18: the number is in that state already; pass ``exist_ok=True`` to take
    this as a success."""


class RateLimitedError(RenvoiError):
    """19: too many requests; ``retry_after`` says how many seconds to wait."""

    def __init__(
        self, code: int | None, http_status: int, message: str, retry_after: float | None
    ) -> None:
        super().__init__(code, http_status, message)
        self.retry_after = retry_after


class ServiceUnavailableError(RenvoiError):
    """20: the service cannot answer now (its database is unreachable, or a fault)."""


_BY_CODE: dict[int, type[RenvoiError]] = {
    10: AuthenticationError,
    13: NotFoundError,
    **dict.fromkeys((4, 5, 6, 7, 8, 9, 12, 21, 22, 23), InvalidRequestError),
    **dict.fromkeys((14, 15), ForbiddenError),
    **dict.fromkeys((16, 17, 18), AlreadySetError),
    20: ServiceUnavailableError,
}


def error_for(
    code: int | None, http_status: int, message: str, retry_after: float | None = None
) -> RenvoiError:
    """The exception for a refused answer."""
    if code == 19:
        return RateLimitedError(code, http_status, message, retry_after)
    if code is None and http_status == 503:
        return ServiceUnavailableError(code, http_status, message)
    family = _BY_CODE.get(code, RenvoiError) if code is not None else RenvoiError
    return family(code, http_status, message)
