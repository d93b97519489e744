"""``/v1/vn/voicemail/settings``: a number's own voicemail limits, greeting language and
audio format, each checked (code 23), each falling back when unset."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from renvoi.audio.wav import default_greeting, pcm_of_wav
from renvoi.store import accounts
from renvoi.store.database import Database
from tests.harness import Tenant

URL = "/v1/vn/voicemail/settings"
A = "+33757000001"
UNSET = dict.fromkeys(("maxSeconds", "minSeconds", "silenceSeconds", "language", "audioFormat"))
# The test settings' installation defaults (tests/conftest.py keeps the shipped ones).
INSTALLATION = {
    "maxSeconds": 180,
    "minSeconds": 1.0,
    "silenceSeconds": 15,
    "language": None,
    "audioFormat": "wav",
}


def test_unset_settings_fall_back_to_the_installation(client: TestClient, tenant: Tenant) -> None:
    answer = client.get(URL, params={"number": "0757000001"}, headers={"X-Api-Key": tenant.key})
    assert answer.status_code == 200
    assert answer.json() == {
        "success": True,
        "code": 200,
        "message": "OK",
        "number": A,
        "settings": UNSET,
        "effective": INSTALLATION,
    }


def test_set_some_keep_the_others_unset_with_null(client: TestClient, tenant: Tenant) -> None:
    key = {"apiKey": tenant.key, "number": A}
    first = client.put(URL, params=key, json={"maxSeconds": 60, "language": "en"}).json()
    assert first["settings"] == {**UNSET, "maxSeconds": 60, "language": "en"}
    assert first["effective"] == {**INSTALLATION, "maxSeconds": 60, "language": "en"}
    # A form works as JSON does; absent fields are kept.
    second = client.put(URL, params=key, data={"minSeconds": "2.5", "audioFormat": "mp3"}).json()
    assert second["settings"] == {
        **UNSET,
        "maxSeconds": 60,
        "language": "en",
        "minSeconds": 2.5,
        "audioFormat": "mp3",
    }
    cleared = client.put(URL, params=key, json={"maxSeconds": None, "language": ""}).json()
    assert cleared["settings"] == {**UNSET, "minSeconds": 2.5, "audioFormat": "mp3"}
    assert client.get(URL, params=key).json()["settings"] == cleared["settings"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"maxSeconds": 4}, "maxSeconds must be an integer from 5 to 600"),
        ({"maxSeconds": 601}, "maxSeconds must be an integer from 5 to 600"),
        ({"maxSeconds": "60s"}, "maxSeconds must be an integer from 5 to 600"),
        ({"maxSeconds": True}, "maxSeconds must be an integer from 5 to 600"),
        ({"maxSeconds": 12.5}, "maxSeconds must be an integer from 5 to 600"),
        ({"minSeconds": -1}, "minSeconds must be a number of seconds from 0 to 30, in tenths"),
        ({"minSeconds": 1.25}, "minSeconds must be a number of seconds from 0 to 30, in tenths"),
        ({"minSeconds": "²"}, "minSeconds must be a number of seconds from 0 to 30, in tenths"),
        ({"minSeconds": "nan"}, "minSeconds must be a number of seconds from 0 to 30, in tenths"),
        ({"silenceSeconds": 1}, "silenceSeconds must be an integer from 2 to 60"),
        ({"language": "de"}, "language must be fr or en"),
        ({"language": "FR"}, "language must be fr or en"),
        ({"audioFormat": "ogg"}, "audioFormat must be wav or mp3"),
        ({"audioFormat": ["mp3"]}, "audioFormat must be wav or mp3"),
        (
            {"maxSeconds": 10, "minSeconds": 10},
            "minSeconds must be less than the maximum length (10 s)",
        ),
    ],
)
def test_each_refused_value_is_code_23_naming_its_field(
    client: TestClient, tenant: Tenant, body: dict[str, object], message: str
) -> None:
    answer = client.put(URL, params={"apiKey": tenant.key, "number": A}, json=body)
    assert answer.status_code == 400
    assert answer.json() == {
        "success": False,
        "code": 23,
        "message": f"Voicemail setting is not valid: {message}",
    }
    unchanged = client.get(URL, params={"apiKey": tenant.key, "number": A}).json()
    assert unchanged["settings"] == UNSET


def test_refusals_are_french_for_a_french_client(client: TestClient, tenant: Tenant) -> None:
    answer = client.put(
        URL,
        params={"apiKey": tenant.key, "number": A},
        json={"language": "de"},
        headers={"Accept-Language": "fr"},
    )
    assert answer.json()["message"] == (
        "Le réglage de la messagerie n’est pas valide : language doit être fr ou en"
    )


def test_an_unknown_field_is_code_4(client: TestClient, tenant: Tenant) -> None:
    answer = client.put(URL, params={"apiKey": tenant.key, "number": A}, json={"maxSecond": 60})
    assert (answer.status_code, answer.json()["code"]) == (400, 4)
    assert "maxSeconds, minSeconds" in answer.json()["message"]


def test_the_number_is_checked_as_for_a_greeting(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    """5 without a number; 13 for another account's (on read and write alike), 15 for a
    suspended one, 14 for an SMS-only one; 10 without a key."""
    key = tenant.key
    assert client.put(URL, params={"apiKey": key}, json={}).json()["code"] == 5
    for number, code in (("+33757000020", 13), ("+33757000010", 15), ("+33757000009", 14)):
        answer = client.put(URL, params={"apiKey": key, "number": number}, json={"maxSeconds": 9})
        assert answer.json()["code"] == code, number
    assert client.get(URL, params={"apiKey": key, "number": "+33757000020"}).json()["code"] == 13
    assert client.get(URL, params={"number": A}).json()["code"] == 10
    mine = client.get(URL, params={"apiKey": other_tenant.key, "number": "+33757000020"})
    assert mine.json()["settings"] == UNSET


def test_the_account_format_applies_where_the_number_sets_none(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    accounts.set_audio_format(database, tenant.account_id, "mp3")
    key = {"apiKey": tenant.key, "number": A}
    assert client.get(URL, params=key).json()["effective"]["audioFormat"] == "mp3"
    mine = client.put(URL, params=key, json={"audioFormat": "wav"}).json()
    assert mine["effective"]["audioFormat"] == "wav"


def test_the_default_greeting_speaks_the_numbers_language(
    client: TestClient, tenant: Tenant
) -> None:
    key = {"apiKey": tenant.key, "number": A}
    greeting = "/v1/vn/voicemail/greeting"
    assert pcm_of_wav(client.get(greeting, params=key).content) == default_greeting()
    client.put(URL, params=key, json={"language": "en"})
    assert pcm_of_wav(client.get(greeting, params=key).content) == default_greeting("en")
    assert default_greeting("en") not in (default_greeting(), default_greeting("fr"))
