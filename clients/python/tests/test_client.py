"""``renvoi_client`` against a live ``renvoi serve``: every method of both clients, and
every exception class from the answer that raises it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from renvoi_client import (
    AlreadySetError,
    AsyncClient,
    AuthenticationError,
    Client,
    Fallback,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    RenvoiError,
    Result,
    ServiceUnavailableError,
)

from live import AUDIO, SMS_ONLY, A, B, Live, live_server

pytestmark = pytest.mark.slow
MOBILE = "+33612345678"


@pytest.fixture
def client(live: Live) -> Iterator[Client]:
    with Client(api_key=live.key, base_url=live.server.url) as client:
        yield client


def test_the_seed_operations_and_their_already_set_answers(client: Client) -> None:
    assert client.forward(A, to="0612345678") == Result(1, "Callforward enabled")
    with pytest.raises(AlreadySetError) as refused:
        client.forward(A, to=MOBILE)
    assert (refused.value.code, refused.value.http_status) == (16, 409)
    assert client.forward(A, to=MOBILE, exist_ok=True).code == 16
    dry = client.voicemail(A, email="ann@example.com", dry_run=True)
    assert (dry.code, dry.dry_run, dry.changed) == (3, True, False)
    assert client.voicemail(A, email="ann@example.com").changed
    assert client.voicemail(A, email="ann@example.com", exist_ok=True).code == 17
    assert client.disable(A) == Result(2, "Callforward disabled")
    assert client.disable(A, exist_ok=True).code == 18


def test_fallbacks_state_and_history(client: Client) -> None:
    client.forward(B, to=MOBILE, exist_ok=True)
    assert (
        client.set_fallback(B, "noAnswer", voicemail="bob@example.com", ring_seconds=25).code == 3
    )
    assert client.set_fallback(B, "busy", forward="+33698765432").code == 1
    state = client.get(B)
    assert (state.number, state.type, state.param, state.status) == (B, 1, MOBILE, "active")
    assert state.conditions == {
        "noAnswer": Fallback(2, "bob@example.com", 25),
        "busy": Fallback(1, "+33698765432"),
    }
    assert state.updated_at is not None and state.updated_at.tzinfo is not None
    assert client.set_fallback(B, "busy").code == 2  # neither: removed
    changes = client.history(B, limit=2)
    assert [(c.condition, c.type, c.previous_type) for c in changes] == [
        ("busy", 0, 1),
        ("busy", 1, 0),
    ]
    with pytest.raises(ValueError):
        client.set_fallback(B, "busy", forward=MOBILE, voicemail="bob@example.com")


def test_calls_and_messages(client: Client, tmp_path: Path) -> None:
    [call] = client.calls(A)
    assert (call.call_id, call.caller, call.action) == ("call-1", "+33140000001", "reject")
    [message] = client.messages(B)
    assert (message.id, message.number, message.caller, message.size) == (
        "m1",
        B,
        "+33140000002",
        len(AUDIO),
    )
    assert message.download(tmp_path / "m1.wav").read_bytes() == AUDIO


def test_voicemail_settings(client: Client) -> None:
    settings = client.set_voicemail_settings(B, max_seconds=60, language="en")
    assert (settings.number, settings.max_seconds, settings.language) == (B, 60, "en")
    assert settings.audio_format is None and settings.effective["audio_format"] == "wav"
    assert client.voicemail_settings(B) == settings
    with pytest.raises(InvalidRequestError) as refused:
        client.set_voicemail_settings(B, max_seconds=601)
    assert refused.value.code == 23 and "maxSeconds" in str(refused.value)
    assert client.set_voicemail_settings(B, max_seconds=None).max_seconds is None
    with pytest.raises(TypeError):
        client.set_voicemail_settings(B, greeting="x")


@pytest.mark.parametrize(
    ("call", "error", "code"),
    [
        (lambda c: c.get(A), AuthenticationError, 10),
        (lambda c: c.forward("+33757999999", to=MOBILE), AuthenticationError, 10),
    ],
    ids=["read", "change"],
)
def test_a_wrong_key_is_an_authentication_error(
    live: Live, call: object, error: type[RenvoiError], code: int
) -> None:
    with Client(api_key="rv_wrong", base_url=live.server.url) as wrong:
        with pytest.raises(error) as refused:
            call(wrong)  # type: ignore[operator]
    assert (refused.value.code, refused.value.http_status) == (code, 401)


def test_each_refusal_is_its_class(client: Client) -> None:
    cases = [
        (lambda: client.forward(A, to="0899123456"), InvalidRequestError, 12, 400),
        (lambda: client.set_fallback(A, "Busy", forward=MOBILE), InvalidRequestError, 21, 400),
        (lambda: client.voicemail(A, email="not-an-address"), InvalidRequestError, 9, 400),
        (lambda: client.get("+33757999999"), NotFoundError, 13, 404),
        (lambda: client.forward(SMS_ONLY, to=MOBILE), ForbiddenError, 14, 403),
    ]
    for call, error, code, status in cases:
        with pytest.raises(error) as refused:
            call()
        assert (refused.value.code, refused.value.http_status) == (code, status)
        assert refused.value.message


def test_rate_limits_wait_for_retry_after_or_raise(tmp_path: Path) -> None:
    """A real server that lets one request a second through: with no retries the
    client raises 19 with its Retry-After; with retries it waits and gets through."""
    for live in live_server(tmp_path, RENVOI_RATE_KEY_PER_SECOND="1", RENVOI_RATE_KEY_BURST="1"):
        with Client(api_key=live.key, base_url=live.server.url, max_retries=0) as impatient:
            with pytest.raises(RateLimitedError) as refused:
                for _ in range(3):
                    impatient.get(A)
        assert (refused.value.code, refused.value.http_status) == (19, 429)
        assert refused.value.retry_after is not None and refused.value.retry_after >= 1
        with Client(api_key=live.key, base_url=live.server.url, max_retries=3) as patient:
            assert [patient.get(A).number for _ in range(3)] == [A, A, A]


class _Scripted(BaseHTTPRequestHandler):
    """A real HTTP server that answers from a script: each request the next answer
    (status, envelope), the last one repeated; ``seen`` counts the requests."""

    script: ClassVar[list[tuple[int, dict[str, object]]]] = []
    seen = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        status, body = self.script[min(type(self).seen, len(self.script) - 1)]
        type(self).seen += 1
        content = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, *args: object) -> None:
        pass


DOWN = (503, {"success": False, "code": 20, "message": "Service unavailable"})
ENABLED = (200, {"success": True, "code": 1, "message": "Callforward enabled"})
INVALID = (400, {"success": False, "code": 12, "message": "Forward number is not valid"})


@pytest.fixture
def scripted() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def play(*script: tuple[int, dict[str, object]]) -> None:
    _Scripted.script, _Scripted.seen = list(script), 0


def test_503_is_retried_with_backoff_then_raised(scripted: str) -> None:
    play(DOWN, DOWN, ENABLED)
    with Client(api_key="rv_x", base_url=scripted, backoff=0.01) as client:
        assert client.forward(A, to=MOBILE).code == 1
    assert _Scripted.seen == 3
    play(DOWN)
    with Client(api_key="rv_x", base_url=scripted, backoff=0.01, max_retries=2) as client:
        with pytest.raises(ServiceUnavailableError) as refused:
            client.forward(A, to=MOBILE)
    assert (refused.value.code, refused.value.http_status, _Scripted.seen) == (20, 503, 3)


def test_nothing_else_is_retried(scripted: str) -> None:
    play(INVALID, ENABLED)
    with Client(api_key="rv_x", base_url=scripted, backoff=0.01) as client:
        with pytest.raises(InvalidRequestError):
            client.forward(A, to=MOBILE)
    assert _Scripted.seen == 1
    play((502, {"not": "renvoi"}))  # a proxy's answer: no code, not retried
    with Client(api_key="rv_x", base_url=scripted, backoff=0.01) as client:
        with pytest.raises(RenvoiError) as refused:
            client.forward(A, to=MOBILE)
    assert (refused.value.code, refused.value.http_status, _Scripted.seen) == (None, 502, 1)


def test_the_async_client_has_the_same_methods(live: Live, tmp_path: Path) -> None:
    sync_methods = {name for name in vars(Client) if not name.startswith("_")} - {"close"}
    async_methods = {name for name in vars(AsyncClient) if not name.startswith("_")} - {"aclose"}
    assert sync_methods == async_methods

    async def main() -> None:
        async with AsyncClient(api_key=live.key, base_url=live.server.url) as client:
            assert (await client.forward(A, to="+33611111111")).code == 1
            assert (await client.voicemail(A, email="eve@example.com")).code == 3
            assert (await client.set_fallback(A, "unavailable", forward=MOBILE)).code == 1
            assert (await client.get(A)).conditions["unavailable"] == Fallback(1, MOBILE)
            assert (await client.history(A, limit=1))[0].condition == "unavailable"
            assert [c.call_id for c in await client.calls(A)] == ["call-1"]
            [message] = await client.messages(B)
            assert (await message.download(tmp_path / "m.wav")).read_bytes() == AUDIO
            settings = await client.set_voicemail_settings(B, audio_format="mp3")
            read = await client.voicemail_settings(B)
            assert read.audio_format == settings.audio_format == "mp3"
            assert (await client.disable(A)).code == 2
            with pytest.raises(AlreadySetError):
                await client.disable(A)

    asyncio.run(main())


def readme_example(live: Live) -> str:
    """The README's example, aimed at ``live``, whose number it uses is put back off
    with no fallback first (as the example expects a number it has not set)."""
    with Client(api_key=live.key, base_url=live.server.url) as client:
        client.disable(A, exist_ok=True)
        for condition in ("busy", "noAnswer", "unavailable"):
            client.set_fallback(A, condition, exist_ok=True)
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    return example.replace('"rv_..."', repr(live.key)).replace(
        '"http://127.0.0.1:8000"', repr(live.server.url)
    )


def test_the_readme_example_runs(
    live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(live), "README.md", "exec"), {})
    assert "13 404 Virtual number does not exist" in capsys.readouterr().out


def test_installed_alone_in_a_fresh_venv(live: Live, tmp_path: Path) -> None:
    """``pip install clients/python`` into a venv that holds nothing else, then the
    README's example: the distribution needs nothing of renvoi's."""
    uv = Path(__file__).parents[3] / ".tools" / "bin" / "uv"
    venv = tmp_path / "venv"
    subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(uv), "pip", "install", "-q", "--python", str(python), str(Path(__file__).parents[1])],
        check=True,
    )
    installed = subprocess.run(
        [str(uv), "pip", "freeze", "--python", str(python)], capture_output=True, text=True
    ).stdout
    assert "renvoi-client" in installed and "renvoi==" not in installed
    script = tmp_path / "example.py"
    script.write_text(readme_example(live))
    done = subprocess.run(
        [str(python), str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "13 404 Virtual number does not exist" in done.stdout
