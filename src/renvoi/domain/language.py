"""Which language an answer's message is in, from ``Accept-Language`` (RFC 9110 §12.5.4).

The contract: French when the client prefers French over English, English otherwise
(ties included). q-values count; ``fr-CA`` is French; ``*`` stands for every language the
header does not name.
"""

from __future__ import annotations

from renvoi.domain.codes import Language


def _weights(header: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in header.split(","):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip().lower()
        if not tag:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0  # a malformed weight is not a preference
        primary = tag.split("-", 1)[0]
        weights[primary] = max(weights.get(primary, 0.0), q)
    return weights


def preferred_language(header: str | None) -> Language:
    """Return ``"fr"`` when the header prefers French to English, else ``"en"``.

    Args:
        header: the ``Accept-Language`` value, or None when absent.
    """
    if not header:
        return "en"
    weights = _weights(header)
    wildcard = weights.get("*", 0.0)
    fr = weights.get("fr", wildcard)
    en = weights.get("en", wildcard)
    return "fr" if fr > en else "en"
