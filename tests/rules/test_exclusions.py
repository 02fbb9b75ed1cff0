"""Issue 10 item 3: each exclusion and variant, firing and quiet at its boundary (normalised facts).

FHIR shapes (NL zib, US Core) of the same exclusions run end to end in fhir_fixtures/scenarios (pv-*-h10-*,
os-*-h10-*) through `vitdmg-cds evaluate fhir_fixtures --check` and tests/test_scenarios.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.knowledge.loader import Knowledge
from cds_service.reasoning.engine import RuleEngine

from ._sketch import Fact, absent, cond, flat, lab, med, order_lab, patient
from ._sketch import missing as missing_lab
from .test_catalog import cards

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


VITD_LOW = lab("vitd25", 20)  # deficient under every profile
VITD_MID = lab("vitd25", 40)  # insufficient under D-A-CH (30 to < 50 nmol/L)

# (case, facts, code, the variants that must fire for that code; empty = quiet) -- patient-view, nl-be
VARIANTS: list[tuple[str, list[Fact], str, set[str]]] = [
    # starting vitamin D (create-medication-order on the default variant only)
    ("vitd-start-ca-normal", flat(VITD_LOW, lab("ca", 2.4, "normal")), "vitd-deficiency", {"default"}),
    ("vitd-start-no-ca", flat(VITD_LOW), "vitd-deficiency", {"default"}),
    ("vitd-ca-high-by-range", flat(VITD_LOW, lab("ca", 2.7, "high")), "vitd-deficiency", {"hypercalcaemia"}),
    ("vitd-ca-above-cited-limit", flat(VITD_LOW, lab("ca", 2.55)), "vitd-deficiency", {"hypercalcaemia"}),
    ("vitd-ca-at-cited-limit", flat(VITD_LOW, lab("ca", 2.54)), "vitd-deficiency", {"default"}),
    ("vitd-ca-range-wins", flat(VITD_LOW, lab("ca", 2.58, "normal")), "vitd-deficiency", {"default"}),
    ("vitd-on-native", flat(VITD_LOW, med("vitd-native")), "vitd-deficiency", {"on-supplement"}),
    ("vitd-on-active", flat(VITD_LOW, med("vitd-active")), "vitd-deficiency", {"active-form"}),
    ("vitd-on-both", flat(VITD_LOW, med("vitd-native"), med("vitd-active")), "vitd-deficiency", {"active-form"}),
    (  # calcium high on an activated vitamin D: the hypercalcaemia-on-therapy card speaks (review round 2, F16)
        "vitd-active-ca-high",
        flat(VITD_LOW, med("vitd-active"), lab("ca", 2.7, "high")),
        "vitd-deficiency",
        set(),
    ),
    (
        "vitd-active-ca-high-own-card",
        flat(VITD_LOW, med("vitd-active"), lab("ca", 2.7, "high")),
        "hypercalcaemia-on-therapy",
        {"default"},
    ),
    ("vitd-mid-start", flat(VITD_MID), "vitd-insufficiency", {"default"}),
    ("vitd-mid-on-native", flat(VITD_MID, med("vitd-native")), "vitd-insufficiency", {"on-supplement"}),
    ("vitd-mid-ca-high", flat(VITD_MID, lab("ca", 2.7, "high")), "vitd-insufficiency", {"hypercalcaemia"}),
    ("vitd-mid-on-active-quiet", flat(VITD_MID, med("vitd-active")), "vitd-insufficiency", set()),
    # mg-deficiency kidney-aware (eGFR < 30 = KDIGO G4)
    ("mg-low-egfr-29", flat(lab("mg", 0.6, "low"), lab("egfr", 29.9)), "mg-deficiency", {"renal"}),
    ("mg-low-egfr-30", flat(lab("mg", 0.6, "low"), lab("egfr", 30)), "mg-deficiency", {"default"}),
    ("mg-low-ckd-coded", flat(lab("mg", 0.6, "low"), cond("ckd-g4-g5")), "mg-deficiency", {"renal"}),
    ("mg-low-no-kidney", flat(lab("mg", 0.6, "low")), "mg-deficiency", {"default"}),
    # secondary hyperparathyroidism requires calcium not high
    (
        "hpt2-ca-normal",
        flat(VITD_LOW, lab("pth", 90, "high"), lab("ca", 2.3, "normal")),
        "secondary-hyperparathyroidism",
        {"default"},
    ),
    (
        "hpt2-ca-high",
        flat(VITD_LOW, lab("pth", 90, "high"), lab("ca", 2.7, "high")),
        "secondary-hyperparathyroidism",
        set(),
    ),
    (
        "hpt1-ca-high",
        flat(VITD_LOW, lab("pth", 90, "high"), lab("ca", 2.7, "high")),
        "pth-high-calcium-high",
        {"default"},
    ),
]


@pytest.mark.parametrize(("case", "facts", "code", "variants"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_variant_row(engine: RuleEngine, case: str, facts: list[Fact], code: str, variants: set[str]) -> None:
    # nl-be derives no insufficiency band (its 50 nmol/L is NOT VERIFIED, issue 11): those rows run under D-A-CH
    profile = "dach" if code == "vitd-insufficiency" else "nl-be"
    fired = {
        str(d.fields["variant"])
        for d in engine.evaluate(PV, profile, facts)
        if d.kind == "card" and d.fields["code"] == code
    }
    assert fired == variants


def test_only_the_default_variants_start_vitamin_d(knowledge: Knowledge) -> None:
    """The start suggestion exists on the default variant only: never with hypercalcaemia or vitamin D active."""
    for code in ("vitd-deficiency", "vitd-insufficiency"):
        for name, variant in knowledge.cards[code].variants.items():
            starts = [s for s in variant.suggestions if s.kind == "create-medication-order"]
            assert bool(starts) == (name == "default"), (code, name)
    assert not knowledge.cards["mg-deficiency"].variants["renal"].suggestions


ORDER_125D = [order_lab("vitd125"), *absent("ckd", "parathyroid-disease")]
CASES += [
    # test-125d-not-status: quiet where 1,25(OH)2D is indicated
    ("125d-no-indication-fires", ORD, "nl-be", flat(*ORDER_125D, lab("egfr", 30)), "test-125d-not-status", "info"),
    ("125d-egfr-29-quiet", ORD, "nl-be", flat(*ORDER_125D, lab("egfr", 29.9)), "test-125d-not-status", None),
    ("125d-ca-high-quiet", ORD, "nl-be", flat(*ORDER_125D, lab("ca", 2.7, "high")), "test-125d-not-status", None),
    (
        "125d-sarcoid-quiet",
        ORD,
        "nl-be",
        flat(*ORDER_125D, cond("granulomatous-disease")),
        "test-125d-not-status",
        None,
    ),
    ("125d-active-d-quiet", ORD, "nl-be", flat(*ORDER_125D, med("vitd-active")), "test-125d-not-status", None),
    ("125d-ckd-g4-coded-quiet", ORD, "nl-be", flat(*ORDER_125D, cond("ckd-g4-g5")), "test-125d-not-status", None),
]


def test_retest_too_early_never_suggests_cancelling(knowledge: Knowledge) -> None:
    """Info only: the clinician decides whether to repeat the test (issue 10 item 3)."""
    for variant in knowledge.cards["retest-too-early"].variants.values():
        assert not any(s.kind in ("delete-order", "replace-order-with-lab") for s in variant.suggestions)


def _order_med(med_class: str, dose: float, course_days: float | None = None) -> list[Fact]:
    fact: Fact = {"kind": "order", "type": "medication", "class": med_class, "daily_dose": dose, "dose": "computed"}
    fact |= {"course": "open"} if course_days is None else {"course": "bounded", "course_days": course_days}
    return [fact, med(med_class, draft="yes")]


def _med_course(med_class: str, course_days: float | None) -> Fact:
    fact = med(med_class)
    return fact | ({"course": "open"} if course_days is None else {"course": "bounded", "course_days": course_days})


ADULT = patient(50)
CASES += [
    # course length: magnesium loss concerns prolonged use (FDA 2011: at least three months)
    ("ppi-open-fires", PV, "nl-be", flat(_med_course("ppi", None), missing_lab("mg")), "mg-loss-ppi", "info"),
    ("ppi-89d-quiet", PV, "nl-be", flat(_med_course("ppi", 89.9), missing_lab("mg")), "mg-loss-ppi", None),
    ("ppi-90d-fires", PV, "nl-be", flat(_med_course("ppi", 90), missing_lab("mg")), "mg-loss-ppi", "info"),
    ("ppi-14d-low-mg-quiet", PV, "nl-be", flat(_med_course("ppi", 14), lab("mg", 0.6, "low")), "mg-loss-ppi", None),
    (
        "loop-14d-quiet",
        PV,
        "nl-be",
        flat(_med_course("loop-diuretic", 14), missing_lab("mg")),
        "mg-loss-diuretic",
        None,
    ),
    (
        "loop-open-fires",
        PV,
        "nl-be",
        flat(_med_course("loop-diuretic", None), missing_lab("mg")),
        "mg-loss-diuretic",
        "info",
    ),
    (
        "steroid-5d-quiet",
        PV,
        "nl-be",
        flat(_med_course("systemic-corticosteroid", 5), missing_lab("vitd25")),
        "glucocorticoid-bone",
        None,
    ),
    (
        "steroid-90d-fires",
        PV,
        "nl-be",
        flat(_med_course("systemic-corticosteroid", 90), missing_lab("vitd25")),
        "glucocorticoid-bone",
        "info",
    ),
    ("order-ppi-14d-quiet", ORD, "nl-be", flat(*_order_med("ppi", 40, 14), missing_lab("mg")), "mg-loss-ppi", None),
    ("order-ppi-open-fires", ORD, "nl-be", flat(*_order_med("ppi", 40), missing_lab("mg")), "mg-loss-ppi", "info"),
    ("order-ppi-90d-fires", ORD, "nl-be", flat(*_order_med("ppi", 40, 90), missing_lab("mg")), "mg-loss-ppi", "info"),
    # upper-limit cards: a bounded course for a documented deficiency is info without a cancel suggestion
    (
        "ul-vitd-maintenance-warning",
        ORD,
        "nl-be",
        flat(*_order_med("vitd-native", 125), ADULT, lab("vitd25", 60)),
        "vitd-dose-above-ul",
        "warning",
    ),
    (
        "ul-vitd-course-deficient-info",
        ORD,
        "nl-be",
        flat(*_order_med("vitd-native", 125, 56), ADULT, lab("vitd25", 20)),
        "vitd-dose-above-ul",
        "info",
    ),
    (
        "ul-vitd-course-90d-info",
        ORD,
        "nl-be",
        flat(*_order_med("vitd-native", 125, 90), ADULT, lab("vitd25", 20)),
        "vitd-dose-above-ul",
        "info",
    ),
    (
        "ul-vitd-course-91d-warning",
        ORD,
        "nl-be",
        flat(*_order_med("vitd-native", 125, 91), ADULT, lab("vitd25", 20)),
        "vitd-dose-above-ul",
        "warning",
    ),
    (
        "ul-vitd-open-deficient-warning",
        ORD,
        "nl-be",
        flat(*_order_med("vitd-native", 125), ADULT, lab("vitd25", 20)),
        "vitd-dose-above-ul",
        "warning",
    ),
    (
        "ul-vitd-course-not-deficient-warning",
        ORD,
        "nl-be",
        flat(*_order_med("vitd-native", 125, 56), ADULT, lab("vitd25", 60)),
        "vitd-dose-above-ul",
        "warning",
    ),
    (
        "ul-mg-course-low-info",
        ORD,
        "nl-be",
        flat(*_order_med("mg-supplement", 400, 28), ADULT, lab("mg", 0.6, "low")),
        "mg-dose-above-ul",
        "info",
    ),
    (
        "ul-mg-maintenance-warning",
        ORD,
        "nl-be",
        # above twice the 250 mg level (review N1/N2: up to twice it is info)
        flat(*_order_med("mg-supplement", 600), ADULT, lab("mg", 0.8, "normal")),
        "mg-dose-above-ul",
        "warning",
    ),
    # risk-group testing by indication only, quiet when supplemented, one vitamin D advice card
    ("risk-age-alone-quiet", PV, "nl-be", flat(patient(80), missing_lab("vitd25")), "risk-group-testing", None),
    (
        "risk-coeliac-fires",
        PV,
        "nl-be",
        flat(patient(40), cond("coeliac-disease"), missing_lab("vitd25")),
        "risk-group-testing",
        "info",
    ),
    (
        "risk-coeliac-us-fires",
        PV,
        "us-endocrine-2011",
        flat(patient(40), cond("coeliac-disease"), missing_lab("vitd25")),
        "risk-group-testing",
        "info",
    ),
    (
        "risk-coeliac-supplemented-quiet",
        PV,
        "nl-be",
        flat(cond("coeliac-disease"), med("vitd-native"), missing_lab("vitd25")),
        "risk-group-testing",
        None,
    ),
    (
        "risk-ckd-steroid-one-card",
        PV,
        "nl-be",
        flat(cond("ckd"), med("systemic-corticosteroid"), missing_lab("vitd25")),
        "risk-group-testing",
        None,
    ),
    ("risk-pregnancy-no-test", PV, "nl-be", flat(cond("pregnancy"), missing_lab("vitd25")), "risk-group-testing", None),
    # magnesium-loss conditions (alcohol, chronic diarrhoea, malabsorption)
    (
        "mg-alcohol-fires",
        PV,
        "nl-be",
        flat(cond("alcohol-use-disorder"), missing_lab("mg")),
        "mg-loss-condition",
        "info",
    ),
    (
        "mg-diarrhoea-fires",
        PV,
        "nl-be",
        flat(cond("chronic-diarrhoea"), missing_lab("mg")),
        "mg-loss-condition",
        "info",
    ),
    (
        "mg-alcohol-measured-quiet",
        PV,
        "nl-be",
        flat(cond("alcohol-use-disorder"), lab("mg", 0.8, "normal")),
        "mg-loss-condition",
        None,
    ),
    (
        "mg-alcohol-ppi-one-card",
        PV,
        "nl-be",
        flat(cond("alcohol-use-disorder"), _med_course("ppi", None), missing_lab("mg")),
        "mg-loss-condition",
        None,
    ),
]


@pytest.mark.parametrize(("case", "group", "profile", "facts", "code", "indicator"), CASES, ids=[c[0] for c in CASES])
def test_exclusion_row(
    engine: RuleEngine, case: str, group: str, profile: str, facts: list[Fact], code: str, indicator: str | None
) -> None:
    assert cards(engine, group, profile, facts).get(code) == indicator
