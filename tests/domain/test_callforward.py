"""The contract's checks 1 to 14 and its transitions, without I/O."""

from __future__ import annotations

from typing import Any

import pytest

from renvoi.domain.callforward import (
    Command,
    Hop,
    NumberState,
    decide,
    parse_command,
    parse_type,
    require_api_key,
    wants_dry_run,
)
from renvoi.domain.codes import Code
from renvoi.domain.modes import OFF, Mode, Setting
from renvoi.domain.numbers import DEFAULT_REFUSED_TYPES, refused_types
from renvoi.errors import ContractError

REFUSED = refused_types(DEFAULT_REFUSED_TYPES)
VIRTUAL = "+33757000001"


def parse(**fields: Any) -> Command:
    return parse_command(fields, region="FR", refused=REFUSED)


def code_of(call: Any) -> Code:
    with pytest.raises(ContractError) as caught:
        call()
    return caught.value.code


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="null"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
    ],
)
def test_require_api_key_absent_is_code_10(value: object) -> None:
    assert code_of(lambda: require_api_key({"apiKey": value})) is Code.API_KEY
    assert code_of(lambda: require_api_key({})) is Code.API_KEY


def test_require_api_key_returns_non_string_keys_as_text() -> None:
    assert require_api_key({"apiKey": "rv_x"}) == "rv_x"
    assert require_api_key({"apiKey": 12}) == "12"


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        pytest.param(0, Mode.OFF, id="int-0"),
        pytest.param(1, Mode.FORWARD, id="int-1"),
        pytest.param(2, Mode.VOICEMAIL, id="int-2"),
        pytest.param("0", Mode.OFF, id="str-0"),
        pytest.param("1", Mode.FORWARD, id="str-1"),
        pytest.param("2", Mode.VOICEMAIL, id="str-2"),
    ],
)
def test_parse_type_accepts_integer_or_one_digit(value: object, mode: Mode) -> None:
    assert parse_type(value, present=True) is mode


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(3, id="three"),
        pytest.param(-1, id="minus-one"),
        pytest.param(1.5, id="float"),
        pytest.param(1.0, id="float-integral"),
        pytest.param("abc", id="letters"),
        pytest.param("12", id="two-digits"),
        pytest.param(" 1", id="padded"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(None, id="null"),
        pytest.param([1], id="list"),
        pytest.param({"a": 1}, id="object"),
    ],
)
def test_parse_type_refuses_others_with_code_7(value: object) -> None:
    assert code_of(lambda: parse_type(value, present=True)) is Code.TYPE_INVALID


def test_parse_type_absent_or_empty_is_code_6() -> None:
    assert code_of(lambda: parse_type(None, present=False)) is Code.TYPE_REQUIRED
    assert code_of(lambda: parse_type("", present=True)) is Code.TYPE_REQUIRED


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        pytest.param({"type": 1, "param": "+33612345678"}, Code.NUMBER_REQUIRED, id="no-number"),
        pytest.param({"number": "", "type": 1}, Code.NUMBER_REQUIRED, id="empty-number"),
        pytest.param({"number": None, "type": 0}, Code.NUMBER_REQUIRED, id="null-number"),
        pytest.param({"number": VIRTUAL}, Code.TYPE_REQUIRED, id="no-type"),
        pytest.param({"number": VIRTUAL, "type": 9}, Code.TYPE_INVALID, id="bad-type"),
        pytest.param({"number": VIRTUAL, "type": 1}, Code.PARAM_REQUIRED, id="forward-no-param"),
        pytest.param(
            {"number": VIRTUAL, "type": 2, "param": ""}, Code.PARAM_REQUIRED, id="vm-empty-param"
        ),
        pytest.param(
            {"number": VIRTUAL, "type": 2, "param": None}, Code.PARAM_REQUIRED, id="vm-null-param"
        ),
        pytest.param(
            {"number": VIRTUAL, "type": 2, "param": "not-an-email"},
            Code.EMAIL_INVALID,
            id="vm-bad-email",
        ),
        pytest.param(
            {"number": VIRTUAL, "type": 2, "param": "a@b.fr\r\nBcc: x@y.fr"},
            Code.EMAIL_INVALID,
            id="vm-header-injection",
        ),
        pytest.param(
            {"number": VIRTUAL, "type": 2, "param": ["a@b.fr"]},
            Code.EMAIL_INVALID,
            id="vm-list",
        ),
        pytest.param(
            {"number": VIRTUAL, "type": 1, "param": "12"}, Code.FORWARD_INVALID, id="fw-invalid"
        ),
        pytest.param(
            {"number": VIRTUAL, "type": 1, "param": VIRTUAL}, Code.FORWARD_INVALID, id="fw-self"
        ),
        pytest.param(
            {"number": "07 57 00 00 01", "type": 1, "param": "0033757000001"},
            Code.FORWARD_INVALID,
            id="fw-self-other-spelling",
        ),
        pytest.param(
            {"number": VIRTUAL, "type": 1, "param": "0899123456"},
            Code.FORWARD_INVALID,
            id="fw-premium-rate",
        ),
        pytest.param(
            {"number": VIRTUAL, "type": 1, "param": "0810123456"},
            Code.FORWARD_INVALID,
            id="fw-shared-cost",
        ),
        pytest.param(
            {"number": VIRTUAL, "type": 1, "param": True}, Code.FORWARD_INVALID, id="fw-bool"
        ),
    ],
)
def test_parse_command_first_failing_check_answers(fields: dict[str, object], code: Code) -> None:
    assert code_of(lambda: parse(**fields)) is code


def test_parse_command_order_type_before_param() -> None:
    """Check 5 (type) answers before check 6 (param) when both fail."""
    assert code_of(lambda: parse(number=VIRTUAL, type="x")) is Code.TYPE_INVALID


def test_parse_command_normalizes_destination_and_email() -> None:
    assert parse(number=VIRTUAL, type="1", param="06.12.34.56.78") == Command(
        VIRTUAL, Setting(Mode.FORWARD, "+33612345678")
    )
    assert parse(number=VIRTUAL, type=2, param="Ann@EXAMPLE.com") == Command(
        VIRTUAL, Setting(Mode.VOICEMAIL, "Ann@example.com")
    )


def test_parse_command_ignores_param_for_type_0() -> None:
    assert parse(number=VIRTUAL, type=0, param="anything") == Command(VIRTUAL, OFF)


def test_parse_command_reads_json_number_as_digits() -> None:
    assert parse(number=33757000001, type=0).number == "33757000001"


def state(**changes: Any) -> NumberState:
    base: dict[str, Any] = {
        "number": VIRTUAL,
        "account_id": "acc_1",
        "suspended": False,
        "voice": True,
        "setting": OFF,
    }
    return NumberState(**{**base, **changes})


def no_hops(_number: str) -> list[Hop]:
    return []


def decide_code(current: NumberState | None, wanted: Setting, hops: Any = no_hops) -> Code:
    try:
        return decide(current, wanted, account_id="acc_1", next_hops=hops)
    except ContractError as exc:
        return exc.code


FORWARD_A = Setting(Mode.FORWARD, "+33612345678")
FORWARD_B = Setting(Mode.FORWARD, "+33612345679")
MAIL_A = Setting(Mode.VOICEMAIL, "a@example.com")
MAIL_B = Setting(Mode.VOICEMAIL, "b@example.com")


@pytest.mark.parametrize(
    ("current", "wanted", "code"),
    [
        pytest.param(None, OFF, Code.NUMBER_NOT_FOUND, id="nowhere"),
        pytest.param(state(account_id="acc_2"), OFF, Code.NUMBER_NOT_FOUND, id="other-account"),
        pytest.param(state(suspended=True), FORWARD_A, Code.NUMBER_DISABLED, id="suspended"),
        pytest.param(
            state(suspended=True, voice=False), OFF, Code.NUMBER_DISABLED, id="suspended-before-sms"
        ),
        pytest.param(state(voice=False), FORWARD_A, Code.NO_CALL_FORWARDING, id="sms-only"),
        pytest.param(state(setting=FORWARD_A), FORWARD_A, Code.ALREADY_FORWARDING, id="same-fw"),
        pytest.param(state(setting=MAIL_A), MAIL_A, Code.ALREADY_VOICEMAIL, id="same-vm"),
        pytest.param(state(), OFF, Code.ALREADY_DISABLED, id="already-off"),
        pytest.param(state(), FORWARD_A, Code.CALLFORWARD_ENABLED, id="off-to-fw"),
        pytest.param(state(), MAIL_A, Code.VOICEMAIL_ENABLED, id="off-to-vm"),
        pytest.param(state(setting=FORWARD_A), FORWARD_B, Code.CALLFORWARD_ENABLED, id="fw-change"),
        pytest.param(state(setting=MAIL_A), MAIL_B, Code.VOICEMAIL_ENABLED, id="vm-change"),
        pytest.param(state(setting=FORWARD_A), MAIL_A, Code.VOICEMAIL_ENABLED, id="fw-to-vm"),
        pytest.param(state(setting=MAIL_A), FORWARD_A, Code.CALLFORWARD_ENABLED, id="vm-to-fw"),
        pytest.param(state(setting=FORWARD_A), OFF, Code.CALLFORWARD_DISABLED, id="fw-to-off"),
        pytest.param(state(setting=MAIL_A), OFF, Code.CALLFORWARD_DISABLED, id="vm-to-off"),
    ],
)
def test_decide_checks_9_to_14(current: NumberState | None, wanted: Setting, code: Code) -> None:
    assert decide_code(current, wanted) is code


def chain(mapping: dict[str, str | list[str]], owners: dict[str, str] | None = None) -> Any:
    """``next_hops`` over ``mapping`` (a number's forward, or all its forwards): every
    number the caller's ("acc_1") unless ``owners`` says otherwise."""

    def next_hops(number: str) -> list[Hop]:
        to = mapping.get(number, [])
        owner = (owners or {}).get(number, "acc_1")
        return [Hop(each, owner) for each in ([to] if isinstance(to, str) else to)]

    return next_hops


def test_decide_refuses_a_two_number_loop() -> None:
    hops = chain({"+33612345678": VIRTUAL})
    assert decide_code(state(), FORWARD_A, hops) is Code.FORWARD_INVALID


def loop_reason(hops: Any) -> str:
    with pytest.raises(ContractError) as caught:
        decide(state(), FORWARD_A, account_id="acc_1", next_hops=hops)
    assert caught.value.code is Code.FORWARD_INVALID and caught.value.reason is not None
    return caught.value.reason.in_("en")


def test_a_loop_through_the_callers_own_numbers_is_named_whole() -> None:
    hops = chain({"+33612345678": "+33612345600", "+33612345600": VIRTUAL})
    assert loop_reason(hops) == (
        f"it would make a forwarding loop ({VIRTUAL} → +33612345678 → +33612345600 → {VIRTUAL})"
    )


@pytest.mark.parametrize(
    "owners",
    [
        pytest.param({"+33612345678": "acc_2"}, id="destination-elsewhere"),
        pytest.param({"+33612345600": "acc_2"}, id="a-hop-elsewhere"),
    ],
)
def test_a_loop_through_another_accounts_number_names_no_number(owners: dict[str, str]) -> None:
    """The refusal stands (check 11b), but tells nothing of the other tenant's set-up."""
    hops = chain({"+33612345678": "+33612345600", "+33612345600": VIRTUAL}, owners)
    assert loop_reason(hops) == "it would make a forwarding loop"


def test_decide_accepts_a_chain_that_ends() -> None:
    hops = chain({"+33612345678": "+33612345600"})
    assert decide_code(state(), FORWARD_A, hops) is Code.CALLFORWARD_ENABLED


def test_decide_stops_on_a_loop_that_does_not_involve_the_number() -> None:
    """A pre-existing cycle elsewhere cannot make the walk run forever."""
    hops = chain({"+33612345678": "+33612345600", "+33612345600": "+33612345678"})
    assert loop_reason(hops) == "it would make a forwarding loop"


def test_decide_loop_check_comes_after_ownership() -> None:
    """Check 11b runs only once the number is the caller's: nothing leaks (13 first)."""
    hops = chain({"+33612345678": VIRTUAL})
    assert decide_code(state(account_id="acc_2"), FORWARD_A, hops) is Code.NUMBER_NOT_FOUND


def test_decide_loop_check_comes_before_same_destination() -> None:
    hops = chain({"+33612345678": VIRTUAL})
    assert decide_code(state(setting=FORWARD_A), FORWARD_A, hops) is Code.FORWARD_INVALID


def test_decide_gives_up_on_a_chain_longer_than_max_chain() -> None:
    """A chain the walk cannot finish is refused rather than followed for ever."""
    from renvoi.domain.callforward import MAX_CHAIN

    hops = {f"+336123456{i:02d}": f"+336123456{i + 1:02d}" for i in range(MAX_CHAIN + 1)}
    wanted = Setting(Mode.FORWARD, "+33612345600")
    assert decide_code(state(), wanted, chain(hops)) is Code.FORWARD_INVALID


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, False),
        ({"dryRun": None}, False),
        ({"dryRun": False}, False),
        ({"dryRun": "false"}, False),
        ({"dryRun": "0"}, False),
        ({"dryRun": ""}, False),
        ({"dryRun": True}, True),
        ({"dryRun": "true"}, True),
        ({"dryRun": "1"}, True),
    ],
)
def test_dry_run_flag(fields: dict[str, object], expected: bool) -> None:
    assert wants_dry_run(fields) is expected


@pytest.mark.parametrize("value", ["yes", 1, 0, ["true"], "TRUE"])
def test_dry_run_flag_refuses_anything_else(value: object) -> None:
    with pytest.raises(ContractError) as caught:
        wants_dry_run({"dryRun": value})
    assert (caught.value.code, caught.value.detail) == (Code.BAD_REQUEST, "invalid_dry_run")
