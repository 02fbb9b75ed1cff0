"""Golden card texts (issue 11): every variant of every card, in Dutch and English, as a clinician reads it.

A text change shows as a diff of tests/rules/golden/*.md, reviewed like code. After a deliberate change regenerate
them with `.venv/bin/python -m tests.rules.test_golden` and read the diff before committing. Rendered under the
default profile (nl-be) and, for the cards whose sources or limits depend on the profile, under us-nam-2011 too,
from one fixed set of facts (test_knowledge._evidence: 25(OH)D 24 nmol/L, Mg 0,62 mmol/L, a 42-year-old …).
The knowledge version is written as `{knowledge-version}`, so bumping it changes no golden file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cds_service.cdshooks.models import Card
from cds_service.knowledge.loader import PROFILE_CITES, Knowledge, load_knowledge
from cds_service.reasoning.cards import RenderContext, render_cards
from cds_service.reasoning.engine import Derived
from cds_service.reasoning.facts import Evidence, FactSet

from .test_knowledge import LOCALES

GOLDEN = Path(__file__).parent / "golden"


def golden_evidence(code: str = "", profile: str = "nl-be") -> FactSet:
    """One fact of each kind a card text may refer to, with the ranges and units a lab would send: under a US
    profile the magnesium as a US lab reports it (1.5 mg/dL, ref. 1.7-2.4 mg/dL), so both units show (issue 11)."""
    facts = FactSet()
    mg: tuple[str, float, str, tuple[float, float | None] | None, float | None, str | None]
    mg = ("mg", 0.62, "mmol/L", (0.70, 1.00), None, None)
    if profile.startswith("us-"):  # 1.5 mg/dL, lab range 1.7-2.4 mg/dL, converted with facts.py's 0.4114
        mg = ("mg", 1.5 * 0.4114, "mmol/L", (1.7 * 0.4114, 2.4 * 0.4114), 1.5, "mg/dL")
    labs: list[tuple[str, float, str, tuple[float, float | None] | None, float | None, str | None]] = [
        ("vitd25", 23.9616, "nmol/L", None, 9.6, "ng/mL"),
        mg,
        ("ca", 2.05, "mmol/L", (2.20, 2.60), None, None),
        ("k", 3.2, "mmol/L", (3.5, 5.0), None, None),
        ("pth", 88.0, "pg/mL", (15.0, 65.0), None, None),
        ("egfr", 25.0, "mL/min/1.73m2", (60.0, None), None, None),
        ("creatinine", 180.0, "umol/L", (60.0, 110.0), None, None),
    ]
    for analyte, value, unit, ref, reported, reported_unit in labs:
        facts.evidence[f"lab:{analyte}"] = Evidence(
            "lab",
            f"Observation/{analyte}",
            analyte=analyte,
            value=value,
            unit=unit,
            date="2026-10-01",
            range=ref,
            range_source="lab" if ref else None,
            reported_value=reported,
            reported_unit=reported_unit,
        )
    facts.evidence["patient"] = Evidence("patient", "Patient/p", value=42.0, months=504.0)
    facts.evidence["med"] = Evidence(
        "med", "MedicationStatement/m", name="levothyroxine", med_class="levothyroxine", matched_on="atc"
    )
    magnesium = code.startswith("mg-") or code == "renal-caution-mg"
    facts.evidence["order"] = Evidence(
        "order",
        "MedicationRequest/o",
        name="magnesiumoxide" if magnesium else "colecalciferol",
        med_class="mg-supplement" if magnesium else "vitd-native",
        matched_on="atc",
        value=400.0 if magnesium else 125.0,
        unit="mg" if magnesium else "ug",
        single_dose=400.0 if magnesium else 125.0,
        dose_basis="elemental-by-label" if magnesium else None,
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
    facts.evidence["condition"] = Evidence(
        "condition", "Condition/c", name="Alcohol dependence", med_class="alcohol-use-disorder"
    )
    facts.evidence["total"] = Evidence(
        "vitd-total", value=140.0, unit="ug", derived_from=["MedicationStatement/a", "MedicationRequest/o"]
    )
    facts.evidence["missing"] = Evidence("lab-missing", analyte="mg")
    if code == "dose-not-checked":  # a total that cannot be computed: which product, and why (review R8)
        facts.evidence["total-unknown"] = Evidence(
            "vitd-total-unknown",
            derived_from=["MedicationStatement/a", "MedicationRequest/o"],
            med_class="vitd-native",
            name="calciumcarbonaat/colecalciferol",
            dose_reason="schedule",
        )
    return facts


def _variants(knowledge: Knowledge) -> list[tuple[str, str, str]]:
    out = []
    for code, definition in sorted(knowledge.cards.items()):
        cites = set(definition.cite).union(*(v.cite for v in definition.variants.values()))
        profiles = ["nl-be"] + (["us-nam-2011"] if cites & set(PROFILE_CITES) else [])
        out += [(code, variant, profile) for variant in sorted(definition.variants) for profile in profiles]
    return out


def _show(card: Card) -> list[str]:
    lines = [f"**{card.summary}**", "", card.detail or "", ""]
    lines.append(f"source: {card.source.label}")
    lines += [f"link: [{link.label}]({link.url})" for link in card.links or []]
    for suggestion in card.suggestions or []:
        lines.append(f"suggestion: {suggestion.label}")
        lines += [f"  - {a.type}: {a.description}" for a in suggestion.actions or []]
    return lines


def render_golden(knowledge: Knowledge, code: str, variant: str, profile: str) -> str:
    facts = golden_evidence(code, profile)
    text = [f"# {code} / {variant} / {profile}", ""]
    for locale in LOCALES:
        intent = Derived(
            "card", {"code": code, "variant": variant, "indicator": "info"}, tuple(facts.evidence), "r", "c"
        )
        (card,) = render_cards([intent], facts, knowledge, RenderContext(locale, profile, "p"))
        text += [f"## {locale}: {card.source.topic.display if card.source.topic else code}", ""]
        text += [*_show(card), ""]
    # the knowledge version stands in as a placeholder: a version bump alone is no text change to review
    return ("\n".join(text).rstrip() + "\n").replace(knowledge.version, "{knowledge-version}")


def _path(code: str, variant: str, profile: str) -> Path:
    return GOLDEN / f"{code}.{variant}.{profile}.md"


@pytest.mark.parametrize(("code", "variant", "profile"), _variants(load_knowledge()), ids=str)
def test_card_text_matches_its_golden_file(knowledge: Knowledge, code: str, variant: str, profile: str) -> None:
    path = _path(code, variant, profile)
    assert path.is_file(), f"no golden text {path.name}: run .venv/bin/python -m tests.rules.test_golden"
    assert render_golden(knowledge, code, variant, profile) == path.read_text(encoding="utf-8"), (
        f"{path.name} differs: review the text change, then run .venv/bin/python -m tests.rules.test_golden"
    )


def test_no_stale_golden_files(knowledge: Knowledge) -> None:
    expected = {_path(*v).name for v in _variants(knowledge)}
    assert {p.name for p in GOLDEN.glob("*.md")} == expected


def _regenerate() -> None:
    knowledge = load_knowledge()
    GOLDEN.mkdir(exist_ok=True)
    for stale in GOLDEN.glob("*.md"):
        stale.unlink()
    for code, variant, profile in _variants(knowledge):
        _path(code, variant, profile).write_text(render_golden(knowledge, code, variant, profile), encoding="utf-8")


if __name__ == "__main__":
    _regenerate()
