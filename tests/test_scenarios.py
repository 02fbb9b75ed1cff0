"""Every fixture scenario through the HTTP API, checked against its expected.yaml (issue 4).

The app is built per scenario with the scenario's profile and reference time; a scenario with fhir.json
has its FHIR server answer from that file (prefetch partial or absent)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from cds_service.api.app import create_app
from cds_service.knowledge.loader import Knowledge
from cds_service.offline.evaluation import Evaluation, check, read_expectations
from cds_service.offline.fixture_fhir import FixtureFhirServer
from cds_service.settings import Settings

from .conftest import check_every_response
from .fhir_server import FIXTURES

FHIR_SERVER = "https://fhir.example-ehr.nl/fhir"  # the scenarios' fhirServer, answered from fhir.json
SCENARIOS = sorted(p for p in (FIXTURES / "scenarios").iterdir() if (p / "request.json").is_file())


def test_there_are_enough_scenarios() -> None:
    assert len(SCENARIOS) >= 30
    hooks = {json.loads((p / "request.json").read_text(encoding="utf-8"))["hook"] for p in SCENARIOS}
    assert hooks == {"patient-view", "order-select", "order-sign"}


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
async def test_scenario_over_http(knowledge: Knowledge, folder: Path) -> None:
    request_path = folder / "request.json"
    expected = read_expectations(request_path)
    assert expected is not None and expected.now is not None and expected.service
    resources = []
    if (folder / "fhir.json").is_file():
        bundle = json.loads((folder / "fhir.json").read_text(encoding="utf-8"))
        resources = [e["resource"] for e in bundle["entry"]]
    now = expected.now
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=FixtureFhirServer(resources).app())) as fhir_http:
        settings = Settings(profile=expected.profile or "nl-be", auth="disabled", fhir_allowed_servers=[FHIR_SERVER])
        app = create_app(settings, knowledge=knowledge, http_client=fhir_http, clock=lambda: now)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://testserver",
                event_hooks={"response": [check_every_response]},
            ) as client,
        ):
            response = await client.post(
                f"/cds-services/{expected.service}",
                content=request_path.read_bytes(),
                headers={"content-type": "application/json", "accept-language": expected.locale or "nl"},
            )
    evaluation = Evaluation(request_path, response.status_code, response.json(), expected)
    assert check(evaluation) == []
    assert app.state.engine.fallbacks == 0  # every asserted fact observed without the sink rule (issue 14)


def test_every_catalog_card_fires_and_stays_quiet_somewhere(knowledge: Knowledge) -> None:
    """Issue 4: the scenarios show every catalog card firing and not firing."""
    fired: set[str] = set()
    quiet: set[str] = set()
    for folder in SCENARIOS:
        expected = read_expectations(folder / "request.json")
        assert expected is not None
        fired |= set(expected.must)
        quiet |= set(expected.must_not)
    assert fired == set(knowledge.cards)
    assert quiet == set(knowledge.cards)
