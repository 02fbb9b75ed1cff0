"""The benchmark's scenarios have the shapes bench/README.md describes (issue 14): 20 distinct patients per
scenario, the busy record's make-up, the session's five calls on one record, and 6-8 cards on the busy record."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from typing import Any

import pytest

from bench import scenarios
from cds_service.knowledge.loader import Knowledge
from cds_service.offline.evaluation import Evaluator
from cds_service.reasoning.invocation import invoke, parse_request
from cds_service.settings import Settings

NOW = scenarios.now()
UNITS = scenarios.all_scenarios(NOW, "http://127.0.0.1:1/fhir")


def _resources(body: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for value in body.get("prefetch", {}).values():
        if value and value.get("resourceType") == "Bundle":
            found += [e["resource"] for e in value.get("entry", [])]
        elif value:
            found.append(value)
    return found


@pytest.mark.parametrize("name", list(UNITS))
def test_every_scenario_rotates_distinct_patients(name: str) -> None:
    rotation = UNITS[name]
    assert len(rotation) == scenarios.PATIENTS == 20
    patients = {unit[0].body["context"]["patientId"] for unit in rotation}
    assert len(patients) == 20
    bodies = {json.dumps(call.body, sort_keys=True) for unit in rotation for call in unit}
    assert len(bodies) == sum(len(unit) for unit in rotation)  # no two calls carry the same bytes


def test_busy_record_has_the_shape_of_the_issue() -> None:
    resources = scenarios.busy_record(NOW, 7, "busy-x")
    kinds = Counter(r["resourceType"] for r in resources)
    assert kinds == {"Patient": 1, "MedicationStatement": 10, "Observation": 150, "Condition": 30}
    assert all(r["status"] == "active" for r in resources if r["resourceType"] == "MedicationStatement")
    assert len({r["code"]["coding"][0]["code"] for r in resources if r["resourceType"] == "Condition"}) == 30
    assert len({r["code"]["coding"][0]["code"] for r in resources if r["resourceType"] == "Observation"}) == 7
    dates = sorted(r["effectiveDateTime"] for r in resources if r["resourceType"] == "Observation")
    assert (NOW.date() - date.fromisoformat(dates[0])).days > 4 * 365


def test_session_is_five_calls_on_one_record() -> None:
    for unit in UNITS[scenarios.SESSION]:
        assert [c.body["hook"] for c in unit] == ["patient-view", *["order-select"] * 3, "order-sign"]
        assert len({json.dumps(c.body["prefetch"], sort_keys=True) for c in unit}) == 1
        assert len({c.body["hookInstance"] for c in unit}) == 5


async def test_busy_answers_carry_six_to_eight_cards(knowledge: Knowledge) -> None:
    evaluator = Evaluator(Settings(auth="disabled"), knowledge)
    for unit in UNITS[scenarios.BUSY]:
        service = evaluator.services[unit[0].service]
        request = parse_request(unit[0].body, service)
        outcome = await invoke(
            request,
            service,
            knowledge=knowledge,
            engine=evaluator.engine,
            settings=evaluator.settings,
            locale="nl",
            access=None,
            now=NOW,
        )
        assert 6 <= len(outcome.response.cards) <= 8, outcome.card_codes
        assert _resources(unit[0].body)
