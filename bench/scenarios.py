"""Deterministic benchmark records: small (10 resources), typical (200), large (2,000), and draft orders.

Dates are relative to the day the benchmark runs, so the look-back windows always hold the same share of
results. Seeded: the same bodies every run.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from cds_service.fixture_fhir import prefetch_for
from cds_service.knowledge import load_knowledge
from cds_service.services import prefetch_templates

PATIENT_ID = "bench-1"
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


def _date(days_ago: float, now: datetime) -> str:
    return (now - timedelta(days=days_ago)).date().isoformat()


def record(n_resources: int, now: datetime, seed: int = 7) -> list[dict[str, Any]]:
    """One patient: 20 medications and 30 conditions at most, the rest laboratory results over the years."""
    rng = random.Random(seed)
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": PATIENT_ID,
            "gender": "female",
            "birthDate": "1948-03-04",
            "name": [{"family": "Bench", "given": ["Mark"]}],
        }
    ]
    n_meds = min(20, max(2, n_resources // 10))
    n_conditions = min(30, max(1, n_resources // 7))
    for i in range(n_meds):
        atc, name = MEDS[i % len(MEDS)]
        resources.append(
            {
                "resourceType": "MedicationStatement",
                "id": f"ms-{i}",
                "status": "active" if i % 5 else "completed",
                "medicationCodeableConcept": {
                    "coding": [{"system": "http://www.whocc.no/atc", "code": atc, "display": name}],
                    "text": name,
                },
                "subject": {"reference": f"Patient/{PATIENT_ID}"},
                "effectivePeriod": {"start": _date(400 + i * 30, now)},
            }
        )
    for i in range(n_conditions):
        resources.append(
            {
                "resourceType": "Condition",
                "id": f"cond-{i}",
                "clinicalStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
                },
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": CONDITIONS[i % len(CONDITIONS)]}]},
                "subject": {"reference": f"Patient/{PATIENT_ID}"},
            }
        )
    i = 0
    while len(resources) < n_resources:
        ours = i % 3 != 2
        loinc, unit = (LABS[i % len(LABS)][:2]) if ours else OTHER_LABS[i % len(OTHER_LABS)]
        low, high = (LABS[i % len(LABS)][2:]) if ours else (1, 100)
        value = round(rng.uniform(float(low), float(high)), 2)  # type: ignore[arg-type]
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"obs-{i}",
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "laboratory",
                            }
                        ]
                    }
                ],
                "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
                "subject": {"reference": f"Patient/{PATIENT_ID}"},
                "effectiveDateTime": _date(3 + i * 9 % 1800, now),
                "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
            }
        )
        i += 1
    return resources


def draft_orders() -> dict[str, Any]:
    atc = "http://www.whocc.no/atc"

    def order(oid: str, code: str, text: str, value: float, unit: str, ucum: str, per_day: int) -> dict[str, Any]:
        return {
            "resource": {
                "resourceType": "MedicationRequest",
                "id": oid,
                "status": "draft",
                "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": atc, "code": code}], "text": text},
                "subject": {"reference": f"Patient/{PATIENT_ID}"},
                "dosageInstruction": [
                    {
                        "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                        "doseAndRate": [
                            {
                                "doseQuantity": {
                                    "value": value,
                                    "unit": unit,
                                    "system": "http://unitsofmeasure.org",
                                    "code": ucum,
                                }
                            }
                        ],
                    }
                ],
            }
        }

    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            order("d-vitd", "A11CC05", "colecalciferol 5000 IE", 5000, "IE", "[iU]", 1),
            order("d-mg", "A12CC10", "magnesiumoxide 500 mg", 500, "mg", "mg", 2),
            order("d-cipro", "J01MA02", "ciprofloxacine 500 mg", 500, "mg", "mg", 2),
        ],
    }


def request(
    hook: str, resources: list[dict[str, Any]], *, prefetch: bool = True, fhir_server: str | None = None
) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/bench", "patientId": PATIENT_ID}
    if hook != "patient-view":
        context["draftOrders"] = draft_orders()
    body: dict[str, Any] = {"hook": hook, "hookInstance": "5d1c6e9a-0b7e-4d8e-9a55-3f3b2c1d0e9f", "context": context}
    if prefetch:
        body["prefetch"] = prefetch_for(resources, prefetch_templates(load_knowledge()), context)
    if fhir_server:
        body["fhirServer"] = fhir_server
    return body


def now() -> datetime:
    return datetime.now(UTC)
