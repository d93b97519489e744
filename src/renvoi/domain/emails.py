"""Email addresses notified of new voicemail (type 2's ``param``).

Syntax only, through email-validator: no DNS look-up, since a request must not wait on a
resolver and the address is checked again when the email is sent. Its normalized form
(domain lower-cased, Unicode NFC) is what is stored and compared (contract code 17).
"""

from __future__ import annotations

import email_validator

from renvoi.domain.codes import Code
from renvoi.errors import ContractError


def normalize_email(raw: str) -> str:
    """Return the normalized address, or raise code 9.

    Control characters (CR, LF, NUL...) and ``=?`` are refused before the library sees
    them: the first could add a header to the notification email, the second start an
    RFC 2047 encoded word, which RFC 2047 §5 forbids in an address and which an email
    package may decode into anything.

    Raises:
        ContractError: code 9.
    """
    if "=?" in raw or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise ContractError(Code.EMAIL_INVALID)
    try:
        valid = email_validator.validate_email(raw, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise ContractError(Code.EMAIL_INVALID) from exc
    return valid.normalized


def ascii_form(address: str) -> str | None:
    """The address as plain SMTP carries it: its domain in IDNA (``ann@xn--exmple-cua.fr``
    for ``ann@exämple.fr``). None when its local part is not ASCII: then only a server
    offering SMTPUTF8 (RFC 6531) can take it.
    """
    try:
        valid = email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return None
    return valid.ascii_email
