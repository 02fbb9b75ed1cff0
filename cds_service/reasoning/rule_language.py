"""The rule condition language of `rules/` (findings.yaml, recommendations/*/rules.yaml), parsed once into one form.

A condition item `{kind: {field: value-or-{op: operand}}}` becomes a `Pattern` (a fact kind and a tuple of
`FieldTest`s with thresholds resolved for one profile). From that one form derive both the durable-rules terms
the engine compiles (`Pattern.durable`) and the Python predicate that decides which facts are worth
asserting and which exclusions hold (`Pattern.matches`); tests/cds_service/reasoning/test_rule_language.py checks
that the two agree on generated facts.

`unless:` items are patterns too: a rule's derived fact is withdrawn when any `unless` pattern matches a
fact (input, or derived and itself kept). Exclusions are evaluated after forward chaining, in strata
(`strata`), so the result never depends on the order facts arrive in.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cds_service.knowledge.loader import Knowledge, Rule

OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in")
_DURABLE = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
_WORDS = {"eq": "=", "ne": "≠", "lt": "<", "lte": "≤", "gt": ">", "gte": "≥", "in": "in"}


class RuleLanguageError(ValueError):
    """A rule that cannot be compiled: unknown operator or threshold, or exclusions that form a cycle."""


Scalar = str | float | int | bool


@dataclass(frozen=True)
class FieldTest:
    """One field test of a pattern, its operand resolved (numbers as float)."""

    field: str
    op: str
    operand: Scalar | tuple[Scalar, ...]

    def matches(self, fact: dict[str, Any]) -> bool:
        if self.field not in fact:
            return False
        value = fact[self.field]
        if self.op == "eq":
            return bool(value == self.operand)
        if self.op == "ne":
            return bool(value != self.operand)
        if self.op == "in":
            assert isinstance(self.operand, tuple)
            return value in self.operand
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False  # ordering applies to numbers only (facts carry normalised numbers)
        return _ORDER[self.op](value, self.operand)

    def durable(self) -> dict[str, Any]:
        if self.op == "eq":
            return {self.field: self.operand}
        if self.op == "in":
            assert isinstance(self.operand, tuple)
            return {"$or": [{self.field: v} for v in self.operand]}
        return {_DURABLE[self.op]: {self.field: self.operand}}

    def words(self) -> str:
        if isinstance(self.operand, tuple):
            operand = "[" + ", ".join(_show(v) for v in self.operand) + "]"
        else:
            operand = _show(self.operand)
        return f"{self.field} {_WORDS[self.op]} {operand}"


@dataclass(frozen=True)
class Pattern:
    """One condition item: a fact of `kind` passing every test."""

    kind: str
    tests: tuple[FieldTest, ...]

    def matches(self, fact: dict[str, Any]) -> bool:
        return fact.get("kind") == self.kind and all(t.matches(fact) for t in self.tests)

    def durable(self) -> dict[str, Any]:
        return {"$and": [{"kind": self.kind}, *(t.durable() for t in self.tests)]}

    def words(self) -> str:
        return self.kind + (" " + ", ".join(t.words() for t in self.tests) if self.tests else "")


@dataclass(frozen=True)
class CompiledRule:
    """A rule in the neutral form: what must match (a join), what must not, and what it derives."""

    id: str
    when: tuple[Pattern, ...]
    unless: tuple[Pattern, ...]
    output: dict[str, Any]

    @property
    def produces(self) -> tuple[str, str]:
        """(kind, code) of the fact this rule derives."""
        return str(self.output["kind"]), str(self.output["code"])


def parse_pattern(rule_id: str, item: dict[str, Any], thresholds: dict[str, Any]) -> Pattern:
    """`{kind: {field: condition}}` -> Pattern; thresholds `$a.b` resolved from the profile."""
    if not isinstance(item, dict) or len(item) != 1:
        raise RuleLanguageError(f"rule {rule_id}: each condition item names one fact kind")
    ((kind, spec),) = item.items()
    if not isinstance(spec, dict):
        raise RuleLanguageError(f"rule {rule_id}: the fields of {kind!r} must be a mapping")
    tests: list[FieldTest] = []
    for field_name, condition in spec.items():
        if not isinstance(condition, dict):
            tests.append(FieldTest(field_name, "eq", _resolve(rule_id, condition, thresholds)))
            continue
        for op, operand in condition.items():
            if op not in OPERATORS:
                raise RuleLanguageError(f"rule {rule_id}: unknown operator {op!r}")
            if op == "in":
                if not isinstance(operand, list) or not operand:
                    raise RuleLanguageError(f"rule {rule_id}: `in` needs a non-empty list")
                tests.append(FieldTest(field_name, op, tuple(_resolve(rule_id, v, thresholds) for v in operand)))
            else:
                value = _resolve(rule_id, operand, thresholds)
                if op in _ORDER and (isinstance(value, bool) or not isinstance(value, int | float)):
                    raise RuleLanguageError(f"rule {rule_id}: {field_name} {op} needs a number, got {operand!r}")
                tests.append(FieldTest(field_name, op, value))
    return Pattern(str(kind), tuple(tests))


def compile_rule(rule: Rule, thresholds: dict[str, Any]) -> CompiledRule:
    then = dict(rule.then)
    if "finding" in then:
        output = {"kind": "finding", "code": then.pop("finding"), **then}
    else:
        output = {"kind": "card", "code": then.pop("card"), **then}
    return CompiledRule(
        rule.id,
        tuple(parse_pattern(rule.id, item, thresholds) for item in rule.when),
        tuple(parse_pattern(rule.id, item, thresholds) for item in rule.unless),
        output,
    )


def strata(rules: Iterable[CompiledRule]) -> dict[str, int]:
    """Rule id -> stratum, so exclusions are decided on facts that are already final.

    A rule sits above every rule whose output its `unless` may read, and not below any rule whose output its
    `when` reads. A cycle through an exclusion is a defect of the knowledge (raised).
    """
    rules = list(rules)
    level = {r.id: 0 for r in rules}
    for _ in range(len(rules) + 1):
        changed = False
        for rule in rules:
            needed = level[rule.id]
            for other in rules:
                if any(_may_match(p, other) for p in rule.when):
                    needed = max(needed, level[other.id])
                if any(_may_match(p, other) for p in rule.unless):
                    needed = max(needed, level[other.id] + 1)
            if needed != level[rule.id]:
                level[rule.id] = needed
                changed = True
        if not changed:
            return level
    raise RuleLanguageError("rule exclusions form a cycle: " + ", ".join(r.id for r in rules if r.unless))


def _may_match(pattern: Pattern, rule: CompiledRule) -> bool:
    """Whether a fact derived by `rule` could match `pattern` (its fixed output fields decide)."""
    return pattern.kind == rule.output["kind"] and all(
        t.field not in rule.output or t.matches(rule.output) for t in pattern.tests
    )


@lru_cache(maxsize=256)
def value_cuts(knowledge: Knowledge, profile: str, analyte: str) -> tuple[FieldTest, ...]:
    """Every numeric test any rule applies to `lab.value` of this analyte in this profile.

    The facts step uses them to decide whether a result with a comparator (`<10`) falls in one category.
    """
    thresholds = knowledge.thresholds(profile)
    cuts: list[FieldTest] = []
    for rules in knowledge.rulesets.values():
        for rule in rules:
            for item in [*rule.when, *rule.unless]:
                pattern = parse_pattern(rule.id, item, thresholds)
                if pattern.kind != "lab" or not any(
                    t.field == "analyte" and t.matches({"analyte": analyte}) for t in pattern.tests
                ):
                    continue
                cuts += [t for t in pattern.tests if t.field == "value" and t.op in _ORDER and t not in cuts]
    return tuple(cuts)


def _show(value: Scalar) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _resolve(rule_id: str, value: Any, thresholds: dict[str, Any]) -> Scalar:
    """`$a.b.0.c` -> the threshold at that path (numbers as float, so comparisons are never textual)."""
    if not (isinstance(value, str) and value.startswith("$")):
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, str | float | bool):
            raise RuleLanguageError(f"rule {rule_id}: operand {value!r} is not a plain value")
        return value
    current: Any = thresholds
    for part in value[1:].split("."):
        try:
            current = current[int(part)] if isinstance(current, list) else current[part]
        except (KeyError, IndexError, ValueError, TypeError) as error:
            raise RuleLanguageError(f"rule {rule_id}: unknown threshold {value}") from error
    if not isinstance(current, int | float) or isinstance(current, bool):
        raise RuleLanguageError(f"rule {rule_id}: threshold {value} is not a number")
    return float(current)
