"""Response invariants of CDS Hooks 2.0 (docs/cds-hooks-conformance.md), checked on every response."""

from __future__ import annotations

import re
import uuid
from typing import Any

RESOURCE_ID = re.compile(r"^[A-Za-z]+/[A-Za-z0-9\-\.]{1,64}$")
TOKEN = re.compile(
    r"\{\{(context\.[A-Za-z0-9_]+|userPractitionerId|userPractitionerRoleId|userPatientId|userRelatedPersonId)\}\}"
)


def empty_members(value: Any, path: str = "$") -> list[str]:
    """A2: every null, "", [] or {} anywhere, as JSON paths."""
    found = []
    if value is None or value == "" or value == [] or value == {}:
        found.append(path)
    elif isinstance(value, dict):
        for k, v in value.items():
            found += empty_members(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += empty_members(v, f"{path}[{i}]")
    return found


def check_service_response(body: dict[str, Any]) -> None:
    """F1, A2, G1-G13, H1-H5, I1-I2, O1 for one 200 response of a service call."""
    assert isinstance(body.get("cards"), list), "F1: cards must be an array"
    assert set(body) <= {"cards", "systemActions", "extension"}, f"F1: unexpected members {set(body)}"
    for key in ("systemActions", "extension"):
        if key in body:
            assert not empty_members(body[key], f"$.{key}"), f"A2: empty members {empty_members(body[key])}"
    for extension_key in body.get("extension", {}):
        assert "." in extension_key, "O1: extension keys use reverse-domain names"
    uuids = set()
    for card in body["cards"]:
        assert not empty_members(card), f"A2: empty members {empty_members(card)}"
        uuid.UUID(card["uuid"])  # G1
        assert card["uuid"] not in uuids, "G1: card uuids are unique"
        uuids.add(card["uuid"])
        assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140, f"G2: summary {card['summary']!r}"
        assert card["indicator"] in ("info", "warning", "critical"), "G4"
        assert isinstance(card["source"]["label"], str) and card["source"]["label"], "G10"
        topic = card["source"]["topic"]
        assert topic["system"] == "urn:vitdmg:card-topic" and topic["code"], "G13"
        if "detail" in card:
            assert isinstance(card["detail"], str) and card["detail"].strip(), "G3"
        assert ("suggestions" in card) == ("selectionBehavior" in card), "G6/G7: selectionBehavior iff suggestions"
        if "selectionBehavior" in card:
            assert card["selectionBehavior"] in ("at-most-one", "any"), "G7"
        for reason in card.get("overrideReasons", []):
            assert reason["code"] and reason["system"] and reason["display"], "G8"
        recommended = [s.get("isRecommended") for s in card.get("suggestions", [])]
        # H2: optional in 2.0, but clients' models (HealthChain) require it: issue 12 sends it on every suggestion
        assert all(isinstance(r, bool) for r in recommended), "H2: isRecommended on every suggestion"
        assert not recommended or recommended.count(True) == 1, "H2: exactly one recommended suggestion"
        for suggestion in card.get("suggestions", []):
            assert suggestion["label"], "H1"
            uuid.UUID(suggestion["uuid"])
            for action in suggestion.get("actions", []):
                assert action["type"] in ("create", "update", "delete"), "H4"
                assert action["description"], "H4"
                if action["type"] == "create":
                    assert isinstance(action.get("resource"), dict) and action["resource"].get("resourceType"), "H4"
                if action["type"] == "delete":
                    assert RESOURCE_ID.match(action["resourceId"]), "H4"
            assert "actions" not in suggestion or suggestion["actions"], "H5"
        for link in card.get("links", []):
            assert link["type"] in ("absolute", "smart") and link["url"].startswith(("http://", "https://")), "I1"
            assert not (link["type"] == "absolute" and "appContext" in link), "I2"


def check_discovery(body: dict[str, Any]) -> None:
    """B2, B4, D2, D3, D5 for the discovery response."""
    assert isinstance(body["services"], list) and body["services"], "B2"
    assert not empty_members(body), f"A2: {empty_members(body)}"
    for service in body["services"]:
        for key in ("hook", "description", "id"):
            assert isinstance(service[key], str) and service[key], f"B4: {key}"
        assert service.get("title"), "B4: title recommended"
        for template in service.get("prefetch", {}).values():
            assert isinstance(template, str), "B4: prefetch values are strings"
            tokens = re.findall(r"\{\{[^}]*\}\}", template)
            assert all(TOKEN.fullmatch(t) for t in tokens), f"D2: {tokens}"
            assert all(
                t in ("{{context.patientId}}", "{{context.userId}}", "{{context.encounterId}}") for t in tokens
            ), "D3"
            check_restricted_query(template)


def check_restricted_query(template: str) -> None:
    """D5: instance read, or type search with patient reference, token equality lists, _sort and _count."""
    resource, _, query = template.partition("?")
    if not query:
        assert re.fullmatch(r"[A-Z][A-Za-z]+/\{\{context\.[A-Za-z]+\}\}", resource), f"D5: read {template}"
        return
    assert re.fullmatch(r"[A-Z][A-Za-z]+", resource), f"D5: {template}"
    for part in query.split("&"):
        name, _, value = part.partition("=")
        assert name in ("patient", "code", "status", "_sort", "_count", "category"), f"D5: parameter {name}"
        assert ":" not in name, "D5: no modifiers"
        if name == "_sort":
            assert value == "-date", "D5: _sort=-date"


def check_error_body(body: dict[str, Any]) -> None:
    """C6 (IMPL): every 4xx body is an OperationOutcome that says what is wrong."""
    assert body.get("resourceType") == "OperationOutcome"
    assert body["issue"] and all(i.get("diagnostics") for i in body["issue"])
