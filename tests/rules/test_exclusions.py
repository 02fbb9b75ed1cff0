"""Issue 10 item 3: each exclusion and variant, firing and quiet at its boundary (normalised facts).

FHIR shapes (NL zib, US Core) of the same exclusions run end to end in fhir_fixtures/scenarios (pv-*-h10-*,
os-*-h10-*) through `vitdmg-cds evaluate fhir_fixtures --check` and tests/test_scenarios.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.engine import RuleEngine
from cds_service.knowledge import Knowledge

from .test_catalog import Fact, cards, flat, lab, order_lab

ORD = "orders"
PV = "patient-view"


@pytest.fixture(scope="module")
def engine(knowledge: Knowledge) -> RuleEngine:
    return RuleEngine(knowledge, ["nl-be", "dach", "us-endocrine-2011"])


# (case, group, profile, facts, code, expected indicator or None)
CASES: list[tuple[str, str, str, list[Fact], str, Any]] = [
    # retest-too-early: never after an abnormal previous result (catalog row retest-too-early)
    (
        "retest-vitd-insufficient-fires",
        ORD,
        "nl-be",
        flat(order_lab("vitd25"), lab("vitd25", 40, age_days=10)),
        "retest-too-early",
        "info",
    ),
    (
        "retest-vitd-at-deficiency-limit-fires",
        ORD,
        "nl-be",
        flat(order_lab("vitd25"), lab("vitd25", 30, age_days=10)),
        "retest-too-early",
        "info",
    ),
    (
        "retest-vitd-deficient-quiet",
        ORD,
        "nl-be",
        flat(order_lab("vitd25"), lab("vitd25", 29.9, age_days=10)),
        "retest-too-early",
        None,
    ),
    (
        "retest-vitd-below-high-fires",
        ORD,
        "nl-be",
        flat(order_lab("vitd25"), lab("vitd25", 124.9, age_days=10)),
        "retest-too-early",
        "info",
    ),
    (
        "retest-vitd-at-high-quiet",
        ORD,
        "nl-be",
        flat(order_lab("vitd25"), lab("vitd25", 125.1, age_days=10)),  # IOM: concern above 125 nmol/L
        "retest-too-early",
        None,
    ),
    (
        "retest-vitd-harmful-quiet",
        ORD,
        "nl-be",
        flat(order_lab("vitd25"), lab("vitd25", 260, age_days=10)),
        "retest-too-early",
        None,
    ),
    (
        "retest-vitd-deficient-dach-quiet",
        ORD,
        "dach",
        flat(order_lab("vitd25"), lab("vitd25", 29.9, age_days=10)),  # RKI: deficient below 30 nmol/L
        "retest-too-early",
        None,
    ),
    (
        "retest-mg-normal-fires",
        ORD,
        "nl-be",
        flat(order_lab("mg"), lab("mg", 0.8, "normal", age_days=10)),
        "retest-too-early",
        "info",
    ),
    (
        "retest-mg-low-quiet",
        ORD,
        "nl-be",
        flat(order_lab("mg"), lab("mg", 0.65, "low", age_days=10)),
        "retest-too-early",
        None,
    ),
    (
        "retest-mg-critical-quiet",
        ORD,
        "nl-be",
        flat(order_lab("mg"), lab("mg", 0.4, "low", age_days=10)),
        "retest-too-early",
        None,
    ),
    (
        "retest-mg-high-quiet",
        ORD,
        "nl-be",
        flat(order_lab("mg"), lab("mg", 1.2, "high", age_days=10)),
        "retest-too-early",
        None,
    ),
]


@pytest.mark.parametrize(("case", "group", "profile", "facts", "code", "indicator"), CASES, ids=[c[0] for c in CASES])
def test_exclusion_row(
    engine: RuleEngine, case: str, group: str, profile: str, facts: list[Fact], code: str, indicator: str | None
) -> None:
    assert cards(engine, group, profile, facts).get(code) == indicator


def test_retest_too_early_never_suggests_cancelling(knowledge: Knowledge) -> None:
    """Info only: the clinician decides whether to repeat the test (issue 10 item 3)."""
    for variant in knowledge.cards["retest-too-early"].variants.values():
        assert not any(s.kind in ("delete-order", "replace-order-with-lab") for s in variant.suggestions)
