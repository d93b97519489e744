"""The call-forwarding contract: its checks, in their order, and the state transitions.

``contract/callforward.md`` numbers the checks 1 to 14; the first that fails answers.
They fall in three groups by what they need to know:

1. ``require_api_key`` (check 1): the request alone. Check 2 (is the key known) is the
   store's.
2. ``parse_command`` (checks 3 to 8): the request alone.
3. ``decide`` (checks 9 to 14): the number's current state, read inside the transaction
   that will change it, so that the answer and the change cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from renvoi.domain.codes import Code, Reason
from renvoi.domain.emails import normalize_email
from renvoi.domain.modes import NO_FALLBACKS, OFF, Fallbacks, Mode, Setting
from renvoi.domain.numbers import check_destination, normalize_number
from renvoi.errors import ContractError

# How many platform numbers the loop check reads before calling the set-up a loop:
# larger ones are not a real customer's, and the walk must end.
MAX_CHAIN = 32


SUCCESS: dict[Mode, Code] = {
    Mode.OFF: Code.CALLFORWARD_DISABLED,
    Mode.FORWARD: Code.CALLFORWARD_ENABLED,
    Mode.VOICEMAIL: Code.VOICEMAIL_ENABLED,
}


@dataclass(frozen=True)
class Command:
    """A request that passed checks 1 to 8: the number as sent, and what it asks for."""

    number: str
    wanted: Setting


@dataclass(frozen=True)
class Hop:
    """A platform number's forward (its primary one, or a fallback's), as the loop
    check walks it: where the number forwards to, and the account the number belongs
    to."""

    to: str
    account_id: str


@dataclass(frozen=True)
class NumberState:
    """What ``decide`` needs to know of a virtual number, read under a lock."""

    number: str
    account_id: str
    suspended: bool
    voice: bool
    setting: Setting
    fallbacks: Fallbacks = NO_FALLBACKS


# Where a platform number's calls may be forwarded (every forward of ``forwards``), for
# the loop walk; nothing for a number that is not on the platform.
NextHops = Callable[[str], Sequence[Hop]]


def forwards(setting: Setting, fallbacks: Fallbacks) -> list[str]:
    """Every number a number's calls may be forwarded to: its primary forward and its
    forwarding fallbacks (the edges the loop walk follows)."""
    settings = [setting, *(fallback for _, fallback in fallbacks.set())]
    return [s.param for s in settings if s.mode is Mode.FORWARD and s.param is not None]


def _text(value: object) -> str | None:
    """A field as text, or None when it is absent or empty (the contract's "absent or empty").

    JSON numbers are read as their digits: ``"number": 33612345678`` is a spelling a
    liberal client may send.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return repr(value)  # true, 1.5, a list: present, and invalid wherever it is checked


def require(fields: Mapping[str, object], name: str, code: Code) -> str:
    """A field that must be present (checks 1, 3 and 6: the key, the number, ``param``),
    as text.

    Raises:
        ContractError: ``code``, when it is absent or empty.
    """
    value = _text(fields.get(name))
    if value is None:
        raise ContractError(code)
    return value


def require_api_key(fields: Mapping[str, object]) -> str:
    """Check 1: the API key is present. Returns it for the store to look up (check 2).

    Raises:
        ContractError: code 10 (required).
    """
    return require(fields, "apiKey", Code.API_KEY)


def parse_type(value: object, *, present: bool) -> Mode:
    """Checks 4 and 5: ``type`` is an integer 0, 1 or 2, or a string holding one digit.

    A JSON ``null`` is refused as not valid (7), as the contract's row 5 lists it, rather
    than treated as absent (6); an empty string is absent.

    Raises:
        ContractError: code 6 or 7.
    """
    if not present or (isinstance(value, str) and not value.strip()):
        raise ContractError(Code.TYPE_REQUIRED)
    if isinstance(value, bool):  # bool is an int in Python, never in the contract
        raise ContractError(Code.TYPE_INVALID)
    if isinstance(value, int) and value in (0, 1, 2):
        return Mode(value)
    if isinstance(value, str) and value in ("0", "1", "2"):
        return Mode(int(value))
    raise ContractError(Code.TYPE_INVALID)


def wants_dry_run(fields: Mapping[str, object]) -> bool:
    """renvoi's extension ``dryRun``: true runs every check and changes nothing.

    JSON ``true``/``false``, or a form's ``true``/``false``/``1``/``0``; absent (or
    ``null``, or empty) is false.

    Raises:
        ContractError: code 4 (``invalid_dry_run``) for any other value.
    """
    value = fields.get("dryRun")
    if value is None or value is False or value in ("false", "0", ""):
        return False
    if value is True or value in ("true", "1"):
        return True
    raise ContractError(Code.BAD_REQUEST, detail="invalid_dry_run")


def parse_command(fields: Mapping[str, object], *, region: str, refused: frozenset[int]) -> Command:
    """Checks 3 to 8, in the contract's order.

    Args:
        fields: the request's fields; JSON ``null`` kept as None.
        region: region for national-format numbers.
        refused: phonenumbers types refused as destinations.

    Raises:
        ContractError: code 5, 6, 7, 8, 9 or 12.
    """
    number = require(fields, "number", Code.NUMBER_REQUIRED)
    mode = parse_type(fields.get("type"), present="type" in fields)
    if mode is Mode.OFF:
        return Command(number, OFF)
    param = require(fields, "param", Code.PARAM_REQUIRED)
    return Command(number, check_param(mode, param, number, region=region, refused=refused))


def check_param(
    mode: Mode, param: str, number: str, *, region: str, refused: frozenset[int]
) -> Setting:
    """Checks 7 and 8: type 2's email is valid, type 1's destination a number that
    can take calls and is not ``number`` itself; returns them normalized.

    Raises:
        ContractError: code 9 or 12.
    """
    if mode is Mode.VOICEMAIL:
        return Setting(mode, normalize_email(param))
    virtual = normalize_number(number, region=region)
    destination = check_destination(param, region=region, refused=refused, virtual=virtual)
    return Setting(mode, destination)


def check_loop(number: str, destination: str, account_id: str, next_hops: NextHops) -> None:
    """Check 11b: forwarding ``number`` to ``destination`` must not lead back to
    ``number`` through any forward a call may take (primary ones and fallbacks).

    The reason names the chain only when every number on it is the caller's own. A
    chain through another account's number is refused (the contract's 11b) with no
    chain at all: the refusal cannot help telling that the destination leads back, but
    nothing more of another tenant's set-up is told.

    Raises:
        ContractError: code 12, with the loop's reason.
    """
    path = [destination]  # from the destination to the number being read
    done: set[str] = set()  # numbers that cannot lead back
    reads = 0

    def visit(current: str, own: bool) -> None:
        nonlocal reads
        reads += 1
        if reads > MAX_CHAIN:
            raise _loop(number, None)  # too large to follow
        for hop in next_hops(current):
            own_hop = own and hop.account_id == account_id
            if hop.to == number:
                raise _loop(number, list(path) if own_hop else None)
            if hop.to in path:
                raise _loop(number, None)  # a loop elsewhere, which calls would enter
            if hop.to not in done:
                path.append(hop.to)
                visit(hop.to, own_hop)
                path.pop()
        done.add(current)

    visit(destination, True)


def _loop(number: str, path: list[str] | None) -> ContractError:
    """Code 12 for a loop: naming its chain, or (``None``) not."""
    if path is None:
        return ContractError(Code.FORWARD_INVALID, reason=Reason("loop_untold"))
    shown = " → ".join([number, *path, number])
    return ContractError(Code.FORWARD_INVALID, reason=Reason("loop", {"chain": shown}))


def e164_of(number: str, *, region: str) -> str:
    """The number a request names, in E.164: one that does not parse is one the
    platform does not have.

    Raises:
        ContractError: code 13.
    """
    e164 = normalize_number(number, region=region)
    if e164 is None:
        raise ContractError(Code.NUMBER_NOT_FOUND)
    return e164


def check_number(state: NumberState | None, account_id: str) -> NumberState:
    """Checks 9 to 11: the number is the key's, not suspended, and takes calls.

    Raises:
        ContractError: code 13, 15 or 14.
    """
    # A key never learns that another account's number exists: same answer as nowhere.
    if state is None or state.account_id != account_id:
        raise ContractError(Code.NUMBER_NOT_FOUND)
    if state.suspended:
        raise ContractError(Code.NUMBER_DISABLED)
    if not state.voice:
        raise ContractError(Code.NO_CALL_FORWARDING)
    return state


ALREADY: dict[Mode, Code] = {
    Mode.FORWARD: Code.ALREADY_FORWARDING,
    Mode.VOICEMAIL: Code.ALREADY_VOICEMAIL,
    Mode.OFF: Code.ALREADY_DISABLED,
}


def decide(
    state: NumberState | None,
    wanted: Setting,
    *,
    account_id: str,
    next_hops: NextHops,
) -> Code:
    """Checks 9 to 14 on the number's current state; returns the success code.

    Args:
        state: the number as stored, or None when it is not on the platform.
        wanted: what the request asks for.
        account_id: the account of the API key.
        next_hops: where a platform number's calls may be forwarded, and whose it
            is: the loop check walks the forwards with it.

    Raises:
        ContractError: code 13, 15, 14, 12 (loop), 16, 17 or 18.
    """
    state = check_number(state, account_id)
    if wanted.mode is Mode.FORWARD:
        assert wanted.param is not None  # parse_command guarantees it
        check_loop(state.number, wanted.param, account_id, next_hops)
    if state.setting == wanted:
        raise ContractError(ALREADY[wanted.mode])
    return SUCCESS[wanted.mode]
