"""Issue 18 "Done when": every resource a suggestion creates is valid FHIR R4B and is about context.patientId;
a delete points at a draft order of the request; no suggestion repeats an action. Checked over every
fixture scenario, through the service's pipeline (cds_service.offline.evaluation, as `vitdmg-cds evaluate` runs it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from cds_service.knowledge.loader import Knowledge
from cds_service.offline.evaluation import Evaluator
from cds_service.settings import Settings

from .fhir_server import FIXTURES

SCENARIOS = sorted(p for p in (FIXTURES / "scenarios").iterdir() if (p / "request.json").is_file())


@pytest.fixture(scope="module")
def evaluator(knowledge: Knowledge) -> Evaluator:
    return Evaluator(Settings(auth="disabled"), knowledge)


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
async def test_created_resources_are_valid_and_about_the_patient(evaluator: Evaluator, folder: Path) -> None:
    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    patient = request["context"]["patientId"]
    drafts = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in (request["context"].get("draftOrders") or {}).get("entry", [])
    }
    evaluation = await evaluator.evaluate(folder / "request.json")
    assert evaluation.status == 200
    for card in evaluation.cards:
        for suggestion in card.get("suggestions", []):
            actions = suggestion.get("actions", [])
            keys = [json.dumps({k: v for k, v in a.items() if k != "description"}, sort_keys=True) for a in actions]
            assert len(keys) == len(set(keys)), f"{card['source']['topic']['code']}: an action repeated"
            for action in actions:
                if action["type"] == "create":
                    resource = action["resource"]
                    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
                    assert resource["subject"] == {"reference": f"Patient/{patient}"}
                if action["type"] == "delete":
                    assert action["resourceId"] in drafts
                    assert action["resourceId"] not in action["description"], "a description names, not a reference"
