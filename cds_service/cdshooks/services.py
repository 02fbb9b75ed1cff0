"""The three CDS services, their hooks' required context and prefetch templates built from the knowledge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.cdshooks.models import CDSServiceDescription
from cds_service.errors import Issue, ServiceError
from cds_service.knowledge.loader import LOINC, Knowledge

# Hook Library 1.0.1 context fields (conformance P1-P3): name -> JSON type the service checks.
HOOK_CONTEXT: dict[str, dict[str, type]] = {
    "patient-view": {"userId": str, "patientId": str},
    "order-select": {"userId": str, "patientId": str, "selections": list, "draftOrders": dict},
    "order-sign": {"userId": str, "patientId": str, "draftOrders": dict},
}
OPTIONAL_CONTEXT: dict[str, type] = {"encounterId": str}
_TYPE_WORDS: dict[type, str] = {str: "a non-empty string", list: "an array", dict: "an object (a FHIR Bundle)"}

PATIENT_KEY = "patient"
LABS_KEY = "labResults"
STATEMENTS_KEY = "medicationStatements"
REQUESTS_KEY = "medicationRequests"
DISPENSES_KEY = "medicationDispenses"
ADMINISTRATIONS_KEY = "medicationAdministrations"
CONDITIONS_KEY = "conditions"


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    usage_requirements: str
    prefetch: dict[str, str]
    optional_prefetch: frozenset[str] = frozenset({DISPENSES_KEY, ADMINISTRATIONS_KEY})

    def describe(self, knowledge_version: str) -> CDSServiceDescription:
        return CDSServiceDescription(
            hook=self.hook,
            title=self.title,
            description=self.description,
            id=self.id,
            prefetch=self.prefetch,
            usageRequirements=self.usage_requirements,
            extension={"org.vitdmg.knowledge-version": knowledge_version},
        )


def prefetch_templates(knowledge: Knowledge) -> dict[str, str]:
    """D5: only the restricted query subset: reads, `patient=` references, token lists and `_sort`."""
    codes = ",".join(
        f"{LOINC}|{code}"
        for analyte in knowledge.labs.analytes.values()
        if analyte.status_result
        for code in analyte.loinc
    )
    return {
        PATIENT_KEY: "Patient/{{context.patientId}}",
        LABS_KEY: f"Observation?patient={{{{context.patientId}}}}&code={codes}&_sort=-date",
        STATEMENTS_KEY: "MedicationStatement?patient={{context.patientId}}&status=active,intended,on-hold",
        REQUESTS_KEY: "MedicationRequest?patient={{context.patientId}}&status=active",
        # systems that record only what was dispensed or given: recent ones imply current use
        DISPENSES_KEY: "MedicationDispense?patient={{context.patientId}}&status=completed,in-progress",
        ADMINISTRATIONS_KEY: "MedicationAdministration?patient={{context.patientId}}&status=completed,in-progress",
        CONDITIONS_KEY: "Condition?patient={{context.patientId}}",
    }


_USAGE = (
    "Needs the Patient (birth date, sex), laboratory Observations (LOINC), active MedicationStatements and "
    "MedicationRequests, MedicationDispenses and MedicationAdministrations, and Conditions, by prefetch or from "
    "fhirServer. FHIR R4. Cards in Dutch or English "
    "(Accept-Language)."
)


def build_services(knowledge: Knowledge) -> dict[str, ServiceDefinition]:
    templates = prefetch_templates(knowledge)
    services = [
        ServiceDefinition(
            id="vitd-mg-patient-view",
            hook="patient-view",
            title="Vitamin D and magnesium: status review",
            description=(
                "Reviews 25(OH)D, magnesium, calcium, potassium, PTH and kidney function with the active "
                "medication and conditions: deficiency, PPI/diuretic-related magnesium loss, renal caution, "
                "interactions and test advice."
            ),
            usage_requirements=_USAGE,
            prefetch=templates,
        ),
        ServiceDefinition(
            id="vitd-mg-order-select",
            hook="order-select",
            title="Vitamin D and magnesium: selected orders",
            description=(
                "Checks the selected draft orders: vitamin D and magnesium doses against upper limits, renal "
                "caution, interactions, 1,25(OH)2D ordered for status, and tests repeated too early."
            ),
            usage_requirements=_USAGE,
            prefetch=templates,
        ),
        ServiceDefinition(
            id="vitd-mg-order-sign",
            hook="order-sign",
            title="Vitamin D and magnesium: orders to sign",
            description=(
                "Checks every draft order before signing: vitamin D and magnesium doses against upper limits, "
                "renal caution, interactions, 1,25(OH)2D ordered for status, and tests repeated too early."
            ),
            usage_requirements=_USAGE,
            prefetch=templates,
        ),
    ]
    return {s.id: s for s in services}


def check_context(hook: str, context: dict[str, Any]) -> None:
    """P1-P3: required context fields present, with the JSON type the hook defines; 400 otherwise."""
    issues: list[Issue] = []
    fields = {**HOOK_CONTEXT[hook], **OPTIONAL_CONTEXT}
    for name, kind in fields.items():
        present = name in context and context[name] is not None
        if not present:
            if name in HOOK_CONTEXT[hook]:
                issues.append(Issue("required", f"{hook} requires context.{name}", f"context.{name}"))
            continue
        if not isinstance(context[name], kind) or (kind is str and not context[name]):
            wanted = _TYPE_WORDS[kind]
            issues.append(Issue("invalid", f"context.{name} must be {wanted}", f"context.{name}"))
    selections = context.get("selections")
    if isinstance(selections, list):
        for i, item in enumerate(selections):
            if not isinstance(item, str) or "/" not in item:
                issues.append(Issue("invalid", "a selection must be a 'Type/id' string", f"context.selections[{i}]"))
    if issues:
        raise ServiceError(400, issues)
