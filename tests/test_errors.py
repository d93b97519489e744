"""The error tree (``errors.py``): one root, names ending in Error, and the docstring's
drawing of it kept true."""

from __future__ import annotations

import inspect

from renvoi import errors
from renvoi.domain.codes import Code, Reason


def classes() -> list[type[BaseException]]:
    return [
        value
        for value in vars(errors).values()
        if inspect.isclass(value) and issubclass(value, BaseException)
    ]


def test_every_error_is_a_renvoi_error_named_so() -> None:
    for error in classes():
        assert issubclass(error, errors.RenvoiError), error
        assert error.__name__.endswith("Error"), error


def test_the_module_docstring_draws_every_class() -> None:
    drawing = errors.__doc__ or ""
    for error in classes():
        assert error.__name__ in drawing, error


def test_a_contract_error_carries_its_code_and_reason() -> None:
    error = errors.ContractError(Code.FORWARD_INVALID, reason=Reason("self"))
    assert error.code is Code.FORWARD_INVALID
    assert str(error) == "code 12: a number cannot forward to itself"
    assert errors.RateLimitedError(3).retry_after == 3
