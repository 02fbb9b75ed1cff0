"""`/metrics` (issue 15): every family is there after real calls, and no label carries patient data."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client.parser import text_string_to_metric_families

from cds_service.api.app import create_app
from cds_service.knowledge.loader import Knowledge
from cds_service.settings import Settings
from cds_service.store.database import pseudonym
from tests.builders import request
from tests.conftest import FHIR_BASE, NOW

ISS = "https://ehr.example.org"
KEY = ec.generate_private_key(ec.SECP384R1())
PATH = "/cds-services/vitd-mg-patient-view"
FAMILIES = {
    "vitdmg_requests": "requests by service, hook and status",
    "vitdmg_request_seconds": "request latency",
    "vitdmg_step_seconds": "latency per pipeline step",
    "vitdmg_cards": "cards by code and indicator",
    "vitdmg_cards_suppressed": "suppressed cards",
    "vitdmg_fhir_request_seconds": "FHIR fetch latency",
    "vitdmg_fhir_failures": "FHIR failures by kind",
    "vitdmg_feedback": "feedback outcomes",
    "vitdmg_feedback_stored": "feedback stored or duplicate",
    "vitdmg_auth_failures": "auth failures by reason",
}


def _token(path: str) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": "http://testserver" + path, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, KEY, algorithm="ES384", headers={"kid": "k1"})


def _auth(path: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(path)}"}


def _fhir_down(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"resourceType": "OperationOutcome"})


@pytest.fixture
async def app_client(tmp_path: Path, knowledge: Knowledge) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1", "alg": "ES384"}
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    (tmp_path / "issuers.yaml").write_text(yaml.safe_dump({"issuers": [{"iss": ISS, "jwks_file": "jwks.json"}]}))
    settings = Settings(
        auth="required",
        trusted_issuers_file=tmp_path / "issuers.yaml",
        pseudonym_key="metrics-test-key",
        public_base_url="http://testserver",
        fhir_allowed_servers=[FHIR_BASE],
        metrics_token="scrape-me",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(_fhir_down)) as fhir_http:
        app = create_app(settings, knowledge=knowledge, http_client=fhir_http, clock=lambda: NOW)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                yield client, settings


async def test_each_family_is_exposed_after_calls_and_no_label_names_a_patient(
    app_client: tuple[httpx.AsyncClient, Settings],
) -> None:
    client, settings = app_client
    body = request()
    first = await client.post(PATH, json=body, headers=_auth(PATH))
    assert first.status_code == 200, first.text
    card = next(c for c in first.json()["cards"] if c["source"]["topic"]["code"] == "mg-loss-ppi")
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-22T11:00:00Z",
                "overrideReason": {"reason": {"code": "already-addressed"}},
            }
        ]
    }
    stored = await client.post(PATH + "/feedback", json=feedback, headers=_auth(PATH + "/feedback"))
    assert stored.json() == {"stored": 1, "duplicates": 0}
    again = await client.post(PATH, json=body, headers=_auth(PATH))
    assert again.json()["extension"]["org.vitdmg.suppressed"]["codes"] == ["mg-loss-ppi"]
    unfetched = request(fhir_server=FHIR_BASE, token="fhir-token")
    del unfetched["prefetch"]
    assert (await client.post(PATH, json=unfetched, headers=_auth(PATH))).status_code == 412
    assert (await client.post(PATH, json=body)).status_code == 401
    assert (await client.post(PATH, json=body, headers={"Authorization": "Bearer not.a.jwt"})).status_code == 401

    scraped = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    missing = {name: why for name, why in FAMILIES.items() if name not in families}
    assert not missing, missing

    def value(family: str, suffix: str = "_total", **labels: str) -> float:
        return sum(
            s.value
            for s in families[family].samples
            if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items())
        )

    assert (
        value("vitdmg_requests", endpoint="service", service="vitd-mg-patient-view", hook="patient-view", status="200")
        >= 2
    )
    assert value("vitdmg_requests", endpoint="service", status="412") >= 1
    assert value("vitdmg_requests", endpoint="feedback", status="200") >= 1
    for step in ("prefetch", "parse", "facts", "rules", "cards", "audit"):
        assert value("vitdmg_step_seconds", "_count", step=step) >= 2, step
    assert value("vitdmg_cards", code="mg-loss-ppi", indicator="warning", service="vitd-mg-patient-view") >= 1
    assert value("vitdmg_cards_suppressed", code="mg-loss-ppi") >= 1
    assert value("vitdmg_fhir_failures", kind="status") >= 1
    assert value("vitdmg_fhir_request_seconds", "_count") >= 1
    assert value("vitdmg_feedback", outcome="overridden") >= 1
    assert value("vitdmg_feedback_stored", result="stored") >= 1
    assert value("vitdmg_auth_failures", reason="no bearer token") >= 1
    assert value("vitdmg_auth_failures", reason="the bearer token is not a well-formed JWT") >= 1

    patient = body["context"]["patientId"]
    forbidden = {
        patient,
        f"Patient/{patient}",
        pseudonym(settings.pseudonym_key.get_secret_value(), None, patient),
        body["hookInstance"],
        card["uuid"],
        "fhir-token",
    }
    resource_ids = {r["id"] for v in body["prefetch"].values() if v for r in _resources(v)}
    labels = {value for f in families.values() for s in f.samples for value in s.labels.values()}
    assert not {label for label in labels for bad in forbidden | resource_ids if bad and bad in label}


def _resources(value: dict[str, Any]) -> list[dict[str, Any]]:
    if value.get("resourceType") == "Bundle":
        return [e["resource"] for e in value.get("entry", [])]
    return [value]


async def test_metrics_ask_for_their_token_when_one_is_set(app_client: tuple[httpx.AsyncClient, Settings]) -> None:
    client, _ = app_client
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})).status_code == 200


async def test_metrics_are_open_without_a_token(make_client: Any) -> None:
    """Dev mode (auth disabled, no token): open, as on localhost; a cluster keeps it in by NetworkPolicy."""
    client = await make_client()
    app = client._transport.app  # the conftest client checks JSON bodies; /metrics is text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as raw:
        response = await raw.get("/metrics")
    assert response.status_code == 200 and "vitdmg_requests" in response.text
