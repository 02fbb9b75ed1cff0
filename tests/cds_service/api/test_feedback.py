"""Feedback endpoint, audit trail and suppression over HTTP, on SQLite and PostgreSQL (issue 6; conformance K)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cds_service.store.database import CardRecord, IssuedCard, Store
from tests.builders import request, spec_example
from tests.conftest import NOW, AppClient
from tests.stores import store_url

PV = "/cds-services/vitd-mg-patient-view"
FB = PV + "/feedback"
EXAMPLES = [
    "spec-2.0.1/feedback-accepted.json",
    "spec-2.0.1/feedback-overridden-no-reason.json",
    "spec-2.0.1/feedback-overridden-with-reason.json",
]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request.param, tmp_path)


async def _client(make_client: AppClient, database: str, **overrides: Any) -> tuple[httpx.AsyncClient, Store]:
    client = await make_client(database_url=database, **overrides)
    store: Store = client._transport.app.state.store
    return client, store


def _already_addressed(uuid: str) -> dict[str, Any]:
    """An override with the reason the suppression period is keyed on."""
    return {
        "card": uuid,
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-22T12:05:00Z",
        "overrideReason": {"reason": {"code": "already-addressed", "system": "urn:vitdmg:override-reason"}},
    }


def _card(body: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for c in body["cards"] if c["source"]["topic"]["code"] == code)


@pytest.mark.parametrize("example", EXAMPLES)
async def test_spec_feedback_examples_are_accepted(make_client: AppClient, database: str, example: str) -> None:
    """K2, K3, K6: the three published feedback bodies (the reason without display included)."""
    client, store = await _client(make_client, database)
    body = spec_example(example)
    store.record_cards(
        "vitd-mg-patient-view",
        "h",
        "p",
        "v",
        "nl-be",
        [CardRecord(f["card"], "mg-loss-ppi", "info", "s") for f in body["feedback"]],
        NOW,
    )
    response = await client.post(FB, json=body)
    assert response.status_code == 200
    assert response.json() == {"stored": len(body["feedback"]), "duplicates": 0}


async def test_feedback_on_an_issued_card_is_stored_once(make_client: AppClient, database: str) -> None:
    """K4: the same card, outcome and time twice (and in one POST) -> stored once."""
    client, _ = await _client(make_client, database)
    card = _card((await client.post(PV, json=request())).json(), "mg-loss-ppi")
    item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-22T12:05:00Z"}
    assert (await client.post(FB, json={"feedback": [item, item]})).json() == {"stored": 1, "duplicates": 1}
    assert (await client.post(FB, json={"feedback": [item]})).json() == {"stored": 0, "duplicates": 1}


async def test_unknown_card_is_404(make_client: AppClient, database: str) -> None:
    client, _ = await _client(make_client, database)
    item = {
        "card": "9b5e1c8a-0000-4000-8000-000000000000",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-22T12:05:00Z",
    }
    response = await client.post(FB, json={"feedback": [item]})
    assert response.status_code == 404
    assert response.json()["issue"][0]["expression"] == ["feedback[0].card"]


async def test_card_of_another_service_is_404(make_client: AppClient, database: str) -> None:
    client, _ = await _client(make_client, database)
    card = _card((await client.post(PV, json=request())).json(), "mg-loss-ppi")
    item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-22T12:05:00Z"}
    assert (
        await client.post("/cds-services/vitd-mg-order-sign/feedback", json={"feedback": [item]})
    ).status_code == 404


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        (
            {"outcome": "accepted", "outcomeTimestamp": "2026-11-22T12:05:00Z", "acceptedSuggestions": [{"id": "s"}]},
            "feedback[0].card",
        ),
        ({"card": "c", "outcome": "ignored", "outcomeTimestamp": "2026-11-22T12:05:00Z"}, "feedback[0].outcome"),
        ({"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-22T12:05:00Z"}, "feedback[0]"),
        ({"card": "c", "outcome": "overridden"}, "feedback[0].outcomeTimestamp"),
        (
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-22T12:05:00"},
            "feedback[0].outcomeTimestamp",
        ),
        ({"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"}, "feedback[0].outcomeTimestamp"),
    ],
)
async def test_each_validation_error_is_400(
    make_client: AppClient, tmp_path: Path, entry: dict[str, Any], where: str
) -> None:
    """K3: card, outcome (accepted|overridden), acceptedSuggestions when accepted, an RFC 3339 UTC timestamp."""
    client = await make_client()
    response = await client.post(FB, json={"feedback": [entry]})
    assert response.status_code == 400
    assert where in [i["expression"][0] for i in response.json()["issue"]]


async def test_empty_or_malformed_feedback_is_400(client: httpx.AsyncClient) -> None:
    assert (await client.post(FB, json={"feedback": []})).status_code == 400
    assert (await client.post(FB, content=b"{", headers={"content-type": "application/json"})).status_code == 400


async def test_audit_rows_hold_no_patient_data(make_client: AppClient, database: str) -> None:
    """Per card: uuid, service, code, indicator, knowledge version, profile, time, hookInstance, pseudonym."""
    client, store = await _client(make_client, database)
    body = (await client.post(PV, json=request())).json()
    assert client._transport.app.state.audit.flush()  # type: ignore[attr-defined]  # the rows are written after the response
    with store.engine.connect() as connection:
        rows = connection.execute(select(IssuedCard)).mappings().all()
    assert {r["uuid"] for r in rows} == {c["uuid"] for c in body["cards"]}
    assert {r["topic"] for r in rows} == {c["source"]["topic"]["code"] for c in body["cards"]}
    dump = json.dumps([dict(r) for r in rows], default=str)
    for secret in ("nl-1", "Jansen", "Gerda", "999911120", "1950-04-12"):
        assert secret not in dump
    assert {r["service_id"] for r in rows} == {"vitd-mg-patient-view"} and {r["profile"] for r in rows} == {"nl-be"}


async def test_overridden_card_is_suppressed_and_counted(make_client: AppClient, database: str) -> None:
    client, _ = await _client(make_client, database)
    first = (await client.post(PV, json=request())).json()
    card = _card(first, "mg-loss-ppi")
    override = _already_addressed(card["uuid"])
    assert (await client.post(FB, json={"feedback": [override]})).status_code == 200
    second = (await client.post(PV, json=request())).json()
    assert "mg-loss-ppi" not in {c["source"]["topic"]["code"] for c in second["cards"]}
    assert second["extension"]["org.vitdmg.suppressed"] == {"count": 1, "codes": ["mg-loss-ppi"]}
    assert "mg-deficiency" in {c["source"]["topic"]["code"] for c in second["cards"]}  # the others stay


async def test_suppression_can_be_turned_off(make_client: AppClient, database: str) -> None:
    client, _ = await _client(make_client, database, suppression=False)
    card = _card((await client.post(PV, json=request())).json(), "mg-loss-ppi")
    override = _already_addressed(card["uuid"])
    await client.post(FB, json={"feedback": [override]})
    assert "mg-loss-ppi" in {
        c["source"]["topic"]["code"] for c in (await client.post(PV, json=request())).json()["cards"]
    }


async def test_new_data_shows_the_card_again(make_client: AppClient, database: str) -> None:
    """A newer Mg result behind the card: it is shown again despite the override."""
    client, _ = await _client(make_client, database)
    card = _card((await client.post(PV, json=request())).json(), "mg-loss-ppi")
    override = _already_addressed(card["uuid"])
    await client.post(FB, json={"feedback": [override]})
    newer = request()
    mg = next(e["resource"] for e in newer["prefetch"]["labResults"]["entry"] if e["resource"]["id"] == "nl-1-mg")
    mg["id"], mg["effectiveDateTime"], mg["valueQuantity"]["value"] = "nl-1-mg-2", "2026-11-20T08:00:00+01:00", 0.6
    codes = {c["source"]["topic"]["code"] for c in (await client.post(PV, json=newer)).json()["cards"]}
    assert "mg-loss-ppi" in codes


async def test_readyz_reports_the_store(make_client: AppClient, database: str) -> None:
    client, _ = await _client(make_client, database)
    assert (await client.get("/readyz")).json()["store"] == "reachable"


async def test_readyz_is_503_when_the_store_is_unreachable(make_client: AppClient) -> None:
    """Issue 13 finding 7: ready with the store down meant every call then answered 500."""
    client = await make_client(database_url="postgresql+psycopg://postgres@127.0.0.1:9/none", migrate_on_start=False)
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["store"] == "unreachable" and response.json()["status"] == "not ready"
