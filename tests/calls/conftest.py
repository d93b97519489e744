"""A whole call path per test: renvoi, Kamailio from ``renvoi kamailio config``, SIPp peers."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.platform import Platform, start_platform

pytestmark = pytest.mark.slow

# Kamailio and SIPp come from Debian (kamailio, kamailio-*-modules, sip-tester). Without
# them the voice tests skip, unless RENVOI_TEST_REQUIRE_VOICE=1 (CI sets it): then they fail.
MISSING_TOOLS = [tool for tool in ("kamailio", "sipp") if shutil.which(tool) is None]
if MISSING_TOOLS and os.environ.get("RENVOI_TEST_REQUIRE_VOICE") != "1":
    pytest.skip(f"not installed: {', '.join(MISSING_TOOLS)}", allow_module_level=True)


@pytest.fixture
def platform(database_url: str, database: object, tmp_path: Path) -> Iterator[Platform]:
    started = start_platform(database_url, tmp_path / "platform")
    yield started
    started.stop()
