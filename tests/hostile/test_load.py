"""Issue 13 finding 2: CPU work off the event loop, within bounds.

19,900 magnesium results in an unknown unit took 13.6 s and stalled /healthz for 12.5 s; 10,000 draft orders
answered 500 after 18.6 s. Now: the CPU work runs in a worker thread, at most VITDMG_MAX_LAB_CANDIDATES results
per analyte are examined, more than VITDMG_MAX_DRAFT_ORDERS drafts is a 413, and one processing budget bounds
the rest.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..conftest import AppClient
from .conftest import PV, SIGN, Hostile, base_request, left_out, observation, with_labs


def _flood(count: int) -> list[dict[str, Any]]:
    """Magnesium results in a unit nobody knows: every one a candidate, none usable."""
    return [observation("2601-3", 0.5, "mg/furlong", index=i) for i in range(count)]


def _conditions(count: int) -> dict[str, Any]:
    """Conditions whose code the rules read (chronic kidney disease, ICD-10 N18): each one is validated."""
    entries = [
        {
            "resource": {
                "resourceType": "Condition",
                "id": f"c{i}",
                "subject": {"reference": "Patient/nl-1"},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "N18.4"}]},
            }
        }
        for i in range(count)
    ]
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


def test_healthz_answers_within_100_ms_while_a_worst_case_request_runs(hostile: Hostile) -> None:
    """A worst case within the input limits: 9,900 unusable results and 10,000 conditions to validate (5 MB)."""
    body = with_labs(base_request(), _flood(9_900))
    body["prefetch"]["conditions"] = _conditions(10_000)
    content = json.dumps(body).encode()
    del body
    result: dict[str, Any] = {}

    def worst_case() -> None:
        started = time.monotonic()
        result["response"] = hostile.call(PV, content=content)
        result["seconds"] = time.monotonic() - started

    latencies: list[float] = []
    gc.collect()
    gc.disable()  # this process's collector must not be what the probes measure
    try:
        worker = threading.Thread(target=worst_case)
        worker.start()
        with httpx.Client(base_url=hostile.base, timeout=30) as probe:
            time.sleep(0.5)  # the body is sent and being worked on
            while worker.is_alive():
                started = time.monotonic()
                assert probe.get("/healthz").status_code == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.05)
        worker.join()
    finally:
        gc.enable()
    assert result["response"].status_code in (200, 413), result["response"].text
    assert len(latencies) >= 5, f"the request took only {result['seconds']:.1f} s: not a worst case"
    shown = sorted(round(x * 1000) for x in latencies)
    # Within 100 ms, allowing one probe in five that the scheduler of a shared 2-core machine delays (at load 9
    # and the collector off entirely a probe still took 125 ms; a full collection of a 5 MB request's objects
    # holds the GIL for 100-300 ms there); never a second. Before: every probe blocked, 12.5 s at a stretch.
    slow = [x for x in latencies if x >= 0.1]
    assert len(slow) <= len(latencies) // 5 and max(latencies) < 1.0, f"/healthz latencies in ms: {shown}"


def test_a_flood_of_unusable_results_is_examined_up_to_the_bound(hostile: Hostile) -> None:
    response = hostile.call(PV, with_labs(base_request(), _flood(19_900)))
    assert response.status_code == 200
    reports = [e for e in left_out(response) if "VITDMG_MAX_LAB_CANDIDATES" in e["reason"]]
    assert reports and "19850 older or undated results" in reports[0]["reason"], left_out(response)[-3:]


def test_60000_results_through_the_fhir_server(hostile: Hostile) -> None:
    """Three pages of 20,000 from the FHIR server: fetched within the FHIR budget, examined within the bound."""
    page_size = 20_000

    def answer(request: Request) -> Response:
        if not request.url.path.endswith("/Observation"):
            return JSONResponse({"resourceType": "Bundle", "type": "searchset", "entry": []})
        page = int(request.query_params.get("page", "0"))
        entries = [
            {"resource": observation("2601-3", 0.5, "mg/furlong", index=page * page_size + i)} for i in range(page_size)
        ]
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
        if page < 2:
            bundle["link"] = [{"relation": "next", "url": f"{hostile.fhir.base}/Observation?page={page + 1}"}]
        return JSONResponse(bundle)

    hostile.fhir.handler = answer
    body = base_request()
    del body["prefetch"]["labResults"]
    body["fhirServer"] = hostile.fhir.base
    response = hostile.call(PV, body)
    assert response.status_code == 200, response.text
    assert any("59950 older or undated results" in e["reason"] for e in left_out(response))


def test_10000_draft_orders_are_a_413(hostile: Hostile) -> None:
    body = base_request("order-sign", drafts="vitd-5000iu-daily")
    drafts = body["context"]["draftOrders"]["entry"]
    body["context"]["draftOrders"]["entry"] = [
        {"resource": {**drafts[0]["resource"], "id": f"d{i}"}} for i in range(10_000)
    ]
    response = hostile.call(SIGN, body)
    assert response.status_code == 413
    assert response.json()["issue"][0]["expression"] == ["context.draftOrders.entry"]
    assert "VITDMG_MAX_DRAFT_ORDERS" in response.text


async def test_the_processing_budget_is_a_413(make_client: AppClient) -> None:
    """One budget for parsing to cards, beside the FHIR budget (in-process, with a budget no request meets)."""
    client = await make_client(processing_budget_seconds=0.001)
    body = base_request()
    body["prefetch"]["conditions"] = _conditions(500)
    response = await client.post(PV, json=body)
    assert response.status_code == 413 and "VITDMG_PROCESSING_BUDGET_SECONDS" in response.text
