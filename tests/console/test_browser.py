"""The console in a real browser: Debian's Chromium driven by Playwright, against a real
``renvoi serve``; each page checked by axe-core (no serious or critical violation) and
photographed at a desktop's width and a phone's (360 px).

Chromium and axe-core are installed by CI (``chromium`` from apt, axe-core from the npm
registry by ``make``); without them these tests skip, unless
``RENVOI_TEST_REQUIRE_BROWSER=1`` (CI sets it): then they fail. Screenshots go to
``RENVOI_TEST_SCREENSHOTS`` when set (``docs/screenshots/`` holds the committed ones).
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import wave
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from renvoi.audio.wav import wav_of_pcm
from renvoi.store import voicemail
from renvoi.store.database import Database
from renvoi.voice.spool import write_durably
from tests.harness import Server, Tenant

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(
    os.environ.get("RENVOI_TEST_AXE_JS") or Path(__file__).parents[2] / ".tools/axe/axe.min.js"
)
A = "+33757000001"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 780}

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - playwright is a dev dependency
    sync_playwright = None

_missing = [
    what
    for what, present in (
        ("chromium", CHROMIUM.exists()),
        ("axe-core", AXE.exists()),
        ("playwright", sync_playwright is not None),
    )
    if not present
]
if _missing and os.environ.get("RENVOI_TEST_REQUIRE_BROWSER") != "1":
    pytest.skip(f"not installed: {', '.join(_missing)}", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            # As root, without the network: no sandbox, nothing fetched in the background.
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def server(server_factory: Callable[..., Server]) -> Server:
    return server_factory()


@pytest.fixture
def open_page(browser: Browser, server: Server) -> Iterator[Callable[..., Page]]:
    """A page of a new browser context: English by default, or ``locale``; JavaScript on
    unless asked. The context bypasses the page's CSP only so that axe can be injected."""
    contexts = []

    def make(*, locale: str = "en-US", javascript: bool = True, phone: bool = False) -> Page:
        context = browser.new_context(
            base_url=server.url,
            locale=locale,
            java_script_enabled=javascript,
            bypass_csp=True,
            viewport=PHONE if phone else DESKTOP,
        )
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def accessible(page: Page) -> None:
    """axe-core's check of the page as it is: no serious or critical violation."""
    page.add_script_tag(content=AXE.read_text())
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)}))"""
    )
    grave = [v for v in found if v["impact"] in ("serious", "critical")]
    assert grave == [], grave


def photograph(page: Page, name: str, tmp_path: Path) -> None:
    """The page at a desktop's width and a phone's; nothing wider than the phone."""
    folder = Path(os.environ.get("RENVOI_TEST_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(folder / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(folder / f"{name}-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.set_viewport_size(DESKTOP)


def sign_in(page: Page, key: str) -> None:
    page.goto("/console/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def tone(seconds: float, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        count = int(seconds * rate)
        writer.writeframes(
            struct.pack(
                f"<{count}h",
                *(int(8000 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(count)),
            )
        )
    return out.getvalue()


def media_seconds(page: Page, selector: str) -> float:
    """How long the ``<audio>`` at ``selector`` plays, once the browser loaded it."""
    seconds: float = page.eval_on_selector(
        selector,
        """el => new Promise((done, failed) => {
            el.addEventListener("loadedmetadata", () => done(el.duration));
            el.addEventListener("error", () => failed(new Error("cannot play " + el.src)));
            el.preload = "metadata"; el.load();
        })""",
    )
    return seconds


def test_sign_in_with_the_key_a_wrong_one_refused(
    open_page: Callable[..., Page], tenant: Tenant, tmp_path: Path
) -> None:
    page = open_page()
    page.goto("/console/")
    accessible(page)
    photograph(page, "sign-in", tmp_path)
    page.get_by_label("API key").fill("sk_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("API key is invalid")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    sign_in(page, tenant.key)
    expect(page.get_by_role("table")).to_be_visible()
    expect(page.get_by_role("link", name=A, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="+33757000020")).to_have_count(0)  # globex's
    accessible(page)
    photograph(page, "numbers", tmp_path)


def test_forward_a_number_and_see_its_state_and_history(
    open_page: Callable[..., Page], tenant: Tenant, tmp_path: Path
) -> None:
    page = open_page()
    sign_in(page, tenant.key)
    page.get_by_role("link", name=A, exact=True).click()
    expect(page.get_by_role("heading", name=A, level=1)).to_be_visible()
    forwarding = page.get_by_role("form", name="Forwarding")
    forwarding.get_by_label("Forward calls").check()
    forwarding.get_by_label("Forward to").fill("06 12 34 56 78")
    forwarding.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Callforward enabled")
    expect(page.locator(".state")).to_have_text("Forwarding to +33612345678")
    history = page.get_by_role("region", name="History")
    expect(history.get_by_role("row").nth(1)).to_contain_text("Off → Forwarding to +33612345678")
    expect(history.get_by_role("row").nth(1)).to_contain_text(tenant.key_id)
    accessible(page)
    photograph(page, "number", tmp_path)


def test_a_refused_destination_shows_its_reason(
    open_page: Callable[..., Page], tenant: Tenant
) -> None:
    page = open_page()
    sign_in(page, tenant.key)
    page.goto(f"/console/numbers/{A}")
    forwarding = page.get_by_role("form", name="Forwarding")
    forwarding.get_by_label("Forward calls").check()
    forwarding.get_by_label("Forward to").fill("0899123456")
    forwarding.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Forward number is not valid: premium-rate numbers are refused"
    )
    expect(page.locator(".state")).to_have_text("Off")
    accessible(page)


def test_no_answer_in_20_seconds_then_voicemail(
    open_page: Callable[..., Page], tenant: Tenant, server: Server
) -> None:
    page = open_page()
    sign_in(page, tenant.key)
    page.goto(f"/console/numbers/{A}")
    no_answer = page.get_by_role("form", name="Fallbacks").get_by_role("group", name="If no answer")
    no_answer.get_by_label("Voicemail").check()
    no_answer.get_by_label("Email", exact=True).fill("ann@example.com")
    no_answer.get_by_label("Ring time (seconds)").fill("20")
    page.get_by_role("button", name="Save fallbacks").click()
    expect(page.get_by_role("status")).to_have_text("If no answer: Voicemail enabled")
    read = page.request.get(
        f"{server.url}/v1/vn/callforward", params={"apiKey": tenant.key, "number": A}
    ).json()
    assert read["conditions"] == {
        "noAnswer": {"type": 2, "param": "ann@example.com", "ringSeconds": 20}
    }
    group = page.get_by_role("group", name="If no answer")
    expect(group.get_by_label("Voicemail")).to_be_checked()
    accessible(page)


def test_voicemail_messages_play_and_are_deleted(
    open_page: Callable[..., Page], tenant: Tenant, server: Server, database: Database
) -> None:
    for public_id, seconds in (("0a1b2c3d4e5f60718293a4b5c6d7e8f9", 1.5), ("ffee", 3.0)):
        audio = wav_of_pcm(bytes(int(16000 * seconds)))
        write_durably(Path(server.env["RENVOI_DATA_DIR"]) / "voicemail" / f"{public_id}.wav", audio)
        voicemail.save_message(
            database,
            public_id=public_id,
            e164=A,
            call_id=f"call-{public_id}",
            caller="+33140000001",
            recipient="ann@example.com",
            received_at=datetime(2026, 12, 4, 12, int(seconds), tzinfo=UTC),
            duration_ms=int(seconds * 1000),
            audio_path=f"{public_id}.wav",
            size=len(audio),
            message_id=f"<voicemail.{public_id}@renvoi.test>",
        )
    page = open_page()
    sign_in(page, tenant.key)
    page.goto(f"/console/numbers/{A}")
    expect(page.get_by_role("heading", name="Voicemail", exact=True)).to_be_visible()
    players = page.locator(".messages audio[controls]")
    expect(players).to_have_count(2)
    assert media_seconds(page, ".messages li:first-child audio") == pytest.approx(3.0)  # newest
    accessible(page)
    page.locator(".messages li").first.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted")
    expect(page.locator(".messages audio[controls]")).to_have_count(1)
    assert media_seconds(page, ".messages li:first-child audio") == pytest.approx(1.5)


def test_a_greeting_uploaded_then_the_default_again(
    open_page: Callable[..., Page], tenant: Tenant
) -> None:
    page = open_page()
    sign_in(page, tenant.key)
    page.goto(f"/console/numbers/{A}")
    default = media_seconds(page, "section audio")
    page.get_by_label("Greeting file").set_input_files(
        {"name": "hello.wav", "mimeType": "audio/wav", "buffer": tone(1.25)}
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_have_text("OK")
    assert media_seconds(page, "section audio") == pytest.approx(1.25, abs=0.01)
    page.get_by_label("Greeting file").set_input_files(
        {"name": "bad.wav", "mimeType": "audio/wav", "buffer": b"not a wav"}
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_contain_text("WAV")
    page.get_by_role("button", name="Use default greeting").click()
    expect(page.get_by_role("status")).to_have_text("OK")
    assert media_seconds(page, "section audio") == pytest.approx(default)


def test_sign_out_ends_the_session(open_page: Callable[..., Page], tenant: Tenant) -> None:
    page = open_page()
    sign_in(page, tenant.key)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    page.goto(f"/console/numbers/{A}")
    expect(page.get_by_label("API key")).to_be_visible()  # back to signing in


def test_another_accounts_number_is_not_found_by_url(
    open_page: Callable[..., Page], tenant: Tenant, other_tenant: Tenant
) -> None:
    page = open_page()
    sign_in(page, tenant.key)
    for number in ("+33757000020", "+33757000099"):
        answer = page.goto(f"/console/numbers/{number}")
        assert answer is not None and answer.status == 404
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    accessible(page)


def test_a_post_without_a_csrf_token_is_refused(
    open_page: Callable[..., Page], tenant: Tenant, server: Server
) -> None:
    page = open_page()
    sign_in(page, tenant.key)
    forged = page.request.post(
        f"{server.url}/console/numbers/{A}/forwarding",
        form={"type": "1", "forward": "0612345678"},
        max_redirects=0,
    )
    assert forged.status == 403
    # The page's own form, its token taken out (as a page of another site would post it).
    page.goto(f"/console/numbers/{A}")
    forwarding = page.get_by_role("form", name="Forwarding")
    forwarding.locator("input[name=csrf]").evaluate("input => input.remove()")
    forwarding.get_by_label("Forward calls").check()
    forwarding.get_by_label("Forward to").fill("0612345678")
    forwarding.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Refused")).to_be_visible()
    accessible(page)
    page.goto(f"/console/numbers/{A}")
    expect(page.locator(".state")).to_have_text("Off")
    expect(page.get_by_text("No changes yet.")).to_be_visible()


def test_french_labels_with_a_french_browser(
    open_page: Callable[..., Page], tenant: Tenant, tmp_path: Path
) -> None:
    page = open_page(locale="fr-FR")
    page.goto("/console/")
    page.get_by_label("Clé API").fill("sk_faux")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("alert")).to_have_text("La Clé API n’est pas valide")
    page.get_by_label("Clé API").fill(tenant.key)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("link", name=A, exact=True).click()
    forwarding = page.get_by_role("form", name="Renvoi", exact=True)
    for label in ("Désactivé", "Renvoyer les appels", "Messagerie"):
        expect(forwarding.get_by_label(label)).to_be_visible()
    expect(page.get_by_role("group", name="Si pas de réponse")).to_be_visible()
    for heading in ("Historique", "Appels", "Messagerie"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    forwarding.get_by_label("Renvoyer les appels").check()
    forwarding.get_by_label("Renvoyer vers").fill("0899123456")
    forwarding.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"^Le numéro de transfert n’est pas valide : ")
    )
    accessible(page)
    photograph(page, "number-fr", tmp_path)


def test_every_form_works_without_javascript(
    open_page: Callable[..., Page], tenant: Tenant
) -> None:
    page = open_page(javascript=False)
    sign_in(page, tenant.key)
    page.goto(f"/console/numbers/{A}")
    forwarding = page.get_by_role("form", name="Forwarding")
    forwarding.get_by_label("Voicemail").check()
    forwarding.get_by_label("Email", exact=True).fill("ann@example.com")
    forwarding.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Voicemail enabled")
    expect(page.locator(".state")).to_have_text("Voicemail to ann@example.com")
