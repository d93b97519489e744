"""Messages: the contract's English, the page's French."""

from __future__ import annotations

import pytest

from renvoi.domain.codes import MESSAGES, Code, Reason, message


@pytest.mark.parametrize(
    ("code", "english", "french"),
    [
        (Code.API_KEY, "API key is required", "La Clé API est requise"),
        (Code.NUMBER_REQUIRED, "Virtual number is required", "Le numéro virtuel est requis"),
        (Code.TYPE_REQUIRED, "Type is required", "Le type est requis"),
        (Code.TYPE_INVALID, "Type is not valid", "Le type n’est pas valide"),
        (Code.PARAM_REQUIRED, "param is required", "param est requis"),
        (Code.EMAIL_INVALID, "Email is not valid", "L’email n’est pas valide"),
        (Code.NUMBER_NOT_FOUND, "Virtual number does not exist", "Le numéro virtuel n’existe pas"),
        (
            Code.NO_CALL_FORWARDING,
            "Call forwarding is not enabled for this number",
            "Le transfert d’appel n’est pas activé",
        ),
        (Code.NUMBER_DISABLED, "Number is disabled", "Le numéro est désactivé"),
        (
            Code.ALREADY_FORWARDING,
            "Callforward already enabled",
            "Le transfert d’appel est déjà activé",
        ),
        (Code.ALREADY_VOICEMAIL, "Voicemail already enabled", "La messagerie est déjà activée"),
        (
            Code.ALREADY_DISABLED,
            "Callforward already disabled",
            "Le transfert d’appel est déjà désactivé",
        ),
    ],
)
def test_message_matches_contract_and_page(code: Code, english: str, french: str) -> None:
    assert message(code) == english
    assert message(code, language="fr") == french


def test_success_messages_are_the_contracts_in_both_languages() -> None:
    for code, text in [
        (Code.CALLFORWARD_ENABLED, "Callforward enabled"),
        (Code.CALLFORWARD_DISABLED, "Callforward disabled"),
        (Code.VOICEMAIL_ENABLED, "Voicemail enabled"),
    ]:
        assert message(code) == text == message(code, language="fr")


def test_message_appends_the_reason_of_code_12() -> None:
    reason = Reason("self")
    assert message(Code.FORWARD_INVALID, reason=reason) == (
        "Forward number is not valid: a number cannot forward to itself"
    )
    assert message(Code.FORWARD_INVALID, language="fr", reason=reason).startswith(
        "Le numéro de transfert n’est pas valide : "
    )


def test_every_code_has_a_message_in_both_languages() -> None:
    for code in Code:
        assert MESSAGES[code.name].en and MESSAGES[code.name].fr
