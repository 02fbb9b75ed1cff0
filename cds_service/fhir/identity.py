"""Patient identity: only data of `context.patientId` reaches the rules (between prefetch and parsing).

A client may send, or a server return, another patient's resources (a mixed-up Bundle, a wrong query). Each
resource that names its patient (`subject`, `patient`, or the Patient's own id) must name the context's
patient; otherwise it is left out and reported, never used. A Patient resource for another patient means the
whole prefetch cannot be trusted: 412, saying so. A reference that cannot be attributed (a `urn:uuid:` or an
identifier-only reference) is left out too: the service never guesses a patient.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from cds_service.errors import Issue, ServiceError
from cds_service.fhir.prefetch import Prefetched
from cds_service.reports import Report

_PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_PATIENT_FIELDS = ("subject", "patient")


def keep_patient_data(prefetched: Prefetched, context: dict[str, Any]) -> dict[str, Any]:
    """Leave out (and report) every resource of another patient; raises 412 for another patient's Patient.

    The context returned has its draft orders filtered the same way.
    """
    patient_id = str(context["patientId"])
    keep_patient_resources(prefetched, patient_id)
    return filter_drafts(context, patient_id, prefetched)


def keep_patient_resources(prefetched: Prefetched, patient_id: str) -> None:
    """The prefetch's part of `keep_patient_data`."""
    for key, resources in prefetched.resources.items():
        kept = []
        for index, raw in enumerate(resources):
            where = f"prefetch.{key}[{index}]"
            if raw.get("resourceType") == "Patient":
                _check_patient(raw, patient_id, where)
            reason = _other_patient(raw, patient_id)
            if reason is None:
                kept.append(raw)
            else:
                prefetched.reports.append(Report("identity", f"{_label(raw)} ({where})", reason))
        prefetched.resources[key] = kept


def patient_of(raw: dict[str, Any]) -> str | None:
    """The patient id a resource's `subject`/`patient` reference names; '' when it names none it can read."""
    for name in _PATIENT_FIELDS:
        link = raw.get(name)
        if isinstance(link, dict) and ("reference" in link or "identifier" in link):
            reference = link.get("reference")
            if not isinstance(reference, str):
                return ""
            match = _PATIENT_REFERENCE.search(reference)
            return match.group(1) if match else ""
    return None


def _other_patient(raw: dict[str, Any], patient_id: str) -> str | None:
    """Why the resource is not the context patient's (None: it is, or it names no patient)."""
    if raw.get("resourceType") == "Patient":
        return None if raw.get("id") == patient_id else "a Patient without id cannot be matched; left out"
    named = patient_of(raw)
    if named is None or named == patient_id:
        return None
    if named == "":
        return "its patient reference cannot be matched to context.patientId; left out"
    return "belongs to another patient than context.patientId; left out"


def _check_patient(raw: dict[str, Any], patient_id: str, where: str) -> None:
    rid = raw.get("id")
    if rid is not None and rid != patient_id:
        raise ServiceError(
            412,
            [
                Issue(
                    "conflict",
                    "the prefetched Patient has another id than context.patientId: the prefetch is not this "
                    "patient's data and was not used",
                    where,
                )
            ],
        )


def filter_drafts(context: dict[str, Any], patient_id: str, prefetched: Prefetched) -> dict[str, Any]:
    """The draft orders' part of `keep_patient_data`."""
    bundle = context.get("draftOrders")
    if not isinstance(bundle, dict) or not isinstance(bundle.get("entry"), list):
        return context
    entries = bundle["entry"]
    if not entries:
        return context
    kept = []
    for index, entry in enumerate(entries):
        raw = entry.get("resource") if isinstance(entry, dict) else None
        reason = _other_patient(raw, patient_id) if isinstance(raw, dict) else None
        if reason is None:
            kept.append(entry)
        else:
            where = f"context.draftOrders.entry[{index}]"
            prefetched.reports.append(Report("identity", f"{_label(raw or {})} ({where})", reason))
    if len(kept) == len(entries):
        return context
    filtered = copy.copy(context)
    filtered["draftOrders"] = {**bundle, "entry": kept}
    return filtered


def _label(raw: dict[str, Any]) -> str:
    return f"{raw.get('resourceType')}/{raw.get('id', '?')}"
