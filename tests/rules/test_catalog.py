"""The card catalog of issue 3, row by row: fires, stays quiet, and flips exactly at each threshold.

The rows are data, beside each card: rules/recommendations/<code>/cases.yaml, a record sketched in the vocabulary
of tests/rules/_sketch.py (normalised facts, not FHIR: FHIR data lives in fhir_fixtures/ and is covered by
tests/cds_service/reasoning/test_facts.py and the scenario tests), with the card's expected indicator or none.
The interaction tests at the bottom stay here: one table over many cards' variants.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from cds_service.knowledge.loader import Knowledge, default_rules_dir
from cds_service.reasoning.engine import RuleEngine

from ._sketch import CatalogCase, Fact, _mg, absent, expand, flat, lab, load_cases, med, order


@pytest.fixture(scope="module")
def engine(knowledge: Knowledge) -> RuleEngine:
    return RuleEngine(knowledge, ["nl-be", "dach", "us-nam-2011", "us-endocrine-2011"])


def cards(engine: RuleEngine, group: str, profile: str, facts: list[Fact]) -> dict[str, str]:
    """code -> the highest indicator among its intents (one card per code, as cards.py renders)."""
    rank = {"info": 0, "warning": 1, "critical": 2}
    out: dict[str, str] = {}
    for d in engine.evaluate(group, profile, facts):
        if d.kind == "card":
            code, indicator = str(d.fields["code"]), str(d.fields["indicator"])
            if code not in out or rank[indicator] > rank[out[code]]:
                out[code] = indicator
    return out


PV = "patient-view"
ORD = "orders"
CASES = load_cases(default_rules_dir())


@pytest.mark.parametrize("case", CASES, ids=[f"{c.code}/{c.id}" for c in CASES])
def test_catalog_row(engine: RuleEngine, case: CatalogCase) -> None:
    assert cards(engine, case.group, case.profile, case.facts).get(case.code) == case.expect


def test_every_catalog_code_is_exercised(knowledge: Knowledge) -> None:
    """Each card of the knowledge fires in at least one case and is quiet in another."""
    fired = {c.code for c in CASES if c.expect is not None}
    quiet = {c.code for c in CASES if c.expect is None}
    assert fired == set(knowledge.cards)
    assert quiet == set(knowledge.cards)


def test_every_case_names_a_known_profile(knowledge: Knowledge) -> None:
    assert {c.profile for c in CASES} <= set(knowledge.profiles.profiles)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ([{"labs": ["mg", 0.6]}], "unknown sketch helper 'labs'"),
        ([{"lab": ["mg", 0.6], "med": ["ppi"]}], "a sketch item names one helper"),
        ([{"fact": {"analyte": "mg"}}], "`fact` needs a mapping with a kind"),
    ],
)
def test_a_malformed_sketch_is_refused(record: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        expand(record)


def test_a_sketch_expands_to_the_helpers_facts() -> None:
    """The YAML form `{helper: [args..., {keywords}]}` means the helper call (ids aside)."""
    sketch: list[dict[str, Any]] = [
        {"lab": ["vitd25", 40, {"age_days": 55.9}]},
        {"order": ["mg-supplement", 250]},
        {"absent": ["ckd"]},
    ]
    expected = flat(lab("vitd25", 40, age_days=55.9), order("mg-supplement", 250), absent("ckd"))
    strip = [{k: v for k, v in f.items() if k != "id"} for f in expected]
    assert [{k: v for k, v in f.items() if k != "id"} for f in expand(sketch)] == strip


# Issue 18: interactions named per drug, in both directions, with each label's spacing (the card variant).
INTERACTIONS = [
    # drug class, ingredient, binder class, expected variant (None = no card)
    ("fluoroquinolone", "ciprofloxacin", "mg-supplement", "ciprofloxacin"),
    ("fluoroquinolone", "ciprofloxacin", "calcium-supplement", "ciprofloxacin"),
    ("fluoroquinolone", "levofloxacin", "mg-antacid", "levofloxacin"),
    ("fluoroquinolone", "levofloxacin", "calcium-supplement", None),  # calcium not named on the label
    ("fluoroquinolone", "moxifloxacin", "mg-laxative", "moxifloxacin"),
    ("fluoroquinolone", "moxifloxacin", "calcium-supplement", None),  # label: calcium had no significant effect
    ("fluoroquinolone", "ofloxacin", "mg-supplement", "quinolone-other"),
    ("tetracycline", "doxycycline", "mg-supplement", "tetracycline"),
    ("tetracycline", "doxycycline", "calcium-supplement", "tetracycline"),
    ("levothyroxine", "levothyroxine", "calcium-supplement", "levothyroxine"),
    ("oral-bisphosphonate", "alendronic-acid", "mg-antacid", "bisphosphonate"),
    ("integrase-inhibitor", "dolutegravir", "mg-antacid", "integrase"),
    ("integrase-inhibitor", "dolutegravir", "calcium-supplement", "integrase"),
    ("penicillamine", "penicillamine", "mg-supplement", "penicillamine"),
    ("penicillamine", "penicillamine", "mg-laxative", "penicillamine"),
    ("penicillamine", "penicillamine", "calcium-supplement", "penicillamine"),
    ("ppi", "omeprazole", "mg-supplement", None),
]


def _variants(engine: RuleEngine, facts: list[Fact], code: str) -> set[str]:
    return {
        str(d.fields["variant"])
        for d in engine.evaluate(ORD, "nl-be", facts)
        if d.kind == "card" and d.fields["code"] == code
    }


@pytest.mark.parametrize(("drug_class", "ingredient", "binder", "variant"), INTERACTIONS)
@pytest.mark.parametrize("direction", ["drug-ordered", "binder-ordered"])
def test_interaction_named_per_drug_both_directions(
    engine: RuleEngine, drug_class: str, ingredient: str, binder: str, variant: str | None, direction: str
) -> None:
    drug = {"kind": "order", "type": "medication", "class": drug_class, "ingredient": ingredient}
    binder_order = {"kind": "order", "type": "medication", "class": binder, "ingredient": "unspecified", **_mg(binder)}
    if direction == "drug-ordered":
        facts = flat(drug, med(drug_class, "yes", ingredient), med(binder))
    else:
        facts = flat(binder_order, med(binder, "yes"), med(drug_class, "no", ingredient))
    assert _variants(engine, facts, "mg-chelation-spacing") == ({variant} if variant else set())


@pytest.mark.parametrize(("reducer", "variant"), [("orlistat", "orlistat"), ("bile-acid-sequestrant", "sequestrant")])
@pytest.mark.parametrize("direction", ["vitd-ordered", "reducer-ordered"])
def test_orlistat_and_sequestrants_each_their_own_advice(
    engine: RuleEngine, reducer: str, variant: str, direction: str
) -> None:
    """Issue 18: colestyramine and colesevelam got orlistat's advice."""
    if direction == "vitd-ordered":
        facts = flat(order("vitd-native"), med(reducer))
    else:
        facts = flat(order(reducer), med("vitd-native"))
    assert _variants(engine, facts, "vitd-absorption-interaction") == {variant}


@pytest.mark.parametrize(("drug_class", "ingredient", "binder", "variant"), INTERACTIONS)
def test_interaction_named_per_drug_on_patient_view(
    engine: RuleEngine, drug_class: str, ingredient: str, binder: str, variant: str | None
) -> None:
    """Review F08: the medication list gets the order hooks' per-drug texts (moxifloxacin 4 h/8 h, not
    ciprofloxacin's 2 h/6 h; dolutegravir), calcium partners included where the label names calcium."""
    facts = flat(med(drug_class, "no", ingredient), med(binder))
    found = {
        str(d.fields["variant"])
        for d in engine.evaluate(PV, "nl-be", facts)
        if d.kind == "card" and d.fields["code"] == "mg-chelation-spacing"
    }
    assert found == ({variant} if variant else set())


@pytest.mark.parametrize(("egfr", "variant"), [(20.0, "critical-renal"), (30.0, "critical")])
def test_critical_magnesium_names_the_renal_caveat_below_egfr_30(engine: RuleEngine, egfr: float, variant: str) -> None:
    """Review F25: "consider parenteral replacement" for Mg 0.42 with eGFR 20 came without the label's renal
    caveat (reduce the dose, monitor magnesium; at most 20 g magnesium sulfate in 48 hours)."""
    intents = [
        d
        for d in engine.evaluate(PV, "nl-be", flat(lab("mg", 0.42, "low"), lab("egfr", egfr)))
        if d.kind == "card" and d.fields["code"] == "mg-deficiency" and d.fields["indicator"] == "critical"
    ]
    assert [str(d.fields["variant"]) for d in intents] == [variant]


@pytest.mark.parametrize(("reducer", "variant"), [("orlistat", "orlistat"), ("bile-acid-sequestrant", "sequestrant")])
def test_patient_view_gives_orlistat_and_sequestrants_each_their_own_advice(
    engine: RuleEngine, reducer: str, variant: str
) -> None:
    """Review T5/T17 (p46, p47): on patient-view colestyramine got "Orlistat/galzuurbinder … 2 uur voor of na
    orlistat"; the order hooks already had a variant per drug."""
    variants = {
        str(d.fields["variant"])
        for d in engine.evaluate(PV, "nl-be", flat(med(reducer), med("vitd-native")))
        if d.kind == "card" and d.fields["code"] == "vitd-absorption-interaction"
    }
    assert variants == {variant}
