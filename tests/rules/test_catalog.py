"""The card catalog of issue 3, row by row: fires, stays quiet, and flips exactly at each threshold.

Input facts here are the normalised facts of cds_service.reasoning.facts (not FHIR: FHIR data lives in
fhir_fixtures/ and is covered by tests/cds_service/reasoning/test_facts.py and the scenario tests).
Each case names its catalog row (source.topic.code) and the expected indicator, or None for "no card".
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cds_service.knowledge.loader import Knowledge
from cds_service.reasoning.engine import RuleEngine

_ids = itertools.count()
Fact = dict[str, Any]


def lab(analyte: str, value: float, flag: str = "unknown", age_days: float = 10.0) -> Fact:
    return {"kind": "lab", "analyte": analyte, "value": float(value), "flag": flag, "age_days": age_days}


def missing(analyte: str) -> Fact:
    return {"kind": "lab-missing", "analyte": analyte}


# classes with `contains_magnesium` in rules/valuesets/medications.yaml: facts carry `contains: magnesium`
MG_CLASSES = {"mg-supplement", "mg-laxative", "mg-antacid"}  # not mg-parenteral (no binding in the gut)


def _mg(med_class: str) -> Fact:
    return {"contains": "magnesium"} if med_class in MG_CLASSES else {}


def med(med_class: str, draft: str = "no", ingredient: str = "unspecified") -> Fact:
    # course: "open" as the facts step writes it when no end or course length is recorded (issue 10)
    fact = {
        "kind": "med",
        "class": med_class,
        "draft": draft,
        "route": "oral",
        "ingredient": ingredient,
        "course": "open",
    }
    return {**fact, **_mg(med_class)}


def cond(group: str) -> Fact:
    return {"kind": "condition", "group": group}


def absent(*groups: str) -> list[Fact]:
    return [{"kind": "condition-absent", "group": g} for g in groups]


def patient(age: float) -> Fact:
    return {"kind": "patient", "age_years": float(age), "age_months": float(age) * 12}


def order(med_class: str, dose: float | None = None) -> list[Fact]:
    """A draft medication order is both an order under review and (draft) medication context."""
    fact: Fact = {
        "kind": "order",
        "type": "medication",
        "class": med_class,
        "ingredient": "unspecified",
        "course": "open",
        **_mg(med_class),
    }
    if dose is not None:
        fact["daily_dose"] = float(dose)
    return [fact, med(med_class, draft="yes")]


def dosed(med_class: str, **fields: Any) -> list[Fact]:
    """A draft order with the dose fields of cds_service.reasoning.facts (issue 18: dose, daily_dose, single_dose)."""
    order_fact = {
        "kind": "order",
        "type": "medication",
        "class": med_class,
        "ingredient": "unspecified",
        **_mg(med_class),
        **fields,
    }
    return [order_fact, med(med_class, draft="yes")]


def order_lab(analyte: str) -> Fact:
    return {"kind": "order", "type": "service", "analyte": analyte}


def flat(*items: Fact | list[Fact]) -> list[Fact]:
    out: list[Fact] = []
    for item in items:
        out += item if isinstance(item, list) else [item]
    return [{**f, "id": f"t{next(_ids)}"} for f in out]


@pytest.fixture(scope="module")
def engine(knowledge: Knowledge) -> RuleEngine:
    return RuleEngine(knowledge, ["nl-be", "dach", "us-nam-2011", "us-endocrine-2011"])


def cards(engine: RuleEngine, group: str, profile: str, facts: list[Fact]) -> dict[str, str]:
    """code -> the highest indicator among its intents (one card per code, as cards.py renders)."""
    rank = {"info": 0, "warning": 1, "critical": 2}
    out: dict[str, str] = {}
    for d in engine.evaluate(group, profile, facts):
        if d.kind == "card":
            code, indicator = str(d.fields["code"]), str(d.fields["indicator"])
            if code not in out or rank[indicator] > rank[out[code]]:
                out[code] = indicator
    return out


PV = "patient-view"
ORD = "orders"
CASES: list[tuple[str, str, str, list[Fact], str, str | None]] = [
    # id, group, profile, facts, catalog code, expected indicator (None = no card)
    # 25(OH)D status per profile, at each cut-off and in both units: tests/rules/test_profiles.py
    ("deficient-nlbe", PV, "nl-be", flat(lab("vitd25", 29.9)), "vitd-deficiency", "warning"),
    ("deficient-boundary-nlbe", PV, "nl-be", flat(lab("vitd25", 30)), "vitd-deficiency", None),
    ("40-is-not-insufficient-nlbe", PV, "nl-be", flat(lab("vitd25", 40)), "vitd-insufficiency", None),
    ("insufficient-dach", PV, "dach", flat(lab("vitd25", 49.9)), "vitd-insufficiency", "info"),
    ("sufficient-dach", PV, "dach", flat(lab("vitd25", 50)), "vitd-insufficiency", None),
    ("excess-below-nlbe", PV, "nl-be", flat(lab("vitd25", 125)), "vitd-excess", None),
    ("excess-caution-nlbe", PV, "nl-be", flat(lab("vitd25", 125.1)), "vitd-excess", "info"),
    ("excess-very-high-nlbe", PV, "nl-be", flat(lab("vitd25", 400)), "vitd-excess", "info"),
    (
        "ca-high-on-d",
        PV,
        "nl-be",
        flat(lab("ca", 2.7, "high"), med("vitd-native")),
        "hypercalcaemia-on-therapy",
        "warning",
    ),
    ("ca-high-no-d", PV, "nl-be", flat(lab("ca", 2.7, "high")), "hypercalcaemia-on-therapy", None),
    ("steroid-long", PV, "nl-be", flat(med("systemic-corticosteroid")), "glucocorticoid-bone", "info"),
    ("no-steroid", PV, "nl-be", flat(med("enzyme-inducing-antiepileptic")), "glucocorticoid-bone", None),
    (
        "d-order-sarcoid",
        ORD,
        "nl-be",
        flat(order("vitd-native", 20), cond("granulomatous-disease")),
        "vitd-granulomatous",
        "warning",
    ),
    ("d-order-no-sarcoid", ORD, "nl-be", flat(order("vitd-native", 20)), "vitd-granulomatous", None),
    ("mg-low", PV, "nl-be", flat(lab("mg", 0.65, "low")), "mg-deficiency", "warning"),
    ("mg-critical", PV, "nl-be", flat(lab("mg", 0.49, "low")), "mg-deficiency", "critical"),
    ("mg-critical-boundary", PV, "nl-be", flat(lab("mg", 0.50, "low")), "mg-deficiency", "warning"),
    ("mg-normal", PV, "nl-be", flat(lab("mg", 0.80, "normal")), "mg-deficiency", None),
    ("mg-unflagged", PV, "nl-be", flat(lab("mg", 0.80, "unknown")), "mg-deficiency", None),
    ("ppi-mg-low", PV, "nl-be", flat(med("ppi"), lab("mg", 0.6, "low")), "mg-loss-ppi", "warning"),
    ("ppi-mg-missing", PV, "nl-be", flat(med("ppi"), missing("mg")), "mg-loss-ppi", "info"),
    ("ppi-mg-normal", PV, "nl-be", flat(med("ppi"), lab("mg", 0.8, "normal")), "mg-loss-ppi", None),
    ("no-ppi-mg-low", PV, "nl-be", flat(lab("mg", 0.6, "low")), "mg-loss-ppi", None),
    ("loop-mg-missing", PV, "nl-be", flat(med("loop-diuretic"), missing("mg")), "mg-loss-diuretic", "info"),
    (
        "thiazide-mg-low",
        PV,
        "nl-be",
        flat(med("thiazide-diuretic"), lab("mg", 0.6, "low")),
        "mg-loss-diuretic",
        "warning",
    ),
    ("diuretic-mg-normal", PV, "nl-be", flat(med("loop-diuretic"), lab("mg", 0.8, "normal")), "mg-loss-diuretic", None),
    ("renal-mg-g4", PV, "nl-be", flat(med("mg-supplement"), lab("egfr", 29.9)), "renal-caution-mg", "warning"),
    ("renal-mg-g3-edge", PV, "nl-be", flat(med("mg-supplement"), lab("egfr", 30)), "renal-caution-mg", "info"),
    ("renal-mg-g3-top", PV, "nl-be", flat(med("mg-supplement"), lab("egfr", 59.9)), "renal-caution-mg", "info"),
    ("renal-mg-g2", PV, "nl-be", flat(med("mg-supplement"), lab("egfr", 60)), "renal-caution-mg", None),
    ("renal-mg-ckd-coded", PV, "nl-be", flat(med("mg-supplement"), cond("ckd-g4-g5")), "renal-caution-mg", "warning"),
    (
        "renal-mg-high",
        PV,
        "nl-be",
        flat(med("mg-supplement"), lab("egfr", 45), lab("mg", 1.2, "high")),
        "renal-caution-mg",
        "warning",  # issue 10: not critical, no cited source sets a critical magnesium-high threshold
    ),
    (
        "pth-ca-high",
        PV,
        "nl-be",
        flat(lab("pth", 90, "high"), lab("ca", 2.8, "high")),
        "pth-high-calcium-high",
        "warning",
    ),
    (
        "pth-ca-normal",
        PV,
        "nl-be",
        flat(lab("pth", 90, "high"), lab("ca", 2.4, "normal")),
        "pth-high-calcium-high",
        None,
    ),
    ("renal-no-supplement", PV, "nl-be", flat(lab("egfr", 20)), "renal-caution-mg", None),
    ("renal-vitd-native", PV, "nl-be", flat(med("vitd-native"), lab("egfr", 20)), "renal-caution-vitd", "info"),
    ("renal-vitd-active-ckd", PV, "nl-be", flat(med("vitd-active"), cond("ckd-g4-g5")), "renal-caution-vitd", "info"),
    ("renal-vitd-g3", PV, "nl-be", flat(med("vitd-native"), lab("egfr", 30)), "renal-caution-vitd", None),
    ("mg-before-vitd", PV, "nl-be", flat(lab("mg", 0.6, "low"), med("vitd-native")), "mg-correct-before-vitd", "info"),
    (
        "mg-before-vitd-normal",
        PV,
        "nl-be",
        flat(lab("mg", 0.8, "normal"), med("vitd-native")),
        "mg-correct-before-vitd",
        None,
    ),
    (
        "mg-before-active-vitd",
        PV,
        "nl-be",
        flat(lab("mg", 0.6, "low"), med("vitd-active")),
        "mg-correct-before-vitd",
        None,
    ),
    (
        "aed-no-vitd",
        PV,
        "nl-be",
        flat(med("enzyme-inducing-antiepileptic"), missing("vitd25")),
        "vitd-lowering-medication",
        "info",
    ),
    (
        "steroid-low-vitd",
        PV,
        "dach",
        flat(med("systemic-corticosteroid"), lab("vitd25", 40)),
        "vitd-lowering-medication",
        None,  # issue 10: one vitamin D advice card, the insufficiency card advises (rule vitd-lowering-medication-low removed)
    ),
    (
        "aed-vitd-ok",
        PV,
        "nl-be",
        flat(med("enzyme-inducing-antiepileptic"), lab("vitd25", 60)),
        "vitd-lowering-medication",
        None,
    ),
    ("orlistat-vitd", PV, "nl-be", flat(med("orlistat"), med("vitd-native")), "vitd-absorption-interaction", "info"),
    (
        "sequestrant-vitd",
        PV,
        "nl-be",
        flat(med("bile-acid-sequestrant"), med("vitd-native")),
        "vitd-absorption-interaction",
        "info",
    ),
    ("orlistat-alone", PV, "nl-be", flat(med("orlistat")), "vitd-absorption-interaction", None),
    ("mg-quinolone", PV, "nl-be", flat(med("mg-supplement"), med("fluoroquinolone")), "mg-chelation-spacing", "info"),
    ("mg-levothyroxine", PV, "nl-be", flat(med("mg-supplement"), med("levothyroxine")), "mg-chelation-spacing", "info"),
    ("mg-tetracycline", PV, "nl-be", flat(med("mg-supplement"), med("tetracycline")), "mg-chelation-spacing", "info"),
    (
        "mg-bisphosphonate",
        PV,
        "nl-be",
        flat(med("mg-supplement"), med("oral-bisphosphonate")),
        "mg-chelation-spacing",
        "info",
    ),
    ("mg-alone", PV, "nl-be", flat(med("mg-supplement")), "mg-chelation-spacing", None),
    (
        "ca-low-mg-missing",
        PV,
        "nl-be",
        flat(lab("ca", 2.0, "low"), missing("mg"), lab("vitd25", 60)),
        "hypocalcemia-check-mg-vitd",
        "info",
    ),
    (
        "ca-low-vitd-missing",
        PV,
        "nl-be",
        flat(lab("ca", 2.0, "low"), lab("mg", 0.8, "normal"), missing("vitd25")),
        "hypocalcemia-check-mg-vitd",
        "info",
    ),
    (
        "ca-low-all-measured",
        PV,
        "nl-be",
        flat(lab("ca", 2.0, "low"), lab("mg", 0.8, "normal"), lab("vitd25", 60)),
        "hypocalcemia-check-mg-vitd",
        None,
    ),
    ("ca-normal", PV, "nl-be", flat(lab("ca", 2.3, "normal"), missing("mg")), "hypocalcemia-check-mg-vitd", None),
    ("k-low-mg-low", PV, "nl-be", flat(lab("k", 3.2, "low"), lab("mg", 0.6, "low")), "hypokalemia-check-mg", "info"),
    ("k-low-mg-missing", PV, "nl-be", flat(lab("k", 3.2, "low"), missing("mg")), "hypokalemia-check-mg", "info"),
    (
        "k-low-mg-normal",
        PV,
        "nl-be",
        flat(lab("k", 3.2, "low"), lab("mg", 0.8, "normal")),
        "hypokalemia-check-mg",
        None,
    ),
    ("shpt", PV, "nl-be", flat(lab("vitd25", 25), lab("pth", 90, "high")), "secondary-hyperparathyroidism", "info"),
    (
        "shpt-insufficient",
        PV,
        "dach",
        flat(lab("vitd25", 45), lab("pth", 90, "high")),
        "secondary-hyperparathyroidism",
        "info",
    ),
    (
        "shpt-vitd-ok",
        PV,
        "nl-be",
        flat(lab("vitd25", 60), lab("pth", 90, "high")),
        "secondary-hyperparathyroidism",
        None,
    ),
    (
        "shpt-pth-normal",
        PV,
        "nl-be",
        flat(lab("vitd25", 25), lab("pth", 40, "normal")),
        "secondary-hyperparathyroidism",
        None,
    ),
    # issue 10: testing only where a guideline indicates it (malabsorption, kidney/liver disease), not for age,
    # pregnancy or medication alone (the medication has its own card); tests/rules/test_exclusions.py
    ("risk-age-70", PV, "nl-be", flat(patient(70), missing("vitd25")), "risk-group-testing", None),
    ("risk-age-69", PV, "nl-be", flat(patient(69), missing("vitd25")), "risk-group-testing", None),
    ("risk-age-70-dach", PV, "dach", flat(patient(70), missing("vitd25")), "risk-group-testing", None),
    ("risk-age-70-us-off", PV, "us-endocrine-2011", flat(patient(70), missing("vitd25")), "risk-group-testing", None),
    ("risk-pregnancy", PV, "nl-be", flat(cond("pregnancy"), missing("vitd25")), "risk-group-testing", None),
    ("risk-coeliac", PV, "nl-be", flat(cond("coeliac-disease"), missing("vitd25")), "risk-group-testing", "info"),
    ("risk-ppi", PV, "nl-be", flat(med("ppi"), missing("vitd25")), "risk-group-testing", None),
    (
        "risk-steroid",
        PV,
        "nl-be",
        flat(med("systemic-corticosteroid"), missing("vitd25")),
        "risk-group-testing",
        None,
    ),
    ("mg-loss-alcohol", PV, "nl-be", flat(cond("alcohol-use-disorder"), missing("mg")), "mg-loss-condition", "info"),
    (
        "mg-loss-alcohol-measured",
        PV,
        "nl-be",
        flat(cond("alcohol-use-disorder"), lab("mg", 0.8, "normal")),
        "mg-loss-condition",
        None,
    ),
    ("risk-measured", PV, "nl-be", flat(patient(80), lab("vitd25", 60)), "risk-group-testing", None),
    # order-select / order-sign
    ("vitd-ul-adult", ORD, "nl-be", flat(order("vitd-native", 100.1), patient(40)), "vitd-dose-above-ul", "warning"),
    ("vitd-ul-adult-edge", ORD, "nl-be", flat(order("vitd-native", 100), patient(40)), "vitd-dose-above-ul", None),
    ("vitd-ul-teen", ORD, "nl-be", flat(order("vitd-native", 60), patient(11)), "vitd-dose-above-ul", None),
    ("vitd-ul-child", ORD, "nl-be", flat(order("vitd-native", 50.1), patient(5)), "vitd-dose-above-ul", "warning"),
    ("vitd-ul-child-edge", ORD, "nl-be", flat(order("vitd-native", 50), patient(10)), "vitd-dose-above-ul", None),
    ("vitd-ul-infant", ORD, "nl-be", flat(order("vitd-native", 25.1), patient(0)), "vitd-dose-above-ul", "warning"),
    ("vitd-ul-infant-edge", ORD, "nl-be", flat(order("vitd-native", 25), patient(0)), "vitd-dose-above-ul", None),
    ("vitd-ul-no-dose", ORD, "nl-be", flat(order("vitd-native"), patient(40)), "vitd-dose-above-ul", None),
    ("vitd-ul-active-form", ORD, "nl-be", flat(order("vitd-active", 500), patient(40)), "vitd-dose-above-ul", None),
    # upper levels per age band and profile: tests/rules/test_upper_limits.py
    # just above the upper level: info (review N1/N2: a warning only above twice the level, rows further down)
    ("mg-ul-eu", ORD, "nl-be", flat(order("mg-supplement", 250.1), patient(40)), "mg-dose-above-ul", "info"),
    ("mg-ul-eu-edge", ORD, "nl-be", flat(order("mg-supplement", 250), patient(40)), "mg-dose-above-ul", None),
    ("mg-ul-us-300", ORD, "us-nam-2011", flat(order("mg-supplement", 300), patient(40)), "mg-dose-above-ul", None),
    ("mg-ul-us", ORD, "us-nam-2011", flat(order("mg-supplement", 350.1), patient(40)), "mg-dose-above-ul", "info"),
    ("mg-ul-no-age", ORD, "nl-be", flat(order("mg-supplement", 400)), "mg-dose-above-ul", None),
    ("order-mg-g4", ORD, "nl-be", flat(order("mg-supplement"), lab("egfr", 25)), "renal-caution-mg", "warning"),
    ("order-mg-dialysis", ORD, "nl-be", flat(order("mg-supplement"), cond("ckd-g4-g5")), "renal-caution-mg", "warning"),
    (
        "order-mg-no-kidney",
        ORD,
        "nl-be",
        flat(order("mg-supplement"), missing("egfr"), missing("creatinine")),
        "renal-caution-mg",
        "info",
    ),
    (  # issue 18: creatinine without an eGFR is no longer silence
        "order-mg-creatinine-only",
        ORD,
        "nl-be",
        flat(order("mg-supplement"), missing("egfr"), lab("creatinine", 90)),
        "renal-caution-mg",
        "info",
    ),
    (
        "order-mg-creatinine-high",
        ORD,
        "nl-be",
        flat(order("mg-supplement"), missing("egfr"), lab("creatinine", 260, "high")),
        "renal-caution-mg",
        "warning",
    ),
    (  # an eGFR (reported or computed) decides instead: 75 is no card
        "order-mg-creatinine-high-egfr-known",
        ORD,
        "nl-be",
        flat(order("mg-supplement"), lab("egfr", 75), lab("creatinine", 130, "high")),
        "renal-caution-mg",
        None,
    ),
    (
        "order-laxative-dialysis-coded",
        ORD,
        "nl-be",
        flat(order("mg-laxative"), cond("ckd-g4-g5")),
        "renal-caution-mg",
        "warning",
    ),
    ("order-mg-g3", ORD, "nl-be", flat(order("mg-supplement"), lab("egfr", 45)), "renal-caution-mg", None),
    (
        "order-mg-draft-quinolone",
        ORD,
        "nl-be",
        flat(order("mg-supplement"), med("fluoroquinolone", draft="yes")),
        "mg-chelation-spacing",
        "info",
    ),
    (
        "order-quinolone-active-mg",
        ORD,
        "nl-be",
        flat(order("fluoroquinolone"), med("mg-supplement")),
        "mg-chelation-spacing",
        "info",
    ),
    (
        "order-levothyroxine-mg",
        ORD,
        "nl-be",
        flat(order("levothyroxine"), med("mg-supplement")),
        "mg-chelation-spacing",
        "info",
    ),
    ("order-quinolone-alone", ORD, "nl-be", flat(order("fluoroquinolone")), "mg-chelation-spacing", None),
    (
        "order-vitd-orlistat",
        ORD,
        "nl-be",
        flat(order("vitd-native"), med("orlistat")),
        "vitd-absorption-interaction",
        "info",
    ),
    (
        "order-sequestrant-vitd",
        ORD,
        "nl-be",
        flat(order("bile-acid-sequestrant"), med("vitd-native")),
        "vitd-absorption-interaction",
        "info",
    ),
    (
        "order-vitd-mg-low",
        ORD,
        "nl-be",
        flat(order("vitd-native"), lab("mg", 0.6, "low")),
        "mg-correct-before-vitd",
        "info",
    ),
    (
        "order-vitd-mg-ok",
        ORD,
        "nl-be",
        flat(order("vitd-native"), lab("mg", 0.8, "normal")),
        "mg-correct-before-vitd",
        None,
    ),
    (
        "order-125d",
        ORD,
        "nl-be",
        flat(order_lab("vitd125"), absent("ckd", "parathyroid-disease")),
        "test-125d-not-status",
        "info",
    ),
    (
        "order-125d-ckd",
        ORD,
        "nl-be",
        flat(order_lab("vitd125"), cond("ckd"), absent("parathyroid-disease")),
        "test-125d-not-status",
        None,
    ),
    (
        "order-125d-pth",
        ORD,
        "nl-be",
        flat(order_lab("vitd125"), absent("ckd"), cond("parathyroid-disease")),
        "test-125d-not-status",
        None,
    ),
    (
        "retest-vitd-55d",
        ORD,
        "nl-be",
        flat(order_lab("vitd25"), lab("vitd25", 40, age_days=55.9)),
        "retest-too-early",
        "info",
    ),
    (
        "retest-vitd-56d",
        ORD,
        "nl-be",
        flat(order_lab("vitd25"), lab("vitd25", 40, age_days=56)),
        "retest-too-early",
        None,
    ),
    (
        "retest-mg-27d",
        ORD,
        "nl-be",
        flat(order_lab("mg"), lab("mg", 0.8, "normal", age_days=27)),
        "retest-too-early",
        "info",
    ),
    (
        "retest-mg-28d",
        ORD,
        "nl-be",
        flat(order_lab("mg"), lab("mg", 0.8, "normal", age_days=28)),
        "retest-too-early",
        None,
    ),
    ("order-ppi-no-mg", ORD, "nl-be", flat(order("ppi"), missing("mg")), "mg-loss-ppi", "info"),
    # issue 18: magnesium already known low when a PPI is ordered is a warning with the value (was: no card)
    ("order-ppi-mg-known", ORD, "nl-be", flat(order("ppi"), lab("mg", 0.6, "low")), "mg-loss-ppi", "warning"),
    ("order-ppi-mg-normal", ORD, "nl-be", flat(order("ppi"), lab("mg", 0.8, "normal")), "mg-loss-ppi", None),
    (
        "order-loop-mg-low",
        ORD,
        "nl-be",
        flat(order("loop-diuretic"), lab("mg", 0.6, "low")),
        "mg-loss-diuretic",
        "warning",
    ),
    (
        "order-digoxin-mg-low",
        ORD,
        "nl-be",
        flat(order("digoxin"), lab("mg", 0.6, "low")),
        "digoxin-electrolytes",
        "warning",
    ),
    (
        "order-digoxin-k-low",
        ORD,
        "nl-be",
        flat(order("digoxin"), lab("k", 3.1, "low")),
        "digoxin-electrolytes",
        "warning",
    ),
    (
        "order-digoxin-normal",
        ORD,
        "nl-be",
        flat(order("digoxin"), lab("mg", 0.8, "normal"), lab("k", 4.2, "normal")),
        "digoxin-electrolytes",
        None,
    ),
    (
        "order-furosemide-digoxin-active-k-low",
        ORD,
        "nl-be",
        flat(order("loop-diuretic"), med("digoxin"), lab("k", 3.0, "low")),
        "digoxin-electrolytes",
        "warning",
    ),
    ("pv-digoxin-mg-low", PV, "nl-be", flat(med("digoxin"), lab("mg", 0.6, "low")), "digoxin-electrolytes", "warning"),
    ("pv-digoxin-normal", PV, "nl-be", flat(med("digoxin"), lab("mg", 0.8, "normal")), "digoxin-electrolytes", None),
    (
        "order-thiazide-ca-d-ca-high",
        ORD,
        "nl-be",
        flat(order("thiazide-diuretic"), med("calcium-supplement"), lab("ca", 2.7, "high")),
        "thiazide-hypercalcaemia",
        "warning",
    ),
    (
        "order-ca-d-thiazide-active-unmeasured",
        ORD,
        "nl-be",
        flat(order("calcium-supplement"), med("thiazide-diuretic"), missing("ca")),
        "thiazide-hypercalcaemia",
        "info",
    ),
    (
        "order-active-d-thiazide-active-high",
        ORD,
        "nl-be",
        flat(order("vitd-active"), med("thiazide-diuretic"), lab("ca", 2.7, "high")),
        "thiazide-hypercalcaemia",
        "warning",
    ),
    (
        "order-thiazide-ca-normal",
        ORD,
        "nl-be",
        flat(order("thiazide-diuretic"), med("calcium-supplement"), lab("ca", 2.3, "normal")),
        "thiazide-hypercalcaemia",
        None,
    ),
    (
        "order-thiazide-native-d-only",
        ORD,
        "nl-be",
        flat(order("thiazide-diuretic"), med("vitd-native"), lab("ca", 2.7, "high")),
        "thiazide-hypercalcaemia",
        None,
    ),
    ("order-loop-no-mg", ORD, "nl-be", flat(order("loop-diuretic"), missing("mg")), "mg-loss-diuretic", "info"),
    ("order-thiazide-no-mg", ORD, "nl-be", flat(order("thiazide-diuretic"), missing("mg")), "mg-loss-diuretic", "info"),
    # order hooks never repeat the patient review
    (
        "order-hook-no-status-card",
        ORD,
        "nl-be",
        flat(med("ppi"), lab("mg", 0.4, "low"), lab("vitd25", 10)),
        "mg-deficiency",
        None,
    ),
    ("order-hook-no-ppi-card", ORD, "nl-be", flat(med("ppi"), lab("mg", 0.4, "low")), "mg-loss-ppi", None),
    # issue 18: a dose that cannot be computed, or a one-off dose, is said to be unchecked
    ("dose-not-computed", ORD, "nl-be", flat(dosed("vitd-native", dose="not-computed")), "dose-not-checked", "info"),
    (
        "dose-not-computed-mg",
        ORD,
        "nl-be",
        flat(dosed("mg-supplement", dose="not-computed")),
        "dose-not-checked",
        "info",
    ),
    (
        "dose-one-off",
        ORD,
        "nl-be",
        flat(dosed("vitd-native", dose="one-off", single_dose=7500.0)),
        "dose-not-checked",
        "info",
    ),
    (
        "dose-computed",
        ORD,
        "nl-be",
        flat(dosed("vitd-native", dose="computed", daily_dose=20.0)),
        "dose-not-checked",
        None,
    ),
    # issue 18: magnesium that is not a supplement counts for the renal and chelation rules, not the upper limit
    (
        "renal-mg-laxative-order",
        ORD,
        "nl-be",
        flat(order("mg-laxative"), lab("egfr", 8)),
        "renal-caution-mg",
        "warning",
    ),
    ("renal-mg-antacid-active", PV, "nl-be", flat(med("mg-antacid"), cond("ckd-g4-g5")), "renal-caution-mg", "warning"),
    (
        "chelation-antacid-cipro-order",
        ORD,
        "nl-be",
        flat(order("fluoroquinolone"), med("mg-antacid")),
        "mg-chelation-spacing",
        "info",
    ),
    (
        "chelation-laxative-order-cipro",
        ORD,
        "nl-be",
        flat(order("mg-laxative"), med("fluoroquinolone")),
        "mg-chelation-spacing",
        "info",
    ),
    ("ul-not-for-laxative", ORD, "nl-be", flat(order("mg-laxative", 600.0), patient(40)), "mg-dose-above-ul", None),
    ("dose-other-class", ORD, "nl-be", flat(dosed("ppi", dose="not-computed")), "dose-not-checked", None),
    (
        "dose-one-off-no-ul",
        ORD,
        "nl-be",
        flat(dosed("vitd-native", dose="one-off", single_dose=7500.0), patient(50)),
        "vitd-dose-above-ul",
        None,
    ),
    (
        "vitd-total-above",
        ORD,
        "nl-be",
        flat(
            dosed("vitd-native", dose="computed", daily_dose=20.0),
            {"kind": "vitd-total", "daily_dose": 140.0, "products": 3},
            patient(50),
        ),
        "vitd-dose-above-ul",
        "warning",
    ),
    (
        "vitd-total-at-limit",
        ORD,
        "nl-be",
        flat(
            dosed("vitd-native", dose="computed", daily_dose=20.0),
            {"kind": "vitd-total", "daily_dose": 100.0, "products": 2},
            patient(50),
        ),
        "vitd-dose-above-ul",
        None,
    ),
    (
        "vitd-total-child",
        ORD,
        "nl-be",
        flat(
            dosed("vitd-native", dose="computed", daily_dose=20.0),
            {"kind": "vitd-total", "daily_dose": 60.0, "products": 2},
            patient(8),
        ),
        "vitd-dose-above-ul",
        "warning",
    ),
    # review of 2026.6.0 (issue 18), F11: thiazide + calcium/activated D with high calcium, on patient-view, and at
    # order time through the ca-high finding (the cited KDOQI limit when the lab sent no range)
    (
        "thiazide-ca-high-pv",
        PV,
        "nl-be",
        flat(med("thiazide-diuretic"), med("calcium-supplement"), lab("ca", 2.72, "high")),
        "thiazide-hypercalcaemia",
        "warning",
    ),
    (
        "thiazide-ca-normal-pv",
        PV,
        "nl-be",
        flat(med("thiazide-diuretic"), med("calcium-supplement"), lab("ca", 2.45, "normal")),
        "thiazide-hypercalcaemia",
        None,
    ),
    (
        "thiazide-order-ca-no-range-above-limit",
        ORD,
        "nl-be",
        flat(order("thiazide-diuretic"), med("vitd-active"), lab("ca", 2.55)),
        "thiazide-hypercalcaemia",
        "warning",
    ),
    (
        "thiazide-order-ca-no-range-at-limit",
        ORD,
        "nl-be",
        flat(order("thiazide-diuretic"), med("vitd-active"), lab("ca", 2.54)),
        "thiazide-hypercalcaemia",
        None,
    ),
    # F12: digoxin with high calcium (Lanoxin label), in use and ordered
    (
        "digoxin-ca-high-pv",
        PV,
        "nl-be",
        flat(med("digoxin"), lab("ca", 2.8, "high")),
        "digoxin-electrolytes",
        "warning",
    ),
    ("digoxin-ca-normal-pv", PV, "nl-be", flat(med("digoxin"), lab("ca", 2.4, "normal")), "digoxin-electrolytes", None),
    (
        "digoxin-order-ca-no-range",
        ORD,
        "nl-be",
        flat(order("digoxin"), lab("ca", 2.6)),
        "digoxin-electrolytes",
        "warning",
    ),
    ("no-digoxin-ca-high", PV, "nl-be", flat(lab("ca", 2.8, "high")), "digoxin-electrolytes", None),
    # F17: magnesium above the lab's range with a magnesium-containing medicine, on patient-view and ordered
    ("mg-high-on-laxative", PV, "nl-be", flat(med("mg-laxative"), lab("mg", 1.6, "high")), "mg-high", "warning"),
    ("mg-high-on-iv", PV, "nl-be", flat(med("mg-parenteral"), lab("mg", 1.3, "high")), "mg-high", "warning"),
    ("mg-normal-on-laxative", PV, "nl-be", flat(med("mg-laxative"), lab("mg", 0.95, "normal")), "mg-high", None),
    ("mg-high-no-mg-medicine", PV, "nl-be", flat(lab("mg", 1.6, "high")), "mg-high", None),
    (
        "mg-high-renal-card-instead",
        PV,
        "nl-be",
        flat(med("mg-laxative"), lab("mg", 1.6, "high"), lab("egfr", 45)),
        "mg-high",
        None,
    ),
    (
        "mg-order-mg-high",
        ORD,
        "nl-be",
        flat(order("mg-supplement", 150.0), lab("mg", 1.15, "high")),
        "mg-high",
        "warning",
    ),
    ("mg-iv-order-mg-high", ORD, "nl-be", flat(order("mg-parenteral"), lab("mg", 1.15, "high")), "mg-high", "warning"),
    (
        "mg-order-mg-normal",
        ORD,
        "nl-be",
        flat(order("mg-supplement", 150.0), lab("mg", 0.9, "normal")),
        "mg-high",
        None,
    ),
    # F25: parenteral magnesium with severely reduced kidney function (magnesium sulfate label); the critical card
    # advising parenteral replacement says the label's renal caveat
    (
        "mg-critical-egfr-20",
        PV,
        "nl-be",
        flat(lab("mg", 0.42, "low"), lab("egfr", 20)),
        "mg-deficiency",
        "critical",
    ),
    # F25: parenteral magnesium with severely reduced kidney function (magnesium sulfate label)
    (
        "mg-iv-order-egfr-18",
        ORD,
        "nl-be",
        flat(order("mg-parenteral"), lab("egfr", 18)),
        "mg-parenteral-renal",
        "warning",
    ),
    ("mg-iv-order-egfr-30", ORD, "nl-be", flat(order("mg-parenteral"), lab("egfr", 30)), "mg-parenteral-renal", None),
    ("mg-oral-order-egfr-18", ORD, "nl-be", flat(order("mg-supplement"), lab("egfr", 18)), "mg-parenteral-renal", None),
    # N1/N2: up to twice the supplemental upper level info without cancel, above it a warning
    ("mg-ul-modest", ORD, "nl-be", flat(order("mg-supplement", 301.5), patient(70)), "mg-dose-above-ul", "info"),
    ("mg-ul-twice", ORD, "nl-be", flat(order("mg-supplement", 500.0), patient(70)), "mg-dose-above-ul", "info"),
    (
        "mg-ul-above-twice",
        ORD,
        "nl-be",
        flat(order("mg-supplement", 500.5), patient(70)),
        "mg-dose-above-ul",
        "warning",
    ),
    (
        "mg-ul-modest-mg-low",
        ORD,
        "nl-be",
        flat(order("mg-supplement", 301.5), patient(70), lab("mg", 0.6, "low")),
        "mg-dose-above-ul",
        "info",
    ),
    (
        "mg-ul-above-twice-mg-low-open",
        ORD,
        "nl-be",
        flat(order("mg-supplement", 600.0), patient(70), lab("mg", 0.6, "low")),
        "mg-dose-above-ul",
        "warning",
    ),
    (
        "mg-ul-us-modest",
        ORD,
        "us-nam-2011",
        flat(order("mg-supplement", 700.0), patient(70)),
        "mg-dose-above-ul",
        "info",
    ),
    (
        "mg-ul-us-above",
        ORD,
        "us-nam-2011",
        flat(order("mg-supplement", 701.0), patient(70)),
        "mg-dose-above-ul",
        "warning",
    ),
    # F10: several vitamin D products above the upper level with a deficiency: bounded course info, open warning
    (
        "vitd-total-deficient-open",
        ORD,
        "nl-be",
        flat(
            dosed("vitd-native", dose="computed", daily_dose=50.0, course="open"),
            {"kind": "vitd-total", "daily_dose": 150.0, "products": 2},
            patient(60),
            lab("vitd25", 25),
        ),
        "vitd-dose-above-ul",
        "warning",
    ),
    (
        "vitd-total-deficient-course",
        ORD,
        "nl-be",
        flat(
            dosed("vitd-native", dose="computed", daily_dose=50.0, course="bounded", course_days=56.0),
            {"kind": "vitd-total", "daily_dose": 150.0, "products": 2},
            patient(60),
            lab("vitd25", 25),
        ),
        "vitd-dose-above-ul",
        "info",
    ),
    (
        "vitd-total-deficient-at-limit",
        ORD,
        "nl-be",
        flat(
            dosed("vitd-native", dose="computed", daily_dose=50.0, course="open"),
            {"kind": "vitd-total", "daily_dose": 100.0, "products": 2},
            patient(60),
            lab("vitd25", 25),
        ),
        "vitd-dose-above-ul",
        None,
    ),
]


@pytest.mark.parametrize(("case", "group", "profile", "facts", "code", "indicator"), CASES, ids=[c[0] for c in CASES])
def test_catalog_row(
    engine: RuleEngine, case: str, group: str, profile: str, facts: list[Fact], code: str, indicator: str | None
) -> None:
    assert cards(engine, group, profile, facts).get(code) == indicator


def test_every_catalog_code_is_exercised(knowledge: Knowledge) -> None:
    """Each card of the knowledge fires in at least one case above and is quiet in another."""
    fired = {c[4] for c in CASES if c[5] is not None}
    quiet = {c[4] for c in CASES if c[5] is None}
    assert fired == set(knowledge.cards)
    assert quiet == set(knowledge.cards)


# Issue 18: interactions named per drug, in both directions, with each label's spacing (the card variant).
INTERACTIONS = [
    # drug class, ingredient, binder class, expected variant (None = no card)
    ("fluoroquinolone", "ciprofloxacin", "mg-supplement", "ciprofloxacin"),
    ("fluoroquinolone", "ciprofloxacin", "calcium-supplement", "ciprofloxacin"),
    ("fluoroquinolone", "levofloxacin", "mg-antacid", "levofloxacin"),
    ("fluoroquinolone", "levofloxacin", "calcium-supplement", None),  # calcium not named on the label
    ("fluoroquinolone", "moxifloxacin", "mg-laxative", "moxifloxacin"),
    ("fluoroquinolone", "moxifloxacin", "calcium-supplement", None),  # label: calcium had no significant effect
    ("fluoroquinolone", "ofloxacin", "mg-supplement", "quinolone-other"),
    ("tetracycline", "doxycycline", "mg-supplement", "tetracycline"),
    ("tetracycline", "doxycycline", "calcium-supplement", "tetracycline"),
    ("levothyroxine", "levothyroxine", "calcium-supplement", "levothyroxine"),
    ("oral-bisphosphonate", "alendronic-acid", "mg-antacid", "bisphosphonate"),
    ("integrase-inhibitor", "dolutegravir", "mg-antacid", "integrase"),
    ("integrase-inhibitor", "dolutegravir", "calcium-supplement", "integrase"),
    ("penicillamine", "penicillamine", "mg-supplement", "penicillamine"),
    ("penicillamine", "penicillamine", "mg-laxative", "penicillamine"),
    ("penicillamine", "penicillamine", "calcium-supplement", "penicillamine"),
    ("ppi", "omeprazole", "mg-supplement", None),
]


def _variants(engine: RuleEngine, facts: list[Fact], code: str) -> set[str]:
    return {
        str(d.fields["variant"])
        for d in engine.evaluate(ORD, "nl-be", facts)
        if d.kind == "card" and d.fields["code"] == code
    }


@pytest.mark.parametrize(("drug_class", "ingredient", "binder", "variant"), INTERACTIONS)
@pytest.mark.parametrize("direction", ["drug-ordered", "binder-ordered"])
def test_interaction_named_per_drug_both_directions(
    engine: RuleEngine, drug_class: str, ingredient: str, binder: str, variant: str | None, direction: str
) -> None:
    drug = {"kind": "order", "type": "medication", "class": drug_class, "ingredient": ingredient}
    binder_order = {"kind": "order", "type": "medication", "class": binder, "ingredient": "unspecified", **_mg(binder)}
    if direction == "drug-ordered":
        facts = flat(drug, med(drug_class, "yes", ingredient), med(binder))
    else:
        facts = flat(binder_order, med(binder, "yes"), med(drug_class, "no", ingredient))
    assert _variants(engine, facts, "mg-chelation-spacing") == ({variant} if variant else set())


@pytest.mark.parametrize(("reducer", "variant"), [("orlistat", "orlistat"), ("bile-acid-sequestrant", "sequestrant")])
@pytest.mark.parametrize("direction", ["vitd-ordered", "reducer-ordered"])
def test_orlistat_and_sequestrants_each_their_own_advice(
    engine: RuleEngine, reducer: str, variant: str, direction: str
) -> None:
    """Issue 18: colestyramine and colesevelam got orlistat's advice."""
    if direction == "vitd-ordered":
        facts = flat(order("vitd-native"), med(reducer))
    else:
        facts = flat(order(reducer), med("vitd-native"))
    assert _variants(engine, facts, "vitd-absorption-interaction") == {variant}


@pytest.mark.parametrize(("drug_class", "ingredient", "binder", "variant"), INTERACTIONS)
def test_interaction_named_per_drug_on_patient_view(
    engine: RuleEngine, drug_class: str, ingredient: str, binder: str, variant: str | None
) -> None:
    """Review F08: the medication list gets the order hooks' per-drug texts (moxifloxacin 4 h/8 h, not
    ciprofloxacin's 2 h/6 h; dolutegravir), calcium partners included where the label names calcium."""
    facts = flat(med(drug_class, "no", ingredient), med(binder))
    found = {
        str(d.fields["variant"])
        for d in engine.evaluate(PV, "nl-be", facts)
        if d.kind == "card" and d.fields["code"] == "mg-chelation-spacing"
    }
    assert found == ({variant} if variant else set())


@pytest.mark.parametrize(("egfr", "variant"), [(20.0, "critical-renal"), (30.0, "critical")])
def test_critical_magnesium_names_the_renal_caveat_below_egfr_30(engine: RuleEngine, egfr: float, variant: str) -> None:
    """Review F25: "consider parenteral replacement" for Mg 0.42 with eGFR 20 came without the label's renal
    caveat (reduce the dose, monitor magnesium; at most 20 g magnesium sulfate in 48 hours)."""
    intents = [
        d
        for d in engine.evaluate(PV, "nl-be", flat(lab("mg", 0.42, "low"), lab("egfr", egfr)))
        if d.kind == "card" and d.fields["code"] == "mg-deficiency" and d.fields["indicator"] == "critical"
    ]
    assert [str(d.fields["variant"]) for d in intents] == [variant]


@pytest.mark.parametrize(("reducer", "variant"), [("orlistat", "orlistat"), ("bile-acid-sequestrant", "sequestrant")])
def test_patient_view_gives_orlistat_and_sequestrants_each_their_own_advice(
    engine: RuleEngine, reducer: str, variant: str
) -> None:
    """Review T5/T17 (p46, p47): on patient-view colestyramine got "Orlistat/galzuurbinder … 2 uur voor of na
    orlistat"; the order hooks already had a variant per drug."""
    variants = {
        str(d.fields["variant"])
        for d in engine.evaluate(PV, "nl-be", flat(med(reducer), med("vitd-native")))
        if d.kind == "card" and d.fields["code"] == "vitd-absorption-interaction"
    }
    assert variants == {variant}
