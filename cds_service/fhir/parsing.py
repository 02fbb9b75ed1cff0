"""FHIR parsing: pick the resources the rules can use from the raw JSON, then validate those (R4 via R4B).

Validation is the dominant cost, so what is certainly irrelevant (another lab code, a stopped medication)
is discarded from the raw JSON first. A resource that fails validation is left out and reported; a
repeating element sent as a single object is read as a one-item list and reported as repaired.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pydantic
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medication import Medication
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.errors import Issue, ServiceError, json_path
from cds_service.fhir._dates import observation_time, to_datetime
from cds_service.fhir._lab_values import LabValue, read_value
from cds_service.fhir.prefetch import Prefetched
from cds_service.fhir.validated_cache import ValidatedCache
from cds_service.knowledge.loader import LOINC, Knowledge
from cds_service.knowledge.medication_classes import Coding, classify
from cds_service.reports import Report

COUNTED_LAB_STATUS = {"final", "amended", "corrected"}
ACTIVE_STATEMENT_STATUS = {"active", "intended", "on-hold"}
USE_EVENT_STATUS = {"completed", "in-progress"}  # dispenses and administrations that happened
NOT_R4_ORDER_TYPES = {"MedicationOrder", "ProcedureRequest", "DiagnosticOrder"}
_MAX_REPAIRS = 8


@dataclass
class ParsedRecord:
    """The validated resources the facts step reads, plus what was left out."""

    patient: Patient | None = None
    observations: list[Observation] = field(default_factory=list)
    lab_analytes: list[str] = field(default_factory=list)
    """The analyte selection kept each of `observations` for, in the same order (issue 17: decided once, here)."""
    statements: list[MedicationStatement] = field(default_factory=list)
    requests: list[MedicationRequest] = field(default_factory=list)
    dispenses: list[MedicationDispense] = field(default_factory=list)
    administrations: list[MedicationAdministration] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    medications: dict[str, Medication] = field(default_factory=dict)
    draft_medication_requests: list[MedicationRequest] = field(default_factory=list)
    draft_service_requests: list[ServiceRequest] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)


@dataclass(frozen=True)
class Selection:
    """What can be discarded from the raw JSON before validation.

    Labs older than their look-back window and medication whose period has ended are never read.
    """

    now: datetime
    lab_cutoffs: dict[str, datetime]
    max_candidates: int = 50  # results examined per analyte (VITDMG_MAX_LAB_CANDIDATES)
    deadline: float | None = None  # time.monotonic() past which processing stops (VITDMG_PROCESSING_BUDGET_SECONDS)
    cache: ValidatedCache | None = field(default=None, kw_only=True)
    """Validated resources of earlier calls (an ordering session sends the same record again)."""


def parse_record(
    prefetched: Prefetched,
    context: dict[str, Any],
    knowledge: Knowledge,
    selection: Selection | None = None,
    prefetch: PrefetchPart | None = None,
) -> ParsedRecord:
    """The record: the prefetch's part (`parse_prefetch`, or one parsed before from the same resources), the drafts."""
    part = prefetch or parse_prefetch(prefetched, knowledge, selection)
    record = copy.copy(part.record)
    for name in _RECORD_LISTS:
        setattr(record, name, list(getattr(part.record, name)))
    record.medications = dict(part.record.medications)
    parser = _Parser(record, selection.cache if selection else None, selection.deadline if selection else None)
    _parse_drafts(parser, record, context.get("draftOrders") or {})
    ordered: list[Any] = [
        *record.statements,
        *record.requests,
        *record.dispenses,
        *record.administrations,
        *record.draft_medication_requests,
    ]
    referenced = {
        str(resource.medicationReference.reference)
        for resource in ordered
        if resource.medicationReference is not None and resource.medicationReference.reference
    }
    for reference, raw in part.raw_medications.items():
        if (reference in referenced or reference.rsplit("/", 1)[-1] in referenced) and (
            medication := parser.one(Medication, raw, reference)
        ):
            record.medications[reference] = medication
    return record


_RECORD_LISTS = (
    "observations",
    "lab_analytes",
    "statements",
    "requests",
    "dispenses",
    "administrations",
    "conditions",
    "draft_medication_requests",
    "draft_service_requests",
    "reports",
)


@dataclass(frozen=True)
class PrefetchPart:
    """What the prefetch alone gives (the drafts come on top), and every comparison with "now" it rests on.

    Issue 14: an ordering session sends the same record with each call; the part parsed for one call serves the
    next as long as each comparison with the look-back windows and medication end dates comes out the same.
    """

    record: ParsedRecord
    raw_medications: dict[str, dict[str, Any]]
    checks: tuple[tuple[str | None, datetime, bool], ...]

    def holds(self, selection: Selection | None) -> bool:
        """Whether parsing the same resources at `selection`'s now would make every comparison the same way."""
        return selection is not None and all(
            _compare(analyte, at, selection) == result for analyte, at, result in self.checks
        )


def _compare(analyte: str | None, at: datetime, selection: Selection) -> bool:
    """A comparison with now: a lab of this analyte within its look-back window; (no analyte) medication ended."""
    if analyte is None:
        return at < selection.now
    cutoff = selection.lab_cutoffs.get(analyte)
    return cutoff is None or at >= cutoff


def parse_prefetch(prefetched: Prefetched, knowledge: Knowledge, selection: Selection | None = None) -> PrefetchPart:
    record = ParsedRecord()
    parser = _Parser(record, selection.cache if selection else None, selection.deadline if selection else None)
    checks: list[tuple[str | None, datetime, bool]] = []
    raw_medications: dict[str, dict[str, Any]] = {}
    for resources in prefetched.resources.values():
        for raw in resources:
            if raw.get("resourceType") == "Medication" and isinstance(raw.get("id"), str):
                raw_medications[f"Medication/{raw['id']}"] = raw
    labs: dict[str, list[tuple[datetime | None, dict[str, Any], str]]] = {}
    unclassified = 0
    for key, resources in prefetched.resources.items():
        for index, raw in enumerate(resources):
            kind = _text(raw.get("resourceType"))
            where = f"prefetch.{key}[{index}]"
            if kind == "Observation":
                analyte = _relevant_lab(raw, knowledge, record, where)
                if analyte is not None:
                    when = _raw_date(raw)
                    within = True
                    if when is not None and selection is not None:
                        within = _compare(analyte, when, selection)
                        checks.append((analyte, when, within))
                    if within:
                        labs.setdefault(analyte, []).append((when, raw, where))
            elif kind in _MEDICATION_SOURCES and _text(raw.get("status")) in _MEDICATION_SOURCES[kind][0]:
                wanted = _wanted_medication(raw, raw_medications, knowledge, selection, checks)
                if wanted:
                    into, model = _MEDICATION_SOURCES[kind][1](record), _MEDICATION_SOURCES[kind][2]
                    parser.add(into, model, raw, where)
                elif wanted is None:
                    unclassified += 1
            elif kind == "Condition" and _has_code(raw.get("code"), knowledge):
                parser.add(record.conditions, Condition, raw, where)
            elif kind == "Patient" and record.patient is None:
                record.patient = parser.one(Patient, raw, where)
    if unclassified:  # counted, never named: a medication list is patient data
        record.reports.append(
            Report(
                "parsing",
                "medication",
                f"{unclassified} current medication(s) matched none of the rules' classes by code, name or brand",
            )
        )
    for analyte, candidates in labs.items():
        units = knowledge.labs.analytes[analyte].normalised_units
        limit = selection.max_candidates if selection else None
        _add_newest_usable(parser, record, analyte, candidates, units, limit)
    return PrefetchPart(record, raw_medications, tuple(checks))


def _raw_date(raw: dict[str, Any]) -> datetime | None:
    return to_datetime(observation_time(raw))


def _usable_quantity(raw: dict[str, Any], units: dict[str, float]) -> bool:
    """Whether the facts step can read this value: a number (a comparator too, or a text such as "<10"), a unit."""
    return isinstance(read_value(raw, units), LabValue)


Candidate = tuple[datetime | None, dict[str, Any], str]


def _add_newest_usable(
    parser: _Parser,
    record: ParsedRecord,
    analyte: str,
    candidates: list[Candidate],
    units: dict[str, float],
    limit: int | None,
) -> None:
    """Validate newest first, until one the facts step can use: older results would never be read.

    Undated ones are validated too (the facts step reports them). At most `limit` are examined: the rest
    of a flood (20,000 results in an unknown unit) is reported as a count, never read.
    """
    undated = [(raw, where) for when, raw, where in candidates if when is None]
    dated = sorted(
        ((when, raw, where) for when, raw, where in candidates if when is not None), key=lambda c: c[0], reverse=True
    )
    examined = 0
    for _, raw, where in dated:
        if limit is not None and examined >= limit:
            break
        examined += 1
        if _add_lab(parser, record, analyte, raw, where) and _usable_quantity(raw, units):
            break
    for raw, where in undated:
        if limit is not None and examined >= limit:
            break
        examined += 1
        _add_lab(parser, record, analyte, raw, where)
    if examined < len(candidates) and limit is not None and examined >= limit:
        first = candidates[0][2]
        record.reports.append(
            Report(
                "parsing",
                f"{first} and others",
                f"{len(candidates) - examined} older or undated results of this test not examined "
                f"(VITDMG_MAX_LAB_CANDIDATES={limit})",
            )
        )


def _add_lab(parser: _Parser, record: ParsedRecord, analyte: str, raw: dict[str, Any], where: str) -> bool:
    """Validate one result and keep the analyte it was selected for beside it; False if it was left out."""
    before = len(record.observations)
    parser.add(record.observations, Observation, raw, where)
    if len(record.observations) == before:
        return False
    record.lab_analytes.append(analyte)
    return True


def _concept_parts(concept: Any) -> tuple[list[Coding], list[str]]:
    codings = [(_text(c.get("system")), _text(c.get("code")), _text(c.get("display"))) for c in _codings(concept)]
    text = concept.get("text") if isinstance(concept, dict) else None
    return codings, [text] if isinstance(text, str) else []


_MEDICATION_SOURCES: dict[str, tuple[set[str], Any, type[Any]]] = {
    "MedicationStatement": (ACTIVE_STATEMENT_STATUS, lambda r: r.statements, MedicationStatement),
    "MedicationRequest": ({"active"}, lambda r: r.requests, MedicationRequest),
    "MedicationDispense": (USE_EVENT_STATUS, lambda r: r.dispenses, MedicationDispense),
    "MedicationAdministration": (USE_EVENT_STATUS, lambda r: r.administrations, MedicationAdministration),
}


def _wanted_medication(
    raw: dict[str, Any],
    medications: dict[str, dict[str, Any]],
    knowledge: Knowledge,
    selection: Selection | None,
    checks: list[tuple[str | None, datetime, bool]],
) -> bool | None:
    """Only medication in one of the rules' classes is validated; an unresolvable reference is (to be reported).

    False: ended, not looked at; None: current but in none of the rules' classes (counted in the response).
    """
    period = raw.get("effectivePeriod")
    end = to_datetime(period.get("end")) if isinstance(period, dict) else None
    if selection is not None and end is not None:
        ended = _compare(None, end, selection)
        checks.append((None, end, ended))
        if ended:
            return False
    concepts: list[Any] = []
    if "medicationCodeableConcept" in raw:
        concepts.append(raw["medicationCodeableConcept"])
    else:
        link = raw.get("medicationReference")
        reference = link.get("reference") if isinstance(link, dict) else None
        medication = None
        if isinstance(reference, str) and reference.startswith("#"):
            contained = raw.get("contained") or []
            medication = next((c for c in contained if isinstance(c, dict) and c.get("id") == reference[1:]), None)
        elif isinstance(reference, str):
            medication = medications.get(reference) or medications.get("Medication/" + reference.rsplit("/", 1)[-1])
        if medication is None:
            return True
        concepts.append(medication.get("code"))
        ingredients = medication.get("ingredient") or []
        concepts += [i.get("itemCodeableConcept") for i in ingredients if isinstance(i, dict)]
    codings: list[Coding] = []
    texts: list[str] = []
    for concept in concepts:
        more_codings, more_texts = _concept_parts(concept)
        codings += more_codings
        texts += more_texts
    return True if classify(codings, texts, knowledge) else None


class _Parser:
    def __init__(
        self, record: ParsedRecord, cache: ValidatedCache | None = None, deadline: float | None = None
    ) -> None:
        self._record = record
        self._cache = cache
        self._deadline = deadline

    def one(self, model: type[Any], raw: dict[str, Any], where: str) -> Any:
        """The validated resource, or None (left out and reported)."""
        found: list[Any] = []
        self.add(found, model, raw, where)
        return found[0] if found else None

    def add(self, into: list[Any], model: type[Any], raw: dict[str, Any], where: str) -> None:
        check_deadline(self._deadline)
        key = self._cache.key(model, raw) if self._cache is not None else b""
        if key and self._cache is not None and (known := self._cache.get(key)) is not None:
            into.append(known)
            return
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
            if key and not repaired and self._cache is not None:
                self._cache.put(key, into[-1])
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


def check_deadline(deadline: float | None) -> None:
    """413 once a request has used its processing budget: validation is where a flood costs time."""
    if deadline is not None and time.monotonic() > deadline:
        raise ServiceError(
            413,
            [Issue("too-costly", "the request needs more processing than allowed (VITDMG_PROCESSING_BUDGET_SECONDS)")],
        )


def _text(value: Any) -> str | None:
    """A JSON string, else None: a list or object where FHIR has a code is never looked up in a set."""
    return value if isinstance(value, str) else None


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    codings = concept.get("coding")
    if isinstance(codings, dict):
        codings = [codings]
    return [c for c in codings if isinstance(c, dict)] if isinstance(codings, list) else []


def _relevant_lab(raw: dict[str, Any], knowledge: Knowledge, record: ParsedRecord, where: str) -> str | None:
    """The analyte of a lab the rules use, if its status counts; other statuses of our codes are reported."""
    analytes = {
        knowledge.loinc_index[c["code"]]
        for c in _codings(raw.get("code"))
        if c.get("system") == LOINC and _text(c.get("code")) in knowledge.loinc_index
    }
    analytes = {a for a in analytes if knowledge.labs.analytes[a].status_result}
    if not analytes:
        return None
    status = raw.get("status")
    if _text(status) not in COUNTED_LAB_STATUS:
        label = f"Observation/{raw.get('id', '?')}"
        record.reports.append(Report("parsing", f"{label} ({where})", f"status {status!r} does not count; left out"))
        return None
    return sorted(analytes)[0]


def _has_code(concept: Any, knowledge: Knowledge) -> bool:
    """Whether any coding of the concept is in one of the rules' condition groups."""
    return any(knowledge.condition_groups(c.get("system"), c.get("code")) for c in _codings(concept))


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
        kind = _text(raw.get("resourceType"))
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
            if medication := parser.one(Medication, raw, where):
                record.medications[f"Medication/{raw['id']}"] = medication
        elif not isinstance(kind, str) or get_fhir_model_class_safe(kind) is None:
            record.reports.append(Report("parsing", where, f"unknown resourceType {kind!r}; left out"))


def get_fhir_model_class_safe(kind: str) -> type[Any] | None:
    try:
        return get_fhir_model_class(kind)
    except KeyError:
        return None
