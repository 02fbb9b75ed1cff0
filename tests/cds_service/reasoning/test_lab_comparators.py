"""Issue 10 item 2: results with a comparator (valueQuantity.comparator, text results such as "<10").

A bound that decides the category is reasoned with at its nearest end; one that does not is left out and
reported; neither is ever counted as "not measured". Data: fhir_fixtures/cases/comparators.json (US Core
valueQuantity shapes, Nictiz zib valueString shapes with `nmol/l` reference ranges).
"""

from __future__ import annotations

import pytest

from cds_service.knowledge.loader import Knowledge
from cds_service.reasoning.engine import RuleEngine

from .test_facts import facts_for, one


@pytest.fixture(scope="module")
def engine(knowledge: Knowledge) -> RuleEngine:
    return RuleEngine(knowledge, ["nl-be", "dach", "us-endocrine-2011"])


def _findings(engine: RuleEngine, facts: list[dict[str, object]], profile: str = "nl-be") -> set[str]:
    return {
        f"{d.fields['code']}={d.fields.get('value')}"
        for d in engine.evaluate("patient-view", profile, facts)
        if d.kind == "finding"
    }


DECIDED = [
    # case, analyte, findings that must be derived (others of that analyte must not), profile
    ("vitd-lt-5-ngml", "vitd25", {"vitd-status=deficient"}, "nl-be"),  # < 12.5 nmol/L
    ("vitd-lt-5-ngml", "vitd25", {"vitd-status=deficient"}, "us-endocrine-2011"),
    ("vitd-gt-150-ngml", "vitd25", {"vitd-status=high"}, "nl-be"),  # > 374 nmol/L ("harmful" tier unverified: off)
    ("vitd-lte-30-nmoll", "vitd25", set(), None),  # <= 30 straddles the 30 nmol/L limit: see UNDECIDED
    ("vitd-lt-30-nmoll", "vitd25", {"vitd-status=deficient"}, "nl-be"),  # strictly below the limit
    ("vitd-gte-125-nmoll", "vitd25", set(), None),
    ("vitd-lt-40-nmoll", "vitd25", {"vitd-status=deficient"}, "us-endocrine-2011"),  # deficient below 20 ng/mL
    ("vitd-text-lt10-range", "vitd25", {"vitd-status=deficient"}, "nl-be"),
    ("vitd-text-lt10-unit", "vitd25", {"vitd-status=deficient"}, "nl-be"),
    # review F13: "<10" without any unit is below 10 ng/mL (= 25 nmol/L) in the widest unit: deficient everywhere
    ("vitd-text-lt10-no-unit", "vitd25", {"vitd-status=deficient"}, "nl-be"),
    ("vitd-text-lt10-no-unit", "vitd25", {"vitd-status=deficient"}, "us-endocrine-2011"),
    ("mg-text-lt05-range", "mg", {"mg-low=yes", "mg-critical=yes"}, "nl-be"),
    ("mg-gt2-range", "mg", {"mg-high=yes", "mg-reflexes-decrease=yes"}, "nl-be"),  # ">2": above 2.0 mmol/L (V1)
    ("egfr-gt-60", "egfr", set(), "nl-be"),
    ("egfr-gt-90", "egfr", set(), "nl-be"),
    ("egfr-lt-15", "egfr", {"renal=g4-g5"}, "nl-be"),
]


@pytest.mark.parametrize(("case", "analyte", "expected", "profile"), [d for d in DECIDED if d[3]], ids=lambda v: str(v))
def test_a_deciding_bound_is_reasoned_with(
    knowledge: Knowledge, engine: RuleEngine, case: str, analyte: str, expected: set[str], profile: str
) -> None:
    facts = facts_for(knowledge, [one("comparators", case)], profile=profile)
    (lab,) = [f for f in facts.facts if f["kind"] == "lab"]
    assert lab["analyte"] == analyte
    assert {"kind": "lab-missing", "analyte": analyte} not in [
        {k: v for k, v in f.items() if k != "id"} for f in facts.facts
    ]
    prefix = {"vitd25": "vitd-status", "mg": "mg-", "egfr": "renal"}[analyte]
    found = {f for f in _findings(engine, facts.facts, profile) if f.startswith(prefix)}
    assert found == expected
    (evidence,) = [e for e in facts.evidence.values() if e.kind == "lab"]
    assert evidence.comparator is not None  # the card shows "<10", not "10"


UNDECIDED = [
    ("vitd-lt-40-nmoll", "does not decide the vitd25 category", "nl-be"),  # deficient (<30) or insufficient
    ("vitd-lt-40-nmoll", "does not decide the vitd25 category", "dach"),  # RKI: deficient (<30) or suboptimal
    ("vitd-lte-30-nmoll", "does not decide the vitd25 category", "nl-be"),
    ("vitd-gte-125-nmoll", "does not decide the vitd25 category", "nl-be"),  # caution (125-250) or harmful
    ("vitd-gt-60-nmoll", "does not decide the vitd25 category", "nl-be"),  # adequate, or at/above 125
    ("mg-lt08-range", "does not decide the mg category", "nl-be"),  # low or normal
    ("egfr-gt-20", "does not decide the egfr category", "nl-be"),
    ("vitd-ad", "does not bound the value", "nl-be"),
    ("vitd-text-10-no-unit", "without a unit", "nl-be"),  # an exact number without a unit: never guessed
    ("vitd-text-gt10-no-unit", "does not decide the vitd25 category", "nl-be"),  # > 10 nmol/L decides nothing
    ("vitd-text-lt40-no-unit", "does not decide the vitd25 category", "nl-be"),  # < 40 ng/mL = 99.8 nmol/L
    ("vitd-text-lt10-bad-unit", "unit 'eenheden'", "nl-be"),
    ("vitd-text-words", "not a number", "nl-be"),
]


@pytest.mark.parametrize(("case", "reason", "profile"), UNDECIDED, ids=[u[0] for u in UNDECIDED])
def test_a_bound_that_does_not_decide_is_left_out_and_reported(
    knowledge: Knowledge, case: str, reason: str, profile: str
) -> None:
    facts = facts_for(knowledge, [one("comparators", case)], profile=profile)
    analyte = one("comparators", case)["code"]["coding"][0]["code"]
    assert [f for f in facts.facts if f["kind"] == "lab"] == []
    assert not [
        f
        for f in facts.facts
        if f["kind"] == "lab-missing"
        and f["analyte"] in ("vitd25", "mg", "egfr")
        and analyte in ("62292-8", "2601-3", "62238-1")
        and f["analyte"] == {"62292-8": "vitd25", "2601-3": "mg", "62238-1": "egfr"}[analyte]
    ]
    assert any(reason in r.reason for r in facts.reports), [r.reason for r in facts.reports]


def test_low_by_range_with_undecided_severity_is_low_and_says_so(knowledge: Knowledge, engine: RuleEngine) -> None:
    """`<0,6` mmol/L with range 0.70-1.0: low (at/below the low cut-off), not critical (bound above 0.50), reported."""
    facts = facts_for(knowledge, [one("comparators", "mg-text-lt06-range")])
    found = _findings(engine, facts.facts)
    assert "mg-low=yes" in found and "mg-critical=yes" not in found
    assert any("cannot decide value < 0.5" in r.reason for r in facts.reports), [r.reason for r in facts.reports]


def test_pth_in_pmol_per_litre_converts_with_the_cited_factor(knowledge: Knowledge) -> None:
    """Issue 10: PTH pmol/L x 9.0909 pg/mL (KDOQI 2003 writes 100-500 pg/mL as 11.0-55.0 pmol/L)."""
    facts = facts_for(knowledge, [one("units-unknown", "pth-pmoll")])
    (lab,) = [f for f in facts.facts if f["kind"] == "lab"]
    assert lab["analyte"] == "pth" and lab["value"] == pytest.approx(8.0 * 9.0909)
    assert facts.reports == []
