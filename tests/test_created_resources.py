"""Issue 18 "Done when": every resource a suggestion creates is valid FHIR R4B and is about context.patientId;
a delete points at a draft order of the request; no suggestion repeats an action. Checked over every
fixture scenario, through the service's pipeline (cds_service.offline.evaluation, as `vitdmg-cds evaluate` runs it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


async def test_every_reference_in_a_created_resource_is_to_the_patient_in_context(evaluator: Evaluator) -> None:
    """Every reference anywhere in a created resource (not only `subject`) is to context.patientId, and the
    scenarios do create and delete: the checks above are not vacuous."""
    seen: dict[str, int] = {"create": 0, "delete": 0}
    for folder in SCENARIOS:
        patient = json.loads((folder / "request.json").read_text(encoding="utf-8"))["context"]["patientId"]
        evaluation = await evaluator.evaluate(folder / "request.json")
        for card in evaluation.cards:
            for suggestion in card.get("suggestions", []):
                for action in suggestion.get("actions", []):
                    seen[action["type"]] = seen.get(action["type"], 0) + 1
                    if action["type"] == "create":
                        refs = list(_references(action["resource"]))
                        assert refs and all(r == f"Patient/{patient}" for r in refs), (folder.name, refs)
    assert seen["create"] >= 10 and seen["delete"] >= 5, seen


def _codes(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for coding in node["coding"] if isinstance(node.get("coding"), list) else []:
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                yield coding["code"]
        for value in node.values():
            yield from _codes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _codes(value)


async def test_cards_name_products_and_tests_not_their_codes(evaluator: Evaluator) -> None:
    """Issue 18 "card form": raw codes appeared as names ("order: 62292-8", "A12AX"). No code the request sends
    (LOINC, ATC, RxNorm, SNOMED, G-Standaard) is shown in a card's text, outside resource references and links."""
    shown = 0
    for folder in SCENARIOS:
        request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
        server = folder / "fhir.json"
        sent = [request.get("prefetch"), request.get("context")]
        sent += [json.loads(server.read_text(encoding="utf-8"))] if server.is_file() else []
        codes = {c for c in _codes(sent) if len(c) >= 4}
        evaluation = await evaluator.evaluate(folder / "request.json")
        for card in evaluation.cards:
            texts = [card["summary"], card.get("detail") or ""]
            for suggestion in card.get("suggestions", []):
                texts += [suggestion["label"], *(a.get("description", "") for a in suggestion.get("actions", []))]
            for text in texts:
                text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
                text = re.sub(r"\([A-Za-z]+/[^)]*\)", "", text)  # resource references
                shown += 1
                for code in codes:
                    assert not re.search(rf"(?<![\w.-]){re.escape(code)}(?![\w-])", text), (folder.name, code, text)
    assert shown > 100
