"""A typed client for renvoi's call-forwarding API: ``Client`` and ``AsyncClient``."""

from renvoi_client.client import AsyncClient, Client
from renvoi_client.errors import (
    AlreadySetError,
    AuthenticationError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    RenvoiError,
    ServiceUnavailableError,
)
from renvoi_client.models import (
    AsyncMessage,
    Call,
    Change,
    Fallback,
    Message,
    Result,
    State,
    VoicemailSettings,
)

__all__ = [
    "AlreadySetError",
    "AsyncClient",
    "AsyncMessage",
    "AuthenticationError",
    "Call",
    "Change",
    "Client",
    "Fallback",
    "ForbiddenError",
    "InvalidRequestError",
    "Message",
    "NotFoundError",
    "RateLimitedError",
    "RenvoiError",
    "Result",
    "ServiceUnavailableError",
    "State",
    "VoicemailSettings",
]
