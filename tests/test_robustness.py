"""Robustness (issue 5): no 500 for anything a caller sends, and every 4xx body is JSON.

schemathesis drives the real server (uvicorn, real HTTP) from its own OpenAPI document; hypothesis feeds
the pipeline FHIR resources of arbitrary shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.api.app import create_app
from cds_service.knowledge.loader import Knowledge
from cds_service.settings import Settings

from .builders import request
from .conftest import NOW, AppClient
from .test_e2e import serve

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api_schema(knowledge: Knowledge, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings = Settings(auth="disabled", data_dir=tmp_path_factory.mktemp("schema-store"))
    app = create_app(settings, knowledge=knowledge, clock=lambda: NOW)
    with serve(app) as base:
        yield schemathesis.openapi.from_url(f"{base}/openapi.json")


def test_no_server_error_for_any_input(api_schema: Any) -> None:
    """Every operation of the OpenAPI document, with schemathesis-generated inputs: never a 500."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "GET /cds-services",
        "POST /cds-services/{service_id}",
    }
    statuses: list[int] = []
    for operation in operations:

        @given(operation.as_strategy())
        @settings(
            max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
        )
        def check(case: Any) -> None:
            response = case.call()
            statuses.append(response.status_code)
            assert response.status_code < 500, response.text
            if 400 <= response.status_code < 500:
                body = response.json()
                assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["diagnostics"]

        check()
    assert len(statuses) >= 40 and any(400 <= s < 500 for s in statuses), sorted(set(statuses))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
FIELDS = {
    "Observation": [
        "status",
        "code",
        "valueQuantity",
        "effectiveDateTime",
        "referenceRange",
        "interpretation",
        "category",
    ],
    "MedicationStatement": ["status", "medicationCodeableConcept", "medicationReference", "effectivePeriod", "dosage"],
    "MedicationRequest": ["status", "medicationCodeableConcept", "dosageInstruction", "contained"],
    "Condition": ["code", "clinicalStatus", "verificationStatus"],
    "Patient": ["birthDate", "gender"],
}
PLAUSIBLE = {
    "status": st.sampled_from(["final", "active", "entered-in-error", "draft", 3, None]),
    "code": st.sampled_from(
        [
            {"coding": [{"system": "http://loinc.org", "code": "2601-3"}]},
            {"coding": {"system": "http://loinc.org", "code": "14635-7"}},
            {"text": "x"},
            "2601-3",
        ]
    ),
    "valueQuantity": st.fixed_dictionaries(
        {
            "value": st.one_of(st.floats(allow_nan=False), st.text(max_size=5), st.none()),
            "unit": st.sampled_from(["mmol/l", "mg/dL", "??", ""]),
        }
    ),
    "effectiveDateTime": st.sampled_from(["2026-10-01", "2026-13-45", "yesterday", "2026", 20261001]),
    "medicationCodeableConcept": st.sampled_from(
        [
            {"coding": [{"system": "http://www.whocc.no/atc", "code": "A02BC01"}]},
            {"text": "Omeprazol"},
            {"coding": "A12CC10"},
            [],
        ]
    ),
    "birthDate": st.sampled_from(["1950-04-12", "1950", "not a date", None]),
}


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(FIELDS)))
    resource: dict[str, Any] = {"resourceType": kind, "id": draw(st.text(min_size=1, max_size=8))}
    for field in draw(st.lists(st.sampled_from(FIELDS[kind]), unique=True)):
        resource[field] = draw(PLAUSIBLE.get(field, JSON))
    return resource


@given(
    st.lists(resources(), max_size=6), st.sampled_from(["labResults", "medicationStatements", "conditions", "patient"])
)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
def test_arbitrary_fhir_shapes_never_break_a_request(
    make_sync_client: Any, shapes: list[dict[str, Any]], key: str
) -> None:
    """A flawed resource is left out and reported; the request as a whole still answers 200, unless a Patient
    that is not context.patientId was sent: then the prefetch is another patient's, a 412 (issue 12)."""
    body = request()
    body["prefetch"][key] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in shapes]}
    response = make_sync_client.post("/cds-services/vitd-mg-patient-view", content=json.dumps(body))
    patient_id = body["context"]["patientId"]
    foreign = any(r["resourceType"] == "Patient" and r["id"] != patient_id for r in shapes)
    try:
        json.dumps(body, allow_nan=False)
    except ValueError:  # json.dumps wrote NaN/Infinity, which are not JSON: a 400 (issue 13)
        assert response.status_code == 400 and "not a JSON number" in response.text, response.text
        return
    assert response.status_code == (412 if foreign else 200), response.text


@pytest.fixture(scope="module")
def make_sync_client(knowledge: Knowledge, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = Settings(auth="disabled", data_dir=tmp_path_factory.mktemp("shapes-store"))
    app = create_app(settings, knowledge=knowledge, clock=lambda: NOW)
    with (
        serve(app) as base,
        httpx.Client(base_url=base, timeout=30, headers={"content-type": "application/json"}) as client,
    ):
        yield client


_ = AppClient
