"""The ASGI application: an explicit factory taking settings, as Starlette does; no module-level app."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pydantic
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cds_service import metrics
from cds_service.api._errors import CatchInternalErrors
from cds_service.api._headers import SecurityHeaders
from cds_service.api.draining import Drain
from cds_service.api.limits import read_json_body
from cds_service.api.logs import configure_logging, log_event
from cds_service.api.preview import add_preview
from cds_service.cdshooks.auth import AuthError, JwksStore, JwtVerifier, TrustedIssuer, load_trusted_issuers
from cds_service.cdshooks.models import DiscoveryResponse, FeedbackRequest, to_wire, wire_json
from cds_service.cdshooks.services import build_services
from cds_service.errors import Issue, ServiceError, json_path, operation_outcome
from cds_service.fhir.prefetch import fhir_access, fhir_http_client
from cds_service.fhir.validated_cache import ValidatedCache
from cds_service.knowledge.loader import Knowledge, load_knowledge
from cds_service.reasoning.engine import RuleEngine
from cds_service.reasoning.invocation import invoke, parse_request
from cds_service.settings import PROFILES, Settings
from cds_service.store.audit import SUPPRESSED_KEY, suppress_and_record
from cds_service.store.audit_writer import AuditWriter
from cds_service.store.database import FeedbackItem, open_store

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


def create_app(
    settings: Settings | None = None,
    *,
    knowledge: Knowledge | None = None,
    http_client: httpx.AsyncClient | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the service. Knowledge is loaded and every ruleset compiled here, so a bad rule fails startup.

    Args:
        settings: the configuration; read from the environment when omitted.
        knowledge: pre-loaded knowledge (tests share one); loaded from `settings.rules_dir` when omitted.
        http_client: the client for FHIR calls; one with the configured timeouts when omitted.
        clock: "now" for look-back windows and ages; the system clock when omitted.
    """
    settings = settings or Settings()
    configure_logging(settings.log_level)
    refusals = settings.serving_refusals()
    if refusals:
        raise ValueError("; ".join(refusals))
    issuers = _trusted_issuers(settings)
    store = open_store(settings, migrate=settings.migrate_on_start)
    knowledge = knowledge or load_knowledge(settings.rules_dir)
    engine = RuleEngine(knowledge, PROFILES)
    services = build_services(knowledge)
    validated = ValidatedCache(settings.validation_cache_entries) if settings.validation_cache_entries else None
    drain = Drain(settings.drain_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_client = http_client is None
        client = http_client or fhir_http_client(settings)
        app.state.access = fhir_access(client, settings)
        app.state.limiter = anyio.CapacityLimiter(settings.worker_threads)
        app.state.verifier = (
            JwtVerifier(
                issuers,
                JwksStore(client, settings.jwks_refresh_seconds),
                store,
                settings.jwt_leeway_seconds,
                settings.jwt_max_lifetime_seconds,
            )
            if settings.auth == "required"
            else None
        )
        app.state.audit = AuditWriter(
            store, flush_seconds=settings.audit_flush_seconds, max_queued_cards=settings.audit_queue_cards
        )
        if settings.auth == "disabled":
            logger.warning(
                "authentication is disabled (VITDMG_AUTH=disabled): any caller is let in",
                extra={"event": {"auth": "disabled"}},
            )
        drain.install()
        try:
            yield
        finally:
            drain.uninstall()
            if own_client:
                await client.aclose()
            await drain_audit(app)
            store.dispose()

    app = FastAPI(title="vitdmg-cds", version=knowledge.version, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings, app.state.knowledge, app.state.engine, app.state.store = settings, knowledge, engine, store
    app.state.validated = validated
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept-Language"],
        )
    app.add_middleware(metrics.RequestMetrics, hooks={sid: s.hook for sid, s in services.items()})
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    app.add_route("/metrics", metrics.metrics_endpoint(token), include_in_schema=False)
    app.add_middleware(CatchInternalErrors)  # a 500 logged as type and place only, never re-raised to uvicorn
    app.add_middleware(SecurityHeaders)  # added last: the outermost, so CORS answers carry the headers too
    _add_error_handlers(app)

    async def authenticate(request: Request) -> None:
        """L3-L11: every discovery and service call carries the EHR's JWT (unless auth is disabled)."""
        verifier: JwtVerifier | None = request.app.state.verifier
        if verifier is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            metrics.observe_auth_failure("no bearer token")
            raise ServiceError(401, [Issue("login", "a bearer token (the EHR's JWT) is required")])
        # the configured base only: Host and X-Forwarded-* are the caller's to choose (startup requires the base)
        audience = str(settings.public_base_url).rstrip("/") + request.url.path
        try:
            await verifier.verify(token.strip(), audience)
        except AuthError as error:
            log_event("unauthorised", path=request.url.path, reason=str(error))
            metrics.observe_auth_failure(str(error))
            raise ServiceError(401, [Issue("security", str(error))]) from None

    @app.get("/cds-services", dependencies=[Depends(authenticate)])
    async def discovery() -> JSONResponse:
        body = DiscoveryResponse(services=[s.describe(knowledge.version) for s in services.values()])
        return JSONResponse(to_wire(body))

    @app.post("/cds-services/{service_id}", dependencies=[Depends(authenticate)], openapi_extra=REQUEST_BODY_OPENAPI)
    async def call_service(service_id: str, request: Request) -> Response:
        service = services.get(service_id)
        if service is None:
            raise ServiceError(404, [Issue("not-found", f"no CDS service with id {service_id!r}", "id")])
        body = await read_json_body(request, settings)
        cds_request = parse_request(body, service)
        now = clock() if clock else datetime.now(UTC)
        locale = pick_locale(request.headers.get("accept-language"), settings.locale)
        outcome = await invoke(
            cds_request,
            service,
            knowledge=knowledge,
            engine=engine,
            settings=settings,
            locale=locale,
            access=request.app.state.access,
            now=now,
            cache=validated,
            limiter=request.app.state.limiter,
        )
        audit_started = time.perf_counter()
        audit: AuditWriter = request.app.state.audit

        def record_and_write() -> tuple[float, bytes]:
            """Suppression and audit, then the response's bytes: one trip to a worker thread (issue 14)."""
            suppress_and_record(store, audit, settings, service_id, cds_request, outcome, knowledge.version, now)
            return (time.perf_counter() - audit_started) * 1000, wire_json(outcome.response)

        audit_ms, content = await anyio.to_thread.run_sync(record_and_write)
        metrics.observe_steps({**outcome.timings, "audit": audit_ms})
        metrics.observe_cards(
            service_id,
            [(c.source.topic.code if c.source.topic else "", c.indicator) for c in outcome.response.cards],
            (outcome.response.extension or {}).get(SUPPRESSED_KEY, {}).get("codes", []),
        )
        log_event(
            "invocation",
            service=service_id,
            hookInstance=cds_request.hookInstance,
            timings_ms=outcome.timings,
            cards=outcome.card_codes,
        )
        return Response(content, media_type="application/json")

    @app.post("/cds-services/{service_id}/feedback", dependencies=[Depends(authenticate)])
    async def feedback(service_id: str, request: Request) -> JSONResponse:
        """K1-K8: store each outcome once; a card this service never issued is a 404."""
        if service_id not in services:
            raise ServiceError(404, [Issue("not-found", f"no CDS service with id {service_id!r}", "id")])
        body = await read_json_body(request, settings)
        try:
            parsed = FeedbackRequest.model_validate(body)
        except pydantic.ValidationError as error:
            issues = [
                Issue("invalid", f"{json_path(e['loc'])}: {e['msg']}", json_path(e["loc"])) for e in error.errors()
            ]
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
            audit: AuditWriter = request.app.state.audit
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
                Issue("not-found", f"card {c!r} was not issued by {service_id}", f"feedback[{i}].card")
                for i, c in unknown
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

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
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

    add_preview(app, settings, knowledge, engine)
    # Knowledge, compiled rulesets and the FHIR models live as long as the process: out of the collector's way,
    # so a full collection during a large request (it holds the GIL) does not stall the event loop for long.
    gc.freeze()
    return app


async def drain_audit(app: FastAPI, timeout: float = 10.0) -> int:
    """Write every queued audit row (shutdown calls this; idempotent). Returns the cards left unwritten."""
    audit: AuditWriter | None = getattr(app.state, "audit", None)
    if audit is None:
        return 0
    return await anyio.to_thread.run_sync(audit.drain, timeout)


def _trusted_issuers(settings: Settings) -> dict[str, TrustedIssuer]:
    """The EHRs required auth trusts (`serving_refusals` made sure the file is named); a bad file stops startup."""
    if settings.auth == "disabled" or settings.trusted_issuers_file is None:
        return {}
    return load_trusted_issuers(settings.trusted_issuers_file)


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


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, error: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(operation_outcome(error.issues), status_code=error.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        issues = [Issue("invalid", str(e.get("msg")), json_path(tuple(e.get("loc", ())))) for e in error.errors()]
        return JSONResponse(operation_outcome(issues), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "not-supported"}.get(error.status_code, "processing")
        return JSONResponse(
            operation_outcome([Issue(code, str(error.detail))]),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )
