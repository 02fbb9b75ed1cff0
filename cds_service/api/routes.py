"""The HTTP routes: CDS Hooks discovery, service calls and feedback (behind the EHR's JWT), and health.

A service call is the pipeline's line: the request read within the limits, `invoke` (prefetch, parsing, facts,
rules, cards), then the audit step, then the response. Each route takes what it needs as `Annotated`
dependencies (api/deps.py); nothing here is built per app.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pydantic
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from cds_service import metrics
from cds_service.api.deps import (
    AccessDep,
    AuditDep,
    DrainDep,
    EngineDep,
    KnowledgeDep,
    LimiterDep,
    NowDep,
    ServiceDep,
    ServicesDep,
    SettingsDep,
    StoreDep,
    ValidatedDep,
    authenticate,
)
from cds_service.api.limits import read_json_body
from cds_service.api.logs import log_event
from cds_service.cdshooks.models import DiscoveryResponse, FeedbackRequest, to_wire, wire_json
from cds_service.errors import Issue, ServiceError, json_path
from cds_service.reasoning.invocation import invoke, parse_request
from cds_service.store.audit import SUPPRESSED_KEY, suppress_and_record
from cds_service.store.database import FeedbackItem

logger = logging.getLogger("vitdmg_cds")
# The body is read by hand (limits first, then the model), so its schema is declared for the OpenAPI document.
REQUEST_BODY_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["hook", "hookInstance", "context"],
                    "properties": {
                        "hook": {"type": "string"},
                        "hookInstance": {"type": "string"},
                        "fhirServer": {"type": "string"},
                        "fhirAuthorization": {"type": "object"},
                        "context": {"type": "object"},
                        "prefetch": {"type": "object"},
                        "extension": {"type": "object"},
                    },
                }
            }
        },
    }
}

cds_hooks = APIRouter(dependencies=[Depends(authenticate)])
health = APIRouter()


@cds_hooks.get("/cds-services")
async def discovery(services: ServicesDep, knowledge: KnowledgeDep) -> JSONResponse:
    body = DiscoveryResponse(services=[s.describe(knowledge.version) for s in services.values()])
    return JSONResponse(to_wire(body))


@cds_hooks.post("/cds-services/{service_id}", openapi_extra=REQUEST_BODY_OPENAPI)
async def call_service(
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    knowledge: KnowledgeDep,
    engine: EngineDep,
    store: StoreDep,
    audit: AuditDep,
    access: AccessDep,
    limiter: LimiterDep,
    validated: ValidatedDep,
    now: NowDep,
) -> Response:
    body = await read_json_body(request, settings)
    cds_request = parse_request(body, service)
    locale = pick_locale(request.headers.get("accept-language"), settings.locale)
    outcome = await invoke(
        cds_request,
        service,
        knowledge=knowledge,
        engine=engine,
        settings=settings,
        locale=locale,
        access=access,
        now=now,
        cache=validated,
        limiter=limiter,
    )
    audit_started = time.perf_counter()

    def record_and_write() -> tuple[float, bytes]:
        """Suppression and audit, then the response's bytes: one trip to a worker thread (issue 14)."""
        suppress_and_record(store, audit, settings, service.id, cds_request, outcome, knowledge.version, now)
        return (time.perf_counter() - audit_started) * 1000, wire_json(outcome.response)

    audit_ms, content = await anyio.to_thread.run_sync(record_and_write)
    metrics.observe_steps({**outcome.timings, "audit": audit_ms})
    metrics.observe_cards(
        service.id,
        [(c.source.topic.code if c.source.topic else "", c.indicator) for c in outcome.response.cards],
        (outcome.response.extension or {}).get(SUPPRESSED_KEY, {}).get("codes", []),
    )
    log_event(
        "invocation",
        service=service.id,
        hookInstance=cds_request.hookInstance,
        timings_ms=outcome.timings,
        cards=outcome.card_codes,
    )
    return Response(content, media_type="application/json")


@cds_hooks.post("/cds-services/{service_id}/feedback")
async def feedback(
    request: Request, service: ServiceDep, settings: SettingsDep, store: StoreDep, audit: AuditDep
) -> JSONResponse:
    """K1-K8: store each outcome once; a card this service never issued is a 404."""
    service_id = service.id
    body = await read_json_body(request, settings)
    try:
        parsed = FeedbackRequest.model_validate(body)
    except pydantic.ValidationError as error:
        issues = [Issue("invalid", f"{json_path(e['loc'])}: {e['msg']}", json_path(e["loc"])) for e in error.errors()]
        raise ServiceError(400, issues) from None
    if len(parsed.feedback) > settings.max_feedback_entries:
        limit = settings.max_feedback_entries
        message = f"{len(parsed.feedback)} entries; at most {limit} (VITDMG_MAX_FEEDBACK_ENTRIES)"
        raise ServiceError(413, [Issue("too-costly", message, "feedback")])
    received = datetime.now(UTC)
    latest = received + timedelta(seconds=settings.jwt_leeway_seconds)
    future = [i for i, e in enumerate(parsed.feedback) if e.outcomeTimestamp > latest]
    if future:  # an override "in the future" would keep a card quiet for longer than any setting allows
        where = [f"feedback[{i}].outcomeTimestamp" for i in future]
        raise ServiceError(400, [Issue("invalid", "outcomeTimestamp is in the future", w) for w in where])
    cards = [entry.card for entry in parsed.feedback]
    known = await anyio.to_thread.run_sync(store.issued_by, service_id, cards)
    if len(known) < len(set(cards)):
        # a card answered moments ago may still be in the audit queue: of this process (written now), or
        # of another worker (written within its flush interval)
        if audit.pending(cards, service_id):
            await anyio.to_thread.run_sync(audit.flush)
            known = await anyio.to_thread.run_sync(store.issued_by, service_id, cards)
        deadline = anyio.current_time() + max(1.0, 4 * settings.audit_flush_seconds)
        while len(known) < len(set(cards)) and anyio.current_time() < deadline:
            await anyio.sleep(0.05)
            known = await anyio.to_thread.run_sync(store.issued_by, service_id, cards)
    unknown = [(i, c) for i, c in enumerate(cards) if c not in known]
    if unknown:
        issues = [
            Issue("not-found", f"card {c!r} was not issued by {service_id}", f"feedback[{i}].card") for i, c in unknown
        ]
        raise ServiceError(404, issues)
    items = [
        FeedbackItem(e.card, e.outcome, e.reason_code(), len(e.acceptedSuggestions or []), e.outcomeTimestamp)
        for e in parsed.feedback
    ]
    stored, duplicates = await anyio.to_thread.run_sync(store.add_feedback, items, received)
    outcomes = sorted({e.outcome for e in parsed.feedback})
    log_event("feedback", service=service_id, stored=stored, duplicates=duplicates, outcomes=outcomes)
    metrics.observe_feedback(service_id, [e.outcome for e in parsed.feedback], stored, duplicates)
    return JSONResponse({"stored": stored, "duplicates": duplicates})


@health.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/readyz")
async def readyz(
    settings: SettingsDep, knowledge: KnowledgeDep, engine: EngineDep, store: StoreDep, drain: DrainDep
) -> JSONResponse:
    if drain.draining:  # SIGTERM: load balancers take this process out while it finishes its requests
        raise ServiceError(503, [Issue("transient", "draining: this process is stopping")])
    reachable = await anyio.to_thread.run_sync(store.ping)
    ready: dict[str, Any] = {
        "status": "ready",
        "knowledge": knowledge.version,
        "profile": settings.profile,
        "rulesets": "compiled",
        "engine_live_sessions": engine.live_sessions,
        "auth": settings.auth,
        "store": "reachable" if reachable else "unreachable",
    }
    if not reachable:  # every call would fail on the audit step: take this instance out of rotation
        ready["status"] = "not ready"
    if settings.auth == "disabled":
        ready["warning"] = "authentication is disabled (VITDMG_AUTH=disabled)"
        logger.warning("readyz: authentication is disabled", extra={"event": {"auth": "disabled"}})
    return JSONResponse(ready, status_code=200 if reachable else 503)


def pick_locale(header: str | None, default: str) -> str:
    """The first of nl/en in Accept-Language by preference (q-values), else the configured default."""
    if not header:
        return default
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in ("nl", "en") and quality > 0:
            ranked.append((-quality, index, language))
    return sorted(ranked)[0][2] if ranked else default
