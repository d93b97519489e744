"""Settings: what an installation may be started with, refused before anything runs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from renvoi.config import Settings


@pytest.mark.parametrize("name", ["admin_token", "route_token", "webhook_secret", "console_secret"])
@pytest.mark.parametrize("value", ["", "   ", "0123456789abcde"])
def test_an_empty_or_short_secret_is_refused(name: str, value: str) -> None:
    """An empty ``RENVOI_ADMIN_TOKEN=`` (the ``.env.example`` line uncommented) once
    opened the admin API to ``Authorization: Bearer`` with nothing after it."""
    extra = {"webhook_url": "https://hooks.example/renvoi"} if name == "webhook_secret" else {}
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(**{name: value, **extra})  # type: ignore[arg-type]


def test_a_secret_of_16_characters_is_enough() -> None:
    assert Settings(admin_token="0123456789abcdef").admin_token is not None


def test_a_webhook_needs_its_secret() -> None:
    """Unsigned (an empty key), anyone could forge its calls."""
    with pytest.raises(ValidationError, match="RENVOI_WEBHOOK_SECRET"):
        Settings(webhook_url="https://hooks.example/renvoi")


@pytest.mark.parametrize("url", ["ftp://hooks.example/x", "hooks.example/x", "http://"])
def test_a_webhook_url_is_http_or_https(url: str) -> None:
    with pytest.raises(ValidationError, match="http"):
        Settings(webhook_url=url, webhook_secret="0123456789abcdef")


def test_the_internal_listener_defaults_to_loopback_and_kamailio_follows_it() -> None:
    settings = Settings()
    assert settings.internal_address == ("127.0.0.1", 8001)
    assert settings.route_base_url == "http://127.0.0.1:8001"
    moved = Settings(internal_listen="[::1]:9001")
    assert moved.internal_address == ("::1", 9001)
    assert moved.route_base_url == "http://[::1]:9001"
    assert Settings(route_url="http://10.0.0.2:8001/").route_base_url == "http://10.0.0.2:8001"


def test_the_internal_listener_has_a_port_of_its_own() -> None:
    with pytest.raises(ValidationError, match="RENVOI_INTERNAL_LISTEN"):
        Settings(port=8001)


@pytest.mark.parametrize("value", ["8001", "127.0.0.1:", "127.0.0.1:99999", ":8001"])
def test_a_listen_address_is_host_and_port(value: str) -> None:
    with pytest.raises(ValidationError, match="host:port"):
        Settings(internal_listen=value)


def test_a_transcription_must_fit_in_the_outbox_lease() -> None:
    """A notice still transcribing when its lease ends would be sent twice; with
    transcription off, any lease will do."""
    assert Settings(outbox_lease_seconds=2).outbox_lease_seconds == 2
    with pytest.raises(ValidationError, match="RENVOI_TRANSCRIBER_CPU_SECONDS"):
        Settings(transcriber="pocketsphinx", outbox_lease_seconds=100)
    assert Settings(transcriber="pocketsphinx", transcriber_cpu_seconds=60).transcriber


@pytest.mark.parametrize("engine", ["whisper", "module:", ":factory", ""])
def test_an_unknown_transcriber_is_refused(engine: str) -> None:
    with pytest.raises(ValidationError, match="module:factory"):
        Settings(transcriber=engine)


def test_vosk_needs_its_models() -> None:
    with pytest.raises(ValidationError, match="RENVOI_TRANSCRIBER_MODELS"):
        Settings(transcriber="vosk")
    with pytest.raises(ValidationError, match="language=path"):
        Settings(transcriber="vosk", transcriber_models="/srv/model")
