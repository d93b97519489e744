"""Number normalization and the destination rules (contract check 8)."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from renvoi.domain.codes import Code
from renvoi.domain.numbers import (
    DEFAULT_REFUSED_TYPES,
    check_country,
    check_destination,
    normalize_number,
    parse_countries,
    refused_types,
    region_of,
    stored_spelling,
)
from renvoi.errors import ContractError

REFUSED = refused_types(DEFAULT_REFUSED_TYPES)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("+33612345678", id="e164"),
        pytest.param("33612345678", id="international-digits"),
        pytest.param("0033612345678", id="double-zero"),
        pytest.param("0612345678", id="national"),
        pytest.param("06 12 34 56 78", id="spaces"),
        pytest.param("06.12.34.56.78", id="dots"),
        pytest.param("06-12-34-56-78", id="dashes"),
        pytest.param("(0)6 12 34 56 78", id="parentheses"),
        pytest.param("+33 (0)6 12 34 56 78", id="mixed"),
    ],
)
def test_normalize_number_accepts_every_spelling(raw: str) -> None:
    assert normalize_number(raw, region="FR") == "+33612345678"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("NUMBET", id="seed-placeholder"),
        pytest.param("", id="empty"),
        pytest.param("+", id="plus"),
        pytest.param("12", id="too-short"),
        pytest.param("+33 6 12 34 56 78 90 12 34", id="too-long"),
        pytest.param("1-800-FLOWERS", id="letters"),
        pytest.param("+33612345678;ext=1", id="extension"),
    ],
)
def test_normalize_number_refuses_what_does_not_parse(raw: str) -> None:
    assert normalize_number(raw, region="FR") is None


def test_normalize_number_uses_the_default_region() -> None:
    assert normalize_number("020 7946 0018", region="GB") == "+442079460018"


def _example_numbers() -> list[str]:
    """libphonenumber's example number of every region and every type it has one of, and
    of the calling codes of no region."""
    found = set()
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in phonenumbers.PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                found.add(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:  # +800, +882...
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            found.add(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    return sorted(found)


def test_every_example_number_normalizes_to_itself_spelled_as_stored() -> None:
    """What ``platform_number``'s shortcut stands on: the stored spelling of a number is a
    fixed point of ``normalize_number``, whatever the default region."""
    examples = _example_numbers()
    assert len(examples) > 900
    for e164 in examples:
        assert stored_spelling(e164) == e164
        for region in ("FR", "US", "IT"):
            assert normalize_number(e164, region=region) == e164


@given(st.text(alphabet="0123456789 +.-()", max_size=24), st.sampled_from(["FR", "GB", "IT"]))
def test_whatever_normalizes_is_spelled_as_stored_and_stays_so(raw: str, region: str) -> None:
    e164 = normalize_number(raw, region=region)
    if e164 is not None:
        assert stored_spelling(e164) == e164
        assert normalize_number(e164, region="US") == e164


@given(st.text(alphabet="0123456789 +.-()", max_size=24), st.sampled_from(["FR", "GB", "IT"]))
def test_a_stored_spelling_the_platform_could_hold_is_the_number(raw: str, region: str) -> None:
    """The shortcut's soundness: when a spelling found without parsing is a stored number
    (its own normalization), parsing ``raw`` would have given that very number."""
    stored = stored_spelling(raw)
    if stored is not None and normalize_number(stored, region=region) == stored:
        assert normalize_number(raw, region=region) == stored


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        pytest.param("+33612345678", "+33612345678", id="e164"),
        pytest.param("33612345678", "+33612345678", id="international-digits"),
        pytest.param("0033612345678", "+33612345678", id="double-zero"),
        pytest.param("+33 6 12 34 56 78", "+33612345678", id="separators"),
        pytest.param(" 33612345678", "+33612345678", id="plus-decoded-as-space"),
        pytest.param("+33 (0)6 12 34 56 78", "+330612345678", id="not-a-stored-number"),
        pytest.param("0612345678", None, id="national"),
        pytest.param("+033612345678", None, id="plus-zero"),
        pytest.param("+", None, id="plus"),
        pytest.param("NUMBET", None, id="letters"),
    ],
)
def test_the_stored_spelling_is_found_without_parsing(raw: str, stored: str | None) -> None:
    assert stored_spelling(raw) == stored


def test_numbers_longer_than_e164_allows_are_spelled_as_stored_too() -> None:
    """libphonenumber's possible numbers go past E.164's 15 digits (Germany: 17)."""
    e164 = normalize_number("+49 30 1234567890123", region="FR")
    assert e164 == "+49301234567890123" and stored_spelling(e164) == e164


def reason_of(raw: str, *, refused: frozenset[int] = REFUSED, virtual: str | None = None) -> str:
    with pytest.raises(ContractError) as caught:
        check_destination(raw, region="FR", refused=refused, virtual=virtual)
    assert caught.value.code is Code.FORWARD_INVALID
    assert caught.value.reason is not None
    return caught.value.reason.key


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param("0899123456", "refused_type", id="fr-premium-rate"),
        pytest.param("0810123456", "refused_type", id="fr-shared-cost"),
        pytest.param("+19005550100", "refused_type", id="us-premium-rate"),
        pytest.param("+447700900123", "invalid", id="gb-drama-range"),
        pytest.param("0612", "invalid", id="truncated"),
        pytest.param("not a number", "invalid", id="words"),
    ],
)
def test_check_destination_refuses_with_a_reason(raw: str, reason: str) -> None:
    assert reason_of(raw) == reason


def test_check_destination_refuses_the_number_itself() -> None:
    assert reason_of("0757000001", virtual="+33757000001") == "self"


def test_check_destination_accepts_mobile_fixed_and_toll_free() -> None:
    for raw, e164 in [
        ("0612345678", "+33612345678"),
        ("01 40 00 00 00", "+33140000000"),
        ("+1 800 555 0100", "+18005550100"),
    ]:
        assert check_destination(raw, region="FR", refused=REFUSED, virtual=None) == e164


def test_refused_types_are_configurable() -> None:
    only_mobile = refused_types(["MOBILE"])
    assert reason_of("0612345678", refused=only_mobile) == "refused_type"
    assert (
        check_destination("0899123456", region="FR", refused=only_mobile, virtual=None)
        == "+33899123456"
    )


def test_refused_types_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="PREMIUM"):
        refused_types(["PREMIUM"])


def test_region_of() -> None:
    assert region_of("+33612345678") == "FR"


def test_check_destination_refuses_numbers_not_dialable_from_abroad() -> None:
    assert reason_of("+611800123456") == "not_dialable"  # Australian freephone


def test_parse_countries_upper_cases_and_refuses_unknown_codes() -> None:
    assert parse_countries(["fr", " BE "]) == frozenset({"FR", "BE"})
    with pytest.raises(ValueError, match="XX"):
        parse_countries(["FR", "XX"])


def test_check_country() -> None:
    check_country("+32470123456", None)  # no list: every country
    check_country("+32470123456", frozenset({"BE", "FR"}))
    with pytest.raises(ContractError) as refused:
        check_country("+32470123456", frozenset({"FR"}))
    assert refused.value.code == Code.FORWARD_INVALID
    assert refused.value.reason is not None and refused.value.reason.args == {"region": "BE"}
