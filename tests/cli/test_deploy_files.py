"""The SIPp scenarios the README's test call uses are the tests' own (kept equal)."""

from __future__ import annotations

from pathlib import Path

from tests.harness.sipp import callee_scenario, caller_scenario

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "sipp"


def test_the_readme_test_call_scenarios_are_the_tests_ones() -> None:
    assert (DEPLOY / "carrier.xml").read_text() == callee_scenario(checks=[])
    assert (DEPLOY / "caller.xml").read_text() == caller_scenario(
        number="+33757000001", expect=200, hold_ms=1000
    )
