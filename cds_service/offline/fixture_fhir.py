"""FHIR from files: a small FHIR server over a list of resources, and prefetch built as the templates ask.

Used by `vitdmg-cds evaluate` (scenarios whose prefetch is partial or absent), by `bundle-to-request`,
and by the tests. Searches support what the service's templates use: `patient`, `code` and `status`
token lists, `_sort=-date`, and paging (`next` links) when a page size is set.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cds_service.fhir._dates import observation_time
from cds_service.fhir.client import FHIR_JSON
from cds_service.fhir.prefetch import render_template


def _reference_id(resource: dict[str, Any]) -> str | None:
    for key in ("subject", "patient"):
        ref = resource.get(key)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            return str(ref["reference"]).rsplit("/", 1)[-1]
    return None


def _effective(resource: dict[str, Any]) -> str:
    return str(observation_time(resource) or "")


def search(resources: list[dict[str, Any]], resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
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
        found.sort(key=_effective, reverse=True)
    return found


def medications_for(resources: list[dict[str, Any]], matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Medication resources the matches reference (what `_include` would add)."""
    wanted = {
        str(m["medicationReference"]["reference"]).rsplit("/", 1)[-1]
        for m in matches
        if isinstance(m.get("medicationReference"), dict) and "reference" in m["medicationReference"]
    }
    return [r for r in resources if r.get("resourceType") == "Medication" and r.get("id") in wanted]


def searchset(matches: list[dict[str, Any]], included: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    entries = [{"resource": r, "search": {"mode": "match"}} for r in matches]
    entries += [{"resource": r, "search": {"mode": "include"}} for r in included or []]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(matches), "entry": entries}


def prefetch_for(
    resources: list[dict[str, Any]], templates: dict[str, str], context: dict[str, Any], keys: list[str] | None = None
) -> dict[str, Any]:
    """What a client that satisfies the templates sends: reads as the resource (or null), searches as Bundles."""
    prefetch: dict[str, Any] = {}
    for key, template in templates.items():
        if keys is not None and key not in keys:
            continue
        query = render_template(template, context)
        if query is None:
            continue
        resource_type, _, params = query.partition("?")
        if not params:
            kind, _, rid = resource_type.partition("/")
            rid = unquote(rid)
            prefetch[key] = next((r for r in resources if r.get("resourceType") == kind and r.get("id") == rid), None)
            continue
        found = search(resources, resource_type, dict(parse_qsl(params)))
        prefetch[key] = searchset(found, medications_for(resources, found))
    return prefetch


@dataclass
class FixtureFhirServer:
    """An ASGI FHIR server over `resources`; every request is recorded in `seen`.

    `fail` and `stall` map a resource type to an HTTP status or a delay in seconds, for testing failures.
    """

    resources: list[dict[str, Any]]
    page_size: int | None = None
    fail: dict[str, int] = field(default_factory=dict)
    stall: dict[str, float] = field(default_factory=dict)
    seen: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        routes = []
        for prefix in ("/fhir", ""):
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
            outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}
            return JSONResponse(outcome, status_code=self.fail[resource_type])
        return None

    async def _read(self, request: Request) -> JSONResponse:
        resource_type, rid = request.path_params["resource_type"], request.path_params["id"]
        if (gated := await self._gate(request, resource_type)) is not None:
            return gated
        for r in self.resources:
            if r.get("resourceType") == resource_type and r.get("id") == rid:
                return JSONResponse(r, media_type=FHIR_JSON)
        outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}
        return JSONResponse(outcome, status_code=404)

    async def _search(self, request: Request) -> JSONResponse:
        resource_type = request.path_params["resource_type"]
        if (gated := await self._gate(request, resource_type)) is not None:
            return gated
        params = {k: v for k, v in request.query_params.items() if k != "_page"}
        found = search(self.resources, resource_type, params)
        if self.page_size is None:
            return JSONResponse(searchset(found, medications_for(self.resources, found)), media_type=FHIR_JSON)
        page = int(request.query_params.get("_page", "1"))
        chunk = found[(page - 1) * self.page_size : page * self.page_size]
        bundle = searchset(chunk, medications_for(self.resources, chunk))
        if page * self.page_size < len(found):
            query = urlencode({**params, "_page": page + 1})
            url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}?{query}"
            bundle["link"] = [{"relation": "next", "url": url}]
        return JSONResponse(bundle, media_type=FHIR_JSON)
