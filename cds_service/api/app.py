"""The ASGI application: an explicit factory taking settings, as Starlette does; no module-level app."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import anyio
import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cds_service import metrics
from cds_service.api._errors import CatchInternalErrors
from cds_service.api._headers import SecurityHeaders
from cds_service.api.draining import Drain
from cds_service.api.logs import configure_logging
from cds_service.api.preview import add_preview
from cds_service.api.routes import cds_hooks, health
from cds_service.cdshooks.auth import JwksStore, JwtVerifier, TrustedIssuer, load_trusted_issuers
from cds_service.cdshooks.services import build_services
from cds_service.errors import Issue, ServiceError, json_path, operation_outcome
from cds_service.fhir.prefetch import fhir_access, fhir_http_client
from cds_service.fhir.validated_cache import ValidatedCache
from cds_service.knowledge.loader import Knowledge, load_knowledge
from cds_service.reasoning.engine import RuleEngine
from cds_service.settings import Settings
from cds_service.store.audit_writer import AuditWriter
from cds_service.store.database import open_store

logger = logging.getLogger("vitdmg_cds")


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
    knowledge = knowledge or load_knowledge(settings.rules_dir)
    unknown_profile = knowledge.profile_problem(settings.profile)
    if unknown_profile:  # a profile id is the knowledge's, not the code's (issue 17)
        raise ValueError(f"VITDMG_PROFILE: {unknown_profile}")
    store = open_store(settings, migrate=settings.migrate_on_start)
    engine = RuleEngine(knowledge, knowledge.profiles.profiles)
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
    # built once, read by the routes through api/deps.py (the lifespan adds the per-process parts)
    app.state.settings, app.state.knowledge, app.state.engine, app.state.store = settings, knowledge, engine, store
    app.state.services, app.state.validated, app.state.drain, app.state.clock = services, validated, drain, clock
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

    app.include_router(cds_hooks)
    app.include_router(health)
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
