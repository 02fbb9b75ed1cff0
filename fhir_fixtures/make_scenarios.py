"""Writes fhir_fixtures/scenarios/: request.json, expected.yaml and, where needed, fhir.json per scenario.

fhir.json is what the EHR's FHIR server holds, for scenarios whose prefetch is partial or absent.

The committed files are the fixtures; this script is how they were made and how to change them in bulk:
    .venv/bin/python fhir_fixtures/make_scenarios.py
Resource shapes follow public examples (see scenarios/README.md); all values are made up.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from cds_service.cdshooks.services import build_services, prefetch_templates
from cds_service.knowledge.loader import load_knowledge
from cds_service.offline.fixture_fhir import prefetch_for

ROOT = Path(__file__).resolve().parent / "scenarios"
NOW = "2026-11-22T12:00:00+00:00"
FHIR_SERVER = "https://fhir.example-ehr.nl/fhir"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SCT = "http://snomed.info/sct"
GPK = "urn:oid:2.16.840.1.113883.2.4.4.1"
ICD10NL = "http://hl7.org/fhir/sid/icd-10-nl"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LAB_CATEGORY = [
    {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
]
ORAL_NL = {"coding": [{"system": "urn:oid:2.16.840.1.113883.2.4.4.9", "code": "9", "display": "oraal"}]}
ORAL_US = {"coding": [{"system": SCT, "code": "26643006", "display": "Oral route"}]}

_counters: dict[str, int] = {}


def _id(prefix: str, pid: str) -> str:
    """An id numbered per patient, so adding a scenario never renumbers another scenario's resources."""
    _counters[pid] = _counters.get(pid, 0) + 1
    return f"{prefix}-{pid}-{_counters[pid]}"


def patient(pid: str, birth: str, nl: bool = True) -> dict[str, Any]:
    if nl:
        return {
            "resourceType": "Patient",
            "id": pid,
            "meta": {"profile": ["http://nictiz.nl/fhir/StructureDefinition/nl-core-Patient"]},
            "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "999900012"}],
            "name": [{"family": "de Vries", "given": ["Anna"]}],
            "gender": "female",
            "birthDate": birth,
        }
    return {
        "resourceType": "Patient",
        "id": pid,
        "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
        "identifier": [{"system": "http://hospital.example.org/mrn", "value": "MRN-1001"}],
        "name": [{"family": "Smith", "given": ["Jordan"]}],
        "gender": "male",
        "birthDate": birth,
    }


def obs(
    pid: str,
    loinc: str,
    value: float,
    unit: str,
    code: str | None = "same",
    date: str = "2026-10-12",
    status: str = "final",
    low: float | None = None,
    high: float | None = None,
    display: str | None = None,
) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value, "unit": unit}
    if code is not None:
        quantity |= {"system": UCUM, "code": unit if code == "same" else code}
    o: dict[str, Any] = {
        "resourceType": "Observation",
        "id": _id("obs", pid),
        "status": status,
        "category": LAB_CATEGORY,
        "code": {"coding": [{"system": LOINC, "code": loinc, **({"display": display} if display else {})}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": date,
        "valueQuantity": quantity,
    }
    if low is not None or high is not None:
        rr: dict[str, Any] = {}
        if low is not None:
            rr["low"] = {
                "value": low,
                "unit": unit,
                **({"system": UCUM, "code": quantity.get("code", unit)} if code else {}),
            }
        if high is not None:
            rr["high"] = {
                "value": high,
                "unit": unit,
                **({"system": UCUM, "code": quantity.get("code", unit)} if code else {}),
            }
        o["referenceRange"] = [rr]
    return o


Strength = tuple[dict[str, Any], float, str, float, str]
"""An ingredient's codes and strength: numerator value and UCUM unit, denominator value and unit."""
COLECALCIFEROL = {"coding": [{"system": ATC, "code": "A11CC05", "display": "colecalciferol"}], "text": "colecalciferol"}
CALCIUM_CARBONATE = {
    "coding": [{"system": ATC, "code": "A12AA04", "display": "calciumcarbonaat"}],
    "text": "calciumcarbonaat",
}


def strengths(ingredients: list[Strength]) -> list[dict[str, Any]]:
    """A Medication's active ingredients with their strengths."""
    return [
        {
            "itemCodeableConcept": item,
            "isActive": True,
            "strength": {
                "numerator": {"value": num, "unit": num_unit, "system": UCUM, "code": num_unit},
                "denominator": {"value": den, "unit": den_unit},
            },
        }
        for item, num, num_unit, den, den_unit in ingredients
    ]


def nl_use(pid: str, gpk: str, atc: str | None, display: str, start: str = "2025-03-01") -> list[dict[str, Any]]:
    """A zib MedicationUse (MedicationStatement) of a Medication coded with a GPK and, when given, an ATC."""
    coding = [{"system": GPK, "code": gpk, "display": display}] + ([{"system": ATC, "code": atc}] if atc else [])
    return zib_use(pid, coding, display, start)


def zib_use(
    pid: str,
    coding: list[dict[str, str]],
    text: str,
    start: str,
    dosage: dict[str, Any] | None = None,
    ingredients: list[Strength] | None = None,
) -> list[dict[str, Any]]:
    """A zib MedicationUse (MedicationStatement) of a PharmaceuticalProduct; its dose and strengths when given."""
    med_id = _id("med", pid)
    medication: dict[str, Any] = {
        "resourceType": "Medication",
        "id": med_id,
        "meta": {"profile": ["http://nictiz.nl/fhir/StructureDefinition/pharmaceuticalproduct"]},
        "code": {"coding": coding, "text": text},
    }
    if ingredients is not None:
        medication["ingredient"] = strengths(ingredients)
    statement = {
        "resourceType": "MedicationStatement",
        "id": _id("ms", pid),
        "meta": {"profile": ["http://nictiz.nl/fhir/StructureDefinition/mp-MedicationUse2"]},
        "category": {"coding": [{"system": SCT, "code": "422979000", "display": "Known medication use"}]},
        "status": "active",
        "medicationReference": {"reference": f"Medication/{med_id}", "display": text},
        "subject": {"reference": f"Patient/{pid}"},
        "effectivePeriod": {"start": start},
        "dosage": [{"route": ORAL_NL, **(dosage or {})}],
    }
    return [medication, statement]


def text_use(pid: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "id": _id("ms", pid),
        "status": "active",
        "medicationCodeableConcept": {"text": text},
        "subject": {"reference": f"Patient/{pid}"},
        "effectivePeriod": {"start": "2026-01-01"},
    }


def us_request(
    pid: str,
    rxcui: str,
    display: str,
    status: str = "active",
    dose: tuple[float, str, str] | None = None,
    per_day: int = 1,
) -> dict[str, Any]:
    """A US Core-style MedicationRequest coded with an RxNorm product or ingredient."""
    d: dict[str, Any] = {"route": ORAL_US, "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}}
    if dose:
        d["doseAndRate"] = [{"doseQuantity": {"value": dose[0], "unit": dose[1], "system": UCUM, "code": dose[2]}}]
    return {
        "resourceType": "MedicationRequest",
        "id": _id("mr", pid),
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": rxcui, "display": display}],
            "text": display,
        },
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": "2026-02-01",
        "dosageInstruction": [d],
    }


def draft_med(
    pid: str,
    coding: list[dict[str, str]],
    text: str,
    dose: tuple[float, str, str] | None,
    frequency: int = 1,
    period: float = 1,
    unit: str = "d",
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "route": ORAL_US,
        "timing": {"repeat": {"frequency": frequency, "period": period, "periodUnit": unit}},
    }
    if dose:
        d["doseAndRate"] = [{"doseQuantity": {"value": dose[0], "unit": dose[1], "system": UCUM, "code": dose[2]}}]
    return {
        "resourceType": "MedicationRequest",
        "id": _id("draft", pid),
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"coding": coding, "text": text},
        "subject": {"reference": f"Patient/{pid}"},
        "dosageInstruction": [d],
    }


INTRAVENOUS = {"coding": [{"system": SCT, "code": "47625008", "display": "Intravenous route"}]}


def intravenous(request: dict[str, Any]) -> dict[str, Any]:
    """The draft given intravenously: every dosage instruction's route."""
    request["dosageInstruction"] = [{**d, "route": INTRAVENOUS} for d in request["dosageInstruction"]]
    return request


def for_weeks(request: dict[str, Any], weeks: int) -> dict[str, Any]:
    """The draft bounded to a course of `weeks` weeks."""
    bounds = {"value": weeks, "unit": "wk", "system": UCUM, "code": "wk"}
    request["dosageInstruction"][0]["timing"]["repeat"]["boundsDuration"] = bounds
    return request


def us_active(
    pid: str,
    text: str,
    coding: list[dict[str, str]] | None = None,
    *,
    amount: tuple[float, str, str] | None = None,
    authored: str = "2026-05-01",
) -> dict[str, Any]:
    """An active MedicationRequest in draft_med's shape (the draft's id is used up, as first written)."""
    request = draft_med(pid, coding or [], text, amount)
    return {**request, "id": _id("mr", pid), "status": "active", "authoredOn": authored}


def draft_lab(pid: str, loinc: str, display: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": _id("draft", pid),
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}]},
        "subject": {"reference": f"Patient/{pid}"},
    }


def condition(pid: str, system: str, code: str, display: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": _id("cond", pid),
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "verificationStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]
        },
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{pid}"},
    }


def mg(pid: str, value: float, **kw: Any) -> dict[str, Any]:
    return obs(
        pid, "2601-3", value, "mmol/l", low=0.70, high=1.00, display="Magnesium [Moles/volume] in Serum or Plasma", **kw
    )


def vitd_nl(pid: str, value: float, **kw: Any) -> dict[str, Any]:
    return obs(pid, "14635-7", value, "nmol/l", display="25-hydroxyvitamin D3 [Moles/volume] in Serum or Plasma", **kw)


def egfr(pid: str, value: float, **kw: Any) -> dict[str, Any]:
    return obs(pid, "98979-8", value, "mL/min/1.73m2", code="mL/min/{1.73_m2}", display="eGFR CKD-EPI 2021", **kw)


SCENARIOS: list[dict[str, Any]] = []


def scenario(
    name: str,
    description: str,
    hook: str,
    resources: list[dict[str, Any]],
    must: dict[str, str],
    must_not: list[str],
    *,
    pid: str,
    profile: str = "nl-be",
    drafts: list[dict[str, Any]] | None = None,
    selections: list[str] | None = None,
    prefetch_keys: list[str] | None = None,
    left_out: list[str] | None = None,
    shaped_on: str,
    locale: str = "nl",
) -> None:
    SCENARIOS.append(
        {
            "name": name,
            "description": description,
            "hook": hook,
            "resources": resources,
            "must": must,
            "must_not": must_not,
            "pid": pid,
            "profile": profile,
            "drafts": drafts,
            "selections": selections,
            "prefetch_keys": prefetch_keys,
            "left_out": left_out or [],
            "shaped_on": shaped_on,
            "locale": locale,
        }
    )


def probe(
    name: str,
    pid: str,
    drafts: list[dict[str, Any]] | None,
    record: list[dict[str, Any]],
    must: dict[str, str],
    must_not: list[str],
    description: str,
    *,
    shaped_on: str,
    **more: Any,
) -> None:
    """One row of a probe table as a scenario; its name says the rest.

    The prefix is the hook (pv- patient-view, os- order-select of the first draft, sg- order-sign); -us- is the US
    Core shape: profile us-endocrine-2011 (unless `more` names one), English cards. order-select selects the first
    draft, or the one `more["selects"]` numbers.
    """
    hook = {"pv": "patient-view", "os": "order-select", "sg": "order-sign"}[name.split("-")[0]]
    us = {"profile": "us-endocrine-2011", "locale": "en"} if name.split("-")[1] == "us" else {}
    us |= {k: more.pop(k) for k in ("profile", "locale") if k in more}
    which = more.pop("selects", 0)
    selected = [f"MedicationRequest/{drafts[which]['id']}"] if drafts and hook == "order-select" else None
    scenario(
        name,
        description,
        hook,
        record,
        must,
        must_not,
        pid=pid,
        drafts=drafts,
        selections=selected,
        shaped_on=shaped_on,
        **us,
        **more,
    )


NL = "Nictiz zib2020 (nl-core-Patient, LaboratoryTestResult, mp-MedicationUse2, PharmaceuticalProduct)"
US = "HL7 US Core 6 (us-core-patient, us-core-observation-lab, MedicationRequest with RxNorm)"
PDDI = "HL7 PDDI-CDS examples (draft MedicationRequest orders), CDS Hooks order-select/order-sign contexts"
Ordered = tuple[Any, ...]
"""What a probe orders: draft_med's arguments after the patient (coding, text, dose, then its timing)."""
Record = Callable[[str], list[dict[str, Any]]]
"""A probe's record, built for its patient id."""
Row = tuple[str, str, Record, Record | None, dict[str, str], list[str], str, dict[str, Any]]
"""A table's scenario: name, patient id, record, drafts (None: patient-view), must, must_not, description, and
scenario() keywords beside the name's defaults (profile, locale, shaped_on, left_out, prefetch_keys), probe()'s
selects and table()'s drafts_first."""


def table(rows: list[Row], nl_orders: str = PDDI) -> None:
    """Each row a scenario through probe(), in the order the resources' ids were first numbered.

    The record before the drafts; for order-select (the selected draft is the patient's first id) and rows whose
    keywords say `drafts_first`, the drafts before the record. Shaped on NL or US by the name; an order hook's on
    PDDI, or `nl_orders` in the NL shape; a row's `shaped_on` wins.
    """
    for name, p, record, drafts, must, must_not, description, keywords in rows:
        us = "-us-" in name
        more: dict[str, Any] = {"shaped_on": (PDDI if us else nl_orders) if drafts else (US if us else NL)}
        more |= keywords
        first = drafts(p) if drafts and more.pop("drafts_first", name.startswith("os-")) else None
        resources = record(p)
        ordered = first if first is not None else drafts(p) if drafts else None
        probe(name, p, ordered, resources, must, must_not, description, **more)


def once(record: Record) -> Record:
    """A record shared on purpose by scenarios of one patient (a profile comparison): made once, the same ids."""
    made: dict[str, list[dict[str, Any]]] = {}

    def shared(pid: str) -> list[dict[str, Any]]:
        if pid not in made:
            made[pid] = record(pid)
        return made[pid]

    return shared


def build() -> None:
    """The first scenarios: one per card and its quiet neighbours, in the NL zib and US Core shapes."""

    def by_reference(request: dict[str, Any], medication: str) -> dict[str, Any]:
        """The request with its medication referenced instead of coded."""
        del request["medicationCodeableConcept"]
        request["medicationReference"] = {"reference": f"Medication/{medication}"}
        return request

    def also_coded(request: dict[str, Any], system: str, code: str, display: str) -> dict[str, Any]:
        request["medicationCodeableConcept"]["coding"].append({"system": system, "code": code, "display": display})
        return request

    def nl_magnesium_oxide(p: str) -> dict[str, Any]:
        atc = [{"system": ATC, "code": "A12CC10", "display": "magnesiumoxide"}]
        return draft_med(p, atc, "Magnesiumoxide 500 mg", (500, "mg", "mg"), 2)

    def colecalciferol(text: str, amount: float, unit: str) -> Record:
        return lambda p: [draft_med(p, [{"system": ATC, "code": "A11CC05"}], text, (amount, unit, "[iU]"))]

    combo = {
        "resourceType": "Medication",
        "id": "lisinopril-hctz",
        "code": {
            "coding": [
                {
                    "system": RXNORM,
                    "code": "197885",
                    "display": "hydrochlorothiazide 12.5 MG / lisinopril 10 MG Oral Tablet",
                }
            ]
        },
        "ingredient": [
            {"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "29046", "display": "lisinopril"}]}},
            {"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "5487", "display": "hydrochlorothiazide"}]}},
        ],
    }
    omeprazol = ("40207", "A02BC01", "OMEPRAZOL CAPSULE MSR 20MG")
    magnesiumoxide = ("101893", "A12CC10", "MAGNESIUMOXIDE TABLET 500MG")
    colecalciferol_use = ("110000", "A11CC05", "COLECALCIFEROL TABLET 25UG")

    def vitd_lab(p: str) -> list[dict[str, Any]]:
        return [draft_lab(p, "62292-8", "25-Hydroxyvitamin D2+D3")]

    def calcitriol_lab(p: str) -> list[dict[str, Any]]:
        return [draft_lab(p, "62290-2", "1,25-Dihydroxyvitamin D")]

    # made before the rows' records: their ids are their patients' first, as the scenarios were first written
    bad_date = mg("pv-nl-21", 0.55)
    bad_date["effectiveDateTime"] = "12-10-2026"
    # one record (and order) compared under two profiles: the same resources, the same ids
    vitd_60 = once(lambda p: [patient(p, "1964-02-10"), vitd_nl(p, 60), mg(p, 0.84), egfr(p, 88)])
    vitd_15_ngml = once(
        lambda p: [
            patient(p, "1979-07-04", nl=False),
            obs(p, "62292-8", 15, "ng/mL", display="25-Hydroxyvitamin D2+D3"),
            obs(p, "19123-9", 2.1, "mg/dL", low=1.6, high=2.6),
            obs(p, "62238-1", 95, "mL/min/1.73m2", code="mL/min/{1.73_m2}"),
        ]
    )
    vitd_140 = once(lambda p: [patient(p, "1958-05-20"), vitd_nl(p, 140), mg(p, 0.84)])
    mg_us_record = once(lambda p: [patient(p, "1960-01-01", nl=False), egfr(p, 85)])
    mg_us_order = once(
        lambda p: [
            draft_med(
                p,
                [{"system": ATC, "code": "A12CC10", "display": "magnesium oxide"}],
                "Magnesium oxide 500 mg",
                (500, "mg", "mg"),
            )
        ]
    )
    nl_be = {"profile": "nl-be", "locale": "nl"}
    rows: list[Row] = [
        (
            "pv-nl-vitd-deficient",
            "pv-nl-1",
            lambda p: [patient(p, "1964-02-10"), vitd_nl(p, 22), mg(p, 0.84), egfr(p, 88)],
            None,
            {"vitd-deficiency": "warning"},
            ["vitd-insufficiency", "mg-deficiency"],
            "25(OH)D 22 nmol/L, NL profile: deficiency.",
            {},
        ),
        (
            "pv-nl-vitd-60-quiet-nlbe",
            "pv-nl-2",
            vitd_60,
            None,
            {},
            ["vitd-deficiency", "vitd-insufficiency", "vitd-excess"],
            "25(OH)D 60 nmol/L is sufficient under the Gezondheidsraad profile: no card.",
            {},
        ),
        (
            "pv-nl-vitd-60-dach",
            "pv-nl-2",
            vitd_60,
            None,
            {},
            ["vitd-deficiency", "vitd-insufficiency"],
            "The same 60 nmol/L is sufficient under D-A-CH too (RKI, by the IOM: >= 50 nmol/L).",
            {"profile": "dach"},
        ),
        (
            "pv-us-vitd-ngml-us-profile",
            "pv-us-1",
            vitd_15_ngml,
            None,
            {"vitd-deficiency": "warning"},
            ["vitd-insufficiency"],
            "15 ng/mL (37 nmol/L): deficient under Endocrine Society 2011.",
            {},
        ),
        (
            "pv-us-vitd-ngml-nlbe",
            "pv-us-1",
            vitd_15_ngml,
            None,
            {},
            ["vitd-deficiency", "vitd-insufficiency"],
            "The same 15 ng/mL (37.4 nmol/L) is above the NL/BE deficiency cut-off (30 nmol/L); the Gezondheidsraad's "
            "50 nmol/L target could not be verified, so no insufficiency card either.",
            nl_be,
        ),
        (
            "pv-nl-vitd-excess-caution",
            "pv-nl-3",
            vitd_140,
            None,
            {"vitd-excess": "info"},
            [],
            "25(OH)D 140 nmol/L: above the NL/BE upper limit (125).",
            {},
        ),
        (
            "pv-nl-vitd-140-dach",
            "pv-nl-3",
            vitd_140,
            None,
            {"vitd-excess": "info"},
            [],
            "140 nmol/L is above 125 nmol/L under D-A-CH too (the IOM classification the RKI applies).",
            {"profile": "dach"},
        ),
        (
            "pv-nl-vitd-harmful",
            "pv-nl-4",
            lambda p: [patient(p, "1958-05-20"), vitd_nl(p, 265), mg(p, 0.84)],
            None,
            {"vitd-excess": "info"},
            [],
            "25(OH)D 265 nmol/L: above 125 nmol/L; a separate 'harmful' tier (250) could not be verified, so caution.",
            {},
        ),
        (
            "pv-nl-mg-critical",
            "pv-nl-5",
            lambda p: [patient(p, "1950-01-01"), mg(p, 0.45), vitd_nl(p, 70), egfr(p, 70)],
            None,
            {"mg-deficiency": "critical"},
            [],
            "Serum Mg 0.45 mmol/l: critical.",
            {},
        ),
        (
            "pv-nl-ppi-mg-low",
            "pv-nl-6",
            lambda p: [patient(p, "1961-09-09"), mg(p, 0.62), vitd_nl(p, 55), egfr(p, 80), *nl_use(p, *omeprazol)],
            None,
            {"mg-deficiency": "warning", "mg-loss-ppi": "warning"},
            ["mg-loss-diuretic"],
            "Omeprazol (GPK + ATC) for years and Mg 0.62 below the lab's range.",
            {},
        ),
        (
            "pv-us-ppi-no-mg",
            "pv-us-2",
            lambda p: [
                patient(p, "1970-03-03", nl=False),
                us_request(p, "198053", "omeprazole 20 MG Delayed Release Oral Capsule"),
                obs(p, "17861-6", 9.4, "mg/dL", code=None, low=8.6, high=10.3),
                obs(p, "62292-8", 32, "ng/mL"),
            ],
            None,
            {"mg-loss-ppi": "info"},
            ["mg-deficiency"],
            "Omeprazole (RxNorm product) with no Mg in 12 months: suggest a Mg test. Ca sent with unit but no code.",
            {},
        ),
        (
            "pv-nl-ppi-mg-normal",
            "pv-nl-7",
            lambda p: [patient(p, "1961-09-09"), mg(p, 0.85), vitd_nl(p, 55), *nl_use(p, *omeprazol)],
            None,
            {},
            ["mg-loss-ppi", "mg-deficiency"],
            "PPI with a recent normal Mg: no card.",
            {},
        ),
        (
            "pv-nl-furosemide-mg-low",
            "pv-nl-8",
            lambda p: [
                patient(p, "1948-11-30"),
                mg(p, 0.64),
                vitd_nl(p, 65),
                egfr(p, 50),
                *nl_use(p, "15725", "C03CA01", "FUROSEMIDE TABLET 40MG"),
            ],
            None,
            {"mg-loss-diuretic": "warning", "mg-deficiency": "warning"},
            ["mg-loss-ppi"],
            "Furosemide and Mg 0.64.",
            {},
        ),
        (
            "pv-us-lisinopril-hctz-no-mg",
            "pv-us-3",
            lambda p: [
                patient(p, "1966-06-16", nl=False),
                combo,
                by_reference(us_request(p, "0", ""), "lisinopril-hctz"),
                obs(p, "62292-8", 35, "ng/mL"),
            ],
            None,
            {"mg-loss-diuretic": "info"},
            [],
            "Lisinopril/HCTZ combination (ingredients in the Medication): thiazide, no Mg result.",
            {},
        ),
        (
            "pv-nl-spironolactone-alone",
            "pv-nl-9",
            lambda p: [
                patient(p, "1962-01-01"),
                vitd_nl(p, 60),
                *nl_use(p, "20656", "C03DA01", "SPIRONOLACTON TABLET 25MG"),
            ],
            None,
            {},
            ["mg-loss-diuretic"],
            "Spironolacton alone is not Mg-losing: no card.",
            {},
        ),
        (
            "pv-nl-renal-mg-g4",
            "pv-nl-10",
            lambda p: [
                patient(p, "1945-04-04"),
                egfr(p, 24),
                mg(p, 0.9),
                vitd_nl(p, 60),
                text_use(p, "Magnesiumcitraat 400 mg bruistablet"),
            ],
            None,
            {"renal-caution-mg": "warning"},
            [],
            "Magnesiumcitraat (name only) with eGFR 24: renal caution (local policy).",
            {},
        ),
        (
            "pv-nl-dialysis-icd10-mg-vitd",
            "pv-nl-11",
            lambda p: [
                patient(p, "1952-08-08"),
                condition(p, ICD10NL, "N18.5", "Chronische nierziekte, stadium 5"),
                mg(p, 0.9),
                vitd_nl(p, 60),
                *nl_use(p, *magnesiumoxide),
                *nl_use(p, *colecalciferol_use),
            ],
            None,
            {"renal-caution-mg": "warning", "renal-caution-vitd": "info"},
            ["mg-correct-before-vitd"],
            "CKD stage 5 coded in ICD-10 with Mg and colecalciferol: both renal cards.",
            {},
        ),
        (
            "pv-nl-renal-mg-high",
            "pv-nl-12",
            lambda p: [patient(p, "1940-12-12"), egfr(p, 40), mg(p, 1.25), vitd_nl(p, 60), *nl_use(p, *magnesiumoxide)],
            None,
            {"renal-caution-mg": "warning"},
            ["mg-deficiency"],
            "Mg 1.25 above range with eGFR 40 on a Mg supplement: warning (issue 10: no cited critical threshold).",
            {},
        ),
        (
            "pv-nl-mg-low-on-vitd",
            "pv-nl-13",
            lambda p: [
                patient(p, "1966-03-03"),
                mg(p, 0.66),
                vitd_nl(p, 52),
                egfr(p, 90),
                *nl_use(p, *colecalciferol_use),
            ],
            None,
            {"mg-correct-before-vitd": "info", "mg-deficiency": "warning"},
            ["renal-caution-vitd", "vitd-absorption-interaction"],
            "Low Mg while taking colecalciferol: correct Mg too.",
            {},
        ),
        (
            "pv-nl-carbamazepine-no-vitd",
            "pv-nl-14",
            lambda p: [
                patient(p, "1990-10-10"),
                mg(p, 0.82),
                *nl_use(p, "13943", "N03AF01", "CARBAMAZEPINE TABLET 200MG"),
            ],
            None,
            {"vitd-lowering-medication": "info"},
            ["risk-group-testing"],
            "Carbamazepine without a 25(OH)D: one vitamin D advice card (issue 10), the medication card.",
            {},
        ),
        (
            "pv-us-prednisone-no-vitd",
            "pv-us-4",
            lambda p: [
                patient(p, "1985-01-15", nl=False),
                also_coded(us_request(p, "312617", "predniSONE 5 MG Oral Tablet"), RXNORM, "8640", "prednisone"),
                obs(p, "19123-9", 2.0, "mg/dL", low=1.6, high=2.6),
            ],
            None,
            {"glucocorticoid-bone": "info"},
            ["risk-group-testing", "vitd-lowering-medication"],
            "Oral prednisone (open-ended) without 25(OH)D: the glucocorticoid bone-health card (ACR 2022: calcium, "
            "vitamin D, fracture risk), no 25(OH)D test advice; no risk-group testing.",
            {},
        ),
        (
            "pv-nl-orlistat-vitd",
            "pv-nl-15",
            lambda p: [
                patient(p, "1975-05-05"),
                vitd_nl(p, 60),
                mg(p, 0.85),
                *nl_use(p, "55557", "A08AB01", "ORLISTAT CAPSULE 120MG"),
                *nl_use(p, *colecalciferol_use),
            ],
            None,
            {"vitd-absorption-interaction": "info"},
            [],
            "Orlistat with colecalciferol.",
            {},
        ),
        (
            "pv-nl-mg-levothyroxine",
            "pv-nl-16",
            lambda p: [
                patient(p, "1968-07-07"),
                vitd_nl(p, 60),
                mg(p, 0.85),
                egfr(p, 85),
                *nl_use(p, *magnesiumoxide),
                *nl_use(p, "56944", "H03AA01", "LEVOTHYROXINE TABLET 100UG"),
            ],
            None,
            {"mg-chelation-spacing": "info"},
            [],
            "Magnesiumoxide with levothyroxine: separate intake.",
            {},
        ),
        (
            "pv-nl-hypocalcemia-no-mg",
            "pv-nl-17",
            lambda p: [patient(p, "1970-02-02"), obs(p, "2000-8", 2.02, "mmol/l", low=2.20, high=2.60), vitd_nl(p, 60)],
            None,
            {"hypocalcemia-check-mg-vitd": "info"},
            [],
            "Ca 2.02 below range, Mg never measured.",
            {},
        ),
        (
            "pv-nl-hypokalemia-mg-low",
            "pv-nl-18",
            lambda p: [
                patient(p, "1970-02-02"),
                obs(p, "2823-3", 3.1, "mmol/l", low=3.5, high=5.0),
                mg(p, 0.61),
                vitd_nl(p, 60),
            ],
            None,
            {"hypokalemia-check-mg": "info", "mg-deficiency": "warning"},
            [],
            "K 3.1 and Mg 0.61 both low.",
            {},
        ),
        (
            "pv-us-secondary-hpt",
            "pv-us-5",
            lambda p: [
                patient(p, "1955-09-19", nl=False),
                obs(p, "62292-8", 12, "ng/mL"),
                obs(p, "2731-8", 98, "pg/mL", low=15, high=65),
                obs(p, "19123-9", 2.0, "mg/dL", low=1.6, high=2.6),
            ],
            None,
            {"secondary-hyperparathyroidism": "info", "vitd-deficiency": "warning"},
            [],
            "25(OH)D 12 ng/mL with PTH 98 pg/mL above range.",
            {},
        ),
        (
            "pv-nl-elderly-no-vitd",
            "pv-nl-19",
            lambda p: [patient(p, "1948-01-20"), mg(p, 0.85), vitd_nl(p, 40, date="2025-06-01")],
            None,
            {},
            ["vitd-insufficiency", "risk-group-testing"],
            "78 years old, no 25(OH)D in 12 months: no test advice for age alone (issue 10: supplement, not test).",
            {},
        ),
        (
            "pv-nl-pregnant-no-vitd",
            "pv-nl-20",
            lambda p: [patient(p, "1994-04-14"), condition(p, SCT, "77386006", "Pregnant"), mg(p, 0.8)],
            None,
            {},
            ["risk-group-testing"],
            "Pregnancy (SNOMED) without 25(OH)D: no test advice for pregnancy alone (issue 10).",
            {},
        ),
        (
            "pv-nl-bad-data-left-out",
            "pv-nl-21",
            lambda p: [
                patient(p, "1960-06-06"),
                mg(p, 0.40, status="entered-in-error"),
                obs(p, "14635-7", 8, "ug/dL", code="ug/dL"),
                bad_date,
                egfr(p, 90),
            ],
            None,
            {},
            ["mg-deficiency", "vitd-deficiency"],
            "Left out and reported: an entered-in-error Mg, a 25(OH)D in an unknown unit, an Mg with an invalid date.",
            {
                "left_out": [
                    "status 'entered-in-error' does not count",
                    "unit 'ug/dL' unknown for vitd25",
                    "invalid FHIR R4",
                ]
            },
        ),
        (
            "pv-nl-prefetch-partial",
            "pv-nl-22",
            lambda p: [patient(p, "1961-09-09"), mg(p, 0.62), vitd_nl(p, 55), *nl_use(p, *omeprazol)],
            None,
            {"mg-loss-ppi": "warning"},
            [],
            "Labs not prefetched: fetched from the FHIR server (fhir.json).",
            {"prefetch_keys": ["patient", "medicationStatements", "medicationRequests", "conditions"]},
        ),
        (
            "pv-us-prefetch-absent",
            "pv-us-6",
            lambda p: [
                patient(p, "1979-07-04", nl=False),
                obs(p, "62292-8", 15, "ng/mL"),
                obs(p, "19123-9", 2.0, "mg/dL", low=1.6, high=2.6),
            ],
            None,
            {"vitd-deficiency": "warning"},
            [],
            "No prefetch at all: everything from the FHIR server (fhir.json).",
            {"prefetch_keys": []},
        ),
        (
            "pv-nl-prednisolon-vitd-ok",
            "pv-nl-23",
            lambda p: [
                patient(p, "1959-09-09"),
                vitd_nl(p, 70),
                mg(p, 0.85),
                *nl_use(p, "29351", "H02AB06", "PREDNISOLON TABLET 5MG"),
            ],
            None,
            {"glucocorticoid-bone": "info"},
            ["risk-group-testing", "vitd-deficiency", "vitd-lowering-medication"],
            "Prednisolon (ATC H02AB06, open-ended) with a normal 25(OH)D: no test advice, but calcium, vitamin D and a "
            "fracture-risk assessment (ACR 2022; review F24).",
            {},
        ),
        (
            "pv-us-pth-high-vitd-ok",
            "pv-us-7",
            lambda p: [
                patient(p, "1955-09-19", nl=False),
                obs(p, "62292-8", 40, "ng/mL"),
                obs(p, "2731-8", 98, "pg/mL", low=15, high=65),
                obs(p, "19123-9", 2.0, "mg/dL", low=1.6, high=2.6),
            ],
            None,
            {},
            ["secondary-hyperparathyroidism", "vitd-deficiency"],
            "PTH above range with 25(OH)D 40 ng/mL: not secondary to vitamin D deficiency.",
            {},
        ),
        (
            "pv-nl-orlistat-no-vitd-supplement",
            "pv-nl-24",
            lambda p: [
                patient(p, "1975-05-05"),
                vitd_nl(p, 60),
                mg(p, 0.85),
                *nl_use(p, "55557", "A08AB01", "ORLISTAT CAPSULE 120MG"),
            ],
            None,
            {},
            ["vitd-absorption-interaction"],
            "Orlistat without vitamin D supplementation: no absorption card.",
            {},
        ),
        (
            "pv-nl-low-k-and-ca-all-measured",
            "pv-nl-25",
            lambda p: [
                patient(p, "1970-02-02"),
                obs(p, "2823-3", 3.2, "mmol/l", low=3.5, high=5.0),
                obs(p, "2000-8", 2.05, "mmol/l", low=2.20, high=2.60),
                mg(p, 0.86),
                vitd_nl(p, 60),
            ],
            None,
            {},
            ["hypokalemia-check-mg", "hypocalcemia-check-mg-vitd", "mg-deficiency"],
            "K and Ca low, but Mg (normal) and 25(OH)D are measured: no test-advice cards.",
            {},
        ),
        # order-select / order-sign
        (
            "os-nl-cipro-selected-mg-draft",
            "os-nl-1",
            lambda p: [patient(p, "1963-03-03"), mg(p, 0.8), vitd_nl(p, 60), egfr(p, 75)],
            lambda p: [
                nl_magnesium_oxide(p),
                draft_med(
                    p,
                    [{"system": ATC, "code": "J01MA02", "display": "ciprofloxacine"}],
                    "Ciprofloxacine 500 mg",
                    (500, "mg", "mg"),
                    2,
                ),
            ],
            {"mg-chelation-spacing": "info"},
            ["mg-dose-above-ul", "renal-caution-mg"],
            "Selecting ciprofloxacin with a Mg draft in the session: spacing card only.",
            {"selects": 1},
        ),
        (
            "os-nl-mg-selected-no-kidney",
            "os-nl-2",
            lambda p: [patient(p, "1963-03-03"), mg(p, 0.65)],
            lambda p: [nl_magnesium_oxide(p)],
            {"mg-dose-above-ul": "warning", "renal-caution-mg": "info"},
            ["mg-deficiency", "mg-chelation-spacing"],
            "Selecting MgO 2x500 mg (603 mg elemental) with no kidney function on file.",
            {},
        ),
        (
            "sg-nl-vitd-5000iu",
            "sg-nl-1",
            lambda p: [patient(p, "1980-08-08"), vitd_nl(p, 25, date="2026-06-01"), mg(p, 0.85)],
            colecalciferol("Colecalciferol 5000 IE", 5000, "IE"),
            {"vitd-dose-above-ul": "warning"},
            ["vitd-deficiency"],
            "Colecalciferol 5000 IE daily (125 µg) for an adult.",
            {},
        ),
        (
            "sg-us-child-2000iu",
            "sg-us-1",
            lambda p: [patient(p, "2020-05-05", nl=False)],
            colecalciferol("Cholecalciferol 2000 IU", 2000, "IU"),
            {},
            ["vitd-dose-above-ul"],
            "A 6-year-old on 2000 IU (50 µg) daily: at, not above, the 1-10 y limit.",
            {},
        ),
        (
            "sg-us-child-weekly-above",
            "sg-us-2",
            lambda p: [patient(p, "2020-05-05", nl=False)],
            lambda p: [
                draft_med(
                    p,
                    [{"system": ATC, "code": "A11CC05"}],
                    "Cholecalciferol 14000 IU",
                    (14000, "IU", "[iU]"),
                    2,
                    1,
                    "wk",
                )
            ],
            {"vitd-dose-above-ul": "warning"},
            [],
            "A 6-year-old on 14,000 IU weekly (50 µg/day) twice a week: 100 µg/day, above 50.",
            {},
        ),
        (
            "sg-nl-125d-order",
            "sg-nl-2",
            lambda p: [patient(p, "1977-07-07"), mg(p, 0.85)],
            calcitriol_lab,
            {"test-125d-not-status": "info"},
            [],
            "1,25(OH)2D ordered without kidney or parathyroid disease: suggest 25(OH)D.",
            {},
        ),
        (
            "sg-nl-125d-ckd",
            "sg-nl-3",
            lambda p: [patient(p, "1950-07-07"), condition(p, SCT, "433146000", "Chronic kidney disease stage 5")],
            calcitriol_lab,
            {},
            ["test-125d-not-status"],
            "1,25(OH)2D with CKD (SNOMED) is appropriate: no card.",
            {},
        ),
        (
            "sg-nl-retest-vitd-early",
            "sg-nl-4",
            lambda p: [patient(p, "1977-07-07"), vitd_nl(p, 45, date="2026-10-18")],
            vitd_lab,
            {"retest-too-early": "info"},
            [],
            "25(OH)D ordered 5 weeks after the last result.",
            {},
        ),
        (
            "sg-nl-retest-vitd-after-10-weeks",
            "sg-nl-8",
            lambda p: [patient(p, "1977-07-07"), vitd_nl(p, 45, date="2026-09-13")],
            vitd_lab,
            {},
            ["retest-too-early", "test-125d-not-status"],
            "25(OH)D ordered 10 weeks after the last result: fine.",
            {},
        ),
        (
            "sg-us-new-ppi-no-mg",
            "sg-us-3",
            lambda p: [patient(p, "1960-01-01", nl=False)],
            lambda p: [
                draft_med(
                    p,
                    [{"system": RXNORM, "code": "40790", "display": "pantoprazole"}],
                    "pantoprazole 40 mg",
                    (40, "mg", "mg"),
                )
            ],
            {"mg-loss-ppi": "info"},
            [],
            "New pantoprazole order, no Mg on file: baseline Mg.",
            {},
        ),
        (
            "sg-us-mg-300mg-us-profile",
            "sg-us-4",
            mg_us_record,
            mg_us_order,
            {},
            ["mg-dose-above-ul"],
            "MgO 500 mg (301.5 mg elemental): within the US limit of 350 mg.",
            {},
        ),
        (
            "sg-us-mg-300mg-nlbe",
            "sg-us-4",
            mg_us_record,
            mg_us_order,
            {"mg-dose-above-ul": "info"},
            [],
            "The same order is above the EU limit of 250 mg (within twice it: info, review N1).",
            nl_be,
        ),
        (
            "sg-nl-orlistat-with-vitd",
            "sg-nl-5",
            lambda p: [patient(p, "1982-02-02"), *nl_use(p, *colecalciferol_use)],
            lambda p: [draft_med(p, [{"system": ATC, "code": "A08AB01"}], "Orlistat 120 mg", (120, "mg", "mg"), 3)],
            {"vitd-absorption-interaction": "info"},
            [],
            "Orlistat ordered for a patient on colecalciferol.",
            {},
        ),
        (
            "sg-nl-vitd-dose-uncomputable",
            "sg-nl-6",
            lambda p: [patient(p, "1982-02-02")],
            lambda p: [
                draft_med(p, [{"system": ATC, "code": "A11CC05"}], "Colecalciferol tablet", (1, "tablet", "{tbl}"))
            ],
            {"dose-not-checked": "info"},
            ["vitd-dose-above-ul"],
            "Colecalciferol '1 tablet' without strength: no upper-limit card; 'dose not checked' says why (issue 18).",
            {"left_out": ["needs the strength of the product's ingredient"]},
        ),
        (
            "sg-nl-vitd-order-mg-low",
            "sg-nl-7",
            lambda p: [patient(p, "1971-01-01"), mg(p, 0.63)],
            colecalciferol("Colecalciferol 800 IE", 800, "IE"),
            {"mg-correct-before-vitd": "info"},
            ["mg-deficiency"],
            "Colecalciferol ordered while Mg is low.",
            {},
        ),
    ]
    table(rows)
    build_h18_doses()
    build_h10()
    build_h10_review()
    build_h18_totals()
    build_h18_magnesium()
    build_profiles()
    build_h18_kidney()
    build_h18_interactions()
    build_h18b_review()
    build_review3()


def build_h10_review() -> None:
    """Issue 10, second clinical review: no one-click start where it is unsafe, high calcium on therapy.

    Also 25(OH)D high on vitamin D (patient ids pv-*-h10r-*, sg-*-h10r-*).
    """

    def ca(pid: str, value: float) -> dict[str, Any]:
        return obs(pid, "2000-8", value, "mmol/L", low=2.15, high=2.55, display="Calcium [Moles/volume] in Serum")

    def colecalciferol_order(p: str) -> list[dict[str, Any]]:
        return [draft_med(p, [{"system": ATC, "code": "A11CC05"}], "Colecalciferol 800 IE", (800, "IE", "[iU]"))]

    colecalciferol = ("110000", "A11CC05", "COLECALCIFEROL TABLET 25UG")
    rows: list[Row] = [
        (
            "pv-nl-h10r-deficient-sarcoidosis",
            "pv-nl-h10r-1",
            lambda p: [
                patient(p, "1970-05-05"),
                vitd_nl(p, 22),
                ca(p, 2.40),
                condition(p, SCT, "31541009", "Sarcoidosis"),
            ],
            None,
            {"vitd-deficiency": "warning"},
            ["hypercalcaemia-on-therapy"],
            "25(OH)D 22 nmol/L with sarcoidosis (SNOMED): vitamin D only with the specialist and calcium monitoring, "
            "no one-click start (review F03).",
            {},
        ),
        (
            "pv-nl-h10r-deficient-dialysis",
            "pv-nl-h10r-2",
            lambda p: [
                patient(p, "1950-05-05"),
                vitd_nl(p, 18),
                condition(p, ICD10NL, "Z99.2", "Afhankelijkheid van dialyse"),
            ],
            None,
            {"vitd-deficiency": "warning"},
            [],
            "25(OH)D 18 nmol/L on dialysis (ICD-10 Z99.2): within the nephrologist's CKD-MBD plan, no one-click start "
            "(review F04).",
            {},
        ),
        (
            "pv-nl-h10r-deficient-infant",
            "pv-nl-h10r-3",
            lambda p: [patient(p, "2026-07-20"), vitd_nl(p, 18)],
            None,
            {"vitd-deficiency": "warning"},
            [],
            "25(OH)D 18 nmol/L in a 4-month-old: dosed by age under paediatric guidance, no adult start (review F05).",
            {},
        ),
        (
            "pv-nl-h10r-calcium-high-on-colecalciferol",
            "pv-nl-h10r-4",
            lambda p: [patient(p, "1944-05-05"), ca(p, 2.90), *nl_use(p, *colecalciferol)],
            None,
            {"hypercalcaemia-on-therapy": "warning"},
            ["vitd-deficiency", "vitd-excess", "vitd-lowering-medication", "glucocorticoid-bone"],
            "Calcium 2.90 mmol/L (lab range 2.15-2.55) while colecalciferol is active, no 25(OH)D: a warning to pause "
            "vitamin D and calcium (review F16).",
            {},
        ),
        (
            "pv-nl-h10r-vitd-260-on-colecalciferol",
            "pv-nl-h10r-5",
            lambda p: [patient(p, "1960-05-05"), vitd_nl(p, 260), ca(p, 2.40), *nl_use(p, *colecalciferol)],
            None,
            {"vitd-excess": "warning"},
            ["hypercalcaemia-on-therapy"],
            "25(OH)D 260 nmol/L while colecalciferol is active, calcium normal: a warning to lower or pause "
            "(review F01).",
            {},
        ),
        (
            "sg-nl-h10r-vitd-order-calcium-high",
            "sg-nl-h10r-6",
            lambda p: [patient(p, "1950-05-05"), ca(p, 2.85)],
            colecalciferol_order,
            {"hypercalcaemia-on-therapy": "warning"},
            ["vitd-granulomatous"],
            "Colecalciferol ordered with calcium 2.85 mmol/L: do not start, cancel suggested (review F02).",
            {},
        ),
        (
            "sg-nl-h10r-vitd-order-sarcoidosis",
            "sg-nl-h10r-7",
            lambda p: [patient(p, "1970-05-05"), ca(p, 2.40), condition(p, ICD10NL, "D86.0", "Sarcoïdose van long")],
            colecalciferol_order,
            {"vitd-granulomatous": "warning"},
            ["hypercalcaemia-on-therapy"],
            "Colecalciferol ordered with sarcoidosis (ICD-10 D86) and normal calcium: a warning, no cancel "
            "(review F02).",
            {},
        ),
        (
            "sg-us-h10r-vitd-order-level-high",
            "sg-us-h10r-8",
            lambda p: [patient(p, "1960-05-05", nl=False), obs(p, "62292-8", 80, "ng/mL")],
            lambda p: [
                draft_med(p, [{"system": ATC, "code": "A11CC05"}], "Cholecalciferol 1000 IU", (1000, "IU", "[iU]"))
            ],
            {"vitd-excess": "warning"},
            [],
            "Vitamin D ordered while 25(OH)D is 80 ng/mL (above 50 ng/mL, NAM 2011): a warning (review F22).",
            {"profile": "us-nam-2011", "shaped_on": US},
        ),
    ]
    table(rows)


# --- issue 18 (h18): order hooks a prescriber can rely on -----------------------------------------------
GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"


def h18_draft(
    pid: str,
    dosages: list[dict[str, Any]],
    *,
    coding: list[dict[str, str]] | None = None,
    text: str,
    ingredients: list[Strength] | None = None,
    extension: list[dict[str, Any]] | None = None,
    nl: bool = True,
) -> dict[str, Any]:
    """A draft MedicationRequest; with `ingredients` its product is a contained Medication with strengths.

    NL: a zib PharmaceuticalProduct with GPK + ATC; US: a product with its ingredient strengths.
    """
    request: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": _id("draft", pid),
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "dosageInstruction": [{"route": ORAL_NL if nl else ORAL_US, **d} for d in dosages],
    }
    if ingredients is None:
        request["medicationCodeableConcept"] = {"coding": coding or [], "text": text}
        return request
    medication: dict[str, Any] = {
        "resourceType": "Medication",
        "id": "product",
        "code": {"coding": coding or [], "text": text},
        "ingredient": strengths(ingredients),
    }
    if nl:
        medication["meta"] = {"profile": ["http://nictiz.nl/fhir/StructureDefinition/pharmaceuticalproduct"]}
    if extension:
        medication["extension"] = extension
    request["contained"] = [medication]
    request["medicationReference"] = {"reference": "#product", "display": text}
    return request


def dose(value: float, unit: str, code: str | None = None) -> list[dict[str, Any]]:
    q: dict[str, Any] = {"value": value, "unit": unit}
    if code:
        q |= {"system": UCUM, "code": code}
    return [{"doseQuantity": q}]


def every(frequency: int, period: float, unit: str, **more: Any) -> dict[str, Any]:
    return {"repeat": {"frequency": frequency, "period": period, "periodUnit": unit, **more}}


def build_h18_doses() -> None:
    """Dose arithmetic probes of issue 18: each was wrong or silent before; NL zib and US Core shapes."""
    NLMP = "Nictiz zib2020 MedicationAgreement with PharmaceuticalProduct (GPK + ATC, ingredient strength)"
    mg_oxide = {"coding": [{"system": ATC, "code": "A12CC10", "display": "magnesium oxide"}], "text": "magnesium oxide"}

    def daily(frequency: int, amount: list[dict[str, Any]], **timing: Any) -> list[dict[str, Any]]:
        return [{"timing": every(frequency, 1, "d", **timing), "doseAndRate": amount}]

    def nl_product(gpk: str, display: str, atc: str) -> dict[str, Any]:
        """A zib PharmaceuticalProduct's codes: GPK with its display, and its ATC."""
        return {
            "coding": [{"system": GPK, "code": gpk, "display": display}, {"system": ATC, "code": atc}],
            "text": display,
        }

    range_2_to_6 = [{"doseRange": {"low": {"value": 2, "unit": "tablet"}, "high": {"value": 6, "unit": "tablet"}}}]
    loading = {
        "sequence": 1,
        "text": "50,000 IU weekly for 6 weeks",
        "timing": every(1, 1, "wk", count=6),
        "doseAndRate": dose(50000, "IU", "[iU]"),
    }
    maintenance = {
        "sequence": 2,
        "text": "then 50,000 IU monthly",
        "timing": every(1, 1, "mo"),
        "doseAndRate": dose(50000, "IU", "[iU]"),
    }
    as_needed_max_2 = {
        "asNeededBoolean": True,
        "doseAndRate": dose(1, "tablet"),
        "maxDosePerPeriod": {
            "numerator": {"value": 2, "unit": "tablet"},
            "denominator": {"value": 1, "unit": "d", "system": UCUM, "code": "d"},
        },
    }
    mg_400_tablet = {"text": "Magnesium oxide 400 mg tablet", "ingredients": [(mg_oxide, 400, "mg", 1, "tablet")]}
    vitd_high = ({"vitd-dose-above-ul": "warning"}, ["dose-not-checked"])
    vitd_unchecked = ({"dose-not-checked": "info"}, ["vitd-dose-above-ul"])
    mg_info = ({"mg-dose-above-ul": "info"}, ["dose-not-checked"])
    # (name, patient id, birth date, (must, must_not), dosage instructions, the product (h18_draft's keywords),
    # what the reports must say was left out, description); one draft ordered, order-sign
    probes: list[
        tuple[str, str, str, tuple[dict[str, str], list[str]], list[dict[str, Any]], dict[str, Any], list[str], str]
    ] = [
        (
            "sg-nl-h18-vitd-drop-not-ml",
            "sg-nl-h18-1",
            "1950-03-03",
            vitd_unchecked,
            daily(1, dose(1, "druppel")),
            {
                **nl_product("990001", "COLECALCIFEROL 20.000IE/ML DRUPPELS", "A11CC05"),
                "ingredients": [(COLECALCIFEROL, 20000, "[iU]", 1, "mL")],
            },
            ["no drops-per-mL stated"],
            "1 druppel of a 20,000 IE/mL oil: the strength is per mL and no drops-per-mL is stated, so no dose "
            "(before: read as 1 mL, '500 µg per day above the upper limit'); 'dose not checked' says why.",
        ),
        (
            "sg-nl-h18-calci-chew-calcium-strength-only",
            "sg-nl-h18-2",
            "1944-04-04",
            vitd_unchecked,
            daily(2, dose(1, "kauwtablet")),
            {
                **nl_product("990002", "CALCI-CHEW D3 KAUWTABLET 500MG/400IE", "A12AX"),
                "ingredients": [(CALCIUM_CARBONATE, 1250, "mg", 1, "kauwtablet")],
            },
            ["needs the strength of the product's ingredient"],
            "Calci-Chew D3 sent with only its calcium strength (1,250 mg): never read as vitamin D "
            "(before: 2,500,000 µg per day); 'dose not checked'.",
        ),
        (
            "sg-nl-h18-vitd-dose-range-top",
            "sg-nl-h18-3",
            "1960-05-05",
            vitd_high,
            daily(1, range_2_to_6),
            {
                **nl_product("990003", "COLECALCIFEROL TABLET 25UG", "A11CC05"),
                "ingredients": [(COLECALCIFEROL, 25, "ug", 1, "tablet")],
            },
            [],
            "Colecalciferol 25 µg tablets, 2 to 6 a day: the top of the range (150 µg) is above the upper limit.",
        ),
        (
            "sg-us-h18-vitd-one-off-300000",
            "sg-us-h18-1",
            "1955-06-06",
            vitd_unchecked,
            daily(1, dose(300000, "IU", "[iU]"), count=1),
            {"text": "Vitamin D3 (cholecalciferol) 300,000 IU oral solution"},
            [],
            "A one-off 300,000 IU (count 1): a single dose, not 7,500 µg per day; no upper-limit card, "
            "'dose not checked' says the daily limit does not apply.",
        ),
        (
            "sg-us-h18-vitd-loading-course",
            "sg-us-h18-2",
            "1966-07-07",
            vitd_high,
            [loading, maintenance],
            {"text": "Cholecalciferol 50,000 IU capsule"},
            [],
            "50,000 IU weekly for 6 weeks then monthly (two dosage instructions in sequence): the loading phase "
            "averages 179 µg/day, above the upper limit (before: not computed, silent).",
        ),
        (
            "sg-us-h18-vitd-unt",
            "sg-us-h18-3",
            "1970-08-08",
            vitd_high,
            daily(1, dose(5000, "UNT")),
            {"text": "cholecalciferol 5000 UNT oral capsule"},
            [],
            "Cholecalciferol 5,000 UNT daily (unit 'UNT'): 125 µg/day, above the upper limit (before: not read).",
        ),
        (
            "sg-us-h18-vitd-microgram",
            "sg-us-h18-4",
            "1970-08-08",
            vitd_high,
            daily(1, dose(125, "microgram")),
            {"text": "cholecalciferol 125 microgram"},
            [],
            "Cholecalciferol 125 microgram daily (unit spelled 'microgram'): above the upper limit (before: not read).",
        ),
        (
            "sg-us-h18-mg-as-needed-max",
            "sg-us-h18-5",
            "1975-09-09",
            mg_info,
            [as_needed_max_2],
            mg_400_tablet,
            [],
            "Magnesium oxide 400 mg tablets as needed, at most 2 a day: up to 482 mg elemental, above the US limit "
            "(within twice it: info, review N1; before: no timing, silent).",
        ),
        (
            "sg-us-h18-mg-meq",
            "sg-us-h18-6",
            "1975-09-09",
            mg_info,
            daily(1, dose(30, "mEq", "meq")),
            {"coding": [{"system": ATC, "code": "A12CC10"}], "text": "Magnesium oxide"},
            [],
            "Magnesium 30 mEq a day (15 mmol, 365 mg elemental): above the US limit of 350 mg, within twice it: info "
            "(before: mEq not read).",
        ),
        (
            "sg-us-h18-mg-as-needed-no-max",
            "sg-us-h18-7",
            "1975-09-09",
            ({"dose-not-checked": "info"}, ["mg-dose-above-ul"]),
            [{"asNeededBoolean": True, "doseAndRate": dose(1, "tablet")}],
            mg_400_tablet,
            ["as needed without maxDosePerPeriod"],
            "Magnesium oxide as needed without a maximum: 'dose not checked', no upper-limit card.",
        ),
    ]
    for name, p, birth, (must, must_not), dosages, product, left_out, description in probes:
        nl = "-nl-" in name
        drafts = [h18_draft(p, dosages, **product, nl=nl)]
        record = [patient(p, birth, nl=nl)]
        probe(name, p, drafts, record, must, must_not, description, shaped_on=NLMP if nl else PDDI, left_out=left_out)


def build_h10() -> None:
    """Issue 10: exclusions and comparators end to end (patient ids pv-*-h10-*, sg-*-h10-*)."""

    def text_result(pid: str, loinc: str, text: str, low: float, unit: str, date: str = "2026-10-12") -> dict[str, Any]:
        """A zib LaboratoryTestResult whose result is text ("<10"); the unit is that of its reference range."""
        o = obs(pid, loinc, 0, unit, date=date, low=low)
        del o["valueQuantity"]
        o["valueString"] = text
        return o

    def below(o: dict[str, Any]) -> dict[str, Any]:
        """A result stated as below its value ("<5 ng/mL")."""
        o["valueQuantity"]["comparator"] = "<"
        return o

    def us_egfr(pid: str, value: float) -> dict[str, Any]:
        return obs(pid, "62238-1", value, "mL/min/1.73m2", code="mL/min/{1.73_m2}")

    def until(uses: list[dict[str, Any]], end: str) -> list[dict[str, Any]]:
        """A zib MedicationUse (Medication, statement) with an end date."""
        uses[1]["effectivePeriod"]["end"] = end
        return uses

    def mg_lab(p: str) -> list[dict[str, Any]]:
        return [draft_lab(p, "2601-3", "Magnesium [Moles/volume] in Serum or Plasma")]

    def calcitriol_lab(p: str) -> list[dict[str, Any]]:
        return [draft_lab(p, "62290-2", "1,25-Dihydroxyvitamin D")]

    # made before the rows' records: their ids are their patients' first, as the scenarios were first written
    course = for_weeks(
        draft_med(
            "sg-us-h10-17",
            [{"system": ATC, "code": "A11CC05"}],
            "Cholecalciferol 50,000 IU weekly for 8 weeks",
            (50000, "IU", "[iU]"),
            1,
            1,
            "wk",
        ),
        8,
    )
    short_ppi = until(
        nl_use("pv-nl-h10-16", "40207", "A02BC01", "OMEPRAZOL CAPSULE MSR 20MG", start="2026-11-15"), "2026-11-29"
    )
    pth_high = ("2731-8", 12.5, "pmol/L")
    # (name, patient id, record, drafts (after the record; None: patient-view), must, must_not, description,
    # scenario() keywords beside the name's defaults)
    rows: list[Row] = [
        (
            "sg-nl-h10-retest-mg-after-low",
            "sg-nl-h10-1",
            lambda p: [patient(p, "1961-04-04"), mg(p, 0.62, date="2026-11-12")],
            mg_lab,
            {},
            ["retest-too-early"],
            "Magnesium re-ordered 10 days after a low result: follow-up of an abnormal result, no 'too early' card.",
            {},
        ),
        (
            "sg-nl-h10-retest-mg-after-normal",
            "sg-nl-h10-2",
            lambda p: [patient(p, "1961-04-04"), mg(p, 0.85, date="2026-11-12")],
            mg_lab,
            {"retest-too-early": "info"},
            [],
            "Magnesium re-ordered 10 days after a normal result: 'too early' (info, no cancel suggestion).",
            {},
        ),
        (
            "sg-us-h10-retest-vitd-after-deficient",
            "sg-us-h10-3",
            lambda p: [patient(p, "1958-08-08", nl=False), obs(p, "62292-8", 10, "ng/mL", date="2026-11-01")],
            lambda p: [draft_lab(p, "62292-8", "25-Hydroxyvitamin D2+D3")],
            {},
            ["retest-too-early"],
            "25(OH)D re-ordered 3 weeks after 10 ng/mL (deficient): no 'too early' card.",
            {},
        ),
        (
            "pv-nl-h10-vitd-text-below-10",
            "pv-nl-h10-4",
            lambda p: [
                patient(p, "1964-02-10"),
                text_result(p, "14635-7", "<10", 50, "nmol/l"),
                mg(p, 0.84),
                egfr(p, 88),
            ],
            None,
            {"vitd-deficiency": "warning"},
            ["vitd-insufficiency"],
            "25(OH)D reported as text '<10' (unit from the lab's nmol/l range): deficient, shown as <10.",
            {},
        ),
        (
            "pv-us-h10-vitd-comparator-below-5",
            "pv-us-h10-5",
            lambda p: [patient(p, "1950-03-03", nl=False), below(obs(p, "62292-8", 5, "ng/mL")), egfr(p, 80)],
            None,
            {"vitd-deficiency": "warning"},
            ["vitd-insufficiency", "risk-group-testing"],
            "25(OH)D valueQuantity '<5 ng/mL' (< 12.5 nmol/L): deficient under every profile.",
            {},
        ),
        (
            "pv-nl-h10-vitd-comparator-undecided",
            "pv-nl-h10-6",
            lambda p: [patient(p, "1945-03-03"), below(vitd_nl(p, 40)), mg(p, 0.84), egfr(p, 88)],
            None,
            {},
            ["vitd-deficiency", "vitd-insufficiency", "risk-group-testing"],
            "25(OH)D '<40 nmol/L' under nl-be: deficient or insufficient, undecided: left out and reported; "
            "it is not 'not measured', so no test advice either.",
            {"left_out": ["does not decide the vitd25 category"]},
        ),
        (
            "pv-nl-h10-deceased",
            "pv-nl-h10-7",
            lambda p: [
                {**patient(p, "1940-01-01"), "deceasedDateTime": "2026-11-20"},
                vitd_nl(p, 18),
                mg(p, 0.6),
            ],
            None,
            {},
            ["vitd-deficiency", "mg-deficiency", "risk-group-testing"],
            "Deceased patient (zib Patient.deceasedDateTime) with a deficient 25(OH)D: no cards, the "
            "extension says why.",
            {"left_out": ["patient is deceased"]},
        ),
        (
            "pv-us-h10-deceased",
            "pv-us-h10-8",
            lambda p: [
                {**patient(p, "1940-01-01", nl=False), "deceasedBoolean": True},
                obs(p, "19123-9", 1.2, "mg/dL", low=1.6, high=2.6),
            ],
            None,
            {},
            ["mg-deficiency"],
            "Deceased patient (US Core deceasedBoolean) with low magnesium: no cards.",
            {"left_out": ["patient is deceased"]},
        ),
        (
            "pv-nl-h10-vitd-deficient-on-colecalciferol",
            "pv-nl-h10-9",
            lambda p: [
                patient(p, "1964-02-10"),
                vitd_nl(p, 22),
                mg(p, 0.84),
                egfr(p, 88),
                *nl_use(p, "12345", "A11CC05", "Colecalciferol 800 IE tablet"),
            ],
            None,
            {"vitd-deficiency": "warning"},
            ["vitd-insufficiency"],
            "25(OH)D 22 nmol/L while colecalciferol is active: 'review dose and adherence', no second "
            "product proposed.",
            {},
        ),
        (
            "pv-us-h10-vitd-deficient-hypercalcaemia",
            "pv-us-h10-10",
            lambda p: [
                patient(p, "1955-05-05", nl=False),
                obs(p, "62292-8", 15, "ng/mL"),
                obs(p, "17861-6", 11.0, "mg/dL", low=8.5, high=10.2),
                us_egfr(p, 80),
            ],
            None,
            {"vitd-deficiency": "warning"},
            [],
            "25(OH)D 15 ng/mL with calcium 11.0 mg/dL above the lab's range: 'do not start vitamin D'.",
            {},
        ),
        (
            "pv-nl-h10-mg-low-egfr-25",
            "pv-nl-h10-11",
            lambda p: [patient(p, "1944-04-04"), mg(p, 0.60), egfr(p, 25), vitd_nl(p, 70)],
            None,
            {"mg-deficiency": "warning"},
            [],
            "Magnesium 0.60 mmol/L with eGFR 25: low-magnesium card without an oral start (kidney-aware).",
            {},
        ),
        (
            "sg-nl-h10-125d-sarcoidosis",
            "sg-nl-h10-12",
            lambda p: [patient(p, "1970-03-03"), condition(p, ICD10NL, "D86.0", "Sarcoïdose van long")],
            calcitriol_lab,
            {},
            ["test-125d-not-status"],
            "1,25(OH)2D ordered with sarcoidosis (ICD-10-NL D86.0): indicated, no card.",
            {},
        ),
        (
            "sg-us-h10-125d-egfr-25-uncoded",
            "sg-us-h10-13",
            lambda p: [patient(p, "1950-03-03", nl=False), us_egfr(p, 25)],
            calcitriol_lab,
            {},
            ["test-125d-not-status"],
            "1,25(OH)2D ordered with eGFR 25 and no coded CKD: indicated, no card.",
            {},
        ),
        (
            "pv-nl-h10-pth-high-calcium-high",
            "pv-nl-h10-14",
            lambda p: [
                patient(p, "1958-06-06"),
                vitd_nl(p, 25),
                obs(p, *pth_high, low=1.6, high=6.9),
                obs(p, "2000-8", 2.80, "mmol/l", low=2.20, high=2.60),
                egfr(p, 75),
            ],
            None,
            {"pth-high-calcium-high": "warning"},
            ["secondary-hyperparathyroidism"],
            "PTH raised with calcium raised and 25(OH)D 25 nmol/L: primary hyperparathyroidism suspected, "
            "not secondary.",
            {},
        ),
        (
            "pv-nl-h10-pth-high-calcium-normal",
            "pv-nl-h10-15",
            lambda p: [
                patient(p, "1958-06-06"),
                vitd_nl(p, 25),
                obs(p, *pth_high, low=1.6, high=6.9),
                obs(p, "2000-8", 2.35, "mmol/l", low=2.20, high=2.60),
                egfr(p, 75),
            ],
            None,
            {"secondary-hyperparathyroidism": "info", "vitd-deficiency": "warning"},
            ["pth-high-calcium-high"],
            "PTH raised, calcium normal, 25(OH)D 25 nmol/L: secondary hyperparathyroidism, not the referral card.",
            {},
        ),
        (
            "pv-nl-h10-ppi-two-week-course",
            "pv-nl-h10-16",
            lambda p: [patient(p, "1970-07-07"), vitd_nl(p, 60), egfr(p, 80), *short_ppi],
            None,
            {},
            ["mg-loss-ppi"],
            "Omeprazole for a two-week course (zib MedicationUse with an end date), no magnesium: no PPI card.",
            {},
        ),
        (
            "sg-us-h10-vitd-high-dose-course-deficient",
            "sg-us-h10-17",
            lambda p: [patient(p, "1966-06-06", nl=False), obs(p, "62292-8", 10, "ng/mL"), us_egfr(p, 85)],
            lambda p: [course],
            {"vitd-dose-above-ul": "info"},
            [],
            "50,000 IU weekly for 8 weeks with 25(OH)D 10 ng/mL: a bounded course for a deficiency, info "
            "without cancel.",
            {"profile": "us-nam-2011"},
        ),
        (
            "pv-nl-h10-age-80-no-test-advice",
            "pv-nl-h10-18",
            lambda p: [patient(p, "1946-01-01"), mg(p, 0.85), egfr(p, 70)],
            None,
            {},
            ["risk-group-testing"],
            "Aged 80 without 25(OH)D and no other indication: no test advice (Gezondheidsraad: supplement, not test).",
            {},
        ),
        (
            "pv-us-h10-coeliac-no-vitd",
            "pv-us-h10-19",
            lambda p: [patient(p, "1985-01-01", nl=False), condition(p, SCT, "396331005", "Celiac disease")],
            None,
            {"risk-group-testing": "info"},
            [],
            "Coeliac disease (SNOMED) without 25(OH)D: testing is indicated (malabsorption).",
            {"profile": "us-nam-2011"},
        ),
        (
            "pv-nl-h10-alcohol-no-mg",
            "pv-nl-h10-20",
            lambda p: [
                patient(p, "1968-01-01"),
                condition(p, ICD10NL, "F10.2", "Alcoholafhankelijkheid"),
                vitd_nl(p, 60),
                egfr(p, 80),
            ],
            None,
            {"mg-loss-condition": "info"},
            [],
            "Alcohol use disorder (ICD-10-NL F10.2) without a magnesium result: magnesium-loss risk, test advice.",
            {},
        ),
        (
            "pv-nl-h10-alcohol-mg-measured",
            "pv-nl-h10-21",
            lambda p: [
                patient(p, "1968-01-01"),
                condition(p, ICD10NL, "F10.2", "Alcoholafhankelijkheid"),
                mg(p, 0.85),
                egfr(p, 80),
            ],
            None,
            {},
            ["mg-loss-condition"],
            "Alcohol use disorder with a normal magnesium on file: no magnesium-loss card.",
            {},
        ),
    ]
    table(rows)


def build_h18_totals() -> None:
    """Vitamin D from several products added up (issue 18)."""
    NLMP = "Nictiz zib2020 MedicationUse2 + MedicationAgreement with PharmaceuticalProduct (GPK + ATC, strengths)"

    def in_use(
        p: str, gpk: str, display: str, atc: str, ingredients: list[Strength], per_day: int, tablets: int
    ) -> list[dict[str, Any]]:
        """A zib MedicationUse with its daily dose, of a PharmaceuticalProduct (GPK + ATC) with strengths."""
        coding = [{"system": GPK, "code": gpk, "display": display}, {"system": ATC, "code": atc}]
        dosage = {"timing": every(per_day, 1, "d"), "doseAndRate": dose(tablets, "tablet")}
        return zib_use(p, coding, display, "2026-01-01", dosage, ingredients)

    colecalciferol_25 = [(COLECALCIFEROL, 25, "ug", 1, "tablet")]
    calci_chew = [(CALCIUM_CARBONATE, 1250, "mg", 1, "tablet"), (COLECALCIFEROL, 400, "[iU]", 1, "tablet")]
    rows: list[Row] = [
        (
            "sg-nl-h18-vitd-total-three-products",
            "sg-nl-h18-10",
            lambda p: [
                patient(p, "1948-10-10"),
                *in_use(p, "990010", "COLECALCIFEROL TABLET 25UG", "A11CC05", colecalciferol_25, 1, 2),
                *in_use(p, "990011", "CALCI-CHEW D3 KAUWTABLET 500MG/400IE", "A12AX", calci_chew, 2, 1),
            ],
            lambda p: [
                draft_med(p, [{"system": ATC, "code": "A11CC05"}], "Colecalciferol 2800 IE", (2800, "IE", "[iU]"))
            ],
            {"vitd-dose-above-ul": "warning"},
            ["dose-not-checked"],
            "Colecalciferol 2 x 25 µg and Calci-Chew D3 2 x 400 IE in use, 2,800 IE a day ordered: each below the "
            "upper limit, together 140 µg a day (before: never added up).",
            {},
        ),
        (
            "sg-us-h18-vitd-total-within-limit",
            "sg-us-h18-10",
            lambda p: [
                patient(p, "1958-11-11", nl=False),
                us_active(
                    p, "cholecalciferol 1000 UNT oral tablet", amount=(1000, "UNT", "[iU]"), authored="2026-03-01"
                ),
            ],
            lambda p: [draft_med(p, [], "cholecalciferol 800 IU", (800, "IU", "[iU]"))],
            {},
            ["vitd-dose-above-ul", "dose-not-checked"],
            "Cholecalciferol 1,000 IU in use and 800 IU ordered: 45 µg a day together, within the upper limit.",
            {},
        ),
    ]
    table(rows, nl_orders=NLMP)


def build_h18_magnesium() -> None:
    """Magnesium that is not a "supplement" (issue 18): laxatives, antacids, names beside an unlisted ATC."""

    def cipro(p: str) -> list[dict[str, Any]]:
        atc = [{"system": ATC, "code": "J01MA02", "display": "ciprofloxacine"}]
        return [draft_med(p, atc, "Ciprofloxacine 500 mg", (500, "mg", "mg"), 2)]

    def milk_of_magnesia_first(p: str) -> list[dict[str, Any]]:
        """The active request's ids before the lab's, in the order the scenario was first written."""
        text = "Milk of Magnesia (magnesium hydroxide) 400 MG per 5 ML oral suspension"
        milk = us_active(p, text, amount=(5, "mL", "mL"), authored="2026-06-01")
        return [
            patient(p, "1961-03-15", nl=False),
            obs(p, "62238-1", 70, "mL/min/1.73m2", code="mL/min/{1.73_m2}"),
            milk,
        ]

    rows: list[Row] = [
        (
            "sg-nl-h18-mgo-laxative-dialysis",
            "sg-nl-h18-20",
            lambda p: [
                patient(p, "1932-12-12"),
                egfr(p, 8),
                condition(p, ICD10NL, "Z99.2", "Afhankelijkheid van dialyse"),
            ],
            lambda p: [
                draft_med(
                    p,
                    [
                        {"system": GPK, "code": "990020", "display": "MAGNESIUMOXIDE 500MG TABLET"},
                        {"system": ATC, "code": "A06AD02"},
                    ],
                    "MAGNESIUMOXIDE 500MG TABLET",
                    (1000, "mg", "mg"),
                    2,
                )
            ],
            {"renal-caution-mg": "warning"},
            ["mg-dose-above-ul", "dose-not-checked"],
            "Magnesium oxide coded as a laxative (A06AD02) for a dialysis patient with eGFR 8: renal card "
            "(before: invisible); laxatives are not checked against the supplement upper limit.",
            {"drafts_first": True},
        ),
        (
            "os-nl-h18-cipro-with-magaldrate",
            "os-nl-h18-21",
            lambda p: [
                patient(p, "1959-01-13"),
                egfr(p, 80),
                *nl_use(p, "990021", "A02AD02", "MAGALDRAAT 800MG KAUWTABLET"),
            ],
            cipro,
            {"mg-chelation-spacing": "info"},
            ["renal-caution-mg"],
            "Ciprofloxacin selected while a magnesium antacid (magaldrate, A02AD02) is in use: spacing card "
            "(before: the antacid was invisible).",
            {},
        ),
        (
            "os-nl-h18-doxy-with-bisglycinate-unlisted-atc",
            "os-nl-h18-22",
            lambda p: [
                patient(p, "1990-02-14"),
                egfr(p, 95),
                *nl_use(p, "990022", "A12CX", "MAGNESIUMBISGLYCINAAT 100MG TABLET"),
            ],
            lambda p: [
                draft_med(
                    p,
                    [{"system": ATC, "code": "J01AA02", "display": "doxycycline"}],
                    "Doxycycline 100 mg",
                    (100, "mg", "mg"),
                )
            ],
            {"mg-chelation-spacing": "info"},
            [],
            "Doxycycline selected while a magnesium bisglycinate supplement coded with an unlisted ATC (A12CX) is "
            "in use: the name counts, spacing card (before: the ATC code hid the name).",
            {},
        ),
        (
            "os-us-h18-cipro-with-milk-of-magnesia",
            "os-us-h18-23",
            milk_of_magnesia_first,
            lambda p: [
                draft_med(
                    p,
                    [{"system": RXNORM, "code": "2551", "display": "ciprofloxacin"}],
                    "ciprofloxacin 500 MG oral tablet",
                    (500, "mg", "mg"),
                    2,
                )
            ],
            {"mg-chelation-spacing": "info"},
            [],
            "Ciprofloxacin selected while magnesium hydroxide (an antacid/laxative named in text) is active: "
            "spacing card.",
            {},
        ),
    ]
    table(rows, nl_orders=NL)


def build_profiles() -> None:
    """Issue 11: the US default profile (IOM/NAM 2011) compares in ng/mL, so 20 ng/mL is exactly sufficient."""

    def vitd_ngml(value: float) -> Record:
        return lambda p: [
            patient(p, "1979-07-04", nl=False),
            obs(p, "62292-8", value, "ng/mL", display="25-Hydroxyvitamin D2+D3"),
        ]

    nam_nl = {"profile": "us-nam-2011", "locale": "nl"}
    rows: list[Row] = [
        (
            "pv-us-vitd-20ngml-nam",
            "pv-us-h11-1",
            vitd_ngml(20),
            None,
            {},
            ["vitd-deficiency", "vitd-insufficiency"],
            "25(OH)D exactly 20 ng/mL: sufficient under IOM/NAM 2011 (not 49.92 < 50 nmol/L).",
            nam_nl,
        ),
        (
            "pv-us-vitd-15ngml-nam",
            "pv-us-h11-2",
            vitd_ngml(15),
            None,
            {"vitd-insufficiency": "info"},
            ["vitd-deficiency"],
            "25(OH)D 15 ng/mL: at risk of inadequacy (12-20 ng/mL) under IOM/NAM 2011, not deficient.",
            nam_nl,
        ),
    ]
    table(rows)
    mg_atc = [{"system": ATC, "code": "A12CC10"}]
    for n, (text, mg, expected, why) in enumerate(
        [
            ("Magnesiumoxide 400 mg tablet", 400, {}, "salt mass stated: 400 mg MgO = 241 mg elemental, below 250"),
            # above 250 mg but within twice it: info (review N1/N2)
            ("Magnesium 400 mg (elementair), als oxide", 400, {"mg-dose-above-ul": "info"}, "elemental stated"),
            ("Magnesiumoxide tablet", 400, {"mg-dose-above-ul": "info"}, "no statement: read as elemental"),
        ],
        start=1,
    ):
        p = f"sg-nl-h11-{n}"
        scenario(
            f"sg-nl-h11-mg-basis-{n}",
            f"Magnesium order '{text}', 400 mg a day: {why} (issue 11 dose basis).",
            "order-sign",
            [patient(p, "1970-05-05"), egfr(p, 80)],
            expected,
            [] if expected else ["mg-dose-above-ul"],
            pid=p,
            drafts=[draft_med(p, mg_atc, text, (mg, "mg", "mg"))],
            shaped_on=PDDI,
        )


def build_h18_kidney() -> None:
    """Kidney status from every source (issue 18): dialysis codes, creatinine without an eGFR."""

    def us_magnesium(p: str) -> list[dict[str, Any]]:
        return [draft_med(p, [], "Magnesium oxide 400 MG oral tablet", (400, "mg", "mg"))]

    rows: list[Row] = [
        (
            "sg-nl-h18-creatinine-only-94",
            "sg-nl-h18-30",
            lambda p: [
                patient(p, "1932-06-01"),
                obs(
                    p,
                    "14682-9",
                    260,
                    "umol/l",
                    code="umol/L",
                    low=45,
                    high=90,
                    display="Creatinine [Moles/volume] in Serum or Plasma",
                ),
            ],
            lambda p: [
                draft_med(
                    p,
                    [{"system": ATC, "code": "A12CC10", "display": "magnesiumoxide"}],
                    "Magnesiumoxide 500 mg",
                    (500, "mg", "mg"),
                )
            ],
            {"renal-caution-mg": "warning"},
            [],
            "A 94-year-old with creatinine 260 µmol/L and no eGFR: magnesium ordered gives a renal card "
            "(before: silent, the 'unmeasured' rule needed both missing).",
            {},
        ),
        (
            "sg-us-h18-dialysis-z99-2",
            "sg-us-h18-31",
            lambda p: [
                patient(p, "1950-02-02", nl=False),
                condition(p, ICD10CM, "Z99.2", "Dependence on renal dialysis"),
            ],
            us_magnesium,
            {"renal-caution-mg": "warning"},
            [],
            "Dialysis coded ICD-10-CM Z99.2 (no eGFR in the record): magnesium ordered gives the severe renal card.",
            {"drafts_first": True},
        ),
        # the same two probes in the other shape (issue 18 "Done when": NL zib and US Core)
        (
            "sg-nl-h18-dialysis-snomed",
            "sg-nl-h18-62",
            lambda p: [
                patient(p, "1948-03-03"),
                condition(p, SCT, "714152005", "Chronic kidney disease stage 5 on dialysis"),
            ],
            lambda p: [
                draft_med(
                    p,
                    [{"system": ATC, "code": "A12CC04", "display": "magnesiumcitraat"}],
                    "Magnesiumcitraat 400 mg",
                    (400, "mg", "mg"),
                )
            ],
            {"renal-caution-mg": "warning"},
            [],
            "Dialysis recorded as SNOMED 714152005 (CKD stage 5 on dialysis), no eGFR: magnesium ordered gives the "
            "severe renal card.",
            {"drafts_first": True},
        ),
        (
            "sg-us-h18-creatinine-only-94",
            "sg-us-h18-63",
            lambda p: [
                patient(p, "1932-06-01", nl=False),
                obs(
                    p,
                    "2160-0",
                    2.9,
                    "mg/dL",
                    code="mg/dL",
                    low=0.6,
                    high=1.1,
                    display="Creatinine [Mass/volume] in Serum or Plasma",
                ),
            ],
            us_magnesium,
            {"renal-caution-mg": "warning"},
            [],
            "A 94-year-old with creatinine 2.9 mg/dL (256 umol/L) and no eGFR: magnesium ordered gives a renal card.",
            {},
        ),
    ]
    table(rows, nl_orders=NL)


def build_h18_interactions() -> None:
    """Interactions named per drug, both directions; known-low Mg/K; digoxin; thiazide + calcium (issue 18)."""

    def k(pid: str, value: float) -> dict[str, Any]:
        return obs(
            pid, "2823-3", value, "mmol/L", low=3.5, high=5.0, display="Potassium [Moles/volume] in Serum or Plasma"
        )

    def ca(pid: str, value: float) -> dict[str, Any]:
        return obs(
            pid, "2000-8", value, "mmol/L", low=2.15, high=2.55, display="Calcium [Moles/volume] in Serum or Plasma"
        )

    def mg_us(pid: str, value: float) -> dict[str, Any]:
        return obs(pid, "19123-9", value, "mg/dL", low=1.6, high=2.6)

    def atc(code: str, display: str) -> list[dict[str, str]]:
        return [{"system": ATC, "code": code, "display": display}]

    def rxnorm(code: str, display: str) -> list[dict[str, str]]:
        return [{"system": RXNORM, "code": code, "display": display}]

    moxifloxacin = (rxnorm("139462", "moxifloxacin"), "moxifloxacin 400 MG oral tablet", (400, "mg", "mg"))
    digoxine = (atc("C01AA05", "digoxine"), "Digoxine 0,125 mg", (0.125, "mg", "mg"))
    hctz_nl = (atc("C03AA03", "hydrochloorthiazide"), "Hydrochloorthiazide 12,5 mg", (12.5, "mg", "mg"))
    calci_chew = ("A12AX", "CALCI-CHEW D3 KAUWTABLET 500MG/400IE")

    def calcium_d_first(p: str, birth: str, calcium: float) -> list[dict[str, Any]]:
        """The product's ids before the lab's, in the order the scenario was first written (ids stay as they were)."""
        use = nl_use(p, "990054", *calci_chew)
        return [patient(p, birth), ca(p, calcium), *use]

    # (name, patient id, what is ordered (None: patient-view), the record, must, must_not, description)
    probes: list[tuple[str, str, Ordered | None, Record, dict[str, str], list[str], str]] = [
        # doxycycline ordered, magnesium in use (the probe: "Magnesium gescheiden innemen van ?")
        (
            "os-nl-h18-doxy-ordered-mg-in-use",
            "os-nl-h18-40",
            (atc("J01AA02", "doxycycline"), "Doxycycline 100 mg", (100, "mg", "mg")),
            lambda p: [
                patient(p, "1970-01-20"),
                egfr(p, 90),
                *nl_use(p, "990040", "A12CC10", "MAGNESIUMOXIDE 250MG TABLET"),
            ],
            {"mg-chelation-spacing": "info"},
            [],
            "Doxycycline selected while magnesium oxide is in use: the card names doxycycline and magnesium oxide.",
        ),
        # magnesium ordered, doxycycline in use
        (
            "sg-nl-h18-mg-ordered-doxy-in-use",
            "sg-nl-h18-41",
            (atc("A12CC10", "magnesiumoxide"), "Magnesiumoxide 250 mg", (250, "mg", "mg")),
            lambda p: [
                patient(p, "1970-01-20"),
                egfr(p, 90),
                *nl_use(p, "990041", "J01AA02", "DOXYCYCLINE 100MG TABLET"),
            ],
            {"mg-chelation-spacing": "info"},
            [],
            "Magnesium oxide ordered while doxycycline is in use: the same card, named from the other side.",
        ),
        # moxifloxacin ordered, magnesium hydroxide in use: moxifloxacin's own spacing (4 h / 8 h)
        (
            "os-us-h18-moxi-ordered-mg-in-use",
            "os-us-h18-42",
            moxifloxacin,
            lambda p: [
                patient(p, "1966-03-03", nl=False),
                us_active(p, "magnesium hydroxide 400 MG per 5 ML oral suspension"),
            ],
            {"mg-chelation-spacing": "info"},
            [],
            "Moxifloxacin selected with magnesium hydroxide in use: 4 hours before or 8 hours after "
            "(not ciprofloxacin's 2/6).",
        ),
        # moxifloxacin with calcium only: its label reports no effect of calcium -> quiet
        (
            "os-us-h18-moxi-with-calcium-quiet",
            "os-us-h18-43",
            moxifloxacin,
            lambda p: [patient(p, "1966-03-03", nl=False), us_active(p, "calcium carbonate 500 MG chewable tablet")],
            {},
            ["mg-chelation-spacing"],
            "Moxifloxacin selected with calcium carbonate in use: the moxifloxacin label reports no effect of "
            "calcium, no card.",
        ),
        # calcium + vitamin D ordered, levothyroxine in use: calcium as the binding partner
        (
            "sg-us-h18-calcium-d-ordered-levothyroxine-in-use",
            "sg-us-h18-44",
            ([], "calcium carbonate 1250 MG / cholecalciferol 400 UNT chewable tablet", None),
            lambda p: [
                patient(p, "1949-04-04", nl=False),
                ca(p, 2.3),
                us_active(p, "levothyroxine sodium 0.1 MG oral tablet", rxnorm("10582", "levothyroxine")),
            ],
            {"mg-chelation-spacing": "info"},
            [],
            "Calcium carbonate + vitamin D ordered with levothyroxine in use: levothyroxine at least 4 hours "
            "apart from the calcium.",
        ),
        # dolutegravir ordered, magnesium antacid in use
        (
            "os-nl-h18-dolutegravir-ordered-antacid-in-use",
            "os-nl-h18-45",
            (atc("J05AJ03", "dolutegravir"), "Dolutegravir 50 mg", (50, "mg", "mg")),
            lambda p: [patient(p, "1985-05-05"), *nl_use(p, "990045", "A02AD02", "MAGALDRAAT 800MG KAUWTABLET")],
            {"mg-chelation-spacing": "info"},
            [],
            "Dolutegravir selected with magaldrate in use: 2 hours before or 6 hours after (dolutegravir label).",
        ),
        # penicillamine ordered, magnesium in use (NL zib shape): the label's one hour apart from any other drug
        (
            "os-nl-h18-penicillamine-ordered-mg-in-use",
            "os-nl-h18-60",
            (atc("M01CC01", "penicillamine"), "Penicillamine 250 mg", (250, "mg", "mg")),
            lambda p: [
                patient(p, "1975-08-08"),
                egfr(p, 85),
                *nl_use(p, "990060", "A12CC04", "MAGNESIUMCITRAAT 400MG TABLET"),
            ],
            {"mg-chelation-spacing": "info"},
            [],
            "Penicillamine selected with magnesium citrate in use: at least one hour apart (penicillamine label).",
        ),
        # magnesium ordered, penicillamine in use (US Core shape, named in text: no RxNorm ingredient code verified)
        (
            "sg-us-h18-mg-ordered-penicillamine-in-use",
            "sg-us-h18-61",
            ([], "magnesium oxide 400 MG oral tablet", (400, "mg", "mg")),
            lambda p: [
                patient(p, "1968-09-09", nl=False),
                obs(p, "62238-1", 80, "mL/min/1.73m2", code="mL/min/{1.73_m2}"),
                us_active(p, "penicillamine 250 MG oral capsule [Cuprimine]"),
            ],
            {"mg-chelation-spacing": "info"},
            [],
            "Magnesium oxide ordered with penicillamine (Cuprimine) active: at least one hour apart (penicillamine "
            "label).",
        ),
        # alendronate ordered, magnesium in use
        (
            "sg-nl-h18-alendronate-ordered-mg-in-use",
            "sg-nl-h18-46",
            (atc("M05BA04", "alendroninezuur"), "Alendroninezuur 70 mg", (70, "mg", "mg"), 1, 1, "wk"),
            lambda p: [
                patient(p, "1952-06-06"),
                egfr(p, 70),
                *nl_use(p, "990046", "A12CC04", "MAGNESIUMCITRAAT 400MG TABLET"),
            ],
            {"mg-chelation-spacing": "info"},
            [],
            "Alendronate ordered with magnesium in use: on an empty stomach, magnesium at another time of day.",
        ),
        # colestyramine ordered, vitamin D in use: its own advice, not orlistat's
        (
            "sg-nl-h18-colestyramine-ordered-vitd-in-use",
            "sg-nl-h18-47",
            (atc("C10AC01", "colestyramine"), "Colestyramine 4 g", (4, "g", "g")),
            lambda p: [patient(p, "1958-07-07"), *nl_use(p, "990047", "A11CC05", "COLECALCIFEROL TABLET 25UG")],
            {"vitd-absorption-interaction": "info"},
            [],
            "Colestyramine ordered with colecalciferol in use: the sequestrant's own advice (not orlistat's 2 hours).",
        ),
        # furosemide ordered with magnesium already low
        (
            "sg-nl-h18-furosemide-ordered-mg-low",
            "sg-nl-h18-48",
            (atc("C03CA01", "furosemide"), "Furosemide 40 mg", (40, "mg", "mg")),
            lambda p: [patient(p, "1940-08-08"), mg(p, 0.58), egfr(p, 55)],
            {"mg-loss-diuretic": "warning"},
            [],
            "Furosemide ordered while magnesium is 0.58 mmol/l (below the lab's range): warning with the value "
            "(before: the order rule fired only when magnesium was unmeasured).",
        ),
        # PPI ordered with magnesium already low (US)
        (
            "sg-us-h18-ppi-ordered-mg-low",
            "sg-us-h18-49",
            (rxnorm("7646", "omeprazole"), "omeprazole 20 MG delayed release capsule", (20, "mg", "mg")),
            lambda p: [patient(p, "1950-09-09", nl=False), mg_us(p, 1.4)],
            {"mg-loss-ppi": "warning"},
            [],
            "Omeprazole ordered while magnesium is 1.4 mg/dL (below range): warning.",
        ),
        # digoxin ordered with low potassium (US) and with low magnesium (NL); normal values stay quiet
        (
            "sg-us-h18-digoxin-ordered-k-low",
            "sg-us-h18-50",
            (atc("C01AA05", "digoxin"), "digoxin 0.125 MG oral tablet", (0.125, "mg", "mg")),
            lambda p: [patient(p, "1938-10-10", nl=False), k(p, 3.1), mg_us(p, 2.0)],
            {"digoxin-electrolytes": "warning"},
            [],
            "Digoxin ordered with potassium 3.1 mmol/L: warning citing the digoxin label.",
        ),
        (
            "sg-nl-h18-digoxin-ordered-mg-low",
            "sg-nl-h18-51",
            digoxine,
            lambda p: [patient(p, "1938-10-10"), mg(p, 0.62), k(p, 4.2)],
            {"digoxin-electrolytes": "warning"},
            [],
            "Digoxine ordered with magnesium 0.62 mmol/l: warning.",
        ),
        (
            "sg-nl-h18-digoxin-ordered-normal-quiet",
            "sg-nl-h18-52",
            digoxine,
            lambda p: [patient(p, "1938-10-10"), mg(p, 0.85), k(p, 4.2)],
            {},
            ["digoxin-electrolytes"],
            "Digoxine ordered with normal magnesium and potassium: no electrolyte card.",
        ),
        (
            "pv-nl-h18-digoxin-active-mg-low",
            "pv-nl-h18-53",
            None,
            lambda p: [
                patient(p, "1938-10-10"),
                mg(p, 0.61),
                k(p, 4.4),
                *nl_use(p, "990053", "C01AA05", "DIGOXINE 0,125MG TABLET"),
            ],
            {"digoxin-electrolytes": "warning"},
            [],
            "Digoxine in use with magnesium 0.61 mmol/l at patient view: warning.",
        ),
        # thiazide ordered with calcium + vitamin D in use: calcium above range -> warning; unmeasured -> info
        (
            "sg-nl-h18-thiazide-ordered-calcium-d-ca-high",
            "sg-nl-h18-54",
            hctz_nl,
            lambda p: calcium_d_first(p, "1945-11-11", 2.62),
            {"thiazide-hypercalcaemia": "warning"},
            [],
            "Hydrochlorothiazide ordered with calcium + vitamin D in use and calcium 2.62 mmol/l (above range): "
            "hypercalcaemia warning.",
        ),
        (
            "sg-us-h18-thiazide-ordered-calcitriol-ca-unmeasured",
            "sg-us-h18-55",
            (rxnorm("5487", "hydrochlorothiazide"), "hydrochlorothiazide 25 MG oral tablet", (25, "mg", "mg")),
            lambda p: [patient(p, "1947-12-12", nl=False), us_active(p, "calcitriol 0.25 MCG oral capsule")],
            {"thiazide-hypercalcaemia": "info"},
            [],
            "Hydrochlorothiazide ordered with calcitriol in use and no calcium result: info with a calcium order.",
        ),
        (
            "sg-nl-h18-thiazide-ordered-calcium-normal-quiet",
            "sg-nl-h18-56",
            hctz_nl,
            lambda p: [patient(p, "1945-11-11"), ca(p, 2.35), *nl_use(p, "990056", *calci_chew)],
            {},
            ["thiazide-hypercalcaemia"],
            "Hydrochlorothiazide ordered with calcium + vitamin D in use and calcium 2.35 mmol/l: no hypercalcaemia "
            "card.",
        ),
    ]
    for name, p, ordered, record, must, must_not, description in probes:
        drafts = [draft_med(p, *ordered)] if ordered else None  # the draft first: its id is the patient's first
        probe(name, p, drafts, record(p), must, must_not, description, shaped_on=PDDI if "-us-" in name else NL)


# --- issue 18, clinical review of 2026.6.0 (h18b): findings F08, F10, F11, F12, F17, F25, N1/N2 ------------
def build_h18b_review() -> None:
    """Review findings on patient-view interactions, totals, thiazide/digoxin with high calcium, high Mg, IV Mg."""

    def ca_nl(pid: str, value: float, ranged: bool = True) -> dict[str, Any]:
        return obs(
            pid,
            "2000-8",
            value,
            "mmol/L",
            low=2.20 if ranged else None,
            high=2.60 if ranged else None,
            display="Calcium [Moles/volume] in Serum or Plasma",
        )

    def ca_us(pid: str, value: float) -> dict[str, Any]:
        return obs(
            pid, "17861-6", value, "mg/dL", low=8.6, high=10.3, display="Calcium [Mass/volume] in Serum or Plasma"
        )

    def mg_us(pid: str, value: float) -> dict[str, Any]:
        return obs(
            pid, "19123-9", value, "mg/dL", low=1.7, high=2.2, display="Magnesium [Mass/volume] in Serum or Plasma"
        )

    def hctz_order(p: str) -> list[dict[str, Any]]:
        hctz = [{"system": ATC, "code": "C03AA03", "display": "hydrochloorthiazide"}]
        return [draft_med(p, hctz, "Hydrochloorthiazide 12,5 mg", (12.5, "mg", "mg"))]

    def mgso4_iv_order(p: str) -> list[dict[str, Any]]:
        return [intravenous(draft_med(p, mgso4, "MAGNESIUMSULFAAT INFUSIEVLOEISTOF 100MG/ML", (2, "g", "g")))]

    def vitd_4000_in_use(p: str, gpk: str) -> list[dict[str, Any]]:
        in_use = nl_use(p, gpk, "A11CC05", "COLECALCIFEROL CAPSULE 4000IE")
        in_use[1]["dosage"] = [{"route": ORAL_NL, "timing": every(1, 1, "d"), "doseAndRate": dose(4000, "IE", "[iU]")}]
        return in_use

    def colecalciferol_2000(p: str) -> dict[str, Any]:
        colecalciferol = [{"system": ATC, "code": "A11CC05", "display": "COLECALCIFEROL TABLET 2000IE"}]
        return draft_med(p, colecalciferol, "COLECALCIFEROL TABLET 2000IE", (2000, "IE", "[iU]"))

    cad = ("990101", "A12AX", "CALCIUMCARBONAAT/COLECALCIFEROL KAUWTABLET 1,25G/800IE")
    digoxin_us = ("197604", "digoxin 0.125 MG Oral Tablet")
    mgo_laxative = ("990110", "A06AD02", "MAGNESIUMOXIDE TABLET 500MG (LAXANS)")
    mgso4 = [{"system": ATC, "code": "A12CC02", "display": "MAGNESIUMSULFAAT INFUSIEVLOEISTOF 100MG/ML"}]
    mgo = [{"system": ATC, "code": "A12CC10", "display": "MAGNESIUMOXIDE TABLET 500MG"}]
    # made before the rows' records: their ids are their patients' first, as the scenarios were first written
    in_use_open = vitd_4000_in_use("sg-nl-h18b-20", "990120")
    in_use_course = vitd_4000_in_use("sg-nl-h18b-21", "990121")
    course = for_weeks(colecalciferol_2000("sg-nl-h18b-21"), 8)
    nam = {"profile": "us-nam-2011"}
    rows: list[Row] = [
        # F08: patient-view names the interaction per drug, as the order hooks do; calcium partners reviewed too
        (
            "pv-nl-h18b-dolutegravir-mg-active",
            "pv-nl-h18b-1",
            lambda p: [
                patient(p, "1975-03-03"),
                egfr(p, 90),
                *nl_use(p, "990100", "J05AJ03", "DOLUTEGRAVIR TABLET 50MG"),
                *nl_use(p, "990102", "A12CC10", "MAGNESIUMOXIDE 500MG TABLET"),
            ],
            None,
            {"mg-chelation-spacing": "info"},
            [],
            "Dolutegravir and magnesium oxide both in use: patient-view spacing card (review F08: before, no card).",
            {},
        ),
        (
            "pv-nl-h18b-levothyroxine-calcium-active",
            "pv-nl-h18b-2",
            lambda p: [
                patient(p, "1950-04-04"),
                egfr(p, 70),
                *nl_use(p, "990103", "H03AA01", "LEVOTHYROXINE TABLET 100UG"),
                *nl_use(p, *cad),
            ],
            None,
            {"mg-chelation-spacing": "info"},
            [],
            "Levothyroxine with calcium + vitamin D in use: patient-view spacing card for calcium (review F08: calcium "
            "partners were never reviewed on patient-view).",
            {},
        ),
        (
            "pv-us-h18b-moxifloxacin-calcium-quiet",
            "pv-us-h18b-3",
            lambda p: [
                patient(p, "1966-05-05", nl=False),
                us_request(p, "139462", "moxifloxacin 400 MG Oral Tablet"),
                us_request(p, "1897", "calcium carbonate 1250 MG Oral Tablet"),
            ],
            None,
            {},
            ["mg-chelation-spacing"],
            "Moxifloxacin with calcium carbonate in use: quiet (the moxifloxacin label: calcium had no significant "
            "effect), the boundary of the calcium-partner rules.",
            nam,
        ),
        # F11: thiazide + calcium/vitamin D with high calcium, on patient-view, and at order-sign without a lab range
        (
            "pv-nl-h18b-thiazide-calcium-d-ca-high",
            "pv-nl-h18b-4",
            lambda p: [
                patient(p, "1948-06-06"),
                ca_nl(p, 2.72),
                *nl_use(p, "990104", "C03BA04", "CHLOORTALIDON TABLET 25MG"),
                *nl_use(p, *cad),
            ],
            None,
            {"thiazide-hypercalcaemia": "warning"},
            [],
            "Chlortalidone and calcium + vitamin D in use, calcium 2.72 mmol/L above range: patient-view warning "
            "(review F11: before, no card).",
            {},
        ),
        (
            "pv-nl-h18b-thiazide-calcium-d-ca-normal-quiet",
            "pv-nl-h18b-5",
            lambda p: [
                patient(p, "1948-06-06"),
                ca_nl(p, 2.45),
                *nl_use(p, "990105", "C03BA04", "CHLOORTALIDON TABLET 25MG"),
                *nl_use(p, *cad),
            ],
            None,
            {},
            ["thiazide-hypercalcaemia"],
            "Chlortalidone and calcium + vitamin D in use, calcium 2.45 mmol/L within range: quiet.",
            {},
        ),
        (
            "sg-nl-h18b-thiazide-ordered-ca-high-no-range",
            "sg-nl-h18b-6",
            lambda p: [patient(p, "1944-07-07"), ca_nl(p, 2.80, ranged=False), *nl_use(p, *cad)],
            hctz_order,
            {"thiazide-hypercalcaemia": "warning"},
            [],
            "Hydrochlorothiazide ordered, calcium + vitamin D in use, calcium 2.80 mmol/L without a reference range: "
            "warning through the cited KDOQI limit (review F11: before, only the range flag counted).",
            {},
        ),
        (
            "sg-nl-h18b-thiazide-ordered-ca-at-limit-no-range-quiet",
            "sg-nl-h18b-7",
            lambda p: [patient(p, "1944-07-07"), ca_nl(p, 2.54, ranged=False), *nl_use(p, *cad)],
            hctz_order,
            {},
            ["thiazide-hypercalcaemia"],
            "The same order with calcium 2.54 mmol/L and no range: at the KDOQI limit, not above it: quiet.",
            {},
        ),
        # F12: digoxin with high calcium
        (
            "pv-us-h18b-digoxin-ca-high",
            "pv-us-h18b-8",
            lambda p: [patient(p, "1940-08-08", nl=False), ca_us(p, 11.2), us_request(p, *digoxin_us)],
            None,
            {"digoxin-electrolytes": "warning"},
            [],
            "Digoxin in use with calcium 11.2 mg/dL (above range): warning, the Lanoxin label names hypercalcaemia "
            "(review F12: before, no card).",
            nam,
        ),
        (
            "pv-us-h18b-digoxin-ca-normal-quiet",
            "pv-us-h18b-9",
            lambda p: [patient(p, "1940-08-08", nl=False), ca_us(p, 9.8), us_request(p, *digoxin_us)],
            None,
            {},
            ["digoxin-electrolytes"],
            "Digoxin in use with calcium 9.8 mg/dL within range: quiet.",
            nam,
        ),
        (
            "sg-nl-h18b-digoxin-ordered-ca-high",
            "sg-nl-h18b-10",
            lambda p: [patient(p, "1939-09-09"), ca_nl(p, 2.75)],
            lambda p: [
                draft_med(p, [{"system": ATC, "code": "C01AA05", "display": "digoxine"}], "Digoxine 0,125 mg", None)
            ],
            {"digoxin-electrolytes": "warning"},
            [],
            "Digoxin ordered with calcium 2.75 mmol/L above range: warning at signing.",
            {"shaped_on": PDDI},
        ),
        # F17: magnesium above range with a magnesium-containing medicine; a magnesium order when it is already high
        (
            "pv-nl-h18b-mg-high-on-mgo-laxative",
            "pv-nl-h18b-11",
            lambda p: [patient(p, "1936-01-15"), mg(p, 1.60), egfr(p, 75), *nl_use(p, *mgo_laxative)],
            None,
            {"mg-high": "warning"},
            ["renal-caution-mg"],
            "A 90-year-old on magnesium oxide (laxative, A06AD02) with magnesium 1.60 mmol/L above range and eGFR 75: "
            "warning to stop or reduce it and check kidney function (review F17: before, no card).",
            {},
        ),
        (
            "pv-nl-h18b-mg-normal-on-mgo-laxative-quiet",
            "pv-nl-h18b-12",
            lambda p: [patient(p, "1936-01-15"), mg(p, 0.95), egfr(p, 75), *nl_use(p, *mgo_laxative)],
            None,
            {},
            ["mg-high"],
            "The same patient with magnesium 0.95 mmol/L within range: quiet.",
            {},
        ),
        (
            "sg-us-h18b-mg-ordered-mg-high",
            "sg-us-h18b-13",
            lambda p: [patient(p, "1952-02-02", nl=False), mg_us(p, 2.8), egfr(p, 70)],
            lambda p: [draft_med(p, [], "magnesium oxide 400 MG Oral Tablet", (1, "tablet", "{tbl}"))],
            {"mg-high": "warning"},
            [],
            "Magnesium oxide ordered while serum magnesium is 2.8 mg/dL (above 1.7-2.2 mg/dL), eGFR 70: warning at "
            "signing (review F17, order side: before, no card).",
            nam,
        ),
        (
            "sg-nl-h18b-mg-ordered-mg-normal-quiet",
            "sg-nl-h18b-14",
            lambda p: [patient(p, "1960-03-03"), mg(p, 0.90), egfr(p, 70)],
            lambda p: [
                draft_med(
                    p,
                    [{"system": ATC, "code": "A12CC10", "display": "magnesiumoxide"}],
                    "Magnesiumoxide 250 mg",
                    (250, "mg", "mg"),
                )
            ],
            {},
            ["mg-high", "mg-dose-above-ul"],
            "Magnesium oxide 250 mg ordered with magnesium 0.90 mmol/L within range: no high-magnesium card.",
            {},
        ),
        # F25: magnesium sulfate IV with severely reduced kidney function
        (
            "sg-nl-h18b-mgso4-iv-egfr-18",
            "sg-nl-h18b-15",
            lambda p: [patient(p, "1960-01-01"), mg(p, 0.45), egfr(p, 18)],
            mgso4_iv_order,
            {"mg-parenteral-renal": "warning"},
            ["mg-dose-above-ul", "renal-caution-mg", "dose-not-checked"],
            "Magnesium sulfate 2 g IV ordered with eGFR 18 and magnesium 0.45 mmol/L: warning from the magnesium "
            "sulfate label (review F25: before, IV magnesium was invisible); no gut-binding or oral upper-limit card.",
            {},
        ),
        (
            "sg-nl-h18b-mgso4-iv-egfr-45-quiet",
            "sg-nl-h18b-16",
            lambda p: [patient(p, "1960-01-01"), mg(p, 0.45), egfr(p, 45)],
            mgso4_iv_order,
            {"mg-parenteral-renal": "info"},
            ["mg-dose-above-ul"],
            "The same IV order with eGFR 45: no severe-renal warning; review R4's moderate variant as information.",
            {},
        ),
        (
            "sg-us-h18b-mgso4-injection-dialysis",
            "sg-us-h18b-17",
            lambda p: [
                patient(p, "1950-05-05", nl=False),
                condition(p, ICD10CM, "Z99.2", "Dependence on renal dialysis"),
            ],
            lambda p: [intravenous(draft_med(p, [], "magnesium sulfate 500 MG/ML Injectable Solution", (2, "g", "g")))],
            {"mg-parenteral-renal": "warning"},
            [],
            "Magnesium sulfate injection (text only, IV route) for a dialysis patient (ICD-10-CM Z99.2), no eGFR: "
            "warning.",
            nam,
        ),
        # N1/N2: magnesium up to twice the supplement upper level is info without cancel; above twice a warning
        (
            "sg-nl-h18b-mgo-500-once-daily-info",
            "sg-nl-h18b-18",
            lambda p: [patient(p, "1970-06-06"), mg(p, 0.80), egfr(p, 85)],
            lambda p: [draft_med(p, mgo, "MAGNESIUMOXIDE TABLET 500MG", (500, "mg", "mg"))],
            {"mg-dose-above-ul": "info"},
            [],
            "Magnesium oxide 500 mg once daily (301.5 mg elemental, 20 % above the 250 mg level), magnesium normal: "
            "info without a cancel suggestion (review N1: before, a warning with one-click cancel).",
            {},
        ),
        (
            "sg-nl-h18b-mgo-500-three-times-warning",
            "sg-nl-h18b-19",
            lambda p: [patient(p, "1970-06-06"), mg(p, 0.80), egfr(p, 85)],
            lambda p: [draft_med(p, mgo, "MAGNESIUMOXIDE TABLET 500MG", (500, "mg", "mg"), 3)],
            {"mg-dose-above-ul": "warning"},
            [],
            "Magnesium oxide 500 mg three times daily (904.5 mg elemental, more than twice the level), magnesium "
            "normal: warning.",
            {},
        ),
        # F10: a second vitamin D product for a deficient patient already on 4,000 IE a day
        (
            "sg-nl-h18b-vitd-deficient-second-product-open",
            "sg-nl-h18b-20",
            lambda p: [patient(p, "1958-07-07"), vitd_nl(p, 25), *in_use_open],
            lambda p: [colecalciferol_2000(p)],
            {"vitd-dose-above-ul": "warning"},
            [],
            "25(OH)D 25 nmol/L, colecalciferol 4,000 IE a day in use, 2,000 IE a day ordered without an end: 150 µg "
            "a day together, open-ended, above the 100 µg level: warning (review F10: before, no card).",
            {},
        ),
        (
            "sg-nl-h18b-vitd-deficient-second-product-course",
            "sg-nl-h18b-21",
            lambda p: [patient(p, "1958-07-07"), vitd_nl(p, 25), *in_use_course],
            lambda p: [course],
            {"vitd-dose-above-ul": "info"},
            [],
            "The same, with the 2,000 IE ordered for 8 weeks: a bounded course for a documented deficiency, info.",
            {},
        ),
    ]
    table(rows, nl_orders=NL)


def build_review3() -> None:
    """Third clinical review (R1-R4, R12): magnesium sulfate given IV on the medication list.

    Call by call, not a table: its patient-view scenarios carry sg- names (renaming them renames their folders),
    which probe() would read as order-sign.
    """

    def iv_use(pid: str) -> list[dict[str, Any]]:
        given = nl_use(pid, "990301", "A12CC02", "MAGNESIUMSULFAAT INFUSIEVLOEISTOF 100MG/ML", start="2026-11-20")
        given[1]["dosage"] = [{"route": INTRAVENOUS}]
        return given

    p = "sg-nl-r3-01"
    scenario(
        "sg-nl-r3-mgso4-iv-preeclampsia-mg-high",
        "Magnesium sulfate IV in use, severe pre-eclampsia on record, magnesium 1.8 mmol/L above the lab's range but "
        "not above the label's 4 mEq/L: information to dose by level and response (reviews R1/Q3/V1).",
        "patient-view",
        [
            patient(p, "1996-05-05"),
            mg(p, 1.8),
            egfr(p, 95),
            condition(p, SCT, "46764007", "Ernstige pre-eclampsie"),
            *iv_use(p),
        ],
        {"mg-high-parenteral": "info"},
        ["mg-high", "mg-deficiency", "renal-caution-mg"],
        pid=p,
        shaped_on=NL,
    )
    p = "sg-nl-r3-04"
    scenario(
        "sg-nl-r3-mgso4-iv-no-diagnosis-mg-high",
        "The same infusion and level with no (pre-)eclampsia on record (a 76-year-old man): a warning to reconsider "
        "the dose, still without a one-click cancel (review Q3).",
        "patient-view",
        [patient(p, "1950-05-05"), mg(p, 2.4), egfr(p, 95), *iv_use(p)],
        {"mg-high-parenteral": "warning"},
        ["mg-high"],
        pid=p,
        shaped_on=NL,
    )
    mgso4 = [{"system": ATC, "code": "A12CC02", "display": "MAGNESIUMSULFAAT INFUSIEVLOEISTOF 100MG/ML"}]
    order = intravenous(draft_med("sg-nl-r3-03", mgso4, "MAGNESIUMSULFAAT INFUSIEVLOEISTOF 100MG/ML", (2, "g", "g")))
    scenario(
        "sg-nl-r3-mgso4-iv-egfr-75-quiet",
        "Magnesium sulfate 2 g IV ordered with eGFR 75 and magnesium 0.55 mmol/L: no kidney card.",
        "order-sign",
        [patient("sg-nl-r3-03", "1970-01-01"), mg("sg-nl-r3-03", 0.55), egfr("sg-nl-r3-03", 75)],
        {},
        ["mg-parenteral-renal", "mg-dose-above-ul", "mg-high", "mg-high-parenteral"],
        pid="sg-nl-r3-03",
        drafts=[order],
        shaped_on=NL,
    )
    laxative = [{"system": ATC, "code": "A06AD02", "display": "MAGNESIUMOXIDE 500MG TABLET"}]
    infusion = intravenous(draft_med("sg-nl-r3-05", mgso4, "MAGNESIUMSULFAAT INFUSIEVLOEISTOF 100MG/ML", (2, "g", "g")))
    oral = draft_med("sg-nl-r3-05", laxative, "MAGNESIUMOXIDE 500MG TABLET", (500, "mg", "mg"))
    oral["id"] = "sg-nl-r3-05-oral"
    scenario(
        "sg-nl-r3-mgso4-iv-and-laxative-signed-mg-high",
        "A magnesium sulfate infusion and a magnesium oxide laxative signed together with magnesium 2.4 mmol/L: the "
        "oral product's card cancels the laxative only; the infusion has its own card, above the label's 4 mEq/L a "
        "warning to check reflexes and breathing, without a cancel (reviews Q1, V1).",
        "order-sign",
        [
            patient("sg-nl-r3-05", "1996-05-05"),
            mg("sg-nl-r3-05", 2.4),
            egfr("sg-nl-r3-05", 95),
            condition("sg-nl-r3-05", SCT, "398254007", "Pre-eclampsie"),
        ],
        {"mg-high": "warning", "mg-high-parenteral": "warning"},
        [],
        pid="sg-nl-r3-05",
        drafts=[infusion, oral],
        shaped_on=NL,
    )
    p = "sg-nl-r3-02"
    scenario(
        "sg-nl-r3-mgso4-iv-egfr-45-en",
        "Magnesium sulfate IV in use with eGFR 45, an English card: the product named in English "
        "(review R2/R12: before, '? with eGFR 30-59' and 'magnesiumsulfaat').",
        "patient-view",
        [patient(p, "1950-05-05"), mg(p, 0.85), egfr(p, 45), *iv_use(p)],
        {"renal-caution-mg": "info"},
        ["mg-high"],
        pid=p,
        shaped_on=NL,
        locale="en",
    )


def write() -> None:
    knowledge = load_knowledge()
    templates = prefetch_templates(knowledge)
    services = {s.hook: s.id for s in build_services(knowledge).values()}
    if ROOT.exists():
        for child in ROOT.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
    for s in SCENARIOS:
        folder = ROOT / s["name"]
        folder.mkdir(parents=True)
        context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": s["pid"]}
        if s["drafts"] is not None:
            context["draftOrders"] = {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": d} for d in s["drafts"]],
            }
            if s["hook"] == "order-select":
                context["selections"] = s["selections"]
        request: dict[str, Any] = {
            "hook": s["hook"],
            "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:vitdmg:scenario:{s['name']}")),
            "context": context,
        }
        keys = s["prefetch_keys"]
        if keys != []:
            request["prefetch"] = prefetch_for(s["resources"], templates, context, keys)
        if keys is not None:
            request["fhirServer"] = FHIR_SERVER
            fhir = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in s["resources"]]}
            (folder / "fhir.json").write_text(json.dumps(fhir, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        (folder / "request.json").write_text(json.dumps(request, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        expected = {
            "description": s["description"],
            "service": services[s["hook"]],
            "profile": s["profile"],
            "locale": s["locale"],
            "now": NOW,
            "must": s["must"],
            "must_not": s["must_not"],
            "left_out": s["left_out"],
            "shaped_on": s["shaped_on"],
        }
        (folder / "expected.yaml").write_text(
            yaml.safe_dump(expected, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )


if __name__ == "__main__":
    build()
    write()
    print(f"{len(SCENARIOS)} scenarios written to {ROOT}")  # noqa: T201
