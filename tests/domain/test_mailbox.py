"""A number's voicemail settings: each field's rule (code 23), and what applies."""

from __future__ import annotations

import pytest

from renvoi.domain.codes import Code, message
from renvoi.domain.mailbox import (
    Limits,
    MailboxSettings,
    effective,
    parse_audio_format,
    parse_update,
)
from renvoi.errors import ContractError

INSTALLATION = Limits(
    max_seconds=180, min_seconds=1.0, silence_seconds=15, language=None, audio_format="wav"
)


def test_unset_falls_back_to_the_account_then_the_installation() -> None:
    assert effective(MailboxSettings(), account_format=None, installation=INSTALLATION) == (
        INSTALLATION
    )
    assert effective(MailboxSettings(), account_format="mp3", installation=INSTALLATION) == Limits(
        180, 1.0, 15, None, "mp3"
    )
    own = MailboxSettings(30, 0.0, 5, "en", "wav")
    assert effective(own, account_format="mp3", installation=INSTALLATION) == Limits(
        30, 0.0, 5, "en", "wav"
    )
    # A format the store holds that renvoi does not know is ignored, never trusted.
    odd = MailboxSettings(audio_format="ogg")
    assert effective(odd, account_format="flac", installation=INSTALLATION) == INSTALLATION


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, MailboxSettings(60)),
        ({"maxSeconds": "120"}, MailboxSettings(120)),
        ({"maxSeconds": " 600 "}, MailboxSettings(600)),
        ({"maxSeconds": None}, MailboxSettings()),
        ({"maxSeconds": "  "}, MailboxSettings()),
        ({"minSeconds": 0}, MailboxSettings(60, 0.0)),
        ({"minSeconds": None, "language": None}, MailboxSettings(60)),
        ({"minSeconds": "2.5"}, MailboxSettings(60, 2.5)),
        ({"minSeconds": 30}, MailboxSettings(60, 30.0)),
        ({"silenceSeconds": "2"}, MailboxSettings(60, silence_seconds=2)),
        ({"language": "fr"}, MailboxSettings(60, language="fr")),
        ({"audioFormat": "mp3"}, MailboxSettings(60, audio_format="mp3")),
        ({"audioFormat": ""}, MailboxSettings(60)),
    ],
)
def test_each_field_sets_unsets_or_keeps(fields: dict[str, object], expected: object) -> None:
    assert parse_update(fields, MailboxSettings(60), installation=INSTALLATION) == expected


@pytest.mark.parametrize(
    ("fields", "tail"),
    [
        ({"maxSeconds": 4}, "maxSeconds must be an integer from 5 to 600"),
        ({"maxSeconds": "6000000"}, "maxSeconds must be an integer from 5 to 600"),
        ({"maxSeconds": False}, "maxSeconds must be an integer from 5 to 600"),
        ({"maxSeconds": "１２"}, "maxSeconds must be an integer from 5 to 600"),
        ({"minSeconds": "1.25"}, "minSeconds must be a number of seconds from 0 to 30, in tenths"),
        ({"minSeconds": "1e1"}, "minSeconds must be a number of seconds from 0 to 30, in tenths"),
        (
            {"minSeconds": "123456789"},
            "minSeconds must be a number of seconds from 0 to 30, in tenths",
        ),
        ({"minSeconds": True}, "minSeconds must be a number of seconds from 0 to 30, in tenths"),
        (
            {"minSeconds": float("inf")},
            "minSeconds must be a number of seconds from 0 to 30, in tenths",
        ),
        ({"silenceSeconds": 61}, "silenceSeconds must be an integer from 2 to 60"),
        ({"language": 1}, "language must be fr or en"),
        ({"audioFormat": 3}, "audioFormat must be wav or mp3"),
        (
            {"maxSeconds": 10, "minSeconds": 10},
            "minSeconds must be less than the maximum length (10 s)",
        ),
        # The installation's maximum applies when the number unsets its own.
        (
            {"maxSeconds": None, "minSeconds": 30},
            "minSeconds must be less than the maximum length (20 s)",
        ),
    ],
)
def test_a_refusal_is_code_23_naming_the_field_and_its_rule(
    fields: dict[str, object], tail: str
) -> None:
    installation = Limits(20, 1.0, 15, None, "wav")
    with pytest.raises(ContractError) as refused:
        parse_update(fields, MailboxSettings(60), installation=installation)
    assert refused.value.code is Code.VOICEMAIL_SETTING
    rendered = message(Code.VOICEMAIL_SETTING, reason=refused.value.reason)
    assert rendered == f"Voicemail setting is not valid: {tail}"


def test_refusals_read_in_french() -> None:
    with pytest.raises(ContractError) as refused:
        parse_update({"maxSeconds": 1}, MailboxSettings(), installation=INSTALLATION)
    assert message(Code.VOICEMAIL_SETTING, language="fr", reason=refused.value.reason) == (
        "Le réglage de la messagerie n’est pas valide : maxSeconds doit être un entier de 5 à 600"
    )


def test_an_accounts_format() -> None:
    assert parse_audio_format("mp3") == "mp3"
    assert parse_audio_format(None) is None
    with pytest.raises(ContractError):
        parse_audio_format("MP3")


def test_the_json_forms_name_the_api_fields() -> None:
    assert MailboxSettings(language="en").as_json() == {
        "maxSeconds": None,
        "minSeconds": None,
        "silenceSeconds": None,
        "language": "en",
        "audioFormat": None,
    }
    assert INSTALLATION.as_json()["audioFormat"] == "wav"
