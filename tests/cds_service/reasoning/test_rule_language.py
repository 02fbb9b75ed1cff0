"""The rule condition language: one parsed form, from which the durable terms and the Python predicate derive.

Issue 10 item 1: exclusions (`unless`) are order-independent, and the two interpretations of a condition agree.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from durable import engine as durable_engine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.knowledge.loader import Knowledge, Rule, catalog_markdown
from cds_service.reasoning.engine import RuleEngine, RuleEngineError
from cds_service.reasoning.rule_language import (
    CompiledRule,
    FieldTest,
    Pattern,
    RuleLanguageError,
    compile_rule,
    parse_pattern,
    strata,
)


class _Host(durable_engine.Host):  # type: ignore[misc]
    def _run(self) -> None:
        pass


# Facts are normalised before they reach the engine (facts.py): numeric fields hold numbers, code fields hold
# strings. durable compares a string with a number textually (docs/engine.md 1.6), so the generated facts
# respect that contract; the agreement asserted is the one the service relies on.
NUMBERS = st.one_of(st.integers(-5, 5), st.sampled_from([0.5, 1.0, 2.5, -1.5, 30.0, 29.999]))
CODES = st.sampled_from(["a", "b", "c", "yes"])
NUMERIC_TEST = st.builds(
    FieldTest, st.just("n"), st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"]), NUMBERS.map(float)
)
CODE_TEST = st.one_of(
    st.builds(FieldTest, st.just("s"), st.sampled_from(["eq", "ne"]), CODES),
    st.builds(FieldTest, st.just("s"), st.just("in"), st.lists(CODES, min_size=1, max_size=3, unique=True).map(tuple)),
)
PATTERNS = st.builds(
    Pattern, st.sampled_from(["x", "y"]), st.lists(st.one_of(NUMERIC_TEST, CODE_TEST), max_size=3).map(tuple)
)
FACTS = st.fixed_dictionaries({"kind": st.sampled_from(["x", "y"])}, optional={"n": NUMBERS, "s": CODES})
_names = itertools.count()
_host = _Host()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
@given(patterns=st.lists(PATTERNS, min_size=1, max_size=4), facts=st.lists(FACTS, min_size=1, max_size=6))
def test_durable_terms_and_predicate_agree(patterns: list[Pattern], facts: list[dict[str, Any]]) -> None:
    """Every pattern matches exactly the same generated facts in durable-rules as in `Pattern.matches`."""
    hits: set[tuple[int, str]] = set()

    def action(index: int) -> Any:
        return lambda c: hits.add((index, str(c.m["id"])))

    name = f"lang_{next(_names)}"
    rules: dict[str, Any] = {f"p{i}": {"all": [{"m": p.durable()}], "run": action(i)} for i, p in enumerate(patterns)}
    rules["sink"] = {"all": [{"m": {"$ex": {"kind": 1}}}], "run": lambda c: None}
    _host.set_rulesets({name: rules})
    with_ids = [{**f, "id": f"f{i}", "sid": "1"} for i, f in enumerate(facts)]
    _host.assert_facts(name, with_ids)
    _host.delete_state(name, "1")
    expected = {(i, f["id"]) for i, p in enumerate(patterns) for f in with_ids if p.matches(f)}
    assert hits == expected


def test_parse_resolves_thresholds_and_rejects_unknown_ones() -> None:
    thresholds = {"vitd25": {"deficient_below": 30}, "bands": [{"v": 5}]}
    pattern = parse_pattern("r", {"lab": {"analyte": "vitd25", "value": {"lt": "$vitd25.deficient_below"}}}, thresholds)
    assert pattern == Pattern("lab", (FieldTest("analyte", "eq", "vitd25"), FieldTest("value", "lt", 30.0)))
    assert parse_pattern("r", {"a": {"v": {"gte": "$bands.0.v"}}}, thresholds).tests[0].operand == 5.0
    bad: dict[str, Any]
    for bad in (
        {"lab": {"value": {"lt": "$nope"}}},
        {"lab": {"value": {"approx": 3}}},
        {"lab": {"value": {"lt": "thirty"}}},
        {"lab": {}, "med": {}},
        {"lab": {"value": {"in": []}}},
    ):
        with pytest.raises(RuleLanguageError):
            parse_pattern("r", bad, thresholds)


def _rule(rule_id: str, when: list[Any], then: dict[str, Any], unless: list[Any] | None = None) -> CompiledRule:
    return compile_rule(Rule(id=rule_id, when=when, then=then, unless=unless or []), {})


def test_strata_put_a_rule_above_what_its_exclusions_read() -> None:
    low = _rule("low", [{"lab": {"flag": "low"}}], {"finding": "low", "value": "yes"})
    high = _rule("high", [{"lab": {"flag": "high"}}], {"finding": "high", "value": "yes"})
    card = _rule("card", [{"finding": {"code": "low"}}], {"card": "c"}, unless=[{"finding": {"code": "high"}}])
    later = _rule("later", [{"card": {"code": "c"}}], {"finding": "seen"})
    level = strata([card, later, low, high])
    assert level["card"] > level["high"] and level["later"] >= level["card"]
    loop = _rule("loop", [{"lab": {}}], {"finding": "x"}, unless=[{"finding": {"code": "x"}}])
    with pytest.raises(RuleLanguageError, match="cycle"):
        strata([loop])


def test_exclusion_is_order_independent(knowledge: Knowledge) -> None:
    """retest-too-early-mg is withdrawn after a low previous magnesium, whatever the order of the facts."""
    engine = RuleEngine(knowledge, ["nl-be"])
    facts: list[dict[str, Any]] = [
        {"kind": "order", "type": "service", "analyte": "mg", "id": "order:0"},
        {"kind": "lab", "analyte": "mg", "value": 0.6, "flag": "low", "age_days": 3.0, "id": "lab:1"},
        {"kind": "patient", "age_years": 50.0, "id": "patient:2"},
    ]
    normal: list[dict[str, Any]] = [{**f, "flag": "normal", "value": 0.8} if f["kind"] == "lab" else f for f in facts]
    for permutation in itertools.permutations(facts):
        cards = {d.fields["code"] for d in engine.evaluate("orders", "nl-be", list(permutation)) if d.kind == "card"}
        assert "retest-too-early" not in cards
    for permutation in itertools.permutations(normal):
        cards = {d.fields["code"] for d in engine.evaluate("orders", "nl-be", list(permutation)) if d.kind == "card"}
        assert "retest-too-early" in cards


def test_withdrawn_findings_take_what_rests_on_them_along(knowledge: Knowledge) -> None:
    """A shuffled record gives the same derived facts every time (ids included)."""
    engine = RuleEngine(knowledge, ["nl-be"])
    facts: list[dict[str, Any]] = [
        {"kind": "lab", "analyte": "vitd25", "value": 20.0, "flag": "unknown", "age_days": 5.0, "id": "lab:0"},
        {"kind": "lab", "analyte": "ca", "value": 2.9, "flag": "high", "age_days": 5.0, "id": "lab:1"},
        {"kind": "lab", "analyte": "pth", "value": 90.0, "flag": "high", "age_days": 5.0, "id": "lab:2"},
        {"kind": "med", "class": "ppi", "draft": "no", "route": "oral", "id": "med:3"},
        {"kind": "lab-missing", "analyte": "mg", "id": "lab-missing:4"},
        {"kind": "patient", "age_years": 75.0, "id": "patient:5"},
    ]
    first = sorted(d.id for d in engine.evaluate("patient-view", "nl-be", facts))
    rng = random.Random(10)
    for _ in range(20):
        shuffled = facts[:]
        rng.shuffle(shuffled)
        assert sorted(d.id for d in engine.evaluate("patient-view", "nl-be", shuffled)) == first


def test_engine_refuses_a_cycle_through_exclusions(knowledge: Knowledge) -> None:
    loop = Rule(
        id="loop", when=[{"lab": {"analyte": "mg"}}], then={"finding": "x"}, unless=[{"finding": {"code": "x"}}]
    )
    broken = knowledge.model_copy(
        update={"rulesets": {**knowledge.rulesets, "findings": [*knowledge.rulesets["findings"], loop]}}
    )
    with pytest.raises(RuleEngineError, match="cycle"):
        RuleEngine(broken, ["nl-be"])


def test_catalog_shows_every_rules_exclusions(knowledge: Knowledge) -> None:
    table = catalog_markdown(knowledge)
    for group in ("patient-view", "orders"):
        for rule in knowledge.rulesets[group]:
            if rule.unless:
                row = next(line for line in table.splitlines() if f"`{rule.id}`:" in line)
                assert all(next(iter(item)) in row for item in rule.unless)
