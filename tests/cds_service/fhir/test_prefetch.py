"""Prefetch resolution and the FHIR-server fallback: conformance D6-D14 and E1.

The FHIR server is tests/fhir_server.py answering from fixture files (in-process over httpx)."""

from __future__ import annotations

import httpx
import pytest

from cds_service.cdshooks.services import (
    ADMINISTRATIONS_KEY,
    CONDITIONS_KEY,
    DISPENSES_KEY,
    LABS_KEY,
    PATIENT_KEY,
    REQUESTS_KEY,
    STATEMENTS_KEY,
)
from cds_service.fhir.prefetch import render_template
from cds_service.knowledge.loader import Knowledge
from tests.builders import request
from tests.conftest import FHIR_BASE, AppClient, card_codes
from tests.fhir_server import FixtureFhirServer, load_record

PV = "/cds-services/vitd-mg-patient-view"
ALL_KEYS = [PATIENT_KEY, LABS_KEY, STATEMENTS_KEY, REQUESTS_KEY, DISPENSES_KEY, ADMINISTRATIONS_KEY, CONDITIONS_KEY]
EXPECTED_NL = {
    "mg-deficiency": "warning",
    "mg-loss-ppi": "warning",
    "renal-caution-mg": "info",
}


async def test_complete_prefetch_needs_no_fhir_server(client: httpx.AsyncClient) -> None:
    """D9: every key present -> used as is; the client fixture fails any FHIR call."""
    response = await client.post(PV, json=request())
    assert card_codes(response.json()) == EXPECTED_NL


async def test_null_prefetch_means_no_data_and_is_not_fetched(make_client: AppClient) -> None:
    """D7, D9: a key sent as null means "no such data": no fetch, reasoning goes on without it."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"))
    client = await make_client(fhir=server)
    body = request(fhir_server=FHIR_BASE)
    body["prefetch"][LABS_KEY] = None
    response = await client.post(PV, json=body)
    assert response.status_code == 200
    assert server.seen == []
    assert "mg-deficiency" not in card_codes(response.json())
    assert card_codes(response.json())["mg-loss-ppi"] == "info"  # PPI and no Mg result: suggest a test


@pytest.mark.parametrize("missing", ALL_KEYS)
async def test_absent_key_is_fetched_from_fhir_server(make_client: AppClient, missing: str) -> None:
    """D9, D10: one key absent -> the same template is run against fhirServer; the result is the same."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"))
    client = await make_client(fhir=server)
    body = request(fhir_server=FHIR_BASE, token="secret-token-1")
    del body["prefetch"][missing]
    response = await client.post(PV, json=body)
    assert card_codes(response.json()) == EXPECTED_NL
    assert len(server.seen) == 1


async def test_no_prefetch_at_all_fetches_every_key_with_the_token(make_client: AppClient) -> None:
    """D9, D11, E1: no prefetch -> every template fetched, each call with the bearer token."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"))
    client = await make_client(fhir=server)
    body = request(fhir_server=FHIR_BASE, token="secret-token-2")
    del body["prefetch"]
    response = await client.post(PV, json=body)
    assert card_codes(response.json()) == EXPECTED_NL
    assert len(server.seen) == len(ALL_KEYS)
    assert all(call["authorization"] == "Bearer secret-token-2" for call in server.seen)
    lab_call = next(c for c in server.seen if c["path"].endswith("/Observation"))
    assert "patient=nl-1" in lab_call["query"] and "_sort=-date" in lab_call["query"]


async def test_no_token_no_authorization_header(make_client: AppClient) -> None:
    """D11 note: clients such as the sandbox send fhirServer without fhirAuthorization; no header is sent."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"))
    client = await make_client(fhir=server)
    body = request(fhir_server=FHIR_BASE)
    del body["prefetch"][LABS_KEY]
    await client.post(PV, json=body)
    assert server.seen[0]["authorization"] is None


async def test_operation_outcome_prefetch_is_fetched_and_reported(make_client: AppClient) -> None:
    """D8: an OperationOutcome in place of a prefetch value is treated as missing, not as data."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"))
    client = await make_client(fhir=server)
    body = request(fhir_server=FHIR_BASE)
    body["prefetch"][LABS_KEY] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    response = await client.post(PV, json=body)
    assert card_codes(response.json()) == EXPECTED_NL
    assert [c["path"] for c in server.seen] == ["/fhir/Observation"]
    assert any(r["where"] == f"prefetch.{LABS_KEY}" for r in response.json()["extension"]["org.vitdmg.left-out"])


async def test_paginated_search_follows_next_links_with_the_token(make_client: AppClient) -> None:
    """D12, D11: a paged search is followed page by page on the same server, the token on every page."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"), page_size=2)
    client = await make_client(fhir=server)
    body = request(fhir_server=FHIR_BASE, token="secret-token-3")
    del body["prefetch"][LABS_KEY]
    response = await client.post(PV, json=body)
    assert card_codes(response.json()) == EXPECTED_NL
    observation_pages = [c for c in server.seen if c["path"].endswith("/Observation")]
    assert len(observation_pages) == 2  # 4 labs of our codes (HbA1c is not asked for), 2 a page
    assert all(c["authorization"] == "Bearer secret-token-3" for c in server.seen)


async def test_paginated_prefetch_bundle_is_completed_from_the_server(make_client: AppClient) -> None:
    """D12: a prefetch Bundle with a next link -> the remaining pages come from fhirServer."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"), page_size=1)
    client = await make_client(fhir=server)
    body = request(fhir_server=FHIR_BASE)
    first = body["prefetch"][LABS_KEY]
    # the client sent the server's first page only (the newest result, Mg) and its next link
    first["entry"] = [e for e in first["entry"] if e["resource"]["id"] == "nl-1-mg"]
    query = render_template(request.__globals__["TEMPLATES"][LABS_KEY], body["context"])
    first["link"] = [{"relation": "next", "url": f"{FHIR_BASE}/{query}&_page=2"}]
    response = await client.post(PV, json=body)
    assert card_codes(response.json()) == EXPECTED_NL


async def test_page_limit_gives_412(make_client: AppClient) -> None:
    """D12, D13: more pages than VITDMG_FHIR_MAX_PAGES -> the data is incomplete -> 412 naming the key."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"), page_size=1)
    client = await make_client(fhir=server, fhir_max_pages=2)
    body = request(fhir_server=FHIR_BASE)
    del body["prefetch"][LABS_KEY]
    response = await client.post(PV, json=body)
    assert response.status_code == 412
    assert "pages" in response.json()["issue"][0]["diagnostics"]


async def test_no_prefetch_and_no_fhir_server_is_412(client: httpx.AsyncClient) -> None:
    """D13, F3: data needed, no prefetch, no fhirServer -> 412 with a JSON body naming each key."""
    body = request()
    del body["prefetch"][LABS_KEY]
    del body["prefetch"][CONDITIONS_KEY]
    response = await client.post(PV, json=body)
    assert response.status_code == 412
    assert {i["expression"][0] for i in response.json()["issue"]} == {
        f"prefetch.{LABS_KEY}",
        f"prefetch.{CONDITIONS_KEY}",
    }


@pytest.mark.parametrize("status", [401, 403, 404, 500, 503])
async def test_fhir_server_error_is_412(make_client: AppClient, status: int) -> None:
    """D13: the server answers an error for a search -> 412 saying which key and which status."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"), fail={"Observation": status})
    client = await make_client(fhir=server)
    body = request(fhir_server=FHIR_BASE, token="t")
    del body["prefetch"][LABS_KEY]
    response = await client.post(PV, json=body)
    assert response.status_code == 412
    issue = response.json()["issue"][0]
    assert issue["expression"] == [f"prefetch.{LABS_KEY}"] and f"HTTP {status}" in issue["diagnostics"]


async def test_patient_read_404_means_no_patient(make_client: AppClient) -> None:
    """D7 (2.0.1): a read with no result is "no data": no 412, age rules are reported as not applied."""
    server = FixtureFhirServer([r for r in load_record("nl-ppi-low-mg") if r["resourceType"] != "Patient"])
    client = await make_client(fhir=server)
    body = request(fhir_server=FHIR_BASE)
    del body["prefetch"][PATIENT_KEY]
    response = await client.post(PV, json=body)
    assert response.status_code == 200
    assert any("birth date" in r["reason"] for r in response.json()["extension"]["org.vitdmg.left-out"])


async def test_fhir_budget_exceeded_is_412(make_client: AppClient) -> None:
    """One overall FHIR budget per request: a stalled server -> 412 after the budget, not a hang."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"), stall={"Condition": 5.0})
    client = await make_client(fhir=server, fhir_budget_seconds=0.3)
    body = request(fhir_server=FHIR_BASE)
    del body["prefetch"][CONDITIONS_KEY]
    response = await client.post(PV, json=body)
    assert response.status_code == 412
    assert "0.3 s" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("error", "words"),
    [(httpx.ReadTimeout("slow"), "timed out"), (httpx.ConnectError("refused"), "connection failed")],
)
async def test_transport_failures_are_412(knowledge: Knowledge, error: Exception, words: str) -> None:
    """Connect/read timeouts of httpx -> 412 (the caller's server failed), never a 500."""
    from cds_service.api.app import create_app
    from cds_service.settings import Settings

    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as fhir_http:
        settings = Settings(auth="disabled", fhir_allowed_servers=[FHIR_BASE])
        app = create_app(settings, knowledge=knowledge, http_client=fhir_http)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):
            body = request(fhir_server=FHIR_BASE)
            del body["prefetch"][LABS_KEY]
            response = await client.post(PV, json=body)
    assert response.status_code == 412
    assert words in response.json()["issue"][0]["diagnostics"]


async def test_next_link_to_another_host_is_not_followed(make_client: AppClient) -> None:
    """The token goes only to fhirServer's host: a next link elsewhere -> 412, no call made there."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"))
    client = await make_client(fhir=server)
    body = request(fhir_server=FHIR_BASE, token="t")
    body["prefetch"][LABS_KEY]["link"] = [
        {"relation": "next", "url": "https://elsewhere.example.com/fhir/Observation?page=2"}
    ]
    response = await client.post(PV, json=body)
    assert response.status_code == 412
    assert server.seen == []


def test_template_tokens() -> None:
    """D2-D4: context tokens and user tokens; a token without value -> None (the template cannot run)."""
    context = {"patientId": "p1", "userId": "PractitionerRole/r9"}
    assert render_template("Patient/{{context.patientId}}", context) == "Patient/p1"
    assert render_template("PractitionerRole/{{userPractitionerRoleId}}", context) == "PractitionerRole/r9"
    assert render_template("Practitioner/{{userPractitionerId}}", context) is None
    assert render_template("Encounter/{{context.encounterId}}", context) is None


async def test_prefetch_value_that_is_not_a_resource_is_fetched(make_client: AppClient) -> None:
    """D14: parse defensively; the spec's own example sends `"user": "123"`. For one of our keys such a
    value is no data: it is reported and fetched from fhirServer."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"))
    client = await make_client(fhir=server)
    body = request(fhir_server=FHIR_BASE)
    body["prefetch"][PATIENT_KEY] = "nl-1"
    body["prefetch"]["user"] = "123"  # a key of some other service: ignored
    response = await client.post(PV, json=body)
    assert card_codes(response.json()) == EXPECTED_NL
    assert [c["path"] for c in server.seen] == ["/fhir/Patient/nl-1"]
    assert {
        "step": "prefetch",
        "where": f"prefetch.{PATIENT_KEY}",
        "reason": "prefetch value is not a FHIR resource; fetched instead",
    } in response.json()["extension"]["org.vitdmg.left-out"]


async def test_access_token_and_patient_data_never_logged(
    make_client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    """E1: the access token is transient: not in any log line; nor are the patient's name or identifiers."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"))
    client = await make_client(fhir=server)
    body = request(fhir_server=FHIR_BASE, token="do-not-log-this-token")
    del body["prefetch"]
    with caplog.at_level("DEBUG"):
        response = await client.post(PV, json=body)
    assert response.status_code == 200
    logged = "\n".join(r.getMessage() + str(getattr(r, "event", "")) for r in caplog.records)
    assert "invocation" in logged
    for secret in ("do-not-log-this-token", "Jansen", "Gerda", "999911120", "1950-04-12", "nl-1"):
        assert secret not in logged


async def test_fhir_server_off_the_allow_list_is_not_called(make_client: AppClient) -> None:
    """Issue 5: a fhirServer not on VITDMG_FHIR_ALLOWED_SERVERS is never called; its keys are unavailable (412)."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"))
    client = await make_client(fhir=server, fhir_allowed_servers=["https://other.example.org/fhir"])
    body = request(fhir_server=FHIR_BASE, token="must-not-travel")
    del body["prefetch"][LABS_KEY]
    response = await client.post(PV, json=body)
    assert response.status_code == 412
    assert "not on the allow-list" in response.json()["issue"][0]["diagnostics"]
    assert server.seen == []


async def test_plain_http_needs_an_explicit_host(make_client: AppClient) -> None:
    """https only, unless the host is named in VITDMG_FHIR_HTTP_HOSTS (local testing)."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"))
    plain = "http://ehr.example.org/fhir"
    refused = await make_client(fhir=server, fhir_allowed_servers=[plain], fhir_http_hosts=[])
    body = request(fhir_server=plain)
    del body["prefetch"][LABS_KEY]
    response = await refused.post(PV, json=body)
    assert response.status_code == 412 and "https" in response.json()["issue"][0]["diagnostics"]
    allowed = await make_client(fhir=server, fhir_allowed_servers=[plain], fhir_http_hosts=["ehr.example.org"])
    assert (await allowed.post(PV, json=body)).status_code == 200


async def test_redirects_are_not_followed(knowledge: Knowledge) -> None:
    """No redirect off the allowed host: the token would travel. A 302 is a failure (412), one call only."""
    from cds_service.api.app import create_app
    from cds_service.settings import Settings

    calls: list[str] = []

    def redirect(req: httpx.Request) -> httpx.Response:
        calls.append(str(req.url))
        return httpx.Response(302, headers={"Location": "https://attacker.example.com/steal"})

    settings = Settings(auth="disabled", fhir_allowed_servers=[FHIR_BASE])
    body = request(fhir_server=FHIR_BASE, token="t")
    del body["prefetch"][LABS_KEY]
    async with httpx.AsyncClient(transport=httpx.MockTransport(redirect)) as outbound:
        app = create_app(settings, knowledge=knowledge, http_client=outbound)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):
            response = await client.post(PV, json=body)
    assert response.status_code == 412 and "HTTP 302" in response.json()["issue"][0]["diagnostics"]
    assert len(calls) == 1 and "attacker" not in calls[0]


async def test_fhir_response_size_is_bounded(make_client: AppClient) -> None:
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"))
    client = await make_client(fhir=server, fhir_max_response_bytes=1024)
    body = request(fhir_server=FHIR_BASE)
    del body["prefetch"][LABS_KEY]
    response = await client.post(PV, json=body)
    assert response.status_code == 412 and "more than 1024 bytes" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("optional", [DISPENSES_KEY, ADMINISTRATIONS_KEY])
async def test_optional_key_without_fhir_server_is_reported_not_412(client: httpx.AsyncClient, optional: str) -> None:
    """Issue 12: many systems keep no dispenses or administrations; a client that sends neither them nor a
    fhirServer still gets its cards, and the response says what was not considered."""
    body = request()
    del body["prefetch"][optional]
    response = await client.post(PV, json=body)
    assert response.status_code == 200
    assert card_codes(response.json()) == EXPECTED_NL
    reports = response.json()["extension"]["org.vitdmg.left-out"]
    assert {
        "step": "prefetch",
        "where": f"prefetch.{optional}",
        "reason": "not sent and no fhirServer to fetch the rest; not considered",
    } in reports


async def test_optional_key_the_server_cannot_answer_is_reported(make_client: AppClient) -> None:
    """A FHIR server without MedicationDispense search (HTTP 400) is not a 412: the rest still counts."""
    server = FixtureFhirServer(load_record("nl-ppi-low-mg"), fail={"MedicationDispense": 400})
    client = await make_client(fhir=server)
    body = request(fhir_server=FHIR_BASE, token="t")
    del body["prefetch"][DISPENSES_KEY]
    response = await client.post(PV, json=body)
    assert response.status_code == 200
    assert card_codes(response.json()) == EXPECTED_NL
    reasons = {r["where"]: r["reason"] for r in response.json()["extension"]["org.vitdmg.left-out"]}
    assert reasons[f"prefetch.{DISPENSES_KEY}"] == "FHIR server: answered HTTP 400; not considered"
