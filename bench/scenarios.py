"""Deterministic benchmark records: small (10 resources), typical (200), large (2,000), busy, and draft orders.

Every scenario is a rotation of `PATIENTS` distinct patients (own id, own seed, so own values and bytes):
no cache keyed on the body or on a resource can stand in for the work. Dates are relative to the day the
benchmark runs, so the look-back windows always hold the same share of results. Seeded: the same bodies
every run.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cds_service.cdshooks.services import prefetch_templates
from cds_service.knowledge.loader import load_knowledge
from cds_service.offline.fixture_fhir import prefetch_for

PATIENT_ID = "bench-1"
PATIENTS = 20  # patients rotated in every scenario
LABS = [  # (loinc, unit, low, high)
    ("14635-7", "nmol/l", 20, 110),
    ("2601-3", "mmol/l", 0.55, 1.0),
    ("2000-8", "mmol/l", 2.0, 2.6),
    ("2823-3", "mmol/l", 3.2, 5.2),
    ("98979-8", "mL/min/{1.73_m2}", 25, 95),
    ("14682-9", "umol/L", 60, 220),
    ("2731-8", "pg/mL", 15, 120),
]
OTHER_LABS = [("718-7", "g/dL"), ("4548-4", "mmol/mol"), ("2093-3", "mg/dL"), ("1742-6", "U/L"), ("6690-2", "10*3/uL")]
MEDS = [  # (ATC, name) — a typical polypharmacy list with a few of the rules' classes
    ("A02BC01", "omeprazol"),
    ("C03CA01", "furosemide"),
    ("A12CC10", "magnesiumoxide"),
    ("A11CC05", "colecalciferol"),
    ("C09AA02", "enalapril"),
    ("C10AA05", "atorvastatine"),
    ("B01AC06", "acetylsalicylzuur"),
    ("A10BA02", "metformine"),
    ("C07AB02", "metoprolol"),
    ("N02BE01", "paracetamol"),
    ("C08CA01", "amlodipine"),
    ("H03AA01", "levothyroxine"),
    ("R03AC02", "salbutamol"),
    ("N06AB06", "sertraline"),
    ("A10BB09", "gliclazide"),
    ("C01AA05", "digoxine"),
    ("M01AE01", "ibuprofen"),
    ("N05CF01", "zopiclon"),
    ("G04CA02", "tamsulosine"),
    ("S01ED01", "timolol"),
]
CONDITIONS = [
    "38341003",
    "44054006",
    "195967001",
    "13645005",
    "49436004",
    "399211009",
    "271737000",
    "235595009",
    "414545008",
    "267036007",
    "73211009",
    "40930008",
    "396275006",
    "84757009",
    "68566005",
]


BUSY_MEDS = [  # (ATC, name, dose, unit, UCUM, per day): the ten active medications of the busy record
    ("A02BC01", "omeprazol 20 mg", 20, "mg", "mg", 1),
    ("C03CA01", "furosemide 40 mg", 40, "mg", "mg", 1),
    ("A12CC10", "magnesiumoxide 500 mg", 500, "mg", "mg", 1),
    ("A11CC05", "colecalciferol 800 IE", 800, "IE", "[iU]", 1),
    ("H03AA01", "levothyroxine 75 microgram", 75, "microgram", "ug", 1),
    ("C09AA02", "enalapril 10 mg", 10, "mg", "mg", 1),
    ("C10AA05", "atorvastatine 20 mg", 20, "mg", "mg", 1),
    ("B01AC06", "acetylsalicylzuur 80 mg", 80, "mg", "mg", 1),
    ("A10BA02", "metformine 500 mg", 500, "mg", "mg", 2),
    ("C07AB02", "metoprolol 50 mg", 50, "mg", "mg", 1),
]
BUSY_CONDITIONS = [  # 30 SNOMED CT problems of a multimorbid older patient
    *CONDITIONS,
    "64859006",  # osteoporosis
    "433144002",  # chronic kidney disease stage 3
    "42343007",  # congestive heart failure
    "35489007",  # depressive disorder
    "55822004",  # hyperlipidaemia
    "230690007",  # cerebrovascular accident
    "90560007",  # gout
    "266569009",  # benign prostatic hyperplasia
    "69896004",  # rheumatoid arthritis
    "37796009",  # migraine
    "26929004",  # Alzheimer's disease
    "197480006",  # anxiety disorder
    "235494005",  # chronic pancreatitis
    "1201005",  # benign essential hypertension
    "193570009",  # cataract
]
BUSY_LABS = [  # (loinc, unit, low, high): the seven analytes, values a multimorbid patient shows
    ("14635-7", "nmol/l", 18, 45),
    ("2601-3", "mmol/l", 0.5, 0.68),
    ("2000-8", "mmol/l", 2.1, 2.5),
    ("2823-3", "mmol/l", 3.3, 4.6),
    ("98979-8", "mL/min/{1.73_m2}", 28, 48),
    ("14682-9", "umol/L", 110, 180),
    ("2731-8", "pg/mL", 60, 140),
]


def _date(days_ago: float, now: datetime) -> str:
    return (now - timedelta(days=days_ago)).date().isoformat()


def patient_ids(prefix: str = "bench") -> list[str]:
    """The patients rotated in a scenario: one id (and one seed) each."""
    return [f"{prefix}-{i + 1}" for i in range(PATIENTS)]


def _patient(patient_id: str, birth_date: str, gender: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": patient_id,
        "gender": gender,
        "birthDate": birth_date,
        "name": [{"family": "Bench", "given": [patient_id]}],
    }


def _statement(
    i: int, patient_id: str, atc: str, name: str, status: str, start: str, dosage: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": f"ms-{i}",
        "status": status,
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.whocc.no/atc", "code": atc, "display": name}],
            "text": name,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectivePeriod": {"start": start},
    }
    if dosage:
        resource["dosage"] = dosage
    return resource


def _condition(i: int, patient_id: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"cond-{i}",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
        "subject": {"reference": f"Patient/{patient_id}"},
    }


def _lab(i: int, patient_id: str, loinc: str, unit: str, value: float, date: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{i}",
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": date,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def _dosage(value: float, unit: str, ucum: str, per_day: int) -> list[dict[str, Any]]:
    return [
        {
            "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [
                {"doseQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": ucum}}
            ],
        }
    ]


def record(n_resources: int, now: datetime, seed: int = 7, patient_id: str = PATIENT_ID) -> list[dict[str, Any]]:
    """One patient: 20 medications and 30 conditions at most, the rest laboratory results over the years."""
    rng = random.Random(seed)
    resources: list[dict[str, Any]] = [_patient(patient_id, f"19{40 + seed % 20}-03-04", "female")]
    n_meds = min(20, max(2, n_resources // 10))
    n_conditions = min(30, max(1, n_resources // 7))
    for i in range(n_meds):
        atc, name = MEDS[i % len(MEDS)]
        status = "active" if i % 5 else "completed"
        resources.append(_statement(i, patient_id, atc, name, status, _date(400 + i * 30, now)))
    for i in range(n_conditions):
        resources.append(_condition(i, patient_id, CONDITIONS[i % len(CONDITIONS)]))
    i = 0
    while len(resources) < n_resources:
        ours = i % 3 != 2
        loinc, unit = (LABS[i % len(LABS)][:2]) if ours else OTHER_LABS[i % len(OTHER_LABS)]
        low, high = (LABS[i % len(LABS)][2:]) if ours else (1, 100)
        value = round(rng.uniform(float(low), float(high)), 2)
        resources.append(_lab(i, patient_id, loinc, unit, value, _date(3 + i * 9 % 1800, now)))
        i += 1
    return resources


def busy_record(now: datetime, seed: int = 7, patient_id: str = PATIENT_ID) -> list[dict[str, Any]]:
    """The multimorbid older patient of issue 14: 10 active medications (PPI, loop diuretic, magnesium and
    vitamin D supplements, levothyroxine…), 150 labs over 5 years across 7 analytes, 30 conditions."""
    rng = random.Random(seed)
    resources: list[dict[str, Any]] = [
        _patient(patient_id, f"19{38 + seed % 8}-0{1 + seed % 9}-1{seed % 10}", "female" if seed % 2 else "male")
    ]
    for i, (atc, name, dose, unit, ucum, per_day) in enumerate(BUSY_MEDS):
        start = _date(200 + rng.randrange(1500), now)
        resources.append(_statement(i, patient_id, atc, name, "active", start, _dosage(dose, unit, ucum, per_day)))
    for i, code in enumerate(BUSY_CONDITIONS):
        resources.append(_condition(i, patient_id, code))
    for i in range(150):
        loinc, unit, low, high = BUSY_LABS[i % len(BUSY_LABS)]
        value = round(rng.uniform(float(low), float(high)), 2)
        resources.append(_lab(i, patient_id, loinc, unit, value, _date(2 + i * 12 + rng.randrange(10), now)))
    return resources


def _order(oid: str, patient_id: str, code: str, text: str, dose: tuple[float, str, str, int]) -> dict[str, Any]:
    value, unit, ucum, per_day = dose
    return {
        "resource": {
            "resourceType": "MedicationRequest",
            "id": oid,
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [{"system": "http://www.whocc.no/atc", "code": code}],
                "text": text,
            },
            "subject": {"reference": f"Patient/{patient_id}"},
            "dosageInstruction": _dosage(value, unit, ucum, per_day),
        }
    }


def draft_orders(patient_id: str = PATIENT_ID) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            _order("d-vitd", patient_id, "A11CC05", "colecalciferol 5000 IE", (5000, "IE", "[iU]", 1)),
            _order("d-mg", patient_id, "A12CC10", "magnesiumoxide 500 mg", (500, "mg", "mg", 2)),
            _order("d-cipro", patient_id, "J01MA02", "ciprofloxacine 500 mg", (500, "mg", "mg", 2)),
        ],
    }


@functools.cache
def _templates() -> dict[str, str]:
    return prefetch_templates(load_knowledge())


def request(
    hook: str,
    resources: list[dict[str, Any]],
    *,
    prefetch: bool = True,
    fhir_server: str | None = None,
    drafts: dict[str, Any] | None = None,
    selections: list[str] | None = None,
    hook_instance: str = "5d1c6e9a-0b7e-4d8e-9a55-3f3b2c1d0e9f",
) -> dict[str, Any]:
    patient_id = next((r["id"] for r in resources if r["resourceType"] == "Patient"), PATIENT_ID)
    context: dict[str, Any] = {"userId": "Practitioner/bench", "patientId": patient_id}
    if hook != "patient-view":
        context["draftOrders"] = drafts if drafts is not None else draft_orders(patient_id)
    if hook == "order-select":
        context["selections"] = selections or [
            f"MedicationRequest/{e['resource']['id']}" for e in context["draftOrders"]["entry"]
        ]
    body: dict[str, Any] = {"hook": hook, "hookInstance": hook_instance, "context": context}
    if prefetch:
        body["prefetch"] = prefetch_for(resources, _templates(), context)
    if fhir_server:
        body["fhirServer"] = fhir_server
    return body


@dataclass(frozen=True)
class Call:
    """One service call of a scenario: the service id and the request body."""

    service: str
    body: dict[str, Any]


SERVICES = {
    "patient-view": "vitd-mg-patient-view",
    "order-select": "vitd-mg-order-select",
    "order-sign": "vitd-mg-order-sign",
}


def _call(body: dict[str, Any]) -> Call:
    return Call(SERVICES[body["hook"]], body)


def _instance(patient_id: str, step: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"vitdmg-bench/{patient_id}/{step}"))


def rotation(
    hook: str, make: Callable[[str, int], list[dict[str, Any]]], prefix: str, **options: Any
) -> list[list[Call]]:
    """One single-call unit per patient (`PATIENTS` of them): the cold path, a different record each call."""
    units = []
    for seed, patient_id in enumerate(patient_ids(prefix), start=7):
        body = request(hook, make(patient_id, seed), hook_instance=_instance(patient_id, hook), **options)
        units.append([_call(body)])
    return units


def session(make: Callable[[str, int], list[dict[str, Any]]], prefix: str) -> list[list[Call]]:
    """Per patient, the calls an EHR makes while a clinician orders: patient-view, order-select three times as the
    order is edited (vitamin D chosen, its dose changed, magnesium added), then order-sign; one record throughout."""
    units = []
    for seed, patient_id in enumerate(patient_ids(prefix), start=7):
        resources = make(patient_id, seed)
        vitd_high = _order("d-vitd", patient_id, "A11CC05", "colecalciferol 5000 IE", (5000, "IE", "[iU]", 1))
        vitd = _order("d-vitd", patient_id, "A11CC05", "colecalciferol 1600 IE", (1600, "IE", "[iU]", 1))
        mg = _order("d-mg", patient_id, "A12CC10", "magnesiumoxide 500 mg", (500, "mg", "mg", 1))

        def bundle(*entries: dict[str, Any]) -> dict[str, Any]:
            return {"resourceType": "Bundle", "type": "collection", "entry": list(entries)}

        ordering = _instance(patient_id, "ordering")
        # the order as it is edited: its drafts, the one selected
        edits = [((vitd_high,), "d-vitd"), ((vitd,), "d-vitd"), ((vitd, mg), "d-mg")]
        units.append(
            [
                _call(request("patient-view", resources, hook_instance=_instance(patient_id, "patient-view"))),
                *(
                    _call(
                        request(
                            "order-select",
                            resources,
                            drafts=bundle(*drafts),
                            selections=[f"MedicationRequest/{selected}"],
                            hook_instance=_instance(patient_id, f"select-{step}"),
                        )
                    )
                    for step, (drafts, selected) in enumerate(edits, start=1)
                ),
                _call(request("order-sign", resources, drafts=bundle(vitd, mg), hook_instance=ordering)),
            ]
        )
    return units


SMALL = "patient-view small (10)"
TYPICAL = "patient-view typical (200)"
LARGE = "patient-view large (2000)"
SIGN = "order-sign typical + 3 drafts"
NO_PREFETCH = "patient-view, no prefetch (local FHIR)"
BUSY = "patient-view busy (multimorbid)"
SESSION = "session busy (pv + 3 select + sign)"


def all_scenarios(now: datetime, fhir_server: str) -> dict[str, list[list[Call]]]:
    """Every scenario of `make bench`, each a rotation of `PATIENTS` patients; `fhir_server` holds the typical
    records of the patients `fhir-1..20` for the no-prefetch scenario."""

    def sized(n: int) -> Callable[[str, int], list[dict[str, Any]]]:
        return lambda patient_id, seed: record(n, now, seed, patient_id)

    def busy(patient_id: str, seed: int) -> list[dict[str, Any]]:
        return busy_record(now, seed, patient_id)

    return {
        SMALL: rotation("patient-view", sized(10), "small"),
        TYPICAL: rotation("patient-view", sized(200), "typical"),
        LARGE: rotation("patient-view", sized(2000), "large"),
        BUSY: rotation("patient-view", busy, "busy"),
        SIGN: rotation("order-sign", sized(200), "sign"),
        NO_PREFETCH: rotation("patient-view", sized(200), "fhir", prefetch=False, fhir_server=fhir_server),
        SESSION: session(busy, "session"),
    }


def now() -> datetime:
    return datetime.now(UTC)
