"""Issue 13 finding 3: each input that answered 500 now answers a 4xx saying what and where, or a 200 with the
flawed part left out and reported. Against the real server (tests/hostile/conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .conftest import PHI_MARKER, PV, RSA_KEY, SIGN, Hostile, base_request, left_out, observation, with_labs


def test_rs384_with_the_kid_of_an_ec_key_is_a_401(hostile: Hostile) -> None:
    """A 500 before authentication: the header's algorithm and the key's type disagree."""
    forged = hostile.token(PV, key=RSA_KEY, alg="RS384", kid="ec-1")
    response = hostile.call(PV, base_request(), token=forged)
    assert response.status_code == 401 and "not a key for RS384" in response.text


def test_a_5000_digit_integer_is_a_400(hostile: Hostile) -> None:
    text = json.dumps(base_request()).replace('"hook": "patient-view"', '"hook": "patient-view", "x": ' + "9" * 5000)
    response = hostile.call(PV, content=text.encode())
    assert response.status_code == 400 and "not valid JSON" in response.text


@pytest.mark.parametrize("member", ["status", "code"])
def test_list_valued_status_or_code(hostile: Hostile, member: str) -> None:
    """A list where FHIR has a code: the resource is left out (or ignored), the rest of the record is used."""
    lab = observation("2601-3", 0.5, "mmol/L")
    lab[member] = ["final"] if member == "status" else [{"coding": [{"system": "http://loinc.org", "code": "2601-3"}]}]
    body = with_labs(base_request(), [lab])
    statement = body["prefetch"]["medicationStatements"]["entry"][0]["resource"]
    statement["status"] = ["active"]
    statement["medicationCodeableConcept"]["coding"] = [{"system": "http://www.whocc.no/atc", "code": ["A02BC01"]}]
    medication = body["prefetch"]["medicationStatements"]["entry"][2]["resource"]
    medication["code"]["coding"][1]["code"] = ["A02BC01"]
    medication["code"]["coding"][0]["display"] = {"text": "x"}
    response = hostile.call(PV, body)
    assert response.status_code == 200, response.text


def test_list_valued_codes_in_draft_orders(hostile: Hostile) -> None:
    body = base_request("order-sign", drafts="vitd-5000iu-daily")
    entry = body["context"]["draftOrders"]["entry"]
    entry.append({"resource": {"resourceType": ["MedicationRequest"], "id": "x"}})
    entry[0]["resource"]["medicationCodeableConcept"]["coding"][0]["code"] = ["A11CC05"]
    assert hostile.call(SIGN, body).status_code == 200


def test_dosage_period_zero_is_a_dose_not_computed(hostile: Hostile) -> None:
    body = base_request("order-sign", drafts="vitd-5000iu-daily")
    dosage = body["context"]["draftOrders"]["entry"][0]["resource"]["dosageInstruction"][0]
    dosage["timing"]["repeat"]["period"] = 0
    response = hostile.call(SIGN, body)
    assert response.status_code == 200
    assert any("daily dose" in e["reason"] and "period" in e["reason"] for e in left_out(response)), response.text


@pytest.mark.parametrize("raw", [b'"x\\ud800"', b'"\\udfff"', b'"\xed\xa0\x80"'])
def test_lone_surrogate_patient_id_is_a_400(hostile: Hostile, raw: bytes) -> None:
    body = json.dumps(base_request()).encode().replace(b'"patientId": "nl-1"', b'"patientId": ' + raw)
    response = hostile.call(PV, content=body)
    assert response.status_code == 400 and "surrogate" in response.text
    assert response.json()["issue"][0]["expression"] == ["$.context.patientId"]


def test_a_surrogate_pair_is_text(hostile: Hostile) -> None:
    """An escaped emoji (a valid pair) is fine."""
    body = (
        json.dumps(base_request())
        .encode()
        .replace(b'"userId": "Practitioner/example"', b'"userId": "Practitioner/\\ud83d\\ude00"')
    )
    assert hostile.call(PV, content=body).status_code == 200


@pytest.mark.parametrize(
    "server",
    [
        "https://h:99999/fhir",
        "https://h:port/fhir",
        "https://[::1/fhir",
        "http://[fe80::1%25eth0]:x/fhir",
        "https://u:p@h/fhir",
    ],
)
def test_unusable_fhir_server_url_is_a_4xx(hostile: Hostile, server: str) -> None:
    body = base_request()
    del body["prefetch"]["labResults"]
    body["fhirServer"] = server
    response = hostile.call(PV, body)
    assert response.status_code in (400, 412), response.text
    assert hostile.fhir.seen == []


def test_fhir_json_nested_200000_deep_is_a_412(hostile: Hostile) -> None:
    deep = b'{"resourceType": "Bundle", "entry": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    hostile.fhir.handler = lambda _request: Response(deep, media_type="application/fhir+json")
    body = base_request()
    del body["prefetch"]["labResults"]
    body["fhirServer"] = hostile.fhir.base
    response = hostile.call(PV, body)
    assert response.status_code == 412 and "nested deeper" in response.text


def test_fhir_json_nested_just_over_the_limit_is_a_412(hostile: Hostile) -> None:
    """Deep enough to trouble the validators, shallow enough for json.loads: the depth limit applies."""
    deep = b'{"resourceType": "Bundle", "entry": ' + b"[" * 500 + b"]" * 500 + b"}"
    hostile.fhir.handler = lambda _request: Response(deep, media_type="application/fhir+json")
    body = base_request()
    del body["prefetch"]["labResults"]
    body["fhirServer"] = hostile.fhir.base
    assert hostile.call(PV, body).status_code == 412


def test_card_summary_over_139_characters_is_cut_not_a_500(hostile: Hostile) -> None:
    """The lab's own reference range goes into the mg-deficiency summary; 1e300 as its upper bound made it long."""
    bound: dict[str, Any] = {"value": 1e300, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"}
    low = {**bound, "value": 0.7}
    lab = observation("2601-3", 0.5, "mmol/L", referenceRange=[{"low": low, "high": bound}])
    response = hostile.call(PV, with_labs(base_request(), [lab]), token=None)
    assert response.status_code == 200
    cards = {c["source"]["topic"]["code"]: c for c in response.json()["cards"]}
    assert len(cards["mg-deficiency"]["summary"]) <= 139 and cards["mg-deficiency"]["summary"].endswith("…")


def test_more_feedback_entries_than_allowed_is_a_413(hostile: Hostile) -> None:
    """70,000 entries answered 500 on PostgreSQL (bind-parameter limit); now bounded before the store."""
    entry = {"card": "x", "outcome": "overridden", "outcomeTimestamp": "2026-01-01T00:00:00Z"}
    path = "/cds-services/vitd-mg-patient-view/feedback"
    response = hostile.call(path, {"feedback": [entry] * 70_000})
    assert response.status_code == 413 and "VITDMG_MAX_FEEDBACK_ENTRIES" in response.text


def test_nan_and_infinity_literals_are_a_400(hostile: Hostile) -> None:
    text = json.dumps(base_request()).replace('"hook": "patient-view"', '"hook": "patient-view", "x": NaN')
    assert hostile.call(PV, content=text.encode()).status_code == 400


def test_phi_marker_request_is_served(hostile: Hostile) -> None:
    """The marker the log check looks for does travel in requests (else that check would prove nothing)."""
    body = base_request()
    assert PHI_MARKER in json.dumps(body)
    assert hostile.call(PV, body).status_code == 200


def _unused(_request: Request) -> Response:
    return JSONResponse({})
