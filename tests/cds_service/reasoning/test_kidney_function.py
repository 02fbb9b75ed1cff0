"""Kidney function from what real systems send (issue 12): eGFR by CKD-EPI 2021 from creatinine when no eGFR is
sent (marked computed on the card), and the unit spellings of eGFR and the electrolytes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cds_service.fhir.parsing import parse_record
from cds_service.fhir.prefetch import Prefetched
from cds_service.knowledge.loader import Knowledge
from cds_service.reasoning._egfr import ckd_epi_2021
from cds_service.reasoning.facts import EvaluationContext, build_facts
from tests.builders import request
from tests.conftest import card_codes

from .test_facts import NOW, facts_for

PV = "/cds-services/vitd-mg-patient-view"


def _lab(code: str, value: float, unit: str, *, ucum: str | None = None, when: str = "2026-11-01") -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value, "unit": unit}
    if ucum is not None:
        quantity |= {"system": "http://unitsofmeasure.org", "code": ucum}
    return {
        "resourceType": "Observation",
        "id": f"lab-{code}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": "Patient/case"},
        "effectiveDateTime": when,
        "valueQuantity": quantity,
    }


@pytest.mark.parametrize(
    ("creatinine_mg_dl", "age", "sex", "expected"),
    [
        (0.9, 55, "female", 75.5),  # Scr/k = 1.29 > 1: the -1.200 branch
        (0.6, 40, "female", 116.3),  # Scr/k < 1: the alpha branch
        (0.97, 70, "male", 84.0),
        (2.5, 80, "male", 25.3),
    ],
)
def test_ckd_epi_2021(knowledge: Knowledge, creatinine_mg_dl: float, age: int, sex: str, expected: float) -> None:
    """The NKF equation (kidney.org, CKD-EPI Creatinine Equation (2021)), values computed by hand."""
    formula = knowledge.labs.egfr_from_creatinine
    assert formula is not None
    assert ckd_epi_2021(creatinine_mg_dl * 88.4, age, sex, formula) == pytest.approx(expected, abs=0.15)


def _egfr(knowledge: Knowledge, resources: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Any]:
    facts = facts_for(knowledge, resources)
    labs = [f for f in facts.facts if f["kind"] == "lab" and f["analyte"] == "egfr"]
    return labs, facts


def test_egfr_is_computed_from_creatinine_when_none_is_sent(knowledge: Knowledge) -> None:
    """patient-adult.json: a man born 1971-03-08; creatinine 1.2 mg/dL on 2026-11-01 at age 55."""
    labs, facts = _egfr(knowledge, [_lab("2160-0", 1.2, "mg/dL", ucum="mg/dL")])
    (lab,) = labs
    assert lab["value"] == pytest.approx(ckd_epi_2021(1.2 * 88.4, 55, "male", knowledge.labs.egfr_from_creatinine))
    evidence = facts.evidence[lab["id"]]
    assert evidence.note == "computed-ckd-epi-2021" and evidence.reference == "Observation/lab-2160-0"
    assert not [f for f in facts.facts if f["kind"] == "lab-missing" and f["analyte"] == "egfr"]


def test_a_sent_egfr_is_used_as_sent(knowledge: Knowledge) -> None:
    labs, facts = _egfr(
        knowledge,
        [_lab("2160-0", 1.2, "mg/dL", ucum="mg/dL"), _lab("98979-8", 40, "mL/min/{1.73_m2}", ucum="mL/min/{1.73_m2}")],
    )
    (lab,) = labs
    assert lab["value"] == 40 and facts.evidence[lab["id"]].note is None


def test_no_egfr_for_a_patient_without_sex(knowledge: Knowledge) -> None:
    patient = {"resourceType": "Patient", "id": "case", "birthDate": "1971-03-08"}
    record = parse_record(
        Prefetched(resources={"all": [patient, _lab("14682-9", 110, "umol/L", ucum="umol/L")]}), {}, knowledge
    )
    facts = build_facts(record, knowledge, EvaluationContext("patient-view", "nl-be", NOW, 12, 6))
    assert [f for f in facts.facts if f["kind"] == "lab" and f["analyte"] == "egfr"] == []
    assert [r.reason for r in facts.reports if "eGFR" in r.reason] == [
        "eGFR not computed from creatinine: the Patient's birth date and sex (female or male) are needed"
    ]


@pytest.mark.parametrize(
    ("code", "value", "unit", "ucum", "analyte", "canonical"),
    [
        ("33914-3", 13.1, "mL/min", "mL/min", "egfr", 13.1),  # Synthea's MDRD eGFR unit
        ("98979-8", 52, "ml/min/1.73m²", None, "egfr", 52),  # superscript two, no UCUM code
        ("2601-3", 0.9, "mM", "258813002", "mg", 0.9),  # PDDI: SNOMED-coded unit, text mM
        ("2601-3", 0.62, "mmol/l", "mmol/l", "mg", 0.62),  # Nictiz: lower-case l
        ("14682-9", 110, "µmol/L", "umol/L", "creatinine", 110),
    ],
)
def test_unit_variants_are_read(
    knowledge: Knowledge, code: str, value: float, unit: str, ucum: str | None, analyte: str, canonical: float
) -> None:
    resource = _lab(code, value, unit, ucum=ucum)
    if ucum == "258813002":
        resource["valueQuantity"]["system"] = "http://snomed.info/sct"
    facts = facts_for(knowledge, [resource])
    (lab,) = [f for f in facts.facts if f["kind"] == "lab" and f["analyte"] == analyte]
    assert lab["value"] == pytest.approx(canonical)


async def test_the_card_says_the_egfr_was_computed(client: httpx.AsyncClient) -> None:
    """NL record without its eGFR but with creatinine 250 µmol/L (woman, 76): the renal caution for her magnesium
    rests on a computed eGFR of about 17, and its reason line says so."""
    body = request()
    entries = body["prefetch"]["labResults"]["entry"]
    entries[:] = [e for e in entries if e["resource"]["id"] != "nl-1-egfr"]
    creatinine = _lab("14682-9", 250, "µmol/L", ucum="umol/L", when="2026-10-01")
    creatinine["subject"] = {"reference": "Patient/nl-1"}
    entries.append({"resource": creatinine, "search": {"mode": "match"}})
    payload = (await client.post(PV, json=body, headers={"Accept-Language": "en"})).json()
    assert "renal-caution-mg" in card_codes(payload)
    card = next(c for c in payload["cards"] if c["source"]["topic"]["code"] == "renal-caution-mg")
    assert "computed by CKD-EPI 2021 from creatinine, age and sex" in card["detail"]
