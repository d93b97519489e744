"""The console over HTTP (``contract/console.md``), without a browser: sessions, CSRF,
tenancy, the API's checks and messages, French. ``test_browser.py`` drives Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from renvoi.api.app import create_app
from renvoi.config import Settings
from renvoi.store import accounts, numbers
from renvoi.store.database import Database
from tests.harness import Tenant

A = "+33757000001"
PAGE = f"/console/numbers/{A}"


@pytest.fixture
def console(settings: Settings, database: Database) -> TestClient:
    with TestClient(create_app(settings, db=database), base_url="http://127.0.0.1:8000") as c:
        yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def notes(html: str, role: str) -> list[str]:
    block = re.search(rf'<div role="{role}">(.*?)</div>', html, re.S)
    return re.findall(r"<p>(.*?)</p>", block.group(1)) if block else []


def signed_in(console: TestClient, key: str) -> str:
    """Sign in; the CSRF token of the session."""
    token = csrf_of(console.get("/console/").text)
    answer = console.post(
        "/console/sign-in", data={"csrf": token, "api_key": key}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    renewed = csrf_of(console.get("/console/").text)
    assert renewed != token  # a new session, a new token: none fixed before sign-in
    return renewed


def test_the_sign_in_form_and_a_wrong_key(console: TestClient) -> None:
    page = console.get("/console/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'for="api-key">API key</label>' in page.text and ">Sign in</button>" in page.text
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie
    wrong = console.post("/console/sign-in", data={"csrf": csrf_of(page.text), "api_key": "x"})
    assert wrong.status_code == 401
    assert notes(wrong.text, "alert") == ["API key is invalid"]
    assert "Sign out" not in wrong.text


def test_signing_in_lists_the_accounts_numbers_only(
    console: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    signed_in(console, tenant.key)
    home = console.get("/console/").text
    assert f'<a href="/console/numbers/%2B33757000001">{A}</a>' in home
    assert "+33757000020" not in home  # globex's
    assert re.search(r"\+33757000010</a></td>\s*<td>Off <span class=\"mark\">suspended", home)
    assert re.search(r"\+33757000009</a></td>\s*<td>Off <span class=\"mark\">SMS only", home)


def test_a_change_is_the_apis_with_its_history_row(
    console: TestClient, tenant: Tenant, database: Database
) -> None:
    token = signed_in(console, tenant.key)
    done = console.post(
        f"{PAGE}/forwarding",
        data={"csrf": token, "type": "1", "forward": "06 12 34 56 78"},
        follow_redirects=True,
    )
    assert notes(done.text, "status") == ["Callforward enabled"]
    assert "Forwarding to +33612345678" in done.text
    [row] = numbers.history(database, A, region="FR")
    assert (row.type, row.param, row.key_id) == (1, "+33612345678", tenant.key_id)
    again = console.post(
        f"{PAGE}/forwarding",
        data={"csrf": token, "type": "1", "forward": "+33612345678"},
        follow_redirects=True,
    )
    assert notes(again.text, "alert") == ["Callforward already enabled"]
    refused = console.post(
        f"{PAGE}/forwarding",
        data={"csrf": token, "type": "1", "forward": "0899123456"},
        follow_redirects=True,
    )
    assert notes(refused.text, "alert") == [
        "Forward number is not valid: premium-rate numbers are refused"
    ]
    assert len(numbers.history(database, A, region="FR")) == 1  # refusals write nothing


def test_fallbacks_change_only_what_the_form_changes(console: TestClient, tenant: Tenant) -> None:
    token = signed_in(console, tenant.key)
    form = {
        "csrf": token,
        "busy-type": "0",
        "noAnswer-type": "2",
        "noAnswer-email": "ann@example.com",
        "noAnswer-ring": "25",
        "unavailable-type": "0",
    }
    done = console.post(f"{PAGE}/fallbacks", data=form, follow_redirects=True)
    assert notes(done.text, "status") == ["If no answer: Voicemail enabled"]
    read = console.get("/v1/vn/callforward", params={"apiKey": tenant.key, "number": A})
    assert read.json()["conditions"] == {
        "noAnswer": {"type": 2, "param": "ann@example.com", "ringSeconds": 25}
    }
    same = console.post(f"{PAGE}/fallbacks", data=form, follow_redirects=True)
    assert notes(same.text, "status") == ["Fallbacks unchanged"]
    bad = console.post(
        f"{PAGE}/fallbacks", data={**form, "noAnswer-ring": "300"}, follow_redirects=True
    )
    assert notes(bad.text, "alert") == ["If no answer: Ring time is not valid"]


def test_saving_the_fallbacks_untouched_changes_nothing(
    console: TestClient, tenant: Tenant, database: Database
) -> None:
    """The page shows a 20 s ring time even with no no-answer fallback: saved as it is,
    nothing is sent (a ring time goes with a fallback that is on)."""
    token = signed_in(console, tenant.key)
    untouched = {
        "csrf": token,
        "busy-type": "0",
        "noAnswer-type": "0",
        "noAnswer-ring": "20",
        "unavailable-type": "0",
    }
    saved = console.post(f"{PAGE}/fallbacks", data=untouched, follow_redirects=True)
    assert notes(saved.text, "status") == ["Fallbacks unchanged"]
    assert notes(saved.text, "alert") == []
    assert numbers.history(database, A, region="FR") == []


def test_greetings_follow_the_apis_rules(console: TestClient, tenant: Tenant) -> None:
    token = signed_in(console, tenant.key)
    suspended = console.post(
        "/console/numbers/+33757000010/greeting",
        data={"csrf": token, "greeting_text": "Bonjour"},
        follow_redirects=True,
    )
    assert notes(suspended.text, "alert") == ["Number is disabled"]
    empty = console.post(f"{PAGE}/greeting", data={"csrf": token}, follow_redirects=True)
    assert notes(empty.text, "alert") == ["Send a file or a text"]
    huge = console.post(
        f"{PAGE}/greeting",
        data={"csrf": token},
        files={"greeting_file": ("big.wav", b"\0" * (9 * 1024 * 1024), "audio/wav")},
        follow_redirects=True,
    )
    assert huge.status_code == 400
    assert "Audio is larger than 8388608 bytes" in huge.text


def test_voicemail_settings_as_the_api_checks_them(console: TestClient, tenant: Tenant) -> None:
    token = signed_in(console, tenant.key)
    form = {
        "csrf": token,
        "maxSeconds": "60",
        "minSeconds": "",
        "silenceSeconds": "",
        "language": "en",
        "audioFormat": "mp3",
    }
    saved = console.post(f"{PAGE}/voicemail-settings", data=form, follow_redirects=True)
    assert notes(saved.text, "status") == ["OK"]
    read = console.get(
        "/v1/vn/voicemail/settings", params={"apiKey": tenant.key, "number": A}
    ).json()
    assert read["settings"] == {
        "maxSeconds": 60,
        "minSeconds": None,
        "silenceSeconds": None,
        "language": "en",
        "audioFormat": "mp3",
    }
    refused = console.post(
        f"{PAGE}/voicemail-settings", data={**form, "maxSeconds": "601"}, follow_redirects=True
    )
    assert notes(refused.text, "alert") == [
        "Voicemail setting is not valid: maxSeconds must be an integer from 5 to 600"
    ]
    cleared = console.post(
        f"{PAGE}/voicemail-settings",
        data={**form, "maxSeconds": "", "language": "", "audioFormat": ""},
        follow_redirects=True,
    )
    assert notes(cleared.text, "status") == ["OK"]
    assert "Longest message (seconds) [180]" in cleared.text


def test_a_post_without_the_sessions_csrf_token_changes_nothing(
    console: TestClient, tenant: Tenant, database: Database
) -> None:
    signed_in(console, tenant.key)
    for data in ({"type": "0"}, {"type": "1", "forward": "0612345678", "csrf": "forged"}):
        refused = console.post(f"{PAGE}/forwarding", data=data, follow_redirects=False)
        assert refused.status_code == 403
    assert numbers.history(database, A, region="FR") == []
    assert console.post("/console/sign-out", data={}).status_code == 403


def test_another_accounts_number_or_message_is_not_found_whatever_the_url(
    console: TestClient, tenant: Tenant, other_tenant: Tenant, database: Database
) -> None:
    token = signed_in(console, tenant.key)
    missing = console.get("/console/numbers/+33757000099")
    for url in (
        "/console/numbers/+33757000020",
        "/console/numbers/0757000020",
        "/console/numbers/+33757000020/greeting.wav",
        f"{PAGE}/voicemail/0123456789abcdef.wav",
        "/console/numbers/not-a-number",
    ):
        answer = console.get(url)
        assert (answer.status_code, answer.text) == (404, missing.text), url
    post = console.post(
        "/console/numbers/+33757000020/forwarding", data={"csrf": token, "type": "0"}
    )
    assert (post.status_code, post.text) == (404, missing.text)
    assert numbers.history(database, "+33757000020", region="FR") == []


def test_a_revoked_key_ends_its_session_at_once(
    console: TestClient, tenant: Tenant, database: Database
) -> None:
    signed_in(console, tenant.key)
    assert console.get(PAGE).status_code == 200
    accounts.revoke_key(database, tenant.key_id)
    ended = console.get(PAGE, follow_redirects=True)
    assert notes(ended.text, "alert") == ["Your session has ended; sign in again."]
    assert 'for="api-key"' in ended.text


def test_a_session_ends_after_its_hours(
    database_url: str, database: Database, tenant: Tenant, tmp_path: object
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, console_session_hours=1)
    app = create_app(settings, db=database)
    with TestClient(app, base_url="http://127.0.0.1:8000") as console:
        signed_in(console, tenant.key)
        session = app.state.console_sessions
        cookie = console.cookies.get("renvoi_console")
        data = session._signer.loads(cookie)
        data["t"] = (datetime.now(UTC) - timedelta(hours=1, minutes=1)).timestamp()
        console.cookies.clear()
        console.cookies.set(
            "renvoi_console", session._signer.dumps(data), domain="127.0.0.1", path="/console"
        )
        assert 'for="api-key"' in console.get("/console/").text  # signed out


def test_the_cookie_is_secure_when_asked(
    database_url: str, database: Database, tmp_path: object
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, console_secure_cookies=True)
    with TestClient(create_app(settings, db=database)) as console:
        assert "Secure" in console.get("/console/").headers["set-cookie"]


def test_wrong_keys_from_one_address_are_throttled_as_on_the_api(
    console: TestClient, tenant: Tenant
) -> None:
    token = csrf_of(console.get("/console/").text)
    codes = [
        console.post("/console/sign-in", data={"csrf": token, "api_key": f"bad{n}"}).status_code
        for n in range(31)
    ]
    assert codes[:30] == [401] * 30 and codes[30] == 429
    locked = console.post("/console/sign-in", data={"csrf": token, "api_key": tenant.key})
    assert notes(locked.text, "alert") == ["Too many requests"]


def test_french_labels_and_messages(console: TestClient, tenant: Tenant) -> None:
    french = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
    page = console.get("/console/", headers=french).text
    assert '<html lang="fr">' in page and ">Clé API</label>" in page
    wrong = console.post(
        "/console/sign-in", data={"csrf": csrf_of(page), "api_key": "x"}, headers=french
    )
    assert notes(wrong.text, "alert") == ["La Clé API n’est pas valide"]
    token = signed_in(console, tenant.key)
    number = console.get(PAGE, headers=french).text
    assert 'aria-label="Renvoi"' in number and "Renvoyer les appels" in number
    done = console.post(
        f"{PAGE}/forwarding",
        data={"csrf": token, "type": "2", "email": "ann@example.com"},
        headers=french,
        follow_redirects=True,
    )
    assert notes(done.text, "status") == ["Voicemail enabled"]  # the contract's French


def test_the_consoles_pages_are_off_when_asked(
    database_url: str, database: Database, tmp_path: object
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, console=False)
    with TestClient(create_app(settings, db=database)) as client:
        assert client.get("/console/").status_code == 404
