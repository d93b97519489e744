"""Phone numbers: normalization to E.164 and the rules a forward destination must meet.

The contract (callforward.md, field ``number``) accepts E.164, international digits with
or without ``00``, and national format in a default region, ignoring spaces, dots, dashes
and parentheses. Parsing and classification are Google's libphonenumber metadata, through
``phonenumbers``; this module only decides what the contract does with its answers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from renvoi.domain.codes import Code, Reason, Text
from renvoi.errors import ContractError

_SEPARATORS = re.compile(r"[\s.\-()]")
_DIGITS = re.compile(r"\+?[0-9]+")
_E164 = re.compile(r"\+[1-9][0-9]*")

# Every class phonenumbers knows, by the name operators write in RENVOI_REFUSED_NUMBER_TYPES,
# with the label code 12's message gives.
NUMBER_TYPES: dict[str, tuple[int, Text]] = {
    "FIXED_LINE": (PhoneNumberType.FIXED_LINE, Text("fixed-line", "fixes")),
    "MOBILE": (PhoneNumberType.MOBILE, Text("mobile", "mobiles")),
    "FIXED_LINE_OR_MOBILE": (
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        Text("fixed-line or mobile", "fixes ou mobiles"),
    ),
    "TOLL_FREE": (PhoneNumberType.TOLL_FREE, Text("toll-free", "gratuits")),
    "PREMIUM_RATE": (PhoneNumberType.PREMIUM_RATE, Text("premium-rate", "surtaxés")),
    "SHARED_COST": (PhoneNumberType.SHARED_COST, Text("shared-cost", "à coût partagé")),
    "VOIP": (PhoneNumberType.VOIP, Text("VoIP", "VoIP")),
    "PERSONAL_NUMBER": (PhoneNumberType.PERSONAL_NUMBER, Text("personal", "personnels")),
    "PAGER": (PhoneNumberType.PAGER, Text("pager", "de radiomessagerie")),
    "UAN": (PhoneNumberType.UAN, Text("UAN", "UAN")),
    "VOICEMAIL": (PhoneNumberType.VOICEMAIL, Text("voicemail-access", "d’accès messagerie")),
    "UNKNOWN": (PhoneNumberType.UNKNOWN, Text("unknown-type", "de type inconnu")),
}

# The toll-fraud classes refused by default (issue 5's list); RENVOI_REFUSED_NUMBER_TYPES
# replaces it.
DEFAULT_REFUSED_TYPES: tuple[str, ...] = (
    "PREMIUM_RATE",
    "SHARED_COST",
    "UAN",
    "PERSONAL_NUMBER",
    "PAGER",
    "VOICEMAIL",
    "UNKNOWN",
)


def refused_types(names: Iterable[str]) -> frozenset[int]:
    """Turn class names into the set of phonenumbers types to refuse.

    Raises:
        ValueError: a name is not one of ``NUMBER_TYPES``.
    """
    unknown = sorted(set(names) - NUMBER_TYPES.keys())
    if unknown:
        raise ValueError(f"unknown number types {unknown}; known: {sorted(NUMBER_TYPES)}")
    return frozenset(NUMBER_TYPES[name][0] for name in names)


def _text_of(raw: str) -> str | None:
    """What is parsed of ``raw``: its digits without separators, ``+`` first when it is
    written internationally (``00``, or a country code's digits without a prefix:
    "33612345678"); None when anything else is left."""
    text = _SEPARATORS.sub("", raw)
    if not _DIGITS.fullmatch(text):
        return None
    if text.startswith("00"):
        return "+" + text[2:]
    if not text.startswith(("+", "0")):
        return "+" + text
    return text


def _parse(raw: str, region: str) -> phonenumbers.PhoneNumber | None:
    text = _text_of(raw)
    if text is None:
        return None
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


# Parsing with phonenumbers costs more than the rest of a cached request, and the same
# numbers come again and again: the two analyses below
# are pure functions of their arguments, remembered (a bounded LRU per process).
_MEMO: Final = 65_536


@functools.lru_cache(maxsize=_MEMO)
def normalize_number(raw: str, *, region: str) -> str | None:
    """Return the E.164 form of a number in any accepted spelling, or None.

    Only the shape is checked (``is_possible_number``): whether a virtual number exists
    is the store's question, whether a destination is acceptable is
    ``check_destination``'s.

    Args:
        raw: the number as the client sent it.
        region: ISO 3166 region for national-format numbers (``RENVOI_DEFAULT_REGION``).
    """
    parsed = _parse(raw, region)
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)


def stored_spelling(raw: str) -> str | None:
    """The spelling the platform would store ``raw``'s number under, found without
    parsing, when ``raw`` is written internationally (E.164, ``00``, a country code's bare
    digits, with any separators, or a ``+`` that a query string turned into a space);
    None for a national spelling or what is no number.

    ``+``, then digits, the first not 0: E.164's shape, not its 15-digit bound, which
    libphonenumber's possible numbers exceed in Germany or Indonesia. A number stored so
    is its own ``normalize_number``, and ``raw`` parses as the same text: so when the
    platform holds this spelling, it is ``raw``'s number, valid, with no parsing. Where
    the memo above cannot hold every number asked for (a million, at random), parsing is
    most of a request's cost.
    """
    text = _text_of(raw)
    return text if text is not None and _E164.fullmatch(text) else None


@dataclass(frozen=True)
class _Destination:
    """What check 8 needs to know of a destination (None: not a valid number)."""

    e164: str
    kind: int  # phonenumbers' PhoneNumberType
    dialable: bool  # from abroad


@functools.lru_cache(maxsize=_MEMO)
def _destination(raw: str, region: str) -> _Destination | None:
    parsed = _parse(raw, region)
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        return None
    return _Destination(
        e164=phonenumbers.format_number(parsed, PhoneNumberFormat.E164),
        kind=phonenumbers.number_type(parsed),
        dialable=phonenumbers.can_be_internationally_dialled(parsed),
    )


def check_destination(
    raw: str, *, region: str, refused: frozenset[int], virtual: str | None
) -> str:
    """Check a forward destination (contract check 8) and return it in E.164.

    Args:
        raw: the destination as the client sent it.
        region: region for national-format numbers.
        refused: phonenumbers types to refuse (``refused_types``).
        virtual: the virtual number being configured, in E.164, when it parses.

    Raises:
        ContractError: code 12, with the reason.
    """
    destination = _destination(raw, region)
    if destination is None:
        raise ContractError(Code.FORWARD_INVALID, reason=Reason("invalid"))
    if destination.kind in refused:
        label = next(text for value, text in NUMBER_TYPES.values() if value == destination.kind)
        raise ContractError(Code.FORWARD_INVALID, reason=Reason("refused_type", {"kind": label}))
    if not destination.dialable:
        raise ContractError(Code.FORWARD_INVALID, reason=Reason("not_dialable"))
    if destination.e164 == virtual:
        raise ContractError(Code.FORWARD_INVALID, reason=Reason("self"))
    return destination.e164


def region_of(e164: str) -> str | None:
    """The ISO region of an E.164 number (``"FR"``), or None if it has none."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164))


def parse_countries(codes: Iterable[str]) -> frozenset[str]:
    """An account's allowed destination countries, as ISO 3166 codes (``FR``, ``be``).

    Raises:
        ValueError: a code phonenumbers does not know.
    """
    parsed = frozenset(code.strip().upper() for code in codes)
    unknown = sorted(parsed - phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        raise ValueError(f"unknown country codes: {', '.join(unknown)}")
    return parsed


def check_country(destination: str, allowed: frozenset[str] | None) -> None:
    """Contract check 8, the account's part: a destination (E.164) must be in one of the
    account's allowed countries, when it has a list (None: every country).

    Raises:
        ContractError: code 12, naming the destination's country.
    """
    if allowed is None:
        return
    region = region_of(destination) or "?"
    if region not in allowed:
        raise ContractError(Code.FORWARD_INVALID, reason=Reason("country", {"region": region}))
