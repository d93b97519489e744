"""The documentation cannot drift from the code: every file it names exists, every
setting is documented (``docs/operating.md``, ``.env.example``), and the README stays a
user's page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from renvoi.config import Settings

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# A path to a file of the repository, as the pages write them (`tests/api/test_x.py`,
# `store/numbers.py` for a module of src/renvoi, `bench/api.py`).
NAMED = re.compile(r"`((?:tests|bench|proofs|deploy|src|[a-z]+)/[\w/.-]+\.(?:py|cfg|xml|sh))")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_file_a_page_names_exists(page: Path) -> None:
    missing = [
        name
        for name in NAMED.findall(page.read_text())
        if not (ROOT / name).exists() and not (ROOT / "src" / "renvoi" / name).exists()
    ]
    assert missing == []


def test_every_setting_is_documented() -> None:
    operating = (ROOT / "docs" / "operating.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        variable = f"RENVOI_{name.upper()}"
        assert f"`{variable}`" in operating, variable
        assert f"# {variable}=" in example, variable


def test_the_readme_is_a_users_page() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 400
    first_screen = "\n".join(lines[:40])
    assert "make run" in first_screen and "make test" in first_screen
