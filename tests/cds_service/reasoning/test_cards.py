"""Card form (issue 18): one delete per draft order, product names instead of codes, override reasons per card."""

from __future__ import annotations

import pytest

from cds_service.knowledge.loader import Knowledge
from cds_service.offline.evaluation import Evaluator
from cds_service.reasoning.cards import RenderContext, render_cards
from cds_service.reasoning.engine import Derived
from cds_service.reasoning.facts import Evidence, FactSet
from cds_service.settings import Settings
from tests.fhir_server import FIXTURES


def _facts_with_one_draft_seen_twice() -> FactSet:
    """The same draft order behind two facts of one card (two classes of one combination product)."""
    facts = FactSet()
    for fact_id, med_class in (("o1", "vitd-native"), ("o2", "vitd-native")):
        facts.evidence[fact_id] = Evidence(
            "order",
            "MedicationRequest/draft-1",
            name="CALCI-CHEW D3 KAUWTABLET 500MG/400IE",
            med_class=med_class,
            matched_on="atc",
            value=140.0,
            unit="ug",
        )
    facts.evidence["p"] = Evidence("patient", "Patient/p", value=50.0)
    return facts


def _card(knowledge: Knowledge, code: str, variant: str, locale: str = "nl") -> dict:  # type: ignore[type-arg]
    facts = _facts_with_one_draft_seen_twice()
    intents = [
        Derived("card", {"code": code, "variant": variant, "indicator": "warning"}, ("o1", "p"), "r1", "c1"),
        Derived("card", {"code": code, "variant": variant, "indicator": "warning"}, ("o2", "p"), "r2", "c2"),
    ]
    (card,) = render_cards(intents, facts, knowledge, RenderContext(locale, "nl-be", "p"))
    return card.model_dump(exclude_none=True)


def test_a_draft_is_deleted_once_per_suggestion(knowledge: Knowledge) -> None:
    """Issue 18: 'a suggestion deletes the same order twice'."""
    card = _card(knowledge, "vitd-dose-above-ul", "default")
    (suggestion,) = card["suggestions"]
    deletes = [a for a in suggestion["actions"] if a["type"] == "delete"]
    assert [a["resourceId"] for a in deletes] == ["MedicationRequest/draft-1"]
    assert deletes[0]["description"] == "Annuleer CALCI-CHEW D3 KAUWTABLET 500MG/400IE"


def test_override_reasons_are_per_card(knowledge: Knowledge) -> None:
    """Issue 18: the upper-limit card offers 'loading dose for proven deficiency', the renal card 'nephrologist
    agrees'; the common reason the suppression is keyed on stays on every card."""
    ul = [r["code"] for r in _card(knowledge, "vitd-dose-above-ul", "default", "en")["overrideReasons"]]
    renal = [r["code"] for r in _card(knowledge, "renal-caution-mg", "order-severe", "en")["overrideReasons"]]
    assert ul[0] == "loading-dose-proven-deficiency" and "nephrologist-agrees" not in ul
    assert renal[0] == "nephrologist-agrees" and "loading-dose-proven-deficiency" not in renal
    assert "already-addressed" in ul and "already-addressed" in renal


# --- interactions named per drug, from the order and from active medication (issue 18) --------------------

SCENARIOS = FIXTURES / "scenarios"


@pytest.fixture(scope="module")
def evaluator(knowledge: Knowledge) -> Evaluator:
    return Evaluator(Settings(auth="disabled"), knowledge)


@pytest.mark.parametrize(
    ("scenario", "summary"),
    [
        # the probe: "Magnesium gescheiden innemen van ?" - the partner was read from active medication only
        ("os-nl-h18-doxy-ordered-mg-in-use", "Doxycycline en magnesiumoxide: niet tegelijk innemen"),
        ("sg-nl-h18-mg-ordered-doxy-in-use", "Doxycycline en magnesiumoxide: niet tegelijk innemen"),
        ("os-nl-cipro-selected-mg-draft", "Ciprofloxacine: minstens 2 uur vóór of 6 uur na magnesiumoxide innemen"),
        # moxifloxacin got ciprofloxacin's spacing
        (
            "os-us-h18-moxi-ordered-mg-in-use",
            "Moxifloxacin: take at least 4 hours before or 8 hours after magnesium hydroxide",
        ),
        (
            "sg-us-h18-calcium-d-ordered-levothyroxine-in-use",
            "Levothyroxine: take at least 4 hours apart from calcium carbonate",
        ),
        (
            "os-nl-h18-dolutegravir-ordered-antacid-in-use",
            # the product by its ingredient, not its display in capitals (review T7)
            "Dolutegravir: minstens 2 uur vóór of 6 uur na magaldraat innemen",
        ),
        # penicillamine as a binding partner (issue 18), both directions, NL zib and US Core shapes
        (
            "os-nl-h18-penicillamine-ordered-mg-in-use",
            "Penicillamine: minstens 1 uur gescheiden van magnesiumcitraat innemen",
        ),
        (
            "sg-us-h18-mg-ordered-penicillamine-in-use",
            "Penicillamine: take at least 1 hour apart from magnesium oxide",
        ),
        (
            "sg-nl-h18-alendronate-ordered-mg-in-use",
            "Alendroninezuur nuchter innemen, magnesiumcitraat op een ander moment",
        ),
        ("sg-nl-h18-colestyramine-ordered-vitd-in-use", "Colestyramine kan de opname van vitamine D verminderen"),
    ],
)
async def test_interaction_cards_name_both_drugs(evaluator: Evaluator, scenario: str, summary: str) -> None:
    evaluation = await evaluator.evaluate(SCENARIOS / scenario / "request.json")
    summaries = [c["summary"] for c in evaluation.cards]
    assert summary in summaries
    assert not any("?" in s for s in summaries)


async def test_sequestrant_does_not_get_orlistats_interval(evaluator: Evaluator) -> None:
    evaluation = await evaluator.evaluate(SCENARIOS / "sg-nl-h18-colestyramine-ordered-vitd-in-use" / "request.json")
    (card,) = [c for c in evaluation.cards if c["source"]["topic"]["code"] == "vitd-absorption-interaction"]
    assert "orlistat" not in card["detail"].split("**")[0] and "2 uur" not in card["detail"]
