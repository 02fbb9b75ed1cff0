"""Shared fixtures: every test builds its own app; every response goes through the conformance checks."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cds_service.api.app import create_app
from cds_service.knowledge.loader import Knowledge, load_knowledge
from cds_service.settings import Settings

from .conformance import check_discovery, check_error_body, check_service_response
from .fhir_server import FixtureFhirServer, load_record

SERVICE_PATH = re.compile(r"^/cds-services/[^/]+$")
FHIR_BASE = "https://ehr.example.org/fhir"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


async def check_every_response(response: httpx.Response) -> None:
    """A1 and the response invariants, on every response any test receives."""
    await response.aread()
    assert response.headers["x-content-type-options"] == "nosniff", "security headers on every response"
    assert response.headers["cache-control"] == "no-store"
    if response.request.method == "OPTIONS":  # a CORS preflight has no body to speak of
        return
    assert response.headers["content-type"].startswith("application/json"), "A1: JSON bodies"
    body = json.loads(response.content)
    path = response.request.url.path
    if response.status_code == 200 and SERVICE_PATH.match(path) and response.request.method == "POST":
        check_service_response(body)
    elif response.status_code == 200 and path == "/cds-services":
        check_discovery(body)
    elif 400 <= response.status_code < 500:
        check_error_body(body)


@pytest.fixture(autouse=True)
def _store_in_tmp(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every app a test builds keeps its SQLite store in the test's own folder."""
    monkeypatch.setenv("VITDMG_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge()


AppClient = Callable[..., Any]


@pytest.fixture
async def make_client(knowledge: Knowledge) -> AsyncIterator[AppClient]:
    """make_client(fhir=FixtureFhirServer|None, **settings) -> an httpx client bound to a fresh app."""
    async with AsyncExitStack() as stack:

        async def factory(fhir: FixtureFhirServer | None = None, **overrides: Any) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=fhir.app()) if fhir is not None else httpx.MockTransport(_no_network)
            fhir_http = await stack.enter_async_context(httpx.AsyncClient(transport=transport))
            defaults: dict[str, Any] = {
                "auth": "disabled",
                "fhir_allowed_servers": [FHIR_BASE, "http://hooks.smarthealthit.org:9080"],
                "fhir_http_hosts": ["hooks.smarthealthit.org"],
            }
            app = create_app(
                Settings(**{**defaults, **overrides}), knowledge=knowledge, http_client=fhir_http, clock=lambda: NOW
            )
            await stack.enter_async_context(app.router.lifespan_context(app))
            return await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                    base_url="http://testserver",
                    event_hooks={"response": [check_every_response]},
                )
            )

        yield factory


@pytest.fixture
async def client(make_client: AppClient) -> httpx.AsyncClient:
    result: httpx.AsyncClient = await make_client()
    return result


@pytest.fixture
def fhir_nl() -> FixtureFhirServer:
    return FixtureFhirServer(load_record("nl-ppi-low-mg"))


def _no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected FHIR call to {request.url}")


def card_codes(body: dict[str, Any]) -> dict[str, str]:
    """topic code -> indicator, for every card in a response."""
    return {c["source"]["topic"]["code"]: c["indicator"] for c in body["cards"]}
