"""The knowledge files: every card has Dutch and English texts and a citation; every variant renders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cds_service.knowledge.loader import Knowledge, default_rules_dir, load_knowledge
from cds_service.reasoning.cards import RenderContext, render_cards
from cds_service.reasoning.engine import Derived
from cds_service.reasoning.facts import Evidence, FactSet

LOCALES = ("nl", "en")


def _evidence() -> FactSet:
    """One fact of each kind a card text may refer to."""
    facts = FactSet()
    values = {"vitd25": 24.0, "mg": 0.62, "ca": 2.05, "k": 3.2, "pth": 88.0, "egfr": 25.0, "creatinine": 180.0}
    units = {
        "vitd25": "nmol/L",
        "mg": "mmol/L",
        "ca": "mmol/L",
        "k": "mmol/L",
        "pth": "pg/mL",
        "egfr": "mL/min/1.73m2",
        "creatinine": "umol/L",
    }
    for i, (analyte, value) in enumerate(values.items()):
        facts.evidence[f"lab:{i}"] = Evidence(
            "lab",
            f"Observation/{analyte}",
            analyte=analyte,
            value=value,
            unit=units[analyte],
            date="2026-10-01",
            range=(0.70, 0.95),
            range_source="lab",
        )
    facts.evidence["patient"] = Evidence("patient", "Patient/p", value=42.0, months=504.0)
    facts.evidence["med"] = Evidence(
        "med", "MedicationStatement/m", name="levothyroxine", med_class="levothyroxine", matched_on="atc"
    )
    facts.evidence["order"] = Evidence(
        "order",
        "MedicationRequest/o",
        name="colecalciferol",
        med_class="vitd-native",
        matched_on="atc",
        value=125.0,
        unit="ug",
        single_dose=125.0,
    )
    # what the patient has, named in summaries instead of a group (review T17)
    facts.evidence["steroid"] = Evidence(
        "med",
        "MedicationStatement/s",
        name="prednisolon",
        med_class="systemic-corticosteroid",
        matched_on="atc",
        ingredient="prednisolone",
    )
    facts.evidence["laxative"] = Evidence(
        "med", "MedicationStatement/l", name="MAGNESIUMOXIDE TABLET 500MG (laxans)", med_class="mg-laxative"
    )
    facts.evidence["condition"] = Evidence(
        "condition", "Condition/c", name="Alcohol dependence", med_class="alcohol-use-disorder"
    )
    facts.evidence["missing"] = Evidence("lab-missing", analyte="mg")
    facts.evidence["total"] = Evidence(
        "vitd-total", value=140.0, unit="ug", derived_from=["MedicationStatement/a", "MedicationRequest/o"]
    )
    facts.evidence["total-unknown"] = Evidence(  # review R8: the product whose dose kept the total unknown
        "vitd-total-unknown", derived_from=["MedicationStatement/a"], med_class="vitd-native", dose_reason="schedule"
    )
    return facts


@pytest.mark.parametrize("locale", LOCALES)
def test_every_card_variant_renders(knowledge: Knowledge, locale: str) -> None:
    """G2, G3: every variant of every card renders in both languages, summary < 140 characters."""
    facts = _evidence()
    for code, definition in knowledge.cards.items():
        for variant in definition.variants:
            intent = Derived(
                "card", {"code": code, "variant": variant, "indicator": "info"}, tuple(facts.evidence), "r", "c1"
            )
            (card,) = render_cards([intent], facts, knowledge, RenderContext(locale, "nl-be", "p"))
            assert 0 < len(card.summary) < 140, (code, variant, card.summary)
            assert "?" not in card.summary, (code, variant, card.summary)
            assert card.detail and definition.title[locale] == card.source.topic.display  # type: ignore[union-attr]
            assert knowledge.version in card.source.label


def test_every_card_has_both_languages_and_a_citation(knowledge: Knowledge) -> None:
    for definition in knowledge.cards.values():
        for profile in knowledge.profiles.profiles:
            cited = knowledge.card_citations(definition, profile)
            assert cited and all(c in knowledge.citations for c in cited), (definition.code, profile)
        for variant in definition.variants.values():
            for text in (variant.summary, variant.advice, *[s.label for s in variant.suggestions]):
                assert set(text) == set(LOCALES) and all(text.values())


def test_every_threshold_and_value_set_is_cited(knowledge: Knowledge) -> None:
    for name, profile in knowledge.profiles.profiles.items():
        assert profile.cite and profile.vitd_ul.cite and profile.mg_ul.cite, name
    for key, value in knowledge.profiles.common.items():
        assert value.get("cite"), key
    for name, med_class in knowledge.medications.classes.items():
        assert med_class.cite, name
    for name, group in knowledge.conditions.groups.items():
        assert group.cite, name


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), target)
    return target


def _edit(path: Path, change: dict[str, object]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(change)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_a_card_without_english_is_refused(rules_copy: Path) -> None:
    path = rules_copy / "recommendations" / "vitd-deficiency" / "card.yaml"
    _edit(path, {"title": {"nl": "Vitamine D-tekort"}})
    with pytest.raises(ValueError, match="exactly"):
        load_knowledge(rules_copy)


def test_an_unknown_citation_is_refused(rules_copy: Path) -> None:
    _edit(rules_copy / "recommendations" / "mg-deficiency" / "card.yaml", {"cite": ["a-paper-nobody-read"]})
    with pytest.raises(ValueError, match="unknown citation 'a-paper-nobody-read'"):
        load_knowledge(rules_copy)


def test_a_rule_for_a_card_without_texts_is_refused(rules_copy: Path) -> None:
    (rules_copy / "recommendations" / "retest-too-early" / "card.yaml").unlink()
    with pytest.raises(ValueError, match="retest-too-early"):
        load_knowledge(rules_copy)


def test_a_card_variant_no_rule_shows_is_refused(rules_copy: Path) -> None:
    """Issue 10 leftovers: text that no rule can show is never reviewed, so the loader refuses it."""
    path = rules_copy / "recommendations" / "vitd-lowering-medication" / "card.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["variants"]["low"] = data["variants"]["unmeasured"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="vitd-lowering-medication: no rule shows variant 'low'"):
        load_knowledge(rules_copy)


def test_a_rule_switched_by_an_unknown_profile_flag_is_refused(rules_copy: Path) -> None:
    """`enabled_if` naming no profile's switch would keep a rule off everywhere without a word."""
    path = rules_copy / "recommendations" / "vitd-deficiency" / "rules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["patient-view"][0]["enabled_if"] = "risk_group_testing"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="enabled_if 'risk_group_testing' is no profile's switch"):
        load_knowledge(rules_copy)


def test_a_rule_id_used_twice_is_refused(rules_copy: Path) -> None:
    """Review of issue 18 (F10): a finding named like an order rule silently replaced it in the engine."""
    path = rules_copy / "findings.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["rules"][0]["id"] = "vitd-total-above-ul-band-0"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="rule id 'vitd-total-above-ul-band-0' used twice"):
        load_knowledge(rules_copy)


def test_parenteral_as_naming_no_class_is_refused(rules_copy: Path) -> None:
    path = rules_copy / "valuesets" / "medications.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["classes"]["mg-supplement"]["parenteral_as"] = "mg-intravenous"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="parenteral_as names no class 'mg-intravenous'"):
        load_knowledge(rules_copy)


def test_proposed_medication_orders_are_within_the_upper_limit(knowledge: Knowledge) -> None:
    """A card never proposes what another card would flag: each proposed order's daily dose, computed by
    the service's own dose reader, is below the adult vitamin D upper limit."""
    from fhir.resources.R4B.medicationrequest import MedicationRequest

    from cds_service.reasoning._dosage import daily_dose
    from cds_service.reasoning.cards import _medication_order
    from cds_service.reasoning.facts import classify_medication

    proposals = [
        s.medication
        for c in knowledge.cards.values()
        for v in c.variants.values()
        for s in v.suggestions
        if s.medication is not None
    ]
    assert proposals
    limit = min(
        b.ug_per_day or 0 for p in knowledge.profiles.profiles.values() for b in p.vitd_ul.bands if b.from_months >= 108
    )
    for proposal in proposals:
        action = _medication_order(proposal, RenderContext("nl", "nl-be", "p"))
        order = MedicationRequest.model_validate(action.resource)
        (match,) = classify_medication([order.medicationCodeableConcept], knowledge)
        ingredient = knowledge.medications.classes[match.med_class].ingredients.get(match.ingredient or "")
        dose = daily_dose(order.dosageInstruction or [], match.med_class, ingredient, None, knowledge)
        assert dose.per_day is not None and 0 < dose.per_day <= limit


def test_a_card_in_a_folder_of_another_name_is_refused(rules_copy: Path) -> None:
    """Issue 17: everything about a recommendation is in the folder named by its code."""
    folder = rules_copy / "recommendations"
    (folder / "mg-loss-ppi").rename(folder / "mg-loss-proton-pump")
    with pytest.raises(
        ValueError, match=r"recommendations/mg-loss-proton-pump/card\.yaml: code 'mg-loss-ppi' does not"
    ):
        load_knowledge(rules_copy)


def test_a_rule_emitting_another_folders_card_is_refused(rules_copy: Path) -> None:
    """Issue 17: a rule lives in the folder of the card it emits, so a newcomer finds it there."""
    path = rules_copy / "recommendations" / "mg-loss-ppi" / "rules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["orders"][0]["then"]["card"] = "mg-loss-diuretic"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"mg-loss-ppi/rules\.yaml: rule mg-loss-ppi-order emits .*, not card 'mg-loss-ppi'"
    ):
        load_knowledge(rules_copy)


def test_a_finding_in_a_recommendation_folder_is_refused(rules_copy: Path) -> None:
    """Findings are shared (rules/findings.yaml); a recommendation's rules emit only its own card."""
    path = rules_copy / "recommendations" / "mg-loss-ppi" / "rules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["orders"][0]["then"] = {"finding": "ppi-ordered"}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="rule mg-loss-ppi-order emits"):
        load_knowledge(rules_copy)


def test_a_recommendation_folder_without_its_rules_is_refused(rules_copy: Path) -> None:
    (rules_copy / "recommendations" / "retest-too-early" / "rules.yaml").unlink()
    with pytest.raises(ValueError, match=r"recommendations/retest-too-early: no rules\.yaml"):
        load_knowledge(rules_copy)


def test_a_recommendation_folder_without_its_cases_is_refused(rules_copy: Path) -> None:
    """Issue 17: a card without catalog cases would be a card nobody showed firing and quiet."""
    (rules_copy / "recommendations" / "mg-high" / "cases.yaml").unlink()
    with pytest.raises(ValueError, match=r"recommendations/mg-high: no cases\.yaml"):
        load_knowledge(rules_copy)
