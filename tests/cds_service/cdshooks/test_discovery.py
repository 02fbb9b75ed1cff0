"""Discovery endpoint: conformance checklist section B and the prefetch templates of section D."""

from __future__ import annotations

import httpx

from cds_service.knowledge.loader import Knowledge
from tests.conformance import check_restricted_query


async def test_discovery_lists_three_services(client: httpx.AsyncClient) -> None:
    """B1, B2, B4: GET /cds-services answers 200 with the three services and their hooks."""
    response = await client.get("/cds-services")
    assert response.status_code == 200
    services = {s["id"]: s for s in response.json()["services"]}
    assert {k: s["hook"] for k, s in services.items()} == {
        "vitd-mg-patient-view": "patient-view",
        "vitd-mg-order-select": "order-select",
        "vitd-mg-order-sign": "order-sign",
    }
    for service in services.values():
        assert service["title"] and service["description"] and service["usageRequirements"]


async def test_discovery_carries_the_knowledge_version(client: httpx.AsyncClient, knowledge: Knowledge) -> None:
    """O1: the knowledge version is in a reverse-domain extension on every service."""
    services = (await client.get("/cds-services")).json()["services"]
    assert {s["extension"]["org.vitdmg.knowledge-version"] for s in services} == {knowledge.version}


async def test_prefetch_codes_come_from_the_knowledge(client: httpx.AsyncClient, knowledge: Knowledge) -> None:
    """D1, D5: the Observation template lists exactly the status-result LOINC codes of rules/valuesets/labs.yaml."""
    template = (await client.get("/cds-services")).json()["services"][0]["prefetch"]["labResults"]
    codes = template.split("code=")[1].split("&")[0].split(",")
    expected = {
        f"http://loinc.org|{code}"
        for analyte in knowledge.labs.analytes.values()
        if analyte.status_result
        for code in analyte.loinc
    }
    assert set(codes) == expected
    assert "http://loinc.org|62290-2" not in codes  # 1,25(OH)2D is never a status result
    assert template.endswith("&_sort=-date")


def test_restricted_query_check_rejects_what_2_0_forbids() -> None:
    """D5: the static check itself fails on a modifier, a relative date and sort:desc (so it can fail)."""
    for bad in (
        "Observation?code:text=mg",
        "Observation?date=ge{{today}}",
        "Observation?patient={{context.patientId}}&sort:desc=date",
    ):
        try:
            check_restricted_query(bad)
        except AssertionError:
            continue
        raise AssertionError(f"accepted {bad}")
