"""Build CDS Hooks requests from the fixture files, with prefetch filled exactly as the templates ask."""

from __future__ import annotations

import copy
import json
from typing import Any

from cds_service.cdshooks.services import prefetch_templates
from cds_service.knowledge.loader import load_knowledge
from cds_service.offline.fixture_fhir import prefetch_for as fixture_prefetch

from .fhir_server import FIXTURES, load_record

TEMPLATES = prefetch_templates(load_knowledge())
SPEC_EXAMPLES = FIXTURES / "cds-hooks-examples"
PATIENTS = {"nl-ppi-low-mg": "nl-1", "us-vitd-deficient": "us-1"}


def draft_orders(name: str) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads((FIXTURES / "draft-orders" / f"{name}.json").read_text(encoding="utf-8"))
    return bundle


def spec_example(path: str) -> dict[str, Any]:
    """One of the published CDS Hooks examples, vendored in fhir_fixtures/cds-hooks-examples (README: provenance)."""
    text = (SPEC_EXAMPLES / path).read_text(encoding="utf-8")
    example: dict[str, Any] = json.loads("{" + text + "}" if path.endswith(".fragment.json") else text)
    return example


def prefetch_for(
    resources: list[dict[str, Any]], context: dict[str, Any], keys: list[str] | None = None
) -> dict[str, Any]:
    return fixture_prefetch(resources, TEMPLATES, context, keys)


def request(
    hook: str = "patient-view",
    record: str = "nl-ppi-low-mg",
    *,
    prefetch_keys: list[str] | None = None,
    drafts: str | None = None,
    selections: list[str] | None = None,
    fhir_server: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": PATIENTS[record]}
    if drafts is not None:
        bundle = draft_orders(drafts)
        context["draftOrders"] = bundle
        if hook == "order-select":
            refs = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]]
            context["selections"] = selections if selections is not None else refs
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": "2f6a7c1e-4b7d-4b15-9a53-5d1f0c9e8a21",
        "context": context,
        "prefetch": prefetch_for(load_record(record), context, prefetch_keys),
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if token is not None:
        body["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/*.read",
            "subject": "vitdmg-cds",
        }
    return copy.deepcopy(body)
