"""The generated Kamailio configuration (``voice/kamailio.py``): its header from the
settings, nothing of one machine hard-coded in the body. Kamailio runs it in tests/calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from renvoi.config import Settings
from renvoi.voice.kamailio import render_config


def test_the_header_carries_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        sip_listen="udp:10.0.0.5:5060",
        internal_listen="10.0.0.6:9001",
        route_token="a-route-token-for-tests",
        kamailio_children=4,
    )
    text = render_config(settings)
    assert text.startswith("#!KAMAILIO\n")
    for line in (
        '#!substdef "!RENVOI_LISTEN!udp:10.0.0.5:5060!g"',
        '#!substdef "!RENVOI_ROUTE_URL!http://10.0.0.6:9001!g"',
        f'#!substdef "!RENVOI_RUNDIR!{tmp_path / "kamailio"}!g"',
        '#!substdef "!RENVOI_CHILDREN!4!g"',
        '#!substdef "!RENVOI_AUTH_HEADER!Authorization: Bearer a-route-token-for-tests!g"',
        '#!substdef "!RENVOI_PUSH_TOKEN!a-route-token-for-tests!g"',
        '#!substdef "!RENVOI_PROXY!10.0.0.5:5060!g"',
        '#!substdef "!RENVOI_DB_MODULE!db_sqlite!g"',
        f'#!substdef "!RENVOI_DB_URL!sqlite:///{(tmp_path / "renvoi.db").resolve()}!g"',
        '#!substdef "!RENVOI_MAX_DIVERSIONS!5!g"',
    ):
        assert line in text
    body = text[text.rindex("#!substdef") :].split("\n", 1)[1]
    assert "10.0.0." not in body  # the body names settings, never an address


def test_kamailio_reads_the_plans_from_the_same_postgresql(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url="postgresql+psycopg://renvoi:s3cret@db.example:6432/calls"
    )
    text = render_config(settings)
    assert '#!substdef "!RENVOI_DB_MODULE!db_postgres!g"' in text
    assert '#!substdef "!RENVOI_DB_URL!postgres://renvoi:s3cret@db.example:6432/calls!g"' in text
    assert "RENVOI_PUSH_TOKEN!" not in text  # no token: pushes only from this machine


def test_no_token_no_header(tmp_path: Path) -> None:
    assert '#!substdef "!RENVOI_AUTH_HEADER!!g"' in render_config(Settings(data_dir=tmp_path))


def test_a_value_that_would_break_substdef_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot contain"):
        render_config(Settings(data_dir=tmp_path, sip_trunk="x", sip_listen="udp:a!b:5060"))
