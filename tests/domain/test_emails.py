"""Voicemail addresses: syntax by email-validator, normalized, no header injection."""

from __future__ import annotations

import pytest

from renvoi.domain.codes import Code
from renvoi.domain.emails import ascii_form, normalize_email
from renvoi.errors import ContractError


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        pytest.param("ann@example.com", "ann@example.com", id="plain"),
        pytest.param("Ann@EXAMPLE.COM", "Ann@example.com", id="domain-lowered"),
        pytest.param("jean.dupont+vm@exemple.fr", "jean.dupont+vm@exemple.fr", id="plus"),
        pytest.param("élodie@exemple.fr", "élodie@exemple.fr", id="unicode-local"),
    ],
)
def test_normalize_email_accepts(raw: str, normalized: str) -> None:
    assert normalize_email(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("not-an-email", id="no-at"),
        pytest.param("a@b", id="no-dot-domain"),
        pytest.param("a@b.fr\nBcc: evil@x.fr", id="lf-injection"),
        pytest.param("a@b.fr\r\nSubject: x", id="crlf-injection"),
        pytest.param("a@b.fr\x00", id="nul"),
        pytest.param("a b@c.fr", id="space"),
        pytest.param("<a@b.fr>", id="angle"),
        pytest.param("Ann <a@b.fr>", id="display-name"),
        pytest.param("=?utf-8?q?a=0D=0ABcc=3A_v=40x?=@example.com", id="encoded-word"),
        pytest.param("a=?b@example.com", id="encoded-word-start"),
    ],
)
def test_normalize_email_refuses_with_code_9(raw: str) -> None:
    with pytest.raises(ContractError) as caught:
        normalize_email(raw)
    assert caught.value.code is Code.EMAIL_INVALID


@pytest.mark.parametrize(
    ("address", "ascii"),
    [
        pytest.param("ann@example.com", "ann@example.com", id="ascii"),
        pytest.param("ann@exämple.fr", "ann@xn--exmple-cua.fr", id="idna-domain"),
        pytest.param("élodie@exemple.fr", None, id="unicode-local-needs-smtputf8"),
        pytest.param("not an address", None, id="invalid"),
    ],
)
def test_ascii_form(address: str, ascii: str | None) -> None:
    assert ascii_form(address) == ascii
