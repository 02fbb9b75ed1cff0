"""Patient identity (issue 12): only context.patientId's data reaches the rules; another Patient is a 412."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cds_service.fhir.identity import patient_of
from tests.builders import request
from tests.conftest import card_codes

PV = "/cds-services/vitd-mg-patient-view"
SIGN = "/cds-services/vitd-mg-order-sign"


def _left_out(body: dict[str, Any], step: str = "identity") -> list[dict[str, str]]:
    return [r for r in body.get("extension", {}).get("org.vitdmg.left-out", []) if r["step"] == step]


async def test_prefetch_of_another_patient_gives_no_card_about_that_data(client: httpx.AsyncClient) -> None:
    """The NL record (low Mg on a PPI) sent under another patientId: none of its labs or medication is used."""
    body = request()
    body["context"]["patientId"] = "nl-2"
    body["prefetch"]["patient"]["id"] = "nl-2"  # the Patient is nl-2; every other resource names Patient/nl-1
    response = await client.post(PV, json=body)
    assert response.status_code == 200
    payload = response.json()
    codes = card_codes(payload)
    for code in ("mg-deficiency", "mg-loss-ppi", "renal-caution-mg", "vitd-insufficiency"):
        assert code not in codes
    assert all("Observation/" not in c.get("detail", "") for c in payload["cards"])
    assert all("MedicationStatement/" not in c.get("detail", "") for c in payload["cards"])
    reported = _left_out(payload)
    sent = sum(
        len(b["entry"]) for k, b in body["prefetch"].items() if k != "patient" and isinstance(b, dict)
    ) - sum(  # Medications included by the search name no patient: they stay, unused
        1
        for b in body["prefetch"].values()
        if isinstance(b, dict) and b.get("resourceType") == "Bundle"
        for e in b["entry"]
        if e["resource"]["resourceType"] == "Medication"
    )
    assert len(reported) == sent > 0
    assert all("another patient" in r["reason"] for r in reported)


async def test_prefetched_patient_with_another_id_is_412(client: httpx.AsyncClient) -> None:
    body = request()
    body["prefetch"]["patient"]["id"] = "someone-else"
    response = await client.post(PV, json=body)
    assert response.status_code == 412
    issue = response.json()["issue"][0]
    assert "another id than context.patientId" in issue["diagnostics"]
    assert issue["expression"] == ["prefetch.patient[0]"]


async def test_one_foreign_resource_is_left_out_and_the_rest_used(client: httpx.AsyncClient) -> None:
    """A Bundle with one resource of another patient: that one is reported, the rest gives the usual cards."""
    body = request()
    foreign = {
        "resourceType": "Observation",
        "id": "other-vitd",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "14635-7"}]},
        "subject": {"reference": "https://ehr.example.org/fhir/Patient/nl-9/_history/2"},
        "effectiveDateTime": "2099-01-01",
        "valueQuantity": {"value": 300, "unit": "nmol/L", "system": "http://unitsofmeasure.org", "code": "nmol/L"},
    }
    body["prefetch"]["labResults"]["entry"].append({"resource": foreign})
    payload = (await client.post(PV, json=body)).json()
    assert "vitd-excess" not in card_codes(payload)
    assert "mg-loss-ppi" in card_codes(payload)
    assert [r["where"] for r in _left_out(payload)] == [
        f"Observation/other-vitd (prefetch.labResults[{len(body['prefetch']['labResults']['entry']) - 1}])"
    ]


async def test_draft_orders_of_another_patient_are_left_out(client: httpx.AsyncClient) -> None:
    """order-sign with a 5000 IU draft for another patient: no dose card, the draft reported."""
    body = request("order-sign", drafts="vitd-5000iu-daily")
    for entry in body["context"]["draftOrders"]["entry"]:
        entry["resource"]["subject"] = {"reference": "Patient/nl-77"}
    payload = (await client.post(SIGN, json=body)).json()
    assert payload["cards"] == []
    assert len(_left_out(payload)) == len(body["context"]["draftOrders"]["entry"])


async def test_suggestions_reference_the_context_patient(client: httpx.AsyncClient) -> None:
    payload = (await client.post(PV, json=request())).json()
    resources = [
        a["resource"]
        for c in payload["cards"]
        for s in c.get("suggestions", [])
        for a in s["actions"]
        if a["type"] == "create"
    ]
    assert resources, "the NL record's cards propose orders"
    assert {r["subject"]["reference"] for r in resources} == {"Patient/nl-1"}


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ({"subject": {"reference": "Patient/p1"}}, "p1"),
        ({"subject": {"reference": "https://x.org/fhir/Patient/p1/_history/3"}}, "p1"),
        ({"patient": {"reference": "Patient/p1"}}, "p1"),
        ({"subject": {"reference": "urn:uuid:0b3c"}}, ""),
        ({"subject": {"identifier": {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "1"}}}, ""),
        ({"subject": {"reference": "Group/g1"}}, ""),
        ({"code": {}}, None),
    ],
)
def test_patient_of_reads_every_reference_form(resource: dict[str, Any], expected: str | None) -> None:
    assert patient_of(resource) == expected
