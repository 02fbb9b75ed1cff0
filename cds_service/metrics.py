"""Prometheus metrics at `/metrics`: requests, step latencies, cards, FHIR calls, feedback, auth failures.

Every label takes its value from a closed set (service ids, hooks, card codes, indicators, step names, failure
kinds, HTTP statuses): never a patient id, a pseudonym, a URL or anything else a caller sends. With several
worker processes (`vitdmg-cds serve --workers N`) each process writes its values to files under
PROMETHEUS_MULTIPROC_DIR and `/metrics` adds them up (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import hmac
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "vitdmg_requests",
    "CDS Hooks HTTP requests by endpoint, service, hook and status.",
    ["endpoint", "service", "hook", "status"],
)
REQUEST_SECONDS = Histogram(
    "vitdmg_request_seconds", "Time to answer a CDS Hooks HTTP request.", ["endpoint", "service"], buckets=STEP_BUCKETS
)
STEP_SECONDS = Histogram(
    "vitdmg_step_seconds",
    "Time per pipeline step of a service call (prefetch, parse, facts, rules, cards, audit).",
    ["step"],
    buckets=STEP_BUCKETS,
)
CARDS = Counter(
    "vitdmg_cards", "Cards returned, by service, card code and indicator.", ["service", "code", "indicator"]
)
SUPPRESSED = Counter(
    "vitdmg_cards_suppressed", "Cards left out because a clinician overrode them before.", ["service", "code"]
)
FHIR_SECONDS = Histogram(
    "vitdmg_fhir_request_seconds",
    "Time per HTTP call to an EHR's FHIR server, by kind.",
    ["kind"],
    buckets=STEP_BUCKETS,
)
FHIR_FAILURES = Counter(
    "vitdmg_fhir_failures", "FHIR fetches that could not give the data, by kind of failure.", ["kind"]
)
FEEDBACK = Counter(
    "vitdmg_feedback", "CDS Hooks feedback items received, by service and outcome.", ["service", "outcome"]
)
FEEDBACK_STORED = Counter(
    "vitdmg_feedback_stored", "Feedback items stored, or recognised as duplicates.", ["service", "result"]
)
AUTH_FAILURES = Counter("vitdmg_auth_failures", "Requests refused with 401, by reason.", ["reason"])

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def observe_steps(timings_ms: dict[str, float]) -> None:
    for step, milliseconds in timings_ms.items():
        STEP_SECONDS.labels(step).observe(milliseconds / 1000)


def observe_cards(service: str, shown: list[tuple[str, str]], suppressed: list[str]) -> None:
    """`shown`: (card code, indicator) per card returned; `suppressed`: the codes left out."""
    for code, indicator in shown:
        CARDS.labels(service, code, indicator).inc()
    for code in suppressed:
        SUPPRESSED.labels(service, code).inc()


def observe_feedback(service: str, outcomes: list[str], stored: int, duplicates: int) -> None:
    for outcome in outcomes:
        FEEDBACK.labels(service, outcome).inc()
    FEEDBACK_STORED.labels(service, "stored").inc(stored)
    FEEDBACK_STORED.labels(service, "duplicate").inc(duplicates)


def observe_auth_failure(reason: str) -> None:
    """The 401's reason with anything quoted from the token blanked, so the label set stays closed."""
    AUTH_FAILURES.labels(_QUOTED.sub("…", reason)).inc()


def metrics_endpoint(token: str | None) -> Callable[[Request], Awaitable[Response]]:
    """The `/metrics` route: the text exposition format; a bearer token when one is configured."""

    async def metrics(request: Request) -> Response:
        if token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                return JSONResponse(
                    {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "login", "diagnostics": "/metrics needs its token"}],
                    },
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)

    return metrics


def registry() -> CollectorRegistry:
    """This process's registry, or, with several workers, one that adds up every worker's files."""
    if os.environ.get(MULTIPROC_ENV):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return collected
    return REGISTRY


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class RequestMetrics:
    """ASGI middleware counting `/cds-services` requests by endpoint, service, hook and final status."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], hooks: dict[str, str]) -> None:
        self.app = app
        self.hooks = hooks  # service id -> hook; any other id is counted as "unknown"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/cds-services"):
            await self.app(scope, receive, send)
            return
        endpoint, service = _classify(str(scope["path"]), self.hooks)
        status = 500
        started = time.perf_counter()

        async def sending(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            REQUESTS.labels(endpoint, service, self.hooks.get(service, ""), str(status)).inc()
            REQUEST_SECONDS.labels(endpoint, service).observe(time.perf_counter() - started)


def _classify(path: str, hooks: dict[str, str]) -> tuple[str, str]:
    parts = path.rstrip("/").split("/")[2:]  # after "", "cds-services"
    if not parts:
        return "discovery", ""
    service = parts[0] if parts[0] in hooks else "unknown"
    if len(parts) == 1:
        return "service", service
    if len(parts) == 2 and parts[1] == "feedback":
        return "feedback", service
    return "other", "unknown"
