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
    ):
        assert line in text
    body = text.split("\n", 12)[-1]
    assert "10.0.0." not in body  # the body names settings, never an address


def test_no_token_no_header(tmp_path: Path) -> None:
    assert '#!substdef "!RENVOI_AUTH_HEADER!!g"' in render_config(Settings(data_dir=tmp_path))


def test_a_value_that_would_break_substdef_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot contain"):
        render_config(Settings(data_dir=tmp_path, sip_trunk="x", sip_listen="udp:a!b:5060"))
