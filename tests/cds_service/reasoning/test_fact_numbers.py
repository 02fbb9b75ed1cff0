"""Numbers in facts (issue 13 finding 1): durable-rules' C parser kills the process on exponent notation or
Infinity, so every number a fact carries is finite, range-checked and written in plain decimals."""

from __future__ import annotations

import pytest

from cds_service.knowledge.loader import Knowledge
from cds_service.reasoning.facts import engine_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1e-07, 0.0), (-0.0, 0.0), (-1e-05, 0.0), (0.0001, 0.0001), (123456789012345.5, 123456789012345.5), (0.7, 0.7)],
)
def test_engine_numbers_are_written_without_exponent(value: float, expected: float) -> None:
    number = engine_number(value)
    assert number == expected and "e" not in repr(number) and repr(number) != "-0.0"


@pytest.mark.parametrize("value", [1e16, 1e15, float("inf"), float("-inf"), float("nan")])
def test_engine_number_refuses_what_no_fact_may_carry(value: float) -> None:
    with pytest.raises(ValueError):
        engine_number(value)


def test_every_analyte_has_plausibility_bounds(knowledge: Knowledge) -> None:
    """The bounds live in rules/valuesets/labs.yaml (plausibility, not clinical thresholds)."""
    missing = [a for a, d in knowledge.labs.analytes.items() if d.plausible is None]
    assert missing == []
