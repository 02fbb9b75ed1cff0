"""Issue 17: which drug an interaction card names as {partner}, and which product as {binder}, is the knowledge's
(`interaction_partner`, `chelation_binder` on the medication classes), not a list of class ids in code."""

from __future__ import annotations

from cds_service.knowledge.loader import Knowledge
from cds_service.reasoning.cards import RenderContext, render_cards
from cds_service.reasoning.engine import Derived
from cds_service.reasoning.facts import Evidence, FactSet


def _summary(knowledge: Knowledge) -> str:
    facts = FactSet()
    facts.evidence["m"] = Evidence(
        "med", "MedicationStatement/m", name="Thyrax", med_class="levothyroxine", ingredient="levothyroxine"
    )
    facts.evidence["o"] = Evidence(
        "order", "MedicationRequest/o", name="Calcium 500 mg", med_class="calcium-supplement"
    )
    facts.evidence["p"] = Evidence("patient", "Patient/p", value=50.0)
    intent = Derived(
        "card",
        {"code": "mg-chelation-spacing", "variant": "levothyroxine", "indicator": "info"},
        ("m", "o", "p"),
        "r",
        "c",
    )
    (card,) = render_cards([intent], facts, knowledge, RenderContext("en", "nl-be", "p"))
    return card.summary


def _with_flags(knowledge: Knowledge, med_class: str, **flags: bool) -> Knowledge:
    classes = dict(knowledge.medications.classes)
    classes[med_class] = classes[med_class].model_copy(update=flags)
    return knowledge.model_copy(update={"medications": knowledge.medications.model_copy(update={"classes": classes})})


def test_partner_and_binder_are_named_from_the_knowledge_flags(knowledge: Knowledge) -> None:
    # a product whose text names no known ingredient is named by its class in the card's language (review T7)
    assert _summary(knowledge) == "Levothyroxine: take at least 4 hours apart from calcium product"
    unflagged = _with_flags(knowledge, "levothyroxine", interaction_partner=False)
    assert _summary(unflagged).startswith("?:")
    not_a_binder = _with_flags(knowledge, "calcium-supplement", chelation_binder=False)
    assert _summary(not_a_binder).endswith("apart from magnesium")


def test_every_magnesium_product_class_binds(knowledge: Knowledge) -> None:
    """A magnesium-containing class is a binder on the spacing card (the label's reason for spacing)."""
    classes = knowledge.medications.classes
    assert all(c.chelation_binder for c in classes.values() if c.contains_magnesium)
    assert not any(c.chelation_binder and c.interaction_partner for c in classes.values())
