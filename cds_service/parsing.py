"""FHIR parsing: pick the resources the rules can use from the raw JSON, then validate those (R4 via R4B).

Validation is the dominant cost, so what is certainly irrelevant (another lab code, a stopped medication)
is discarded from the raw JSON first. A resource that fails validation is left out and reported; a
repeating element sent as a single object is read as a one-item list and reported as repaired.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pydantic
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medication import Medication
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest

from .errors import json_path
from .knowledge import LOINC, Knowledge
from .prefetch import Prefetched
from .reports import Report

COUNTED_LAB_STATUS = {"final", "amended", "corrected"}
ACTIVE_STATEMENT_STATUS = {"active", "intended", "on-hold"}
NOT_R4_ORDER_TYPES = {"MedicationOrder", "ProcedureRequest", "DiagnosticOrder"}
_MAX_REPAIRS = 8


@dataclass
class ParsedRecord:
    """The validated resources the facts step reads, plus what was left out."""

    patient: Patient | None = None
    observations: list[Observation] = field(default_factory=list)
    statements: list[MedicationStatement] = field(default_factory=list)
    requests: list[MedicationRequest] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    medications: dict[str, Medication] = field(default_factory=dict)
    draft_medication_requests: list[MedicationRequest] = field(default_factory=list)
    draft_service_requests: list[ServiceRequest] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)


def parse_record(prefetched: Prefetched, context: dict[str, Any], knowledge: Knowledge) -> ParsedRecord:
    record = ParsedRecord()
    parser = _Parser(record)
    condition_codes = _condition_codes(knowledge)
    raw_medications: dict[str, dict[str, Any]] = {}
    for key, resources in prefetched.resources.items():
        for index, raw in enumerate(resources):
            kind = raw.get("resourceType")
            where = f"prefetch.{key}[{index}]"
            if kind == "Observation" and _is_relevant_lab(raw, knowledge, record, where):
                parser.add(record.observations, Observation, raw, where)
            elif kind == "MedicationStatement" and raw.get("status") in ACTIVE_STATEMENT_STATUS:
                parser.add(record.statements, MedicationStatement, raw, where)
            elif kind == "MedicationRequest" and raw.get("status") == "active":
                parser.add(record.requests, MedicationRequest, raw, where)
            elif kind == "Condition" and _has_code(raw.get("code"), condition_codes):
                parser.add(record.conditions, Condition, raw, where)
            elif kind == "Patient" and record.patient is None:
                patients: list[Patient] = []
                parser.add(patients, Patient, raw, where)
                record.patient = patients[0] if patients else None
            elif kind == "Medication" and isinstance(raw.get("id"), str):
                raw_medications[f"Medication/{raw['id']}"] = raw
    _parse_drafts(parser, record, context.get("draftOrders") or {})
    for reference, raw in raw_medications.items():
        found: list[Medication] = []
        parser.add(found, Medication, raw, reference)
        if found:
            record.medications[reference] = found[0]
    return record


class _Parser:
    def __init__(self, record: ParsedRecord) -> None:
        self._record = record

    def add(self, into: list[Any], model: type[Any], raw: dict[str, Any], where: str) -> None:
        label = f"{raw.get('resourceType')}/{raw.get('id', '?')}"
        data = raw
        repaired: list[str] = []
        for _ in range(_MAX_REPAIRS):
            try:
                into.append(model.model_validate(data))
            except pydantic.ValidationError as error:
                fixes = [e["loc"] for e in error.errors() if e["type"] == "list_type"]
                if fixes and data is raw:
                    data = copy.deepcopy(raw)
                if not fixes or not _wrap_in_lists(data, fixes):
                    paths = sorted({json_path(e["loc"]) for e in error.errors()})[:5]
                    self._record.reports.append(
                        Report("parsing", f"{label} ({where})", f"invalid FHIR R4, left out: {', '.join(paths)}")
                    )
                    return
                repaired += [json_path(loc) for loc in fixes]
                continue
            if repaired:
                self._record.reports.append(
                    Report(
                        "parsing",
                        f"{label} ({where})",
                        f"repeating element sent as one object, read as a list: {', '.join(repaired)}",
                    )
                )
            return


def _wrap_in_lists(data: dict[str, Any], locations: list[tuple[int | str, ...]]) -> bool:
    """Wrap each object found at a `list_type` error location in a list; False if nothing could be wrapped."""
    changed = False
    for loc in locations:
        parent: Any = data
        for part in loc[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        last = loc[-1]
        if isinstance(parent, dict) and isinstance(parent.get(last), dict):
            parent[last] = [parent[last]]
            changed = True
    return changed


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    codings = concept.get("coding")
    if isinstance(codings, dict):
        codings = [codings]
    return [c for c in codings if isinstance(c, dict)] if isinstance(codings, list) else []


def _is_relevant_lab(raw: dict[str, Any], knowledge: Knowledge, record: ParsedRecord, where: str) -> bool:
    """A lab whose LOINC code the rules use, with a status that counts; others of our codes are reported."""
    analytes = {
        knowledge.loinc_index[c["code"]]
        for c in _codings(raw.get("code"))
        if c.get("system") == LOINC and c.get("code") in knowledge.loinc_index
    }
    analytes = {a for a in analytes if knowledge.labs.analytes[a].status_result}
    if not analytes:
        return False
    status = raw.get("status")
    if status not in COUNTED_LAB_STATUS:
        label = f"Observation/{raw.get('id', '?')}"
        record.reports.append(Report("parsing", f"{label} ({where})", f"status {status!r} does not count; left out"))
        return False
    return True


def _condition_codes(knowledge: Knowledge) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(exact SNOMED pairs, ICD-10 prefix pairs) over every condition group."""
    snomed = {
        (s, c)
        for g in knowledge.conditions.groups.values()
        for s in knowledge.conditions.systems["snomed"]
        for c in g.snomed
    }
    icd = {
        (s, c)
        for g in knowledge.conditions.groups.values()
        for s in knowledge.conditions.systems["icd10"]
        for c in g.icd10
    }
    return snomed, icd


def _has_code(concept: Any, codes: tuple[set[tuple[str, str]], set[tuple[str, str]]]) -> bool:
    snomed, icd = codes
    for coding in _codings(concept):
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            continue
        if (system, code) in snomed or any(system == s and code.startswith(p) for s, p in icd):
            return True
    return False


def _parse_drafts(parser: _Parser, record: ParsedRecord, bundle: dict[str, Any]) -> None:
    entries = bundle.get("entry") or []
    if isinstance(entries, dict):
        entries = [entries]
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        raw = entry.get("resource") if isinstance(entry, dict) else None
        where = f"context.draftOrders.entry[{index}]"
        if not isinstance(raw, dict):
            record.reports.append(Report("parsing", where, "entry without a resource; left out"))
            continue
        kind = raw.get("resourceType")
        if kind == "MedicationRequest":
            parser.add(record.draft_medication_requests, MedicationRequest, raw, where)
        elif kind == "ServiceRequest":
            parser.add(record.draft_service_requests, ServiceRequest, raw, where)
        elif kind in NOT_R4_ORDER_TYPES:
            record.reports.append(
                Report(
                    "parsing",
                    f"{kind}/{raw.get('id', '?')} ({where})",
                    "not a FHIR R4 resource type; this service reads R4",
                )
            )
        elif kind == "Medication" and isinstance(raw.get("id"), str):
            found: list[Medication] = []
            parser.add(found, Medication, raw, where)
            if found:
                record.medications[f"Medication/{raw['id']}"] = found[0]
        elif not isinstance(kind, str) or get_fhir_model_class_safe(kind) is None:
            record.reports.append(Report("parsing", where, f"unknown resourceType {kind!r}; left out"))


def get_fhir_model_class_safe(kind: str) -> type[Any] | None:
    try:
        return get_fhir_model_class(kind)
    except KeyError:
        return None
