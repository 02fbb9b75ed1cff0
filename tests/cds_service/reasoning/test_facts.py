"""Facts: units to canonical units, reference ranges, medication classes, doses; nothing guessed.

Catalog/reference rows: clinical-reference b.2 (units), c.1-c.10 (medication classes), issue 3 "Interpreting
the data". The FHIR data is in fhir_fixtures/cases/*.json; each resource id names its case.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cds_service.fhir.parsing import parse_record
from cds_service.fhir.prefetch import Prefetched
from cds_service.knowledge.loader import Knowledge
from cds_service.reasoning.facts import EvaluationContext, FactSet, build_facts
from tests.fhir_server import FIXTURES

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _case_file(name: str) -> list[dict[str, Any]]:
    bundle = json.loads((FIXTURES / "cases" / f"{name}.json").read_text(encoding="utf-8"))
    return [e["resource"] for e in bundle["entry"]]


def facts_for(
    knowledge: Knowledge,
    resources: list[dict[str, Any]],
    *,
    drafts: list[dict[str, Any]] | None = None,
    profile: str = "nl-be",
) -> FactSet:
    context: dict[str, Any] = {}
    if drafts is not None:
        context["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": d} for d in drafts]}
    patient = json.loads((FIXTURES / "cases" / "patient-adult.json").read_text(encoding="utf-8"))
    record = parse_record(Prefetched(resources={"all": [patient, *resources]}), context, knowledge)
    ctx = EvaluationContext("order-sign" if drafts is not None else "patient-view", profile, NOW, 12, 6)
    return build_facts(record, knowledge, ctx)


def one(name: str, case: str) -> dict[str, Any]:
    return next(r for r in _case_file(name) if r["id"] == case)


def lab_fact(facts: FactSet) -> dict[str, Any]:
    """The one lab fact the case sent (an eGFR computed from a creatinine case is not one it sent)."""
    (fact,) = [f for f in facts.facts if f["kind"] == "lab" and facts.evidence[f["id"]].note != "computed-ckd-epi-2021"]
    return fact


@pytest.mark.parametrize(
    ("case", "analyte", "value"),
    [
        ("vitd-ngml", "vitd25", 49.92),  # 20 ng/mL x 2.496
        ("vitd-nmoll", "vitd25", 50.0),
        ("vitd-nmoll-lower", "vitd25", 50.0),  # `nmol/l`, the Nictiz spelling
        ("vitd-ugl", "vitd25", 49.92),
        ("vitd-unit-text-only", "vitd25", 49.92),  # unit text without a code (US Core style)
        ("mg-mmoll", "mg", 0.8),
        ("mg-mgdl", "mg", 0.8228),  # x 0.4114
        ("mg-meql", "mg", 0.8),  # meq/L x 0.5
        ("mg-mgdl-text", "mg", 0.8228),
        ("ca-mgdl", "ca", 2.495),
        ("ca-mmoll", "ca", 2.3),
        ("k-meql", "k", 3.4),
        ("phosphate-mgdl", "phosphate", 1.001),
        ("creatinine-mgdl", "creatinine", 88.4),
        ("creatinine-umoll", "creatinine", 88.0),
        ("egfr-ucum", "egfr", 45.0),
        ("egfr-text", "egfr", 45.0),
        ("pth-pgml", "pth", 80.0),
    ],
)
def test_every_unit_conversion(knowledge: Knowledge, case: str, analyte: str, value: float) -> None:
    """Reference b.2: each accepted unit of each analyte lands in the canonical unit."""
    facts = facts_for(knowledge, [one("units-readable", case)])
    fact = lab_fact(facts)
    assert fact["analyte"] == analyte
    assert fact["value"] == pytest.approx(value, abs=1e-3)
    assert facts.reports == []


def test_egfr_sent_in_ml_per_min_is_read_per_1_73_m2(knowledge: Knowledge) -> None:
    """Issue 12: 'mL/min' with a per-1.73 m² eGFR code (Synthea sends it) is that code's unit, not an absolute GFR."""
    assert lab_fact(facts_for(knowledge, [one("units-unknown", "egfr-absolute")]))["value"] == 45


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("mg-unknown-unit", "unit 'mg%' unknown for mg"),
        ("vitd-no-unit", "unit None unknown for vitd25"),
    ],
)
def test_unknown_units_are_left_out_and_reported(knowledge: Knowledge, case: str, reason: str) -> None:
    """No guessing: the value is left out, reported, and not counted as "missing" either."""
    facts = facts_for(knowledge, [one("units-unknown", case)])
    assert [f for f in facts.facts if f["kind"] == "lab"] == []
    analyte = {"mg": "mg", "pt": "pth", "vi": "vitd25", "eg": "egfr"}[case[:2]]
    assert {"kind": "lab-missing", "analyte": analyte} not in [
        {k: v for k, v in f.items() if k != "id"} for f in facts.facts
    ]
    assert len(facts.reports) == 1 and reason in facts.reports[0].reason


@pytest.mark.parametrize(
    ("case", "flag"),
    [
        ("mg-lab-range-low", "low"),  # 0.72 below the lab's own 0.75 (the seed: use the lab's values)
        ("mg-profile-range-normal", "normal"),  # no lab range: profile 0.70-0.95
        ("mg-profile-range-low", "low"),
        ("mg-lab-range-mgdl", "low"),  # 0.65 mmol/L against a lab range in mg/dL (1.7 mg/dL = 0.699 mmol/L)
        ("k-interpretation-low", "low"),  # the lab's interpretation code
        ("k-no-range", "unknown"),  # no range, no interpretation, no profile default: not interpreted
        ("pth-range-high", "high"),
    ],
)
def test_reference_ranges(knowledge: Knowledge, case: str, flag: str) -> None:
    assert lab_fact(facts_for(knowledge, [one("reference-ranges", case)]))["flag"] == flag


def test_latest_result_within_the_window_wins(knowledge: Knowledge) -> None:
    old = dict(one("units-readable", "vitd-nmoll"), id="old", effectiveDateTime="2026-01-05")
    new = dict(one("units-readable", "vitd-ngml"), id="new", effectiveDateTime="2026-10-05")
    assert lab_fact(facts_for(knowledge, [new, old]))["value"] == pytest.approx(49.92)


def test_results_outside_the_window_count_as_missing(knowledge: Knowledge) -> None:
    """12 months for 25(OH)D/Mg, 6 for the chemistry (settings); older results are not used."""
    vitd = dict(one("units-readable", "vitd-nmoll"), effectiveDateTime="2025-11-01")
    egfr = dict(one("units-readable", "egfr-ucum"), effectiveDateTime="2026-05-01")
    facts = facts_for(knowledge, [vitd, egfr])
    missing = {f["analyte"] for f in facts.facts if f["kind"] == "lab-missing"}
    assert {"vitd25", "egfr"} <= missing


MEDICATION_CASES = [
    ("ppi-atc", {"ppi"}, "atc"),
    ("ppi-rxnorm-ingredient", {"ppi"}, "rxnorm"),
    ("ppi-rxnorm-salt", {"ppi"}, "rxnorm"),
    ("ppi-snomed", {"ppi"}, "snomed"),
    ("ppi-text-nl", {"ppi"}, "text"),
    ("ppi-text-en-unknown-rxnorm", {"ppi"}, "text"),
    ("esomeprazol-text", {"ppi"}, "text"),
    ("gstandaard-with-atc", {"ppi"}, "atc"),  # G-Standaard read through the ATC beside it
    ("thiazide-combo-atc", {"thiazide-diuretic"}, "atc"),  # ACE inhibitor + thiazide
    ("thiazide-combo-ingredients", {"thiazide-diuretic"}, "rxnorm"),  # each ingredient counts
    ("ksparing-thiazide-combo", {"thiazide-diuretic"}, "atc"),
    ("loop-rxnorm", {"loop-diuretic"}, "rxnorm"),
    ("steroid-atc", {"systemic-corticosteroid"}, "atc"),
    ("steroid-rxnorm-oral", {"systemic-corticosteroid"}, "rxnorm"),
    ("vitd-active-atc", {"vitd-active"}, "atc"),
    ("vitd-native-text", {"vitd-native"}, "text"),
    ("mg-oral-atc", {"mg-supplement"}, "atc"),
    ("mg-laxative-atc", {"mg-laxative"}, "atc"),  # issue 18: magnesium oxide coded as a laxative
    ("mg-antacid-atc", {"mg-antacid"}, "atc"),  # issue 18: magaldrate
    ("mg-name-unlisted-atc", {"mg-supplement"}, "text"),  # issue 18: the name counts beside an unlisted ATC
    ("mg-sulfate-iv", {"mg-parenteral"}, "atc"),  # review F25: magnesium sulfate given IV
    ("mg-sulfate-infusion-no-route", {"mg-parenteral"}, "atc"),  # no route: the dose form says infusion
    ("integrase-atc", {"integrase-inhibitor"}, "atc"),  # issue 18: dolutegravir
    ("calcium-d-atc", {"calcium-supplement", "vitd-native"}, "atc"),  # issue 18: calcium as a binding partner
    ("digoxin-text", {"digoxin"}, "text"),  # issue 18
    ("penicillamine-atc", {"penicillamine"}, "atc"),  # issue 18: penicillamine as a binding partner
    ("penicillamine-text", {"penicillamine"}, "text"),  # US product named in text (no RxNorm ingredient verified)
    ("eiaed-rxnorm", {"enzyme-inducing-antiepileptic"}, "rxnorm"),
    ("orlistat-atc", {"orlistat"}, "atc"),
    ("levothyroxine-rxnorm", {"levothyroxine"}, "rxnorm"),
    ("sequestrant-atc", {"bile-acid-sequestrant"}, "atc"),
    ("tetracycline-rxnorm", {"tetracycline"}, "rxnorm"),
    ("quinolone-rxnorm-oral", {"fluoroquinolone"}, "rxnorm"),
    ("bisphosphonate-text", {"oral-bisphosphonate"}, "text"),
    ("bisphosphonate-combo-atc", {"oral-bisphosphonate", "vitd-native"}, "atc"),  # a combination counts for each
]


@pytest.mark.parametrize(("case", "classes", "matched_on"), MEDICATION_CASES)
def test_medication_classes(knowledge: Knowledge, case: str, classes: set[str], matched_on: str) -> None:
    facts = facts_for(knowledge, [one("medication-classes", case)])
    meds = [f for f in facts.facts if f["kind"] == "med"]
    assert {f["class"] for f in meds} == classes
    assert {facts.evidence[f["id"]].matched_on for f in meds} == {matched_on}


def test_esomeprazol_is_not_read_as_omeprazol(knowledge: Knowledge) -> None:
    facts = facts_for(knowledge, [one("medication-classes", "esomeprazol-text")])
    assert [facts.evidence[f["id"]].name for f in facts.facts if f["kind"] == "med"] == ["esomeprazol"]


UNCLASSIFIED = "1 current medication(s) matched none of the rules' classes by code, name or brand"


@pytest.mark.parametrize(
    ("case", "reasons"),
    [
        ("ksparing-alone", [UNCLASSIFIED]),
        ("gstandaard-only", [UNCLASSIFIED]),
        ("quinolone-iv", []),
        ("stopped-by-period", []),
    ],
)
def test_medications_that_do_not_count(knowledge: Knowledge, case: str, reasons: list[str]) -> None:
    """K-sparing alone is not Mg-losing; a bare G-Standaard code has no class (both counted as unclassified,
    issue 12, without naming them); IV quinolones do not chelate (IV magnesium counts as parenteral magnesium,
    review F25: test_parenteral_magnesium_is_not_a_binding_partner); a statement whose period ended is not
    active."""
    facts = facts_for(knowledge, [one("medication-classes", case)])
    assert [f for f in facts.facts if f["kind"] == "med"] == []
    assert [r.reason for r in facts.reports] == reasons
    assert all(r.where == "medication" for r in facts.reports)


@pytest.mark.parametrize(
    ("case", "reason"),
    [("steroid-rxnorm-no-route", "systemic use cannot be established"), ("unresolved-reference", "not found")],
)
def test_medications_left_out_and_reported(knowledge: Knowledge, case: str, reason: str) -> None:
    facts = facts_for(knowledge, [one("medication-classes", case)])
    assert [f for f in facts.facts if f["kind"] == "med"] == []
    assert reason in facts.reports[0].reason


@pytest.mark.parametrize(
    ("case", "dose"),
    [
        ("vitd-iu-daily", 20.0),  # 800 IE = 20 µg (40 IU = 1 µg)
        ("vitd-ug-weekly", 25.0),  # 175 µg a week
        ("vitd-monthly-50000iu", 1250 / (365.25 / 12)),  # 50,000 IE a month
        ("vitd-tablet-strength", 25.0),  # 1 tablet of a product with 25 µg per tablet
        ("vitd-timing-code-bid", 20.0),  # 400 IE twice daily (timing code BID)
        ("vitd-frequency-range", 40.0),  # 800 IE 1-2 times a day: the top of the range (issue 18)
        # 2 x 500 mg of a product coded only as "magnesium oxide": it does not say the mass is the salt's, so it is
        # read as elemental magnesium, as NL/BE and US supplement labels state it (issue 11; salt stated: 603 mg in
        # scenario sg-nl-h11-mg-basis-1)
        ("mg-oxide-mg", 1000.0),
        ("mg-citrate-mg", 500.0),
        ("mg-mmol", 243.05),  # 10 mmol Mg
    ],
)
def test_daily_doses(knowledge: Knowledge, case: str, dose: float) -> None:
    facts = facts_for(knowledge, [], drafts=[one("draft-doses", case)])
    (order,) = [f for f in facts.facts if f["kind"] == "order"]
    assert order["daily_dose"] == pytest.approx(dose, abs=0.01)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("vitd-tablet-no-strength", "needs the strength of the product's ingredient"),
        ("vitd-no-timing", "no timing"),
        ("vitd-two-dosages", "without a sequence"),
        ("vitd-calcifediol", "not comparable"),
        # Calci-Chew D3 coded as one A12AX ingredient with its 500 mg calcium strength (clinical review probe):
        # never read as 500,000 µg vitamin D a day
        ("vitd-combination-ingredient-calcium-strength", "needs the strength of the product's ingredient"),
    ],
)
def test_uncomputable_doses_are_reported_not_guessed(knowledge: Knowledge, case: str, reason: str) -> None:
    """The order still counts (for interactions), but without a dose; the reason is reported."""
    facts = facts_for(knowledge, [], drafts=[one("draft-doses", case)])
    orders = [f for f in facts.facts if f["kind"] == "order"]  # a calcium + vitamin D product is two classes
    assert orders and all("daily_dose" not in order for order in orders)
    assert any(reason in report.reason for report in facts.reports)


@pytest.mark.parametrize("case", ["cholecalciferol-1990-1", "calcitriol-62290-2"])
def test_parent_vitamin_d_and_calcitriol_are_never_status(knowledge: Knowledge, case: str) -> None:
    """Reference b.1: 1990-1 (vitamin D3 itself) and 1,25(OH)2D never count as 25(OH)D status."""
    facts = facts_for(knowledge, [one("units-unknown", case)])
    assert [f for f in facts.facts if f["kind"] == "lab"] == []
    assert {"kind": "lab-missing", "analyte": "vitd25"} in [
        {k: v for k, v in f.items() if k != "id"} for f in facts.facts
    ]


def test_every_medication_class_has_a_positive_case(knowledge: Knowledge) -> None:
    covered = set().union(*(classes for _, classes, _ in MEDICATION_CASES))
    assert covered == set(knowledge.medications.classes)
    assert {on for _, _, on in MEDICATION_CASES} == {"atc", "rxnorm", "snomed", "text"}


@pytest.mark.parametrize("case", ["mg-laxative-atc", "mg-antacid-atc", "mg-name-unlisted-atc", "mg-oral-atc"])
def test_magnesium_containing_medication_is_marked(knowledge: Knowledge, case: str) -> None:
    """Issue 18: supplements, laxatives and antacids carry `contains: magnesium` for the renal/chelation rules."""
    facts = facts_for(knowledge, [one("medication-classes", case)])
    (fact,) = [f for f in facts.facts if f["kind"] == "med"]
    assert fact["contains"] == "magnesium"


@pytest.mark.parametrize("case", ["mg-iv", "mg-sulfate-iv", "mg-sulfate-infusion-no-route"])
def test_parenteral_magnesium_is_not_a_binding_partner(knowledge: Knowledge, case: str) -> None:
    """Review F25: IV magnesium counts as parenteral magnesium (kidney rules), not as an oral supplement (no gut
    binding, no oral upper level); before, an oral-only class dropped it and no rule saw it."""
    facts = facts_for(knowledge, [one("medication-classes", case)])
    (fact,) = [f for f in facts.facts if f["kind"] == "med"]
    assert (fact["class"], fact["route"]) == ("mg-parenteral", "systemic")
    assert "contains" not in fact


def test_a_ppi_is_not_magnesium_containing(knowledge: Knowledge) -> None:
    facts = facts_for(knowledge, [one("medication-classes", "ppi-atc")])
    (fact,) = [f for f in facts.facts if f["kind"] == "med"]
    assert "contains" not in fact


@pytest.mark.parametrize(
    ("case", "groups"),
    [
        ("dialysis-z99-2-cm", {"ckd", "ckd-g4-g5"}),  # issue 18: dialysis coded ICD-10(-CM) Z99.2
        ("dialysis-z99-2-nl", {"ckd", "ckd-g4-g5"}),
        ("dialysis-z49-who", {"ckd", "ckd-g4-g5"}),
        ("dialysis-z49-01-cm", {"ckd", "ckd-g4-g5"}),
        ("dialysis-sct-105502003", {"ckd", "ckd-g4-g5"}),
        ("dialysis-sct-714152005", {"ckd", "ckd-g4-g5"}),
        ("pregnancy-z33-1-cm", {"pregnancy"}),  # issue 18: pregnancy by meaning
        ("pregnancy-z34-00-cm", {"pregnancy"}),
        ("pregnancy-o09-90-cm", {"pregnancy"}),
        ("pregnancy-z3a-20-cm", {"pregnancy"}),
        ("pregnancy-z33-nl", {"pregnancy"}),  # WHO/NL Z33 has no subdivisions
        ("termination-z33-2-cm", set()),  # elective termination is not a pregnancy to advise on
        ("carrier-z33-3-cm", set()),
    ],
)
def test_coded_kidney_status_and_pregnancy(knowledge: Knowledge, case: str, groups: set[str]) -> None:
    facts = facts_for(knowledge, [one("conditions-coded", case)])
    assert {f["group"] for f in facts.facts if f["kind"] == "condition"} == groups


# --- product level, every medication source (issue 12) ----------------------------------------------------


def _med_facts(facts: FactSet) -> list[tuple[str, str]]:
    return sorted((f["class"], f["route"]) for f in facts.facts if f["kind"] == "med")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("sbd-brand-text", [("loop-diuretic", "unknown")]),  # "Lasix 40mg": brand list (rules/valuesets/brands.yaml)
        ("brand-losec-nl", [("ppi", "oral")]),  # brand, and "capsule" gives the route
        ("scd-display-only", [("ppi", "oral")]),  # RxNorm SCD code unknown to us: its name is read
        ("gstandaard-name", [("ppi", "oral")]),  # G-Standaard GPK without ATC: "OMEPRAZOL CAPSULE MSR 20MG"
        ("atc-nsaid-ppi", [("ppi", "unknown")]),  # M01AE52 naproxen and esomeprazole
        ("atc-aspirin-ppi", [("ppi", "unknown")]),  # B01AC56
        ("atc-bb-thiazide", [("thiazide-diuretic", "unknown")]),  # C07BB07 bisoprolol and thiazides
        ("atc-arb-ccb-thiazide", [("thiazide-diuretic", "unknown")]),  # C09DX01
        ("steroid-oral-tablet-no-route", [("systemic-corticosteroid", "oral")]),  # route from "Oral Tablet"
        ("steroid-medication-form", [("systemic-corticosteroid", "oral")]),  # route from Medication.form
    ],
)
def test_product_level_medication_is_classified(
    knowledge: Knowledge, case: str, expected: list[tuple[str, str]]
) -> None:
    facts = facts_for(knowledge, [one("product-level", case)])
    assert _med_facts(facts) == expected
    assert facts.reports == []


def test_atc_class_without_a_ppi_is_not_a_ppi(knowledge: Knowledge) -> None:
    """A02BD08 (bismuth, tetracycline, metronidazole) is in A02BD but holds no PPI; its tetracycline counts
    by name beside the unlisted ATC code (issue 18)."""
    facts = facts_for(knowledge, [one("product-level", "atc-hpylori-bismuth")])
    assert _med_facts(facts) == [("tetracycline", "unknown")]


def test_topical_steroid_without_route_is_not_systemic(knowledge: Knowledge) -> None:
    """The dose form says topical: the route is known ('other'), and a systemic class is not claimed."""
    facts = facts_for(knowledge, [one("product-level", "steroid-topical-no-route")])
    assert _med_facts(facts) == []
    assert [r.reason for r in facts.reports] == [
        "hydrocortison: route other; systemic use cannot be established, left out"
    ]


@pytest.mark.parametrize(
    ("cases", "course"),
    [
        (["dispense-ppi-14d"], {"course": "bounded", "course_days": 14.0}),  # one 14-day dispense: a short course
        (["dispense-ppi-14d", "dispense-ppi-14d-earlier"], {"course": "open", "course_days": 14.0}),  # repeated
        (["dispense-ppi-recent"], {"course": "bounded", "course_days": 90.0}),  # one 90-day supply: prolonged
    ],
)
def test_a_single_dispense_is_the_course_it_supplies(
    knowledge: Knowledge, cases: list[str], course: dict[str, object]
) -> None:
    """Review F18 (issue 10 course length): repeat dispenses are long-term use; one dispense is its supply."""
    facts = facts_for(knowledge, [one("product-level", c) for c in cases])
    current = [f for f in facts.facts if f["kind"] == "med"]
    assert {k: current[0].get(k) for k in ("course", "course_days")} == course
    assert len(current) == 1  # the earlier dispense's supply has run out: context only


@pytest.mark.parametrize(
    ("case", "expected", "course"),
    [
        ("dispense-ppi-recent", [("ppi", "oral")], 90.0),  # 2026-10-01 + 90 days supply: in use on 2026-11-22
        ("dispense-no-days-supply", [("loop-diuretic", "unknown")], None),  # 2026-09-01 + default 90 days
        ("dispense-ppi-used-up", [], None),  # 2026-01-05 + 30 days (+ 30 grace) ended long ago
        ("dispense-cancelled", [], None),  # not a dispense that happened
        ("administration-recent", [("loop-diuretic", "systemic")], 0.02),  # given 2 days ago, IV, 30 min
        ("administration-old", [], None),  # given 7 weeks ago
        ("dispense-no-date", [], None),  # no hand-over date: reported (test below)
    ],
)
def test_dispenses_and_administrations_imply_use(
    knowledge: Knowledge, case: str, expected: list[tuple[str, str]], course: float | None
) -> None:
    facts = facts_for(knowledge, [one("product-level", case)])
    assert _med_facts(facts) == expected
    assert [f.get("course_days") for f in facts.facts if f["kind"] == "med"] == ([course] if expected else [])


@pytest.mark.parametrize(
    ("case", "daily_ug"),
    [
        ("rxnorm-capsule", 50.0),  # 1 capsule of "Cholecalciferol 2000 UNT Oral Capsule" = 2000 IU = 50 µg
        ("gstandaard-tablet-ie", 40.0),  # 2 tablets of "Colecalciferol 800 IE tablet" = 1600 IE = 40 µg
        ("gstandaard-tablet-mcg-ie", 25.0),  # "25MCG (1000IE)": one amount, read once
    ],
)
def test_count_dose_units_use_the_strength_in_the_product_name(
    knowledge: Knowledge, case: str, daily_ug: float
) -> None:
    facts = facts_for(knowledge, [], drafts=[one("product-strength-drafts", case)])
    (order,) = [f for f in facts.facts if f["kind"] == "order"]
    assert order["daily_dose"] == daily_ug


def test_a_pill_of_a_product_without_a_stated_strength_is_not_guessed(knowledge: Knowledge) -> None:
    facts = facts_for(knowledge, [], drafts=[one("product-strength-drafts", "pill-no-strength")])
    (order,) = [f for f in facts.facts if f["kind"] == "order"]
    assert order["dose"] == "not-computed"
    assert any("needs the strength" in r.reason for r in facts.reports)


def test_a_dispense_without_a_date_is_reported_not_used(knowledge: Knowledge) -> None:
    """Whether an undated dispense is still taken cannot be told: left out, and the response says so."""
    facts = facts_for(knowledge, [one("product-level", "dispense-no-date")])
    assert [(r.where, r.reason) for r in facts.reports] == [
        ("MedicationDispense/dispense-no-date", "no hand-over date: whether it is still taken cannot be told; left out")
    ]


def test_a_total_that_cannot_be_computed_is_a_fact_not_only_a_report(knowledge: Knowledge) -> None:
    """Review R8: Calci-Chew D3 in use with no dosage and colecalciferol 4,000 IE ordered: the total is not
    computable, which the rules see (a card says the sum was not checked) besides the report."""
    facts = facts_for(
        knowledge, [one("draft-doses", "total-unknown-calci-chew")], drafts=[one("draft-doses", "total-unknown-draft")]
    )
    (unknown,) = [f for f in facts.facts if f["kind"] == "vitd-total-unknown"]
    assert unknown["products"] == 2
    assert not [f for f in facts.facts if f["kind"] == "vitd-total"]
    assert any("total vitamin D not computed" in r.reason for r in facts.reports)
