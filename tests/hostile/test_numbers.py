"""Issue 13 finding 1: numbers into the rule engine.

durable-rules' C parser kills the process (exit 139) on a number written with an exponent (`1e-07`, `1e+16`)
or on `Infinity`. Every lab and dose field is fed numeric extremes, through prefetch and through the FHIR
server; the same server process answers every one of them (checked after each test by the folder's fixture).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cds_service.knowledge.loader import load_knowledge, normalise_unit

from .conftest import PV, SIGN, Hostile, base_request, left_out, observation, with_labs

KNOWLEDGE = load_knowledge()
NUMBER = "__NUMBER__"
# Every float edge case: tiny, huge, negative zero, beyond double, NaN/Infinity, many digits.
EDGE_CASES = [
    "1e-07",
    "0.0000001",
    "1e+16",
    "1e16",
    "10000000000000000",
    "1e308",
    "1e400",
    "-1e400",
    "5e-324",
    "-0.0",
    "-0",
    "0",
    "-1e-05",
    "NaN",
    "Infinity",
    "-Infinity",
    "0." + "0" * 60 + "1",
    "1" * 300,
    "3.14159265358979323846264338327950288419716939937510",
    "-7",
]
LITERAL = st.one_of(
    st.sampled_from(EDGE_CASES),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: json.dumps(f)),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.from_regex(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
)
LABS = [
    (analyte, code, unit)
    for analyte, definition in KNOWLEDGE.labs.analytes.items()
    if definition.status_result
    for code in list(definition.loinc)[:1]
    for unit in definition.units
]


def send(hostile: Hostile, path: str, body: dict[str, Any], literal: str) -> Any:
    """The body as JSON text with the number literal written in as is (json.dumps could not write most)."""
    text = json.dumps(body).replace(f'"{NUMBER}"', literal)
    return hostile.call(path, content=text.encode())


@pytest.mark.parametrize("literal", ["1e-07", "0.0000001", "1e16", "1e+16", "Infinity", "1e400", "-0.0", "NaN"])
def test_lab_value_extremes_through_prefetch(hostile: Hostile, literal: str) -> None:
    """0.0000001 mmol/L magnesium and a 25(OH)D of 1e16 killed the process; now: left out and reported, or a 400."""
    body = with_labs(
        base_request(), [observation("2601-3", NUMBER, "mmol/L"), observation("62292-8", NUMBER, "nmol/L")]
    )
    response = send(hostile, PV, body, literal)
    if literal in ("NaN", "Infinity"):
        assert response.status_code == 400 and "not valid JSON" in response.text
        return
    assert response.status_code == 200, response.text
    # magnesium below 0.05 mmol/L or above 20 cannot be real: named in the left-out list
    assert any(e["where"].startswith("Observation/hostile-2601-3-0") for e in left_out(response)), response.text


@pytest.mark.parametrize("literal", ["1e-07", "1e16", "1e400"])
def test_lab_value_extremes_through_the_fhir_server(hostile: Hostile, literal: str) -> None:
    """The same values from the EHR's FHIR server (the prefetch left out) reach the facts step the same way."""

    def answer(request: Request) -> Response:
        if request.url.path.endswith("/Observation"):
            text = json.dumps(
                {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "entry": [{"resource": observation("2601-3", NUMBER, "mmol/L")}],
                }
            ).replace(f'"{NUMBER}"', literal)
            return Response(text, media_type="application/fhir+json")
        return JSONResponse({"resourceType": "Bundle", "type": "searchset", "entry": []})

    hostile.fhir.handler = answer
    body = base_request()
    del body["prefetch"]["labResults"]
    body["fhirServer"] = hostile.fhir.base
    body["fhirAuthorization"] = {"access_token": "hostile-token", "token_type": "Bearer", "scope": "user/*.read"}
    response = hostile.call(PV, body)
    assert response.status_code == 200, response.text
    assert any(e["where"].startswith("Observation/hostile-2601-3-0") for e in left_out(response))


@given(lab=st.sampled_from(LABS), field=st.sampled_from(["value", "low", "high"]), literal=LITERAL)
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
def test_numeric_extremes_in_every_lab_field(
    hostile: Hostile, lab: tuple[str, str, str], field: str, literal: str
) -> None:
    """Hypothesis: every analyte in each of its units, the number in the value or a reference range bound."""
    analyte, code, unit = lab
    value: Any = NUMBER if field == "value" else 1
    extra: dict[str, Any] = {}
    if field != "value":
        bound = {"value": NUMBER, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
        extra["referenceRange"] = [{field: bound}]
    body = with_labs(base_request(), [observation(code, value, unit, **extra)])
    response = send(hostile, PV, body, literal)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400 or field != "value":
        return
    try:
        converted = float(Decimal(literal)) * KNOWLEDGE.labs.analytes[analyte].normalised_units[normalise_unit(unit)]
    except (InvalidOperation, OverflowError):
        return
    plausible = KNOWLEDGE.labs.analytes[analyte].plausible
    assert plausible is not None, f"{analyte} has no plausibility bounds in rules/valuesets/labs.yaml"
    if not plausible.low <= converted <= plausible.high:
        assert any(e["where"].startswith(f"Observation/hostile-{code}-0") for e in left_out(response)), literal


DOSE_FIELDS = ["dose", "frequency", "period", "strength", "denominator", "bounds"]


def _draft_with(field: str) -> dict[str, Any]:
    body = base_request("order-sign", drafts="vitd-5000iu-daily")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    dosage = order["dosageInstruction"][0]
    if field == "dose":
        dosage["doseAndRate"][0]["doseQuantity"]["value"] = NUMBER
    elif field in ("frequency", "period"):
        dosage["timing"]["repeat"][field] = NUMBER
    elif field == "bounds":  # the course length: a fact of its own (course_days)
        unit = {"value": NUMBER, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"}
        dosage["timing"]["repeat"]["boundsDuration"] = unit
    else:  # a tablet dose with the strength on the contained Medication
        dosage["doseAndRate"][0]["doseQuantity"] = {"value": 1, "unit": "tablet"}
        numerator = {"value": NUMBER if field == "strength" else 25, "unit": "ug", "code": "ug"}
        denominator = {"value": NUMBER if field == "denominator" else 1, "unit": "tablet"}
        order["contained"] = [
            {
                "resourceType": "Medication",
                "id": "med",
                "code": order.pop("medicationCodeableConcept"),
                "ingredient": [
                    {
                        "itemCodeableConcept": {"text": "colecalciferol"},
                        "strength": {"numerator": numerator, "denominator": denominator},
                    }
                ],
            }
        ]
        order["medicationReference"] = {"reference": "#med"}
    return body


@given(field=st.sampled_from(DOSE_FIELDS), literal=LITERAL)
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
def test_numeric_extremes_in_every_dose_field(hostile: Hostile, field: str, literal: str) -> None:
    """Hypothesis: the dose, timing frequency and period, and the product strength of a draft order."""
    response = send(hostile, SIGN, _draft_with(field), literal)
    assert response.status_code in (200, 400), response.text


@pytest.mark.parametrize("literal", EDGE_CASES)
@pytest.mark.parametrize("field", DOSE_FIELDS)
def test_every_edge_case_in_every_dose_field(hostile: Hostile, field: str, literal: str) -> None:
    response = send(hostile, SIGN, _draft_with(field), literal)
    assert response.status_code in (200, 400), response.text
