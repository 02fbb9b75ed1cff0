"""Issue 13 finding 5: the bearer token never leaves the allowed base path.

With VITDMG_FHIR_ALLOWED_SERVERS=["http://127.0.0.1:<port>/fhir"], a fhirServer with `..` (plain or
percent-encoded), a patientId that climbs out of its segment, or a `next` link outside /fhir reached paths
outside the base on the same host, with the token.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .conftest import PV, Hostile, base_request

TOKEN = "hostile-bearer-token"


def _no_prefetch(server: str, patient: str = "nl-1") -> dict[str, Any]:
    body = base_request()
    body["prefetch"] = {}
    body["context"]["patientId"] = patient
    body["fhirServer"] = server
    body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer", "scope": "user/*.read"}
    return body


def _outside(hostile: Hostile) -> list[tuple[str, str | None]]:
    return [(path, auth) for path, auth in hostile.fhir.seen if not path.startswith("/fhir/")]


@pytest.mark.parametrize("suffix", ["/../admin", "/%2e%2e/admin", "/%2E%2E/admin", "/./../admin", "/x/..%2F..%2Fadmin"])
def test_fhir_server_with_dot_segments_is_not_called(hostile: Hostile, suffix: str) -> None:
    response = hostile.call(PV, _no_prefetch(hostile.fhir.base + suffix))
    assert response.status_code == 412, response.text
    assert hostile.fhir.seen == []


def test_fhir_server_on_a_longer_path_is_not_the_base(hostile: Hostile) -> None:
    """Segment-wise: /fhirplus is not inside /fhir."""
    response = hostile.call(PV, _no_prefetch(hostile.fhir.base + "plus"))
    assert response.status_code == 412 and hostile.fhir.seen == []


@pytest.mark.parametrize("patient", ["x/../../admin", "x%2F..%2F..%2Fadmin", "..", "../admin?x=1#", "x?_format=xml&a="])
def test_patient_id_stays_one_segment(hostile: Hostile, patient: str) -> None:
    response = hostile.call(PV, _no_prefetch(hostile.fhir.base, patient))
    assert response.status_code in (200, 412), response.text
    assert _outside(hostile) == []


def test_patient_id_is_encoded_in_searches(hostile: Hostile) -> None:
    hostile.call(PV, _no_prefetch(hostile.fhir.base, "a&patient=b"))
    assert hostile.fhir.seen and all(path.startswith("/fhir/") for path, _ in hostile.fhir.seen)


@pytest.mark.parametrize(
    "link", ["{origin}/admin/steal", "{origin}/fhir/../admin", "{origin}/fhir/%2e%2e/admin", "/admin"]
)
def test_next_link_outside_the_base_is_not_followed(hostile: Hostile, link: str) -> None:
    origin = hostile.fhir.base.removesuffix("/fhir")

    def answer(request: Request) -> Response:
        if request.url.path.startswith("/fhir/Observation"):
            bundle = {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [],
                "link": [{"relation": "next", "url": link.format(origin=origin)}],
            }
            return JSONResponse(bundle)
        return JSONResponse({"resourceType": "Bundle", "type": "searchset", "entry": []})

    hostile.fhir.handler = answer
    body = base_request()
    del body["prefetch"]["labResults"]
    body["fhirServer"] = hostile.fhir.base
    body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer"}
    response = hostile.call(PV, body)
    assert response.status_code == 412 and "outside" in response.text
    assert _outside(hostile) == []
