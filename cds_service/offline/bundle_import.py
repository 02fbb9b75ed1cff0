"""A FHIR Bundle (an EHR or Synthea patient export) as a CDS Hooks request, read as a FHIR server would import it.

Transaction and collection Bundles link their entries by `fullUrl` (`urn:uuid:…` or an absolute URL), not by
`Type/id`: a server resolves those on import, so this does too, before the prefetch templates are run. A
resource without `id` takes it from its `fullUrl`. When a prefetch key ends up empty although the Bundle had
resources of that type, a warning says so: a real export must never reach the rules empty in silence.
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from cds_service.cdshooks.services import HOOK_CONTEXT
from cds_service.fhir.identity import patient_of
from cds_service.offline.fixture_fhir import prefetch_for

_RESTFUL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
DRAFT_TYPES = {"MedicationRequest", "ServiceRequest"}


class BundleError(ValueError):
    """The Bundle cannot become a request; the message says why."""


@dataclass
class Imported:
    request: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def resolve_references(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The Bundle's resources (copies), references between entries rewritten to `Type/id`.

    A resource without `id` takes it from its `fullUrl`; an absolute RESTful reference becomes relative.
    """
    entries = bundle.get("entry") or []
    if isinstance(entries, dict):
        entries = [entries]
    resources: list[dict[str, Any]] = []
    targets: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        resource = copy.deepcopy(entry["resource"])
        kind = resource.get("resourceType")
        full_url = entry.get("fullUrl")
        if not isinstance(resource.get("id"), str) and isinstance(full_url, str):
            found = _id_from_url(full_url, kind)
            if found:
                resource["id"] = found
        if isinstance(full_url, str) and isinstance(kind, str) and isinstance(resource.get("id"), str):
            targets[full_url] = f"{kind}/{resource['id']}"
        resources.append(resource)
    for resource in resources:
        _rewrite(resource, targets)
    return resources


def bundle_to_request(
    bundle: dict[str, Any],
    templates: dict[str, str],
    *,
    hook: str = "patient-view",
    patient: str | None = None,
    user: str = "Practitioner/example",
) -> Imported:
    """The request a client holding this Bundle would send; raises BundleError saying why it cannot."""
    if hook not in HOOK_CONTEXT:
        raise BundleError(f"unknown hook {hook!r}; choose one of {', '.join(HOOK_CONTEXT)}")
    if bundle.get("resourceType") != "Bundle":
        raise BundleError("not a FHIR Bundle")
    resources = resolve_references(bundle)
    patient_ids = [r.get("id") for r in resources if r.get("resourceType") == "Patient"]
    if patient is None:
        if len(patient_ids) != 1:
            raise BundleError(f"holds {len(patient_ids)} Patient resources; name one with --patient")
        if not isinstance(patient_ids[0], str):
            raise BundleError("its Patient has neither an id nor a fullUrl to take one from")
        patient = patient_ids[0]
    drafts = [r for r in resources if r.get("resourceType") in DRAFT_TYPES and r.get("status") == "draft"]
    record = [r for r in resources if r not in drafts]
    context: dict[str, Any] = {"userId": user, "patientId": patient}
    if hook != "patient-view":
        if not drafts:
            raise BundleError(f"no draft MedicationRequest or ServiceRequest for {hook}")
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": d} for d in drafts],
        }
        if hook == "order-select":
            context["selections"] = [f"{d['resourceType']}/{d.get('id')}" for d in drafts]
    prefetch = prefetch_for(record, templates, context)
    request = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, "prefetch": prefetch}
    return Imported(request, _empty_key_warnings(record, templates, prefetch, patient))


def _id_from_url(full_url: str, kind: Any) -> str | None:
    if full_url.startswith("urn:uuid:"):
        return full_url.removeprefix("urn:uuid:") or None
    match = _RESTFUL.search(full_url)
    return match.group(2) if match and match.group(1) == kind else None


def _rewrite(node: Any, targets: dict[str, str]) -> None:
    """Every `reference` to a Bundle entry becomes `Type/id`; absolute RESTful references become relative."""
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str):
            if reference in targets:
                node["reference"] = targets[reference]
            elif reference.startswith(("http://", "https://")) and (match := _RESTFUL.search(reference)):
                node["reference"] = f"{match.group(1)}/{match.group(2)}"
        for value in node.values():
            _rewrite(value, targets)
    elif isinstance(node, list):
        for value in node:
            _rewrite(value, targets)


def _empty_key_warnings(
    record: list[dict[str, Any]], templates: dict[str, str], prefetch: dict[str, Any], patient: str
) -> list[str]:
    warnings = []
    for key, template in templates.items():
        kind, _, query = template.partition("?")
        if not query:
            continue
        value = prefetch.get(key)
        if isinstance(value, dict) and any(
            e.get("search", {}).get("mode") == "match" for e in value.get("entry", []) if isinstance(e, dict)
        ):
            continue
        of_kind = [r for r in record if r.get("resourceType") == kind]
        if not of_kind:
            continue
        mine = [r for r in of_kind if patient_of(r) in (patient, None)]
        why = _why_none_matched(mine, dict(parse_qsl(query)))
        warnings.append(
            f"prefetch.{key} is empty although the Bundle has {len(of_kind)} {kind} resource(s)"
            f" ({len(mine)} of this patient): {why}"
        )
    return warnings


def _why_none_matched(resources: list[dict[str, Any]], params: dict[str, str]) -> str:
    if not resources:
        return "none references this Patient"
    if "status" in params:
        statuses = sorted({str(r.get("status")) for r in resources})
        if not set(statuses) & set(params["status"].split(",")):
            return f"none has status {params['status']} (found: {', '.join(statuses)})"
    if "code" in params:
        return "none has one of the codes the rules read"
    return "none matched the template"
