"""Issue 10, second clinical review (F01-F23): variants that keep unsafe one-click starts away, at each boundary.

Each case: the facts, the card code, and the variants expected (empty set = quiet). Facts are the normalised facts
of cds_service.reasoning.facts, built with the catalog's helpers; scenarios under fhir_fixtures/ show the same
end to end.
"""

from __future__ import annotations

import pytest

from cds_service.knowledge.loader import Knowledge
from cds_service.reasoning.engine import RuleEngine

from ._sketch import Variant, cond, flat, lab, med, order, patient, variant_test
from .test_catalog import ORD, PV

ADULT = patient(45)
CASES: list[Variant] = [
    # F03/F04/F05: no one-click vitamin D start for granulomatous disease, eGFR < 30, children
    ("def-adult-start", PV, flat(lab("vitd25", 20), ADULT), "vitd-deficiency", {"default"}),
    ("def-child-17y11m", PV, flat(lab("vitd25", 20), patient(215 / 12)), "vitd-deficiency", {"child"}),
    ("def-18y-is-adult", PV, flat(lab("vitd25", 20), patient(18)), "vitd-deficiency", {"default"}),
    (
        "def-sarcoidosis",
        PV,
        flat(lab("vitd25", 20), ADULT, cond("granulomatous-disease")),
        "vitd-deficiency",
        {"granulomatous"},
    ),
    ("def-egfr-29.9", PV, flat(lab("vitd25", 20), ADULT, lab("egfr", 29.9)), "vitd-deficiency", {"renal"}),
    ("def-egfr-30", PV, flat(lab("vitd25", 20), ADULT, lab("egfr", 30)), "vitd-deficiency", {"default"}),
    (
        "def-child-on-d",
        PV,
        flat(lab("vitd25", 20), patient(6), med("vitd-native")),
        "vitd-deficiency",
        {"on-supplement"},
    ),
    (
        "def-sarcoid-on-d",
        PV,
        flat(lab("vitd25", 20), ADULT, cond("granulomatous-disease"), med("vitd-native")),
        "vitd-deficiency",
        {"granulomatous"},
    ),
    ("insufficient-child-quiet", PV, flat(lab("vitd25", 40), patient(8)), "vitd-insufficiency", set()),
    # F01/F16: calcium above the range on vitamin D/calcium: a warning of its own, at the cited limit without a range
    (
        "ca-high-on-calcium",
        PV,
        flat(lab("ca", 2.7, "high"), ADULT, med("calcium-supplement")),
        "hypercalcaemia-on-therapy",
        {"default"},
    ),
    (
        "ca-normal-on-calcium",
        PV,
        flat(lab("ca", 2.5, "normal"), ADULT, med("calcium-supplement")),
        "hypercalcaemia-on-therapy",
        set(),
    ),
    (
        "ca-2.55-no-range-on-d",
        PV,
        flat(lab("ca", 2.55), ADULT, med("vitd-native")),
        "hypercalcaemia-on-therapy",
        {"default"},
    ),
    ("ca-2.54-no-range-on-d", PV, flat(lab("ca", 2.54), ADULT, med("vitd-native")), "hypercalcaemia-on-therapy", set()),
    ("ca-high-no-therapy", PV, flat(lab("ca", 2.7, "high"), ADULT), "hypercalcaemia-on-therapy", set()),
    (
        "def-ca-high-on-d-one-card",
        PV,
        flat(lab("vitd25", 20), lab("ca", 2.7, "high"), ADULT, med("vitd-native")),
        "vitd-deficiency",
        set(),
    ),
    # F01/F21: 25(OH)D above the upper cut-off while vitamin D is taken: a warning, not info
    ("excess-on-d", PV, flat(lab("vitd25", 125.1), ADULT, med("vitd-native")), "vitd-excess", {"on-supplement"}),
    ("excess-boundary-on-d", PV, flat(lab("vitd25", 125), ADULT, med("vitd-native")), "vitd-excess", set()),
    ("excess-no-d", PV, flat(lab("vitd25", 125.1), ADULT), "vitd-excess", {"caution"}),
    # F02/F15/F22: order hooks
    (
        "order-d-ca-high",
        ORD,
        flat(order("vitd-native", 20), lab("ca", 2.85, "high"), ADULT),
        "hypercalcaemia-on-therapy",
        {"order"},
    ),
    (
        "order-alfacalcidol-ca-high",
        ORD,
        flat(order("vitd-active"), lab("ca", 2.8, "high"), ADULT),
        "hypercalcaemia-on-therapy",
        {"order"},
    ),
    (
        "order-calcium-ca-2.55-no-range",
        ORD,
        flat(order("calcium-supplement"), lab("ca", 2.55), ADULT),
        "hypercalcaemia-on-therapy",
        {"order"},
    ),
    (
        "order-d-ca-normal",
        ORD,
        flat(order("vitd-native", 20), lab("ca", 2.4, "normal"), ADULT),
        "hypercalcaemia-on-therapy",
        set(),
    ),
    (
        "order-d-sarcoidosis",
        ORD,
        flat(order("vitd-native", 20), cond("granulomatous-disease"), ADULT),
        "vitd-granulomatous",
        {"order"},
    ),
    ("order-d-no-sarcoidosis", ORD, flat(order("vitd-native", 20), ADULT), "vitd-granulomatous", set()),
    ("order-d-level-125.1", ORD, flat(order("vitd-native", 20), lab("vitd25", 125.1), ADULT), "vitd-excess", {"order"}),
    ("order-d-level-125", ORD, flat(order("vitd-native", 20), lab("vitd25", 125), ADULT), "vitd-excess", set()),
    # F14: hypocalcaemia with magnesium already low
    (
        "ca-low-mg-low",
        PV,
        flat(lab("ca", 1.95, "low"), lab("mg", 0.55, "low")),
        "hypocalcemia-check-mg-vitd",
        {"mg-low"},
    ),
    (
        "ca-low-mg-missing",
        PV,
        flat(lab("ca", 1.95, "low"), {"kind": "lab-missing", "analyte": "mg"}),
        "hypocalcemia-check-mg-vitd",
        {"default"},
    ),
    # F07: PTH high with eGFR < 30 is renal secondary HPT
    (
        "pth-egfr-29.9",
        PV,
        flat(lab("pth", 200, "high"), lab("vitd25", 20), lab("egfr", 29.9), ADULT),
        "secondary-hyperparathyroidism",
        {"renal"},
    ),
    (
        "pth-egfr-30",
        PV,
        flat(lab("pth", 200, "high"), lab("vitd25", 20), lab("egfr", 30), ADULT),
        "secondary-hyperparathyroidism",
        {"default"},
    ),
    # F20/F23: magnesium for children and when magnesium is already taken
    ("mg-low-child", PV, flat(lab("mg", 0.6, "low"), patient(6)), "mg-deficiency", {"child"}),
    ("mg-low-on-mg", PV, flat(lab("mg", 0.6, "low"), ADULT, med("mg-supplement")), "mg-deficiency", {"on-supplement"}),
    (
        "mg-low-on-laxative-egfr-25",
        PV,
        flat(lab("mg", 0.6, "low"), ADULT, med("mg-laxative"), lab("egfr", 25)),
        "mg-deficiency",
        {"renal"},
    ),
    ("mg-low-adult", PV, flat(lab("mg", 0.6, "low"), ADULT), "mg-deficiency", {"default"}),
    # F24: long-term glucocorticoids: calcium, vitamin D and fracture risk (ACR 2022), not a 25(OH)D test
    ("steroid-long", PV, flat(med("systemic-corticosteroid"), ADULT), "glucocorticoid-bone", {"default"}),
    (
        "steroid-89-days",
        PV,
        flat({**med("systemic-corticosteroid"), "course": "bounded", "course_days": 89.0}, ADULT),
        "glucocorticoid-bone",
        set(),
    ),
    (
        "steroid-90-days",
        PV,
        flat({**med("systemic-corticosteroid"), "course": "bounded", "course_days": 90.0}, ADULT),
        "glucocorticoid-bone",
        {"default"},
    ),
    # second review U3/W3: calcium and vitamin D advice only where no other card restricts it; fracture risk always
    (
        "steroid-on-d",
        PV,
        flat(med("systemic-corticosteroid"), med("vitd-native"), ADULT),
        "glucocorticoid-bone",
        {"fracture-risk"},
    ),
    (
        "steroid-deficient",
        PV,
        flat(med("systemic-corticosteroid"), lab("vitd25", 20), ADULT),
        "glucocorticoid-bone",
        {"fracture-risk"},
    ),
    (
        "steroid-ca-high",
        PV,
        flat(med("systemic-corticosteroid"), lab("ca", 2.85, "high"), ADULT),
        "glucocorticoid-bone",
        {"fracture-risk"},
    ),
    (
        "steroid-sarcoid",
        PV,
        flat(med("systemic-corticosteroid"), cond("granulomatous-disease"), ADULT),
        "glucocorticoid-bone",
        {"fracture-risk"},
    ),
    (
        "steroid-egfr-25",
        PV,
        flat(med("systemic-corticosteroid"), lab("egfr", 25), ADULT),
        "glucocorticoid-bone",
        {"fracture-risk"},
    ),
    # second review U1: 25(OH)D high with calcium high and no product recorded: over-the-counter vitamin D
    (
        "excess-ca-high-no-product",
        PV,
        flat(lab("vitd25", 300), lab("ca", 3.0, "high"), ADULT),
        "vitd-excess",
        {"hypercalcaemia"},
    ),
    (
        "excess-ca-normal-no-product",
        PV,
        flat(lab("vitd25", 300), lab("ca", 2.4, "normal"), ADULT),
        "vitd-excess",
        {"caution"},
    ),
    # second review W2: 10.2 mg/dL (2.5449 mmol/L) is the KDOQI limit itself, not above it
    (
        "ca-10.2-mgdl-no-range-on-d",
        PV,
        flat(lab("ca", 2.5449), ADULT, med("vitd-native")),
        "hypercalcaemia-on-therapy",
        set(),
    ),
    (
        "ca-10.3-mgdl-no-range-on-d",
        PV,
        flat(lab("ca", 2.5699), ADULT, med("vitd-native")),
        "hypercalcaemia-on-therapy",
        {"default"},
    ),
    # second review W1: high PTH and high calcium in CKD G4-G5: the nephrologist's, not a PHPT referral
    (
        "pth-ca-high-egfr-25",
        PV,
        flat(lab("pth", 300, "high"), lab("ca", 2.7, "high"), lab("egfr", 25), ADULT),
        "pth-high-calcium-high",
        {"renal"},
    ),
    (
        "pth-ca-high-egfr-30",
        PV,
        flat(lab("pth", 300, "high"), lab("ca", 2.7, "high"), lab("egfr", 30), ADULT),
        "pth-high-calcium-high",
        {"default"},
    ),
    # second review W4: sarcoidosis outranks the activated vitamin D variant (warning, calcium monitoring)
    (
        "def-alfa-sarcoid",
        PV,
        flat(lab("vitd25", 20), med("vitd-active"), cond("granulomatous-disease"), ADULT),
        "vitd-deficiency",
        {"granulomatous"},
    ),
    # second review W5: a vitamin D order in CKD G4-G5 agrees with the patient-view card
    ("order-d-egfr-25", ORD, flat(order("vitd-native", 20), lab("egfr", 25), ADULT), "renal-caution-vitd", {"default"}),
    ("order-d-egfr-30", ORD, flat(order("vitd-native", 20), lab("egfr", 30), ADULT), "renal-caution-vitd", set()),
    (
        "aed-unmeasured",
        PV,
        flat(med("enzyme-inducing-antiepileptic"), {"kind": "lab-missing", "analyte": "vitd25"}, ADULT),
        "vitd-lowering-medication",
        {"unmeasured"},
    ),
]


@pytest.fixture(scope="module")
def engine(knowledge: Knowledge) -> RuleEngine:
    return RuleEngine(knowledge, ["nl-be"])


test_variant_at_boundary = variant_test(CASES)
