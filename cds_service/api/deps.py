"""What the routes need, as `Annotated` dependencies: the parts `create_app` built, and the caller checked.

Everything here reads `request.app.state`, which `create_app` fills once (settings, knowledge, compiled rules,
services, store) and its lifespan fills per process (FHIR access, worker-thread limiter, JWT verifier, audit
writer). A route names what it uses in its signature: `settings: SettingsDep`, `service: ServiceDep`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request

from cds_service import metrics
from cds_service.api.draining import Drain
from cds_service.api.logs import log_event
from cds_service.cdshooks.auth import AuthError, JwtVerifier
from cds_service.cdshooks.services import ServiceDefinition
from cds_service.errors import Issue, ServiceError
from cds_service.fhir.prefetch import FhirAccess
from cds_service.fhir.validated_cache import ValidatedCache
from cds_service.knowledge.loader import Knowledge
from cds_service.reasoning.engine import RuleEngine
from cds_service.settings import Settings
from cds_service.store.audit_writer import AuditWriter
from cds_service.store.database import Store


def _state(name: str) -> Callable[[Request], Any]:
    """A dependency returning what `create_app` (or its lifespan) stored as `app.state.<name>`."""

    def read(request: Request) -> Any:
        return getattr(request.app.state, name)

    read.__name__ = f"state_{name}"
    return read


def _now(request: Request) -> datetime:
    """The time of this call for look-back windows and ages: the app's clock (tests set one), else the system clock."""
    clock: Callable[[], datetime] | None = request.app.state.clock
    return clock() if clock else datetime.now(UTC)


SettingsDep = Annotated[Settings, Depends(_state("settings"))]
KnowledgeDep = Annotated[Knowledge, Depends(_state("knowledge"))]
EngineDep = Annotated[RuleEngine, Depends(_state("engine"))]
ServicesDep = Annotated[dict[str, ServiceDefinition], Depends(_state("services"))]
StoreDep = Annotated[Store, Depends(_state("store"))]
AuditDep = Annotated[AuditWriter, Depends(_state("audit"))]
AccessDep = Annotated[FhirAccess, Depends(_state("access"))]
LimiterDep = Annotated[anyio.CapacityLimiter, Depends(_state("limiter"))]
ValidatedDep = Annotated[ValidatedCache | None, Depends(_state("validated"))]
DrainDep = Annotated[Drain, Depends(_state("drain"))]
VerifierDep = Annotated[JwtVerifier | None, Depends(_state("verifier"))]  # None when auth is disabled
NowDep = Annotated[datetime, Depends(_now)]


def _service(service_id: str, services: ServicesDep) -> ServiceDefinition:
    """The CDS service the path names; another id is a 404."""
    service = services.get(service_id)
    if service is None:
        raise ServiceError(404, [Issue("not-found", f"no CDS service with id {service_id!r}", "id")])
    return service


ServiceDep = Annotated[ServiceDefinition, Depends(_service)]


async def authenticate(request: Request, settings: SettingsDep, verifier: VerifierDep) -> None:
    """L3-L11: every discovery and service call carries the EHR's JWT (unless auth is disabled)."""
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
