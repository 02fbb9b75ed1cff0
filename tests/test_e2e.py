"""End to end over real HTTP: the service and a fixture FHIR server each run under uvicorn on a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from cds_service.api.app import create_app
from cds_service.knowledge.loader import Knowledge
from cds_service.settings import Settings

from .builders import request
from .conformance import check_discovery, check_service_response
from .conftest import NOW, card_codes
from .fhir_server import FixtureFhirServer, load_record

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run an ASGI app under uvicorn in a thread; yields its base URL; stops it afterwards."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_discovery_and_patient_view_over_http(knowledge: Knowledge) -> None:
    app = create_app(Settings(auth="disabled"), knowledge=knowledge, clock=lambda: NOW)
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        discovery = client.get("/cds-services")
        assert discovery.status_code == 200 and discovery.headers["content-type"] == "application/json"
        check_discovery(discovery.json())
        response = client.post("/cds-services/vitd-mg-patient-view", json=request(), headers={"Accept-Language": "en"})
        assert response.status_code == 200
        check_service_response(response.json())
        assert "mg-loss-ppi" in card_codes(response.json())
        bad = client.post(
            "/cds-services/vitd-mg-patient-view", content=b"{", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"


def test_fhir_fallback_over_http(knowledge: Knowledge) -> None:
    """D9, D11 over real sockets: no prefetch; the service queries the fixture FHIR server with the token."""
    fhir = FixtureFhirServer(load_record("nl-ppi-low-mg"), page_size=2)
    with serve(fhir.app()) as fhir_base:
        settings = Settings(auth="disabled", fhir_allowed_servers=[f"{fhir_base}/fhir"], fhir_http_hosts=["127.0.0.1"])
        app = create_app(settings, knowledge=knowledge, clock=lambda: NOW)
        with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
            body = request(fhir_server=f"{fhir_base}/fhir", token="e2e-token")
            del body["prefetch"]
            response = client.post("/cds-services/vitd-mg-patient-view", json=body)
            assert response.status_code == 200, response.text
            assert card_codes(response.json())["mg-loss-ppi"] == "warning"
    assert len(fhir.seen) >= 5 and {c["authorization"] for c in fhir.seen} == {"Bearer e2e-token"}
