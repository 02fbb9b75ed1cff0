"""Guideline profiles (issue 11): each 25(OH)D cut-off compared in the guideline's own unit, exactly at the cut-off,
for a result reported in that unit and for one reported in the other unit; unverified cut-offs never fire.

Sources of every number: rules/profiles.yaml and rules/citations.yaml (IOM/NAM 2011 p.13-14, RKI FAQ,
Endocrine Society 2011 as quoted by its 2024 successor). The expected card per value is written out by hand
from those sources, not computed from the profile, so a changed number in profiles.yaml fails here.
"""

from __future__ import annotations

import pytest

from cds_service.knowledge.loader import Knowledge, normalise_unit, shipped_profiles
from cds_service.reasoning.engine import RuleEngine

PROFILES = shipped_profiles()  # the knowledge's profile ids (issue 17: none in code)

PV = "patient-view"
DEFICIENT, INSUFFICIENT, NONE, HIGH = "vitd-deficiency", "vitd-insufficiency", None, "vitd-excess"

# profile, value as the lab reports it, unit as the lab reports it, the one 25(OH)D status card expected
BOUNDARIES: list[tuple[str, float, str, str | None]] = [
    # nl-be, nmol/L: < 30 deficient (IOM value the Gezondheidsraad shares); no insufficient band (the report's
    # 50 nmol/L target could not be verified, so it is off); > 125 nmol/L caution (IOM)
    ("nl-be", 29.9, "nmol/L", DEFICIENT),
    ("nl-be", 30.0, "nmol/L", NONE),
    ("nl-be", 40.0, "nmol/L", NONE),  # a 45-year-old at 40 nmol/L is not called insufficient
    ("nl-be", 49.9, "nmol/L", NONE),
    ("nl-be", 125.0, "nmol/L", NONE),
    ("nl-be", 125.1, "nmol/L", HIGH),
    ("nl-be", 300.0, "nmol/L", HIGH),  # the 250 nmol/L "harmful" tier is unverified: caution, never nothing
    # nl-be, the other unit: 12.0 ng/mL = 29.95 nmol/L is below 30; 12.1 ng/mL = 30.2 is not
    ("nl-be", 12.0, "ng/mL", DEFICIENT),
    ("nl-be", 12.1, "ng/mL", NONE),
    ("nl-be", 50.0, "ng/mL", NONE),  # 124.8 nmol/L
    ("nl-be", 50.1, "ng/mL", HIGH),  # 125.05 nmol/L
    # dach, nmol/L (RKI: < 30 mangelhaft, 30 to < 50 suboptimal, >= 50 ausreichend)
    ("dach", 29.9, "nmol/L", DEFICIENT),
    ("dach", 30.0, "nmol/L", INSUFFICIENT),
    ("dach", 49.9, "nmol/L", INSUFFICIENT),
    ("dach", 50.0, "nmol/L", NONE),
    ("dach", 125.0, "nmol/L", NONE),
    ("dach", 125.1, "nmol/L", HIGH),
    ("dach", 12.0, "ng/mL", DEFICIENT),
    ("dach", 12.1, "ng/mL", INSUFFICIENT),
    ("dach", 20.0, "ng/mL", INSUFFICIENT),  # 49.92 nmol/L
    ("dach", 20.1, "ng/mL", NONE),
    ("dach", 50.0, "ng/mL", NONE),  # 124.8 nmol/L
    ("dach", 50.1, "ng/mL", HIGH),  # 125.05 nmol/L
    # us-nam-2011, ng/mL (IOM: < 12 at risk of deficiency, 12-20 at risk of inadequacy, >= 20 sufficient, > 50 concern)
    ("us-nam-2011", 11.9, "ng/mL", DEFICIENT),
    ("us-nam-2011", 12.0, "ng/mL", INSUFFICIENT),
    ("us-nam-2011", 19.9, "ng/mL", INSUFFICIENT),
    ("us-nam-2011", 20.0, "ng/mL", NONE),  # exactly sufficient (20 x 2.496 = 49.92 < 50 no longer matters)
    ("us-nam-2011", 50.0, "ng/mL", NONE),
    ("us-nam-2011", 50.1, "ng/mL", HIGH),
    # us-nam-2011, the other unit: 29.9 nmol/L = 11.98 ng/mL; 49.92 nmol/L = 20.0 ng/mL; 124.8 = 50.0
    ("us-nam-2011", 29.9, "nmol/L", DEFICIENT),
    ("us-nam-2011", 30.0, "nmol/L", INSUFFICIENT),
    ("us-nam-2011", 49.9, "nmol/L", INSUFFICIENT),
    ("us-nam-2011", 49.92, "nmol/L", NONE),
    ("us-nam-2011", 50.0, "nmol/L", NONE),
    ("us-nam-2011", 124.7, "nmol/L", NONE),  # 49.96 ng/mL
    ("us-nam-2011", 124.8, "nmol/L", NONE),
    ("us-nam-2011", 125.0, "nmol/L", HIGH),
    # us-endocrine-2011 (superseded), ng/mL: < 20 deficiency, 20-29 insufficiency, >= 30; its own upper values
    # unverified, so the IOM/NAM 2011 > 50 ng/mL serves (review F21: a profile that cannot warn of excess is unsafe)
    ("us-endocrine-2011", 19.9, "ng/mL", DEFICIENT),
    ("us-endocrine-2011", 20.0, "ng/mL", INSUFFICIENT),
    ("us-endocrine-2011", 29.9, "ng/mL", INSUFFICIENT),
    ("us-endocrine-2011", 30.0, "ng/mL", NONE),
    ("us-endocrine-2011", 50.0, "ng/mL", NONE),
    ("us-endocrine-2011", 50.1, "ng/mL", HIGH),
    ("us-endocrine-2011", 124.7, "nmol/L", NONE),  # 49.96 ng/mL
    ("us-endocrine-2011", 124.8, "nmol/L", NONE),
    ("us-endocrine-2011", 125.0, "nmol/L", HIGH),
    ("us-endocrine-2011", 200.0, "ng/mL", HIGH),
    ("us-endocrine-2011", 49.9, "nmol/L", DEFICIENT),
    ("us-endocrine-2011", 49.92, "nmol/L", INSUFFICIENT),
    ("us-endocrine-2011", 74.8, "nmol/L", INSUFFICIENT),
    ("us-endocrine-2011", 74.88, "nmol/L", NONE),
]


@pytest.fixture(scope="module")
def engine(knowledge: Knowledge) -> RuleEngine:
    return RuleEngine(knowledge, PROFILES)


def _status_cards(engine: RuleEngine, knowledge: Knowledge, profile: str, value: float, unit: str) -> set[str]:
    """The 25(OH)D status cards for one result, converted to the canonical unit exactly as facts.py does."""
    factor = knowledge.labs.analytes["vitd25"].normalised_units[normalise_unit(unit)]
    fact = {"kind": "lab", "analyte": "vitd25", "value": value * factor, "flag": "unknown", "age_days": 5.0, "id": "l0"}
    codes = {str(d.fields["code"]) for d in engine.evaluate(PV, profile, [fact]) if d.kind == "card"}
    return codes & {DEFICIENT, INSUFFICIENT, HIGH}


@pytest.mark.parametrize(("profile", "value", "unit", "expected"), BOUNDARIES, ids=lambda v: str(v))
def test_each_cut_off_in_both_units(
    engine: RuleEngine, knowledge: Knowledge, profile: str, value: float, unit: str, expected: str | None
) -> None:
    assert _status_cards(engine, knowledge, profile, value, unit) == ({expected} if expected else set())


def test_every_profile_and_every_verified_cut_off_has_a_boundary_row(knowledge: Knowledge) -> None:
    """The table above covers every profile the settings offer, and each verified cut-off from both sides."""
    assert set(PROFILES) == set(knowledge.profiles.profiles) == {p for p, *_ in BOUNDARIES}
    for name, profile in knowledge.profiles.profiles.items():
        rows = [(v, u) for p, v, u, _ in BOUNDARIES if p == name]
        for key, cut in profile.vitd25.model_dump().items():
            if key == "unit" or f"vitd25.{key}" in profile.unverified:
                continue
            assert (cut, profile.vitd25.unit) in rows, (name, key, "exactly at the cut-off")
            # and in the other unit, from both sides: a row just below the cut-off and one at or just above it
            # (within 1 %, the next value a lab writes with one decimal, converted with the factor facts.py uses)
            other = [_in_unit(knowledge, v, u, profile.vitd25.unit) for v, u in rows if u != profile.vitd25.unit]
            assert any(cut * 0.99 <= x < cut for x in other), (name, key, "other unit, just below")
            assert any(cut <= x <= cut * 1.01 for x in other), (name, key, "other unit, at or just above")


def _in_unit(knowledge: Knowledge, value: float, unit: str, target: str) -> float:
    units = knowledge.labs.analytes["vitd25"].normalised_units
    return round(value * units[normalise_unit(unit)] / units[normalise_unit(target)], 6)


def test_unverified_cut_offs_switch_their_rules_off(engine: RuleEngine, knowledge: Knowledge) -> None:
    """A threshold marked unverified never reaches a card: nl-be has no insufficiency band, no profile a
    'harmful' tier."""
    for name, profile in knowledge.profiles.profiles.items():
        assert "vitd25.harmful_from" in profile.unverified, name
    fact = {"kind": "lab", "analyte": "vitd25", "value": 40.0, "flag": "unknown", "age_days": 5.0, "id": "l0"}
    findings = {(d.fields["code"], d.fields.get("value")) for d in engine.evaluate(PV, "nl-be", [fact])}
    assert ("vitd-status", "insufficient") not in findings
