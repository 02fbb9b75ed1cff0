"""Issue 10 item 4: suggestions that create orders a clinician would sign (cards.py).

A follow-up lab order carries its window; a medication proposal is coded the way the profile's EHRs code
medication (ATC + text for nl-be/dach, text only for US profiles: no RxNorm code of these products is
verified); units read IE in Dutch and IU in English; independent suggestions are `selectionBehavior: any`;
one suggestion per order across the cards of one response.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.knowledge.loader import ATC, Knowledge
from cds_service.reasoning.cards import RenderContext, render_cards
from cds_service.reasoning.engine import Derived
from cds_service.reasoning.facts import Evidence, FactSet

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _facts() -> FactSet:
    facts = FactSet()
    facts.evidence["lab:0"] = Evidence(
        "lab", "Observation/v", analyte="vitd25", value=20.0, unit="nmol/L", date="2026-11-01"
    )
    facts.evidence["miss:1"] = Evidence("lab-missing", analyte="mg")
    return facts


def _card(knowledge: Knowledge, code: str, variant: str, locale: str = "nl", profile: str = "nl-be") -> dict:  # type: ignore[type-arg]
    intent = Derived("card", {"code": code, "variant": variant, "indicator": "warning"}, ("lab:0",), "r", "c")
    (card,) = render_cards([intent], _facts(), knowledge, RenderContext(locale, profile, "p1", NOW))
    return card.model_dump(exclude_none=True)


def test_follow_up_lab_order_carries_its_window(knowledge: Knowledge) -> None:
    card = _card(knowledge, "vitd-deficiency", "default")
    (lab,) = [
        a["resource"]
        for s in card["suggestions"]
        for a in s["actions"]
        if a["resource"]["resourceType"] == "ServiceRequest"
    ]
    assert lab["occurrencePeriod"] == {"start": "2027-01-17", "end": "2027-02-14"}  # 8 and 12 weeks from NOW
    ServiceRequest.model_validate(lab)


def test_independent_suggestions_are_any(knowledge: Knowledge) -> None:
    """Repeat the test and start the supplement are independent: the clinician may accept both."""
    assert _card(knowledge, "vitd-deficiency", "default")["selectionBehavior"] == "any"
    facts = _facts()
    facts.evidence["order:2"] = Evidence("order", "ServiceRequest/d1", analyte="vitd125", name="1,25(OH)2D")
    intent = Derived(
        "card", {"code": "test-125d-not-status", "variant": "default", "indicator": "info"}, ("order:2",), "r", "c"
    )
    (replace,) = render_cards([intent], facts, knowledge, RenderContext("nl", "nl-be", "p1", NOW))
    assert replace.selectionBehavior == "at-most-one"  # delete + create: one choice
    assert [a.type for s in replace.suggestions or [] for a in s.actions or []] == ["delete", "create"]


@pytest.mark.parametrize(("locale", "unit"), [("nl", "IE"), ("en", "IU")])
def test_units_read_ie_in_dutch_and_iu_in_english(knowledge: Knowledge, locale: str, unit: str) -> None:
    card = _card(knowledge, "vitd-deficiency", "default", locale)
    (med,) = [
        a["resource"]
        for s in card["suggestions"]
        for a in s["actions"]
        if a["resource"]["resourceType"] == "MedicationRequest"
    ]
    quantity = med["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    assert quantity["unit"] == unit and quantity["code"] == "[iU]"
    assert unit in med["dosageInstruction"][0]["text"]
    MedicationRequest.model_validate(med)


@pytest.mark.parametrize(("profile", "atc"), [("nl-be", True), ("dach", True), ("us-endocrine-2011", False)])
def test_medication_proposal_coded_per_profile(knowledge: Knowledge, profile: str, atc: bool) -> None:
    card = _card(knowledge, "vitd-deficiency", "default", "en", profile)
    (med,) = [
        a["resource"]
        for s in card["suggestions"]
        for a in s["actions"]
        if a["resource"]["resourceType"] == "MedicationRequest"
    ]
    concept = med["medicationCodeableConcept"]
    assert concept["text"]
    assert (concept.get("coding") == [{"system": ATC, "code": "A11CC05"}]) is atc
    assert "coding" in concept or not atc


def test_one_suggestion_per_order_across_cards(knowledge: Knowledge) -> None:
    """Two cards that would each order 25(OH)D: the more urgent one owns the suggestion."""
    facts = _facts()
    intents = [
        Derived(
            "card",
            {"code": "vitd-lowering-medication", "variant": "unmeasured", "indicator": "info"},
            ("lab:0",),
            "r1",
            "c1",
        ),
        Derived(
            "card", {"code": "risk-group-testing", "variant": "default", "indicator": "warning"}, ("lab:0",), "r2", "c2"
        ),
    ]
    cards = render_cards(intents, facts, knowledge, RenderContext("nl", "nl-be", "p1", NOW))
    ordering = [c.source.topic.code for c in cards for s in c.suggestions or [] if c.source.topic]
    assert ordering == ["risk-group-testing"]
    for card in cards:
        for suggestion in card.suggestions or []:
            assert suggestion.isRecommended is not None
