"""A small FHIR server that answers reads and searches from a fixture record directory.

Used in-process (httpx.ASGITransport) and under uvicorn in end-to-end tests. It records every request so
tests can check the bearer token, and can be told to fail, stall or page.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

FIXTURES = Path(__file__).resolve().parent.parent / "fhir_fixtures"


def load_record(name: str) -> list[dict[str, Any]]:
    """Every resource of one fixture record (fhir_fixtures/records/<name>/*.json)."""
    folder = FIXTURES / "records" / name
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def _reference_id(resource: dict[str, Any]) -> str | None:
    for key in ("subject", "patient"):
        ref = resource.get(key)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            return str(ref["reference"]).rsplit("/", 1)[-1]
    return None


def search(resources: list[dict[str, Any]], resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """FHIR search over fixture resources for the parameters the service's templates use."""
    found = [r for r in resources if r.get("resourceType") == resource_type]
    if "patient" in params:
        found = [r for r in found if _reference_id(r) == params["patient"]]
    if "status" in params:
        allowed = set(params["status"].split(","))
        found = [r for r in found if r.get("status") in allowed]
    if "code" in params:
        tokens = set(params["code"].split(","))
        found = [
            r
            for r in found
            if any(f"{c.get('system')}|{c.get('code')}" in tokens for c in (r.get("code") or {}).get("coding", []))
        ]
    if params.get("_sort") == "-date":
        found.sort(key=lambda r: str(r.get("effectiveDateTime", "")), reverse=True)
    return found


def searchset(resources: list[dict[str, Any]], included: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    entries = [{"resource": r, "search": {"mode": "match"}} for r in resources]
    entries += [{"resource": r, "search": {"mode": "include"}} for r in included or []]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources), "entry": entries}


def medications_for(resources: list[dict[str, Any]], matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Medication resources referenced by matches (as `_include` would add them)."""
    wanted = {
        m["medicationReference"]["reference"].rsplit("/", 1)[-1]
        for m in matches
        if isinstance(m.get("medicationReference"), dict) and "reference" in m["medicationReference"]
    }
    return [r for r in resources if r.get("resourceType") == "Medication" and r.get("id") in wanted]


@dataclass
class FixtureFhirServer:
    """Serves one or more fixture records; `fail`/`stall` map a resource type to a status or a delay."""

    resources: list[dict[str, Any]]
    page_size: int | None = None
    fail: dict[str, int] = field(default_factory=dict)
    stall: dict[str, float] = field(default_factory=dict)
    seen: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        routes = []
        for prefix in ("/fhir", ""):  # the spec's example fhirServer has no /fhir path
            routes += [
                Route(prefix + "/{resource_type}", self._search),
                Route(prefix + "/{resource_type}/{id}", self._read),
            ]
        return Starlette(routes=routes)

    async def _gate(self, request: Request, resource_type: str) -> JSONResponse | None:
        self.seen.append(
            {
                "path": request.url.path,
                "query": str(request.url.query),
                "authorization": request.headers.get("authorization"),
            }
        )
        if resource_type in self.stall:
            await asyncio.sleep(self.stall[resource_type])
        if resource_type in self.fail:
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "exception"}],
            }
            return JSONResponse(outcome, status_code=self.fail[resource_type])
        return None

    async def _read(self, request: Request) -> JSONResponse:
        resource_type, rid = request.path_params["resource_type"], request.path_params["id"]
        if (gated := await self._gate(request, resource_type)) is not None:
            return gated
        for r in self.resources:
            if r.get("resourceType") == resource_type and r.get("id") == rid:
                return JSONResponse(r, media_type="application/fhir+json")
        return JSONResponse(
            {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]},
            status_code=404,
        )

    async def _search(self, request: Request) -> JSONResponse:
        resource_type = request.path_params["resource_type"]
        if (gated := await self._gate(request, resource_type)) is not None:
            return gated
        params = {k: v for k, v in request.query_params.items() if k != "_page"}
        found = search(self.resources, resource_type, params)
        page = int(request.query_params.get("_page", "1"))
        bundle: dict[str, Any]
        if self.page_size is None:
            bundle = searchset(found, medications_for(self.resources, found))
        else:
            chunk = found[(page - 1) * self.page_size : page * self.page_size]
            bundle = searchset(chunk, medications_for(self.resources, chunk))
            if page * self.page_size < len(found):
                query = urlencode({**params, "_page": page + 1})
                bundle["link"] = [
                    {
                        "relation": "next",
                        "url": f"{request.url.scheme}://{request.url.netloc}{request.url.path}?{query}",
                    }
                ]
        return JSONResponse(bundle, media_type="application/fhir+json")
