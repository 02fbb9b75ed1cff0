"""Run by HealthChain's own interpreter (its pins conflict with ours): a real CDS client's models read our answers.

Usage: python healthchain_check.py BASE_URL REQUESTS_JSON. REQUESTS_JSON maps a service id to a request body.
Builds each request with HealthChain's CDSRequest and hook context models, posts it, and parses discovery and
every response with HealthChain's models. Prints one JSON summary line; exits 1 when anything fails to parse.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx
from healthchain.models.hooks.orderselect import OrderSelectContext
from healthchain.models.hooks.ordersign import OrderSignContext
from healthchain.models.hooks.patientview import PatientViewContext
from healthchain.models.requests.cdsrequest import CDSRequest
from healthchain.models.responses.cdsdiscovery import CDSServiceInformation
from healthchain.models.responses.cdsresponse import CDSResponse
from pydantic import ValidationError

CONTEXTS = {"patient-view": PatientViewContext, "order-select": OrderSelectContext, "order-sign": OrderSignContext}


def main(base: str, requests_file: str) -> int:
    with open(requests_file, encoding="utf-8") as handle:
        bodies: dict[str, dict[str, Any]] = json.load(handle)
    summary: dict[str, Any] = {"errors": [], "services": [], "responses": {}}
    with httpx.Client(base_url=base, timeout=60) as client:
        discovery = client.get("/cds-services")
        try:
            services = CDSServiceInformation.model_validate(discovery.json())
            summary["services"] = [s.id for s in services.services]
        except ValidationError as error:
            summary["errors"].append(f"discovery: {error}")
        for service_id, body in bodies.items():
            try:
                context = CONTEXTS[body["hook"]].model_validate(body["context"])
                request = CDSRequest(hook=body["hook"], context=context, prefetch=body.get("prefetch"))
            except ValidationError as error:
                summary["errors"].append(f"{service_id} request: {error}")
                continue
            payload = request.model_dump(mode="json", exclude_none=True, by_alias=True)
            # CDSRequest.context is typed BaseHookContext, so pydantic serialises only the base fields:
            # the hook's own fields (selections, draftOrders) are dumped from the context model itself.
            payload["context"] = context.model_dump(mode="json", exclude_none=True)
            response = client.post(f"/cds-services/{service_id}", json=payload)
            if response.status_code != 200:
                summary["errors"].append(f"{service_id}: HTTP {response.status_code} {response.text[:300]}")
                continue
            try:
                parsed = CDSResponse.model_validate(response.json())
            except ValidationError as error:
                summary["errors"].append(f"{service_id} response: {error}")
                continue
            summary["responses"][service_id] = {
                "cards": len(parsed.cards),
                "suggestions": sum(len(c.suggestions or []) for c in parsed.cards),
                "recommended": sum(1 for c in parsed.cards for s in c.suggestions or [] if s.isRecommended),
            }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
