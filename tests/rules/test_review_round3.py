"""Third clinical review (R1-R19, on issues 18 and 11): parenteral magnesium, a thiazide with high calcium.

Each case: the facts, the card code, and the variants expected (empty set = quiet), at each boundary. Facts are
the normalised facts of cds_service.reasoning.facts, built with the catalog's helpers; scenarios under
fhir_fixtures/ show the same end to end.
"""

from __future__ import annotations

import pytest

from cds_service.knowledge.loader import Knowledge
from cds_service.offline.evaluation import Evaluator
from cds_service.reasoning.engine import RuleEngine
from cds_service.settings import Settings
from tests.fhir_server import FIXTURES

from ._sketch import Variant, cond, flat, lab, med, order, patient, variant_test
from .test_catalog import ORD, PV

ADULT = patient(30)
HIGH_MG = lab("mg", 2.4, "high")
LOW_MG = lab("mg", 0.55, "low")
TOXIC_MG = lab("mg", 5.0, "high")  # the magnesium sulfate label's 10 mEq/L (review S1)
CASES: list[Variant] = [
    # R1, Q1-Q3: magnesium sulfate IV with a high magnesium has a card of its own, never with a cancel; with
    # (pre-)eclampsia on record the high level is intended (information), otherwise or with reduced kidney
    # function a warning
    (
        "iv-order-mg-high-pre-eclampsia",
        ORD,
        flat(order("mg-parenteral"), lab("mg", 1.8, "high"), ADULT, lab("egfr", 90), cond("pre-eclampsia")),
        "mg-high-parenteral",
        {"pre-eclampsia"},
    ),
    (
        "iv-order-mg-high",
        ORD,
        flat(order("mg-parenteral"), HIGH_MG, ADULT, lab("egfr", 90)),
        "mg-high-parenteral",
        {"default"},
    ),
    ("iv-order-not-mg-high-card", ORD, flat(order("mg-parenteral"), HIGH_MG, ADULT, lab("egfr", 90)), "mg-high", set()),
    ("oral-order-mg-high", ORD, flat(order("mg-supplement", 250), HIGH_MG, ADULT), "mg-high", {"order"}),
    (
        "iv-order-mg-normal",
        ORD,
        flat(order("mg-parenteral"), lab("mg", 0.9, "normal"), ADULT),
        "mg-high-parenteral",
        set(),
    ),
    (
        "pv-iv-mg-high-pre-eclampsia-egfr-50",
        PV,
        flat(med("mg-parenteral"), lab("mg", 3.0, "high"), ADULT, lab("egfr", 50), cond("pre-eclampsia")),
        "mg-high-parenteral",
        {"renal"},
    ),
    (
        "pv-iv-egfr-50-no-oral-renal-card",
        PV,
        flat(med("mg-parenteral"), lab("mg", 3.0, "high"), ADULT, lab("egfr", 50), cond("pre-eclampsia")),
        "renal-caution-mg",
        {"moderate"},
    ),
    (
        "pv-iv-mg-high",
        PV,
        flat(med("mg-parenteral"), HIGH_MG, ADULT, lab("egfr", 90)),
        "mg-high-parenteral",
        {"default"},
    ),
    ("pv-oral-mg-high", PV, flat(med("mg-supplement"), HIGH_MG, ADULT, lab("egfr", 90)), "mg-high", {"on-magnesium"}),
    (
        "pv-oral-and-iv-mg-high",
        PV,
        flat(med("mg-supplement"), med("mg-parenteral"), HIGH_MG, ADULT, lab("egfr", 90)),
        "mg-high",
        {"on-magnesium"},
    ),
    # Q4: a child still low after IV magnesium gets the child text, not the adult replacement text
    ("pv-child-low-after-iv", PV, flat(med("mg-parenteral"), LOW_MG, patient(6)), "mg-deficiency", {"child"}),
    # R3: still low after IV magnesium: not the "no second product, adherence" text of an oral supplement
    ("pv-low-after-iv", PV, flat(med("mg-parenteral"), LOW_MG, ADULT), "mg-deficiency", {"after-parenteral"}),
    ("pv-low-on-oral", PV, flat(med("mg-laxative"), LOW_MG, ADULT), "mg-deficiency", {"on-supplement"}),
    (
        "pv-low-oral-and-iv",
        PV,
        flat(med("mg-supplement"), med("mg-parenteral"), LOW_MG, ADULT),
        "mg-deficiency",
        {"on-supplement"},
    ),
    ("pv-low-no-mg", PV, flat(LOW_MG, ADULT), "mg-deficiency", {"default"}),
    # R4: IV magnesium and kidney function at each eGFR boundary, and with none on record
    ("iv-egfr-29.9", ORD, flat(order("mg-parenteral"), lab("egfr", 29.9)), "mg-parenteral-renal", {"order-severe"}),
    ("iv-egfr-30", ORD, flat(order("mg-parenteral"), lab("egfr", 30)), "mg-parenteral-renal", {"order-moderate"}),
    ("iv-egfr-59.9", ORD, flat(order("mg-parenteral"), lab("egfr", 59.9)), "mg-parenteral-renal", {"order-moderate"}),
    ("iv-egfr-60", ORD, flat(order("mg-parenteral"), lab("egfr", 60)), "mg-parenteral-renal", set()),
    (
        "iv-no-egfr",
        ORD,
        flat(order("mg-parenteral"), {"kind": "lab-missing", "analyte": "egfr"}),
        "mg-parenteral-renal",
        {"order-unmeasured"},
    ),
    # R5: a thiazide ordered while calcium is high, with no calcium product or active vitamin D
    (
        "thiazide-ca-high",
        ORD,
        flat(order("thiazide-diuretic"), lab("ca", 2.7, "high")),
        "thiazide-hypercalcaemia",
        {"order-calcium-high"},
    ),
    (
        "thiazide-ca-normal",
        ORD,
        flat(order("thiazide-diuretic"), lab("ca", 2.5, "normal")),
        "thiazide-hypercalcaemia",
        set(),
    ),
    (
        "thiazide-ca-high-with-calcium",  # Q5/S5: the contraindication and cancel, and the calcium product named
        ORD,
        flat(order("thiazide-diuretic"), med("calcium-supplement"), lab("ca", 2.7, "high")),
        "thiazide-hypercalcaemia",
        {"order-calcium-high-with-calcium"},
    ),
    (
        "calcium-ordered-thiazide-in-use-ca-high",  # the calcium product ordered: the combination's warning
        ORD,
        flat(order("calcium-supplement"), med("thiazide-diuretic"), lab("ca", 2.7, "high")),
        "thiazide-hypercalcaemia",
        {"high"},
    ),
    # V1: in pre-eclampsia above the label's 4 mEq/L (2.0 mmol/L) a warning to check reflexes and breathing
    (
        "pv-iv-pre-eclampsia-2.0",
        PV,
        flat(med("mg-parenteral"), lab("mg", 2.0, "high"), ADULT, lab("egfr", 90), cond("pre-eclampsia")),
        "mg-high-parenteral",
        {"pre-eclampsia"},
    ),
    (
        "pv-iv-pre-eclampsia-2.01",
        PV,
        flat(med("mg-parenteral"), lab("mg", 2.01, "high"), ADULT, lab("egfr", 90), cond("pre-eclampsia")),
        "mg-high-parenteral",
        {"pre-eclampsia-reflexes"},
    ),
    (
        "pv-iv-pre-eclampsia-4.99",
        PV,
        flat(med("mg-parenteral"), lab("mg", 4.99, "high"), ADULT, lab("egfr", 90), cond("pre-eclampsia")),
        "mg-high-parenteral",
        {"pre-eclampsia-reflexes"},
    ),
    ("loop-ca-high", ORD, flat(order("loop-diuretic"), lab("ca", 2.7, "high")), "thiazide-hypercalcaemia", set()),
    # S1, R3, R4, R8: each exclusion of the last rules at its boundary, the variant that speaks instead
    (
        "pv-iv-toxic-not-renal",
        PV,
        flat(med("mg-parenteral"), TOXIC_MG, ADULT, lab("egfr", 50)),
        "mg-high-parenteral",
        {"toxic"},
    ),
    (
        "pv-iv-toxic-not-default",
        PV,
        flat(med("mg-parenteral"), TOXIC_MG, ADULT, lab("egfr", 90)),
        "mg-high-parenteral",
        {"toxic"},
    ),
    (
        "pv-iv-below-toxic-default",
        PV,
        flat(med("mg-parenteral"), lab("mg", 4.99, "high"), ADULT, lab("egfr", 90)),
        "mg-high-parenteral",
        {"default"},
    ),
    (
        "order-iv-renal",
        ORD,
        flat(order("mg-parenteral"), HIGH_MG, ADULT, lab("egfr", 50)),
        "mg-high-parenteral",
        {"renal"},
    ),
    (
        "order-iv-renal-pre-eclampsia",
        ORD,
        flat(order("mg-parenteral"), HIGH_MG, ADULT, lab("egfr", 50), cond("pre-eclampsia")),
        "mg-high-parenteral",
        {"renal"},
    ),
    (
        "order-iv-toxic-renal",
        ORD,
        flat(order("mg-parenteral"), TOXIC_MG, ADULT, lab("egfr", 50)),
        "mg-high-parenteral",
        {"toxic"},
    ),
    (
        "pv-low-after-iv-egfr-29.9",
        PV,
        flat(med("mg-parenteral"), LOW_MG, ADULT, lab("egfr", 29.9)),
        "mg-deficiency",
        {"renal"},
    ),
    (
        "pv-low-after-iv-egfr-30",
        PV,
        flat(med("mg-parenteral"), LOW_MG, ADULT, lab("egfr", 30)),
        "mg-deficiency",
        {"after-parenteral"},
    ),
    (
        "iv-no-egfr-ckd-coded",
        ORD,
        flat(order("mg-parenteral"), {"kind": "lab-missing", "analyte": "egfr"}, cond("ckd-g4-g5")),
        "mg-parenteral-renal",
        {"order-severe"},
    ),
    (
        "total-unknown-vitd-order",
        ORD,
        flat(order("vitd-native", 20), {"kind": "vitd-total-unknown", "products": 2}),
        "dose-not-checked",
        {"total-not-computed"},
    ),
]


@pytest.fixture(scope="module")
def engine(knowledge: Knowledge) -> RuleEngine:
    return RuleEngine(knowledge, ["nl-be"])


test_variant_at_boundary = variant_test(CASES)


def test_parenteral_magnesium_gets_no_cancel_and_no_stop(knowledge: Knowledge) -> None:
    """R1/Q1: no variant of the IV magnesium card offers a one-click cancel or says "stop" in its summary."""
    for name, variant in knowledge.cards["mg-high-parenteral"].variants.items():
        assert not [s for s in variant.suggestions if s.kind == "delete-order"], name
        assert "stop" not in variant.summary["nl"].lower() and "stop" not in variant.summary["en"].lower(), name


async def test_a_cancel_for_oral_magnesium_never_deletes_the_infusion(knowledge: Knowledge) -> None:
    """Q1 (unsafe): an infusion and a laxative signed together with a high magnesium; the oral product's card cancels
    the laxative only, and nothing cancels the infusion."""
    evaluator = Evaluator(Settings(auth="disabled"), knowledge)
    scenario = FIXTURES / "scenarios" / "sg-nl-r3-mgso4-iv-and-laxative-signed-mg-high" / "request.json"
    evaluation = await evaluator.evaluate(scenario)
    deleted = [
        action["resourceId"]
        for card in evaluation.cards
        for suggestion in card.get("suggestions", [])
        for action in suggestion.get("actions", [])
        if action["type"] == "delete"
    ]
    assert deleted == ["MedicationRequest/sg-nl-r3-05-oral"]
