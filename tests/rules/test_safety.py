"""Issue 10 "Done when": safety properties over generated records, through the engine and the card renderer.

- no card suggests deleting an order after an abnormal previous result (of that order's analyte/medication);
- no response holds two suggestions that create the same resource, nor more than one vitamin D advice card;
- no card is `critical` unless every rule that can make it critical rests on a threshold whose cited source
  sets a critical limit (`sets_critical: true` in rules/profiles.yaml) and the card cites that source.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.knowledge.loader import Knowledge, Rule, load_knowledge
from cds_service.reasoning.cards import RenderContext, _creates, render_cards
from cds_service.reasoning.engine import RuleEngine
from cds_service.reasoning.facts import Evidence, FactSet

# issue 10 item 5: never more than one vitamin D advice card per response
VITD_ADVICE = {"vitd-deficiency", "vitd-insufficiency", "vitd-excess", "vitd-lowering-medication", "risk-group-testing"}
PROFILES = ["nl-be", "dach", "us-endocrine-2011"]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ANALYTES = {
    "vitd25": (5.0, 300.0),
    "mg": (0.3, 1.5),
    "ca": (1.8, 3.2),
    "k": (2.5, 5.5),
    "pth": (10.0, 200.0),
    "egfr": (5.0, 120.0),
    "creatinine": (40.0, 600.0),
}
MED_CLASSES = [
    "ppi",
    "loop-diuretic",
    "thiazide-diuretic",
    "mg-supplement",
    "vitd-native",
    "vitd-active",
    "systemic-corticosteroid",
    "enzyme-inducing-antiepileptic",
    "orlistat",
    "fluoroquinolone",
    "levothyroxine",
]


@st.composite
def records(draw: Any) -> tuple[list[dict[str, Any]], dict[str, Evidence]]:
    facts: list[dict[str, Any]] = []
    evidence: dict[str, Evidence] = {}

    def add(fact: dict[str, Any], ev: Evidence) -> None:
        fact_id = f"{fact['kind']}:{len(facts)}"
        facts.append({**fact, "id": fact_id})
        evidence[fact_id] = ev

    add({"kind": "patient", "age_years": float(draw(st.integers(0, 95)))}, Evidence("patient", "Patient/p", value=1))
    for analyte, (low, high) in ANALYTES.items():
        if draw(st.booleans()):
            value = draw(st.floats(low, high, allow_nan=False))
            flag = draw(st.sampled_from(["low", "normal", "high", "unknown"]))
            age = float(draw(st.integers(0, 120)))
            add(
                {"kind": "lab", "analyte": analyte, "value": value, "flag": flag, "age_days": age},
                Evidence("lab", f"Observation/{analyte}", analyte=analyte, value=value, unit="u", date="2026-11-01"),
            )
        else:
            add({"kind": "lab-missing", "analyte": analyte}, Evidence("lab-missing", analyte=analyte))
    for med_class in draw(st.lists(st.sampled_from(MED_CLASSES), max_size=4, unique=True)):
        add(
            {"kind": "med", "class": med_class, "draft": "no", "route": "oral"},
            Evidence("med", f"MedicationStatement/{med_class}", name=med_class, med_class=med_class),
        )
    for group in ["ckd", "ckd-g4-g5", "parathyroid-disease", "granulomatous-disease", "pregnancy", "coeliac-disease"]:
        kind = "condition" if draw(st.booleans()) else "condition-absent"
        add({"kind": kind, "group": group}, Evidence(kind, f"Condition/{group}", name=group, med_class=group))
    for analyte in draw(st.lists(st.sampled_from(["vitd25", "mg", "vitd125"]), max_size=2, unique=True)):
        add(
            {"kind": "order", "type": "service", "analyte": analyte},
            Evidence("order", f"ServiceRequest/{analyte}", analyte=analyte, name=analyte),
        )
    for med_class in draw(st.lists(st.sampled_from(["vitd-native", "mg-supplement", "ppi"]), max_size=2, unique=True)):
        dose = draw(st.sampled_from([10.0, 20.0, 100.0, 125.0, 300.0, 400.0]))
        add(
            {"kind": "order", "type": "medication", "class": med_class, "daily_dose": dose},
            Evidence(
                "order",
                f"MedicationRequest/{med_class}",
                name=med_class,
                med_class=med_class,
                value=dose,
                unit="ug" if med_class == "vitd-native" else "mg",
            ),
        )
        add(
            {"kind": "med", "class": med_class, "draft": "yes", "route": "oral"},
            Evidence("med", f"MedicationRequest/{med_class}", name=med_class, med_class=med_class),
        )
    return facts, evidence


@functools.cache
def _setup() -> tuple[Knowledge, RuleEngine]:
    """Module-wide, not fixtures: hypothesis prints its arguments on failure (the knowledge is large)."""
    knowledge = load_knowledge()
    return knowledge, RuleEngine(knowledge, PROFILES)


def _abnormal(facts: list[dict[str, Any]], derived: list[Any]) -> set[str]:
    """Orders no card may suggest cancelling: a lab order whose previous result was abnormal (a repeat is the
    clinician's call), and a supplement order for a documented deficiency (upper-limit cards then inform)."""
    out: set[str] = set()
    findings = {(d.fields["code"], d.fields.get("value")) for d in derived if d.kind == "finding"}
    if findings & {("vitd-status", "deficient"), ("vitd-status", "high"), ("vitd-status", "harmful")}:
        out.add("vitd25")
    if ("vitd-status", "deficient") in findings:
        out.add("vitd-native")
    if findings & {("mg-low", "yes"), ("mg-critical", "yes"), ("mg-high", "yes")}:
        out.add("mg")
    if findings & {("mg-low", "yes"), ("mg-critical", "yes")}:
        out.add("mg-supplement")
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
@given(
    record=records(),
    profile=st.sampled_from(PROFILES),
    group=st.sampled_from(["patient-view", "orders"]),
    locale=st.sampled_from(["nl", "en"]),
)
def test_generated_records_get_safe_cards(record: Any, profile: str, group: str, locale: str) -> None:
    knowledge, engine = _setup()
    facts, evidence = record
    derived = engine.evaluate(group, profile, facts)
    fact_set = FactSet(facts=facts, evidence=evidence)
    cards = render_cards(derived, fact_set, knowledge, RenderContext(locale, profile, "p", NOW))
    abnormal = _abnormal(facts, derived)
    created: list[str] = []
    for card in cards:
        for suggestion in card.suggestions or []:
            for action in suggestion.actions or []:
                if action.type == "delete":
                    target = str(action.resourceId).split("/", 1)[1]
                    assert target not in abnormal, f"{card.summary} deletes {action.resourceId}"
            created += _creates(suggestion)
        if card.indicator == "critical":
            code = card.source.topic.code if card.source.topic else ""
            assert code in _critical_backed(knowledge), f"{code} is critical without a cited critical threshold"
    assert len(created) == len(set(created)), f"two suggestions create the same resource: {created}"
    codes = [c.source.topic.code for c in cards if c.source.topic]
    advice = [c for c in codes if c in VITD_ADVICE]
    assert len(advice) <= 1, f"more than one vitamin D advice card: {advice}"


def _thresholds(rule: Rule) -> set[str]:
    names = set()
    for item in rule.when:
        for spec in item.values():
            for condition in spec.values():
                values = condition.values() if isinstance(condition, dict) else [condition]
                names |= {str(v)[1:].split(".")[0] for v in values if isinstance(v, str) and v.startswith("$")}
    return names


def _critical_backed(knowledge: Knowledge) -> set[str]:
    """Card codes whose every critical rule rests on a `sets_critical` threshold the card cites."""
    common = knowledge.profiles.common
    producers: dict[str, list[Rule]] = {}
    for rule in knowledge.rulesets["findings"]:
        producers.setdefault(str(rule.then["finding"]), []).append(rule)
    backed: dict[str, bool] = {}
    for group in ("patient-view", "orders"):
        for rule in knowledge.rulesets[group]:
            if rule.then.get("indicator") != "critical":
                continue
            code = str(rule.then["card"])
            sources = {rule.id}
            names = _thresholds(rule)
            for item in rule.when:
                finding = item.get("finding", {}).get("code")
                for producer in producers.get(str(finding), []):
                    names |= _thresholds(producer)
                    sources.add(producer.id)
            cites = {
                c
                for n in names
                if isinstance(common.get(n), dict) and common[n].get("sets_critical")
                for c in common[n].get("cite", [])
            }
            ok = bool(cites) and bool(cites & set(knowledge.cards[code].cite))
            backed[code] = backed.get(code, True) and ok
    return {code for code, ok in backed.items() if ok}


def test_every_critical_rule_rests_on_a_cited_critical_threshold(knowledge: Knowledge) -> None:
    critical_codes = {
        str(r.then["card"])
        for g in ("patient-view", "orders")
        for r in knowledge.rulesets[g]
        if r.then.get("indicator") == "critical"
    }
    assert critical_codes == _critical_backed(knowledge)
    assert "renal-caution-mg" not in critical_codes  # magnesium high: no cited critical threshold
