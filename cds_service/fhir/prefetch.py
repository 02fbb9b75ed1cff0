"""Prefetch resolution (conformance D6-D14): use what the client sent, fetch the rest from `fhirServer`."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from cds_service import metrics
from cds_service.cdshooks.models import CDSRequest
from cds_service.errors import Issue, ServiceError
from cds_service.fhir.client import FhirClient, FhirUnavailable, bundle_resources, next_link, server_refusal
from cds_service.reports import Report
from cds_service.settings import Settings

_TOKEN = re.compile(r"\{\{([^{}]+)\}\}")
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


@dataclass
class Prefetched:
    """Per prefetch key: the resources found (empty = the client or server has none)."""

    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    reports: list[Report] = field(default_factory=list)


@dataclass(frozen=True)
class FhirAccess:
    """How this request may reach the EHR's FHIR server (None when it sent no `fhirServer`)."""

    http: httpx.AsyncClient
    max_pages: int
    budget_seconds: float
    allowed_servers: list[str] | None = None  # None: any (only for in-process evaluation of files)
    http_hosts: list[str] = field(default_factory=list)
    max_response_bytes: int = 20 * 1024 * 1024
    max_json_depth: int = 64


def fhir_http_client(settings: Settings) -> httpx.AsyncClient:
    """The client for EHR FHIR servers: the configured timeouts, never following a redirect."""
    timeout = httpx.Timeout(settings.fhir_read_timeout, connect=settings.fhir_connect_timeout)
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False)


def fhir_access(http: httpx.AsyncClient, settings: Settings, *, any_server: bool = False) -> FhirAccess:
    """The settings' FHIR rules over `http`; `any_server` only where no network is reached (fixture files)."""
    return FhirAccess(
        http,
        settings.fhir_max_pages,
        settings.fhir_budget_seconds,
        allowed_servers=None if any_server else settings.fhir_allowed_servers,
        http_hosts=settings.fhir_http_hosts,
        max_response_bytes=settings.fhir_max_response_bytes,
        max_json_depth=settings.max_json_depth,
    )


def render_template(template: str, context: dict[str, Any]) -> str | None:
    """D2-D4: replace `{{context.x}}` and `{{userXId}}` tokens, percent-encoded; None when a token has no value.

    Encoded, a value like `x/../../admin` stays one path segment or one parameter value.
    """
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        token = match.group(1).strip()
        if token.startswith("context."):
            value = context.get(token.removeprefix("context."))
            if isinstance(value, str) and value:
                return quote(value, safe="")
        elif token in _USER_TOKENS:
            user = context.get("userId")
            prefix = _USER_TOKENS[token] + "/"
            if isinstance(user, str) and user.startswith(prefix):
                return quote(user.removeprefix(prefix), safe="")
        missing = True
        return ""

    rendered = _TOKEN.sub(replace, template)
    return None if missing else rendered


async def resolve_prefetch(
    request: CDSRequest, templates: dict[str, str], access: FhirAccess | None, optional: frozenset[str] = frozenset()
) -> Prefetched:
    """Resolve every template; raises 412 naming each key that could not be had.

    An `optional` key (data many systems do not keep) that can be had neither way is reported, not a 412.
    """
    result = Prefetched()
    sent = request.prefetch or {}
    to_fetch: dict[str, str] = {}
    for key, template in templates.items():
        if key in sent and sent[key] is None:  # D7: the client has no such data
            result.resources[key], result.origin[key] = [], "prefetch-null"
            continue
        value = sent.get(key)
        if isinstance(value, dict) and value.get("resourceType") not in (None, "OperationOutcome"):
            if value["resourceType"] == "Bundle" and next_link(value) is not None:
                to_fetch[key] = template  # D12: paged prefetch; the rest comes from fhirServer
                result.resources[key] = bundle_resources(value)
            else:
                result.resources[key] = bundle_resources(value) if value["resourceType"] == "Bundle" else [value]
            result.origin[key] = "prefetch"
            continue
        if key in sent:
            what = "an OperationOutcome" if isinstance(value, dict) else "not a FHIR resource"
            result.reports.append(Report("prefetch", f"prefetch.{key}", f"prefetch value is {what}; fetched instead"))
        to_fetch[key] = template
    if not to_fetch:
        return result
    await _fetch_missing(request, to_fetch, access, result, optional)
    return result


async def _fetch_missing(
    request: CDSRequest,
    to_fetch: dict[str, str],
    access: FhirAccess | None,
    result: Prefetched,
    optional: frozenset[str] = frozenset(),
) -> None:
    sent = request.prefetch or {}
    refusal = None
    if access is not None and request.fhirServer is not None and access.allowed_servers is not None:
        refusal = server_refusal(request.fhirServer, access.allowed_servers, access.http_hosts)
    if access is None or request.fhirServer is None or refusal is not None:
        if refusal is not None:
            metrics.FHIR_FAILURES.labels("not-allowed").inc()
        why = f"{refusal}; it was not called" if refusal else "no fhirServer to fetch the rest"
        # A paged prefetch without a server to page on: use the first page, say so.
        for key in [k for k in to_fetch if k in result.resources]:
            result.reports.append(Report("prefetch", f"prefetch.{key}", f"only the first page was sent; {why}"))
            del to_fetch[key]
        for key in [k for k in to_fetch if k in optional]:
            result.resources[key], result.origin[key] = [], "absent"
            result.reports.append(Report("prefetch", f"prefetch.{key}", f"not sent and {why}; not considered"))
            del to_fetch[key]
        if to_fetch:
            raise _precondition_failed(
                to_fetch, f"not in prefetch, and {why}" if refusal else "not in prefetch and no fhirServer was given"
            )
        return
    token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
    client = FhirClient(
        access.http, request.fhirServer, token, access.max_pages, access.max_response_bytes, access.max_json_depth
    )

    async def fetch(key: str, template: str) -> tuple[str, list[dict[str, Any]] | None]:
        first = sent.get(key)
        if isinstance(first, dict) and first.get("resourceType") == "Bundle" and next_link(first):
            return key, await client.search_pages("", first_page=first)
        query = render_template(template, request.context)
        if query is None:
            raise FhirUnavailable("a token in its template has no value in the context")
        return key, await client.query(query)

    tasks = {key: asyncio.ensure_future(fetch(key, template)) for key, template in to_fetch.items()}
    _done, pending = await asyncio.wait(tasks.values(), timeout=access.budget_seconds)
    for task in pending:
        task.cancel()
    failures: dict[str, str] = {}
    for key, task in tasks.items():
        if task in pending:
            failures[key] = f"FHIR server did not answer within {access.budget_seconds:g} s"
            metrics.FHIR_FAILURES.labels("budget").inc()
            continue
        error = task.exception()
        if isinstance(error, FhirUnavailable) and key in optional:
            result.resources[key], result.origin[key] = [], "absent"
            result.reports.append(Report("prefetch", f"prefetch.{key}", f"FHIR server: {error}; not considered"))
        elif isinstance(error, FhirUnavailable):
            failures[key] = f"FHIR server: {error}"
        elif error is not None:
            raise error
        else:
            _, resources = task.result()
            result.resources[key] = resources or []
            result.origin[key] = "fhirServer"
    if failures:
        raise ServiceError(
            412,
            [
                Issue("not-found", f"prefetch key {k!r} could not be obtained: {why}", f"prefetch.{k}")
                for k, why in failures.items()
            ],
        )


def _precondition_failed(keys: dict[str, str], why: str) -> ServiceError:
    return ServiceError(
        412, [Issue("not-found", f"prefetch key {k!r} is needed: {why}", f"prefetch.{k}") for k in keys]
    )
