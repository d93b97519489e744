"""The ``renvoi`` command, as operator.md fixes it: ``--json`` prints one JSON document."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from renvoi.cli import main
from renvoi.domain.conditions import parse_fallback
from renvoi.domain.numbers import DEFAULT_REFUSED_TYPES, refused_types
from renvoi.store import fallbacks
from tests.harness import forward, make_tenant, record_call


@pytest.fixture
def renvoi(
    database_url: str,
    database: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    """Run the command in-process; return its JSON output (or raise SystemExit)."""
    monkeypatch.setenv("RENVOI_DATABASE_URL", database_url)

    def run(*args: str) -> Any:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main([*args, "--json"])
        if exited.value.code != 0:
            raise exited.value
        out = capsys.readouterr().out
        assert out.count("\n") == 1, "exactly one JSON document"
        return json.loads(out)

    return run


def test_account_key_and_number_commands(renvoi: Any) -> None:
    account = renvoi("account", "create", "acme")
    assert set(account) == {"id", "name", "api_key"} and account["name"] == "acme"
    listed = renvoi("account", "list")
    assert [set(a) for a in listed] == [{"id", "name", "created_at"}]

    key = renvoi("key", "create", account["id"])
    assert set(key) == {"id", "account_id", "api_key"}
    revoked = renvoi("key", "revoke", key["id"])
    assert set(revoked) == {"id", "revoked_at"} and revoked["revoked_at"]

    added = renvoi("number", "add", "07 57 00 00 01", "--account", account["id"])
    assert added == {
        "number": "+33757000001",
        "account_id": account["id"],
        "status": "active",
        "voice": True,
    }
    sms = renvoi("number", "add", "+33757000009", "--account", account["id"], "--sms-only")
    assert sms["voice"] is False

    shown = renvoi("number", "show", "+33757000001")
    assert set(shown) >= {"number", "account_id", "status", "voice", "type", "param", "updated_at"}
    assert (shown["type"], shown["param"]) == (0, None)
    assert renvoi("number", "suspend", "+33757000001")["status"] == "suspended"
    assert renvoi("number", "resume", "+33757000001")["status"] == "active"
    assert [n["number"] for n in renvoi("number", "list", "--account", account["id"])] == [
        "+33757000001",
        "+33757000009",
    ]
    assert renvoi("number", "history", "+33757000001") == []
    removed = renvoi("number", "remove", "+33757000009", "--yes")
    assert (removed["number"], removed["status"]) == ("+33757000009", "removed")
    assert len(renvoi("number", "list")) == 1


def test_key_rotate_and_list(renvoi: Any) -> None:
    """integrations.md: printed as ``key create`` prints a key, plus ``replaces`` and
    the old key's ``expires_at``; a second rotation of that key is refused."""
    account = renvoi("account", "create", "acme")
    [old] = renvoi("key", "list", account["id"])
    rotated = renvoi("key", "rotate", old["id"], "--grace", "3600")
    assert set(rotated) == {"id", "account_id", "api_key", "replaces", "expires_at"}
    assert (rotated["replaces"], rotated["account_id"]) == (old["id"], account["id"])
    listed = {key["id"]: key for key in renvoi("key", "list", account["id"])}
    assert (listed[old["id"]]["expires_at"], listed[old["id"]]["revoked_at"]) == (
        rotated["expires_at"],
        None,
    )
    assert listed[rotated["id"]]["replaces"] == old["id"]
    with pytest.raises(SystemExit) as exited:
        renvoi("key", "rotate", old["id"])
    assert exited.value.code == 1


def test_account_audio(renvoi: Any) -> None:
    account = renvoi("account", "create", "acme")
    chosen = renvoi("account", "audio", account["id"], "--format", "mp3")
    assert chosen == {"id": account["id"], "audio_format": "mp3"}
    assert renvoi("account", "audio", account["id"], "--clear")["audio_format"] is None
    with pytest.raises(SystemExit) as exited:
        renvoi("account", "audio", account["id"])
    assert exited.value.code == 2


def test_account_webhook(renvoi: Any) -> None:
    account = renvoi("account", "create", "acme")
    made = renvoi("account", "webhook", account["id"], "--url", "https://hooks.example/acme")
    assert set(made) == {"id", "webhook_url", "webhook_secret"}
    assert made["webhook_secret"].startswith("whsec_")
    cleared = renvoi("account", "webhook", account["id"], "--clear")
    assert (cleared["webhook_url"], cleared["webhook_secret"]) == (None, None)
    with pytest.raises(SystemExit) as exited:
        renvoi("account", "webhook", account["id"])
    assert exited.value.code == 2


def test_number_calls(renvoi: Any, database: Any) -> None:
    account = renvoi("account", "create", "acme")
    renvoi("number", "add", "+33757000001", "--account", account["id"])
    record_call(database, "+33757000001", "c1", "+33100000001")
    [call] = renvoi("number", "calls", "+33757000001")
    assert (call["call_id"], call["caller"], call["action"], call["duration"]) == (
        "c1",
        "+33100000001",
        "reject",
        None,
    )


def test_errors_are_one_line_on_stderr_and_exit_1(
    renvoi: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    account = renvoi("account", "create", "acme")
    account_key = renvoi("key", "list", account["id"])[0]["id"]
    renvoi("number", "add", "+33757000001", "--account", account["id"])
    for args, name in [
        (["number", "add", "+33757000001", "--account", account["id"]], "AlreadyExistsError"),
        (["number", "add", "NUMBET", "--account", account["id"]], "InvalidValueError"),
        (["number", "show", "+33757999999"], "NotFoundError"),
        (["key", "revoke", "key_nope"], "NotFoundError"),
        (["key", "rotate", "key_nope"], "NotFoundError"),
        (["key", "rotate", account_key, "--grace", "-1"], "InvalidValueError"),
        (["key", "create", "acc_nope"], "NotFoundError"),
    ]:
        with pytest.raises(SystemExit) as exited:
            renvoi(*args)
        assert exited.value.code == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith(f"{name}: ") and captured.err.count("\n") == 1


def test_bad_usage_exits_2(renvoi: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        renvoi("number", "add", "+33757000001")  # --account missing
    assert exited.value.code == 2


def test_installed_command_runs(tmp_path: Any) -> None:
    """The console script itself, in a subprocess: db upgrade, then an account."""
    env = {"RENVOI_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "renvoi"]
    upgrade = subprocess.run(
        [*command, "db", "upgrade", "--json"], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(upgrade.stdout) == {"database": "upgraded"}
    created = subprocess.run(
        [*command, "account", "create", "x", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(created.stdout)["api_key"].startswith("rv_")
    assert (tmp_path / "renvoi.db").exists()
    bad = subprocess.run(
        [*command, "account", "list"],
        env={**env, "RENVOI_DEFAULT_REGION": "FR", "RENVOI_REFUSED_NUMBER_TYPES": "NOPE"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and bad.stderr.startswith(
        "SettingsError: RENVOI_REFUSED_NUMBER_TYPES"
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"RENVOI_ADMIN_TOKEN": ""}, "RENVOI_ADMIN_TOKEN: at least 16 characters"),
        ({"RENVOI_ROUTE_TOKEN": "short"}, "RENVOI_ROUTE_TOKEN: at least 16 characters"),
        ({"RENVOI_WEBHOOK_URL": "https://hooks.example/x"}, "needs RENVOI_WEBHOOK_SECRET"),
    ],
)
def test_a_refused_setting_is_one_line_naming_it(
    tmp_path: Any, env: dict[str, str], named: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "renvoi", "account", "list"],
        env={"RENVOI_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("SettingsError: ") and named in done.stderr


def test_number_route_and_kamailio_config(renvoi: Any, tmp_path: Any, monkeypatch: Any) -> None:
    account = renvoi("account", "create", "acme")
    renvoi("number", "add", "+33757000001", "--account", account["id"])
    uri = "sip:+33757000003@pbx.example:5060"
    assert renvoi("number", "route", "+33757000001", "--sip", uri)["sip_destination"] == uri
    assert renvoi("number", "show", "+33757000001")["sip_destination"] == uri
    assert renvoi("number", "route", "+33757000001", "--clear")["sip_destination"] is None
    with pytest.raises(SystemExit) as exited:
        renvoi("number", "route", "+33757000001", "--sip", "http://nope")
    assert exited.value.code == 1

    monkeypatch.setenv("RENVOI_SIP_LISTEN", "udp:127.0.0.1:15060")
    monkeypatch.setenv("RENVOI_SIP_TRUNK", "10.1.2.3:5080")
    monkeypatch.setenv("RENVOI_KAMAILIO_RUNDIR", str(tmp_path / "run"))
    monkeypatch.setenv("RENVOI_PORT", "18080")
    monkeypatch.setenv("RENVOI_INTERNAL_LISTEN", "127.0.0.1:18081")
    out = tmp_path / "kamailio.cfg"
    assert renvoi("kamailio", "config", "--out", str(out)) == {"path": str(out)}
    text = out.read_text()
    assert text.startswith("#!KAMAILIO\n")
    assert '#!substdef "!RENVOI_LISTEN!udp:127.0.0.1:15060!g"' in text
    assert f'#!substdef "!RENVOI_RUNDIR!{tmp_path / "run"}!g"' in text
    assert "listen=RENVOI_LISTEN" in text
    # Kamailio asks the internal listener, wherever the API is served.
    assert '#!substdef "!RENVOI_ROUTE_URL!http://127.0.0.1:18081!g"' in text
    assert "# Run it with: kamailio -DD -E -m 256 -f THIS_FILE" in text
    assert out.stat().st_mode & 0o777 == 0o600  # it names the database and the token
    assert (tmp_path / "run").is_dir()
    printed = renvoi("kamailio", "config")
    assert printed["config"] == text

    # Every plan written again, under one new generation past every change before it.
    before = renvoi("kamailio", "sync")["generation"]
    renvoi("number", "suspend", "+33757000001")
    assert renvoi("kamailio", "sync")["generation"] == before + 2


def test_account_countries(renvoi: Any) -> None:
    account = renvoi("account", "create", "acme")
    assert renvoi("account", "countries", account["id"]) == {"id": account["id"], "countries": None}
    assert renvoi("account", "countries", account["id"], "fr", "BE")["countries"] == ["BE", "FR"]
    assert renvoi("account", "countries", account["id"])["countries"] == ["BE", "FR"]
    assert renvoi("account", "countries", account["id"], "--all")["countries"] is None
    with pytest.raises(SystemExit) as refused:
        renvoi("account", "countries", account["id"], "XX")
    assert refused.value.code != 0


def test_a_command_before_db_upgrade_says_so_and_creates_nothing(tmp_path: Any) -> None:
    """It once printed 'no such table: accounts' and left an empty database behind."""
    data = tmp_path / "data"
    env = {"RENVOI_DATA_DIR": str(data), "PATH": "/usr/bin:/bin"}
    for args in (["account", "create", "acme"], ["account", "list"]):
        done = subprocess.run(
            [sys.executable, "-m", "renvoi", *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 1
        assert done.stderr.startswith("MigrationNeededError: no database at ")
        assert "renvoi db upgrade" in done.stderr and done.stderr.count("\n") == 1
    assert not data.exists()


def test_a_database_behind_its_schema_is_refused(
    renvoi: Any, database: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from alembic import command

    from renvoi.store.migrate import alembic_config, upgrade

    command.downgrade(alembic_config(database), "0006")
    try:
        with pytest.raises(SystemExit) as exited:
            renvoi("account", "list")
        assert exited.value.code == 1
        assert "at revision 0006" in capsys.readouterr().err
    finally:
        upgrade(database)


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_an_account_name_is_1_to_200_characters(renvoi: Any, name: str) -> None:
    """As the admin API answers: one rule, in the store."""
    with pytest.raises(SystemExit) as exited:
        renvoi("account", "create", name)
    assert exited.value.code == 1


def test_a_key_is_printed_whole_however_narrow_the_terminal(
    renvoi: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An 80-column terminal once showed 'rv_hqlv5-4nz4WOmBXoIOzYdglZg_…': a key shown
    only once, lost."""
    account = renvoi("account", "create", "A company with a rather long name, SARL")
    monkeypatch.setenv("COLUMNS", "40")
    with pytest.raises(SystemExit):
        main(["key", "create", account["id"]])
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.startswith("api_key")]
    key = line.split()[-1]
    assert key.startswith("rv_") and len(key) >= 35 and "…" not in out
    with pytest.raises(SystemExit):
        main(["account", "countries", account["id"], "FR", "BE"])
    assert "BE, FR" in capsys.readouterr().out  # a list, not a Python repr


def test_number_show_and_history_carry_the_fallbacks(renvoi: Any, database: Any) -> None:
    """operator.md with conditions.md: ``"conditions"`` as the read extension shows them,
    and each history row's ``"condition"`` (null for the primary setting)."""
    tenant = make_tenant(database, "acme", ["+33757000001"])
    forward(database, tenant, "+33757000001", "+33612345678")
    command = parse_fallback(
        {
            "number": "+33757000001",
            "condition": "noAnswer",
            "type": 2,
            "param": "ann@example.com",
            "ringSeconds": 30,
        },
        region="FR",
        refused=refused_types(DEFAULT_REFUSED_TYPES),
    )
    fallbacks.change_fallback(database, command, principal=tenant.principal, region="FR")
    shown = renvoi("number", "show", "+33757000001")
    assert shown["conditions"] == {
        "noAnswer": {"type": 2, "param": "ann@example.com", "ringSeconds": 30}
    }
    history = renvoi("number", "history", "+33757000001")
    assert [(row["condition"], row["type"]) for row in history] == [("noAnswer", 2), (None, 1)]
    assert (history[0]["ring_seconds"], history[0]["previous_ring_seconds"]) == (30, 20)
