"""Every error renvoi raises on purpose, in one tree.

Errors carry data (a contract code, a reason, the thing not found), never an HTTP status
or an exit code: the edges translate them (``api/errors.py`` for HTTP, ``cli.py`` for the
command line).

```
RenvoiError
├── ContractError          a check of contract/callforward.md failed: carries the code
│   └── RateLimitedError   code 19: carries how long to wait
├── OperatorError          an operator's request cannot be done (operator.md)
│   ├── NotFoundError      no such account, key or number
│   ├── AlreadyExistsError the number is on the platform already
│   ├── InvalidValueError  a value does not parse (a number, a SIP URI)
│   ├── ConflictError      the thing is not in a state that allows it (a revoked key)
│   └── MigrationNeededError  the database is not at this renvoi's schema yet
├── ServiceError           a component of ``renvoi serve`` could not start, or failed
├── StoreError             the database failed
│   └── StoreUnavailableError  unreachable, or out of disk: try again later
└── DeliveryError          a notification (email, webhook) was not delivered
    ├── PermanentDeliveryError  it never will be: failed, not retried
    └── TemporaryDeliveryError  it may be later: retried
```
"""

from __future__ import annotations

from renvoi.domain.codes import Code, Reason


class RenvoiError(Exception):
    """The root of every error renvoi raises on purpose."""


class ContractError(RenvoiError):
    """A request failed one of the contract's checks.

    Args:
        code: the contract code the client receives.
        reason: the detail appended to the message, for code 12 ("the reason").
        detail: for code 4, which way the request is malformed (the message key).
    """

    def __init__(self, code: Code, *, reason: Reason | None = None, detail: str | None = None):
        self.code = code
        self.reason = reason
        self.detail = detail
        super().__init__(f"code {int(code)}" + (f": {reason.in_('en')}" if reason else ""))


class RateLimitedError(ContractError):
    """Too many requests (code 19): from this key, or from this address after bad keys.

    Args:
        retry_after: whole seconds before a request may succeed again.
    """

    def __init__(self, retry_after: int):
        super().__init__(Code.TOO_MANY_REQUESTS)
        self.retry_after = retry_after


class OperatorError(RenvoiError):
    """An operator's command (CLI or admin API) cannot be carried out."""


class NotFoundError(OperatorError):
    """The account, key or number named does not exist."""


class AlreadyExistsError(OperatorError):
    """The thing to create exists already (a number is on the platform once)."""


class InvalidValueError(OperatorError):
    """A value given by the operator does not parse."""


class ConflictError(OperatorError):
    """The thing named cannot take this operation in its state: a revoked key cannot be
    rotated, nor a key already rotated rotated again."""


class MigrationNeededError(OperatorError):
    """The database does not exist yet, or its schema is not this renvoi's newest:
    ``renvoi db upgrade`` first."""


class ServiceError(RenvoiError):
    """A component of a node (a listener, the voicemail side) could not start or failed:
    the node stops."""


class StoreError(RenvoiError):
    """The database failed in a way the caller cannot fix by changing the request."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached or cannot write (disk full): retry later."""


class DeliveryError(RenvoiError):
    """A notification (an email, a webhook call) was not delivered."""


class PermanentDeliveryError(DeliveryError):
    """The notification can never be delivered as it is: it is failed, not retried."""


class TemporaryDeliveryError(DeliveryError):
    """The receiving server could not take the notification now: it is tried again."""
