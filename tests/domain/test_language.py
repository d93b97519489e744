"""Accept-Language with q-values: French only when preferred over English."""

from __future__ import annotations

import pytest

from renvoi.domain.language import preferred_language


@pytest.mark.parametrize(
    ("header", "language"),
    [
        pytest.param(None, "en", id="absent"),
        pytest.param("", "en", id="empty"),
        pytest.param("fr", "fr", id="fr"),
        pytest.param("fr-FR", "fr", id="fr-FR"),
        pytest.param("FR-ca", "fr", id="case"),
        pytest.param("en", "en", id="en"),
        pytest.param("fr;q=0.5, en;q=0.8", "en", id="en-preferred"),
        pytest.param("en;q=0.5, fr;q=0.8", "fr", id="fr-preferred"),
        pytest.param("de, fr;q=0.5", "fr", id="fr-over-absent-en"),
        pytest.param("fr;q=0.5, *", "en", id="wildcard-covers-en"),
        pytest.param("fr, en", "en", id="tie-is-english"),
        pytest.param("fr;q=0", "en", id="fr-refused"),
        pytest.param("fr;q=abc", "en", id="malformed-q"),
        pytest.param(" , ;q=1, fr", "fr", id="garbage-items"),
        pytest.param("de", "en", id="neither"),
    ],
)
def test_preferred_language(header: str | None, language: str) -> None:
    assert preferred_language(header) == language
