"""The rule engine: the YAML rulesets of `rules/` compiled once into durable-rules, evaluated per request.

Follows shared/reference/durable-rules.md §8: one private Host without durable's background threads, one
lock, a fresh sid per evaluation, `delete_state` in `finally`, a sink rule that observes every fact, and
action errors surfaced as exceptions (they are our bug, not the caller's).
"""

from __future__ import annotations

import contextlib
import operator
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from durable import engine as durable_engine

from .facts import Fact
from .knowledge import Knowledge, Rule

_OPERATORS = {"lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte", "ne": "$neq"}


class RuleEngineError(RuntimeError):
    """A rule action failed or a ruleset would not compile: a defect of the service."""


class _SyncHost(durable_engine.Host):  # type: ignore[misc]
    """Host without durable's dispatch/timer threads: evaluation is request/response only."""

    def _run(self) -> None:  # engine.Host.__init__ starts two threading.Timer loops here
        pass


@dataclass(frozen=True)
class Derived:
    """A fact a rule derived: a finding or a card intent, with the facts that made the rule fire."""

    kind: str
    fields: dict[str, Any]
    because: tuple[str, ...]
    rule: str
    id: str


class RuleEngine:
    """Compiled rulesets for every (hook group, profile); `evaluate` is safe to call from any thread."""

    def __init__(self, knowledge: Knowledge, profiles: Iterable[str]) -> None:
        self._host = _SyncHost()
        self._lock = threading.Lock()
        self._collected: dict[str, list[Derived]] = {}
        self._names: dict[tuple[str, str], str] = {}
        self._observers: dict[tuple[str, str], list[tuple[str, list[Callable[[dict[str, Any]], bool]]]]] = {}
        version = knowledge.version.replace(".", "_")
        for profile in profiles:
            thresholds = knowledge.thresholds(profile)
            for group in ("patient-view", "orders"):
                rules = knowledge.rulesets["findings"] + knowledge.rulesets[group]
                name = f"vitdmg_{version}_{group}_{profile}".replace("-", "_")
                enabled = [r for r in rules if _enabled(r, thresholds)]
                compiled = {r.id: self._compile(r, thresholds) for r in enabled}
                self._observers[(group, profile)] = [
                    (kind, [_predicate(r.id, name, cond, thresholds) for name, cond in spec.items()])
                    for r in enabled
                    for join in r.when
                    for kind, spec in join.items()
                ]
                compiled["__sink"] = {"all": [{"m": {"$ex": {"kind": 1}}}], "run": _sink}
                try:
                    self._host.set_rulesets({name: compiled})
                except Exception as error:
                    raise RuleEngineError(f"ruleset {name} does not compile: {error}") from error
                self._names[(group, profile)] = name

    @property
    def live_sessions(self) -> int:
        """Sessions not yet cleaned up (always 0 between evaluations)."""
        return len(self._collected)

    def evaluate(self, group: str, profile: str, facts: list[Fact]) -> list[Derived]:
        name = self._names[(group, profile)]
        facts = [f for f in facts if self._observed(group, profile, f)]
        sid = uuid.uuid4().hex
        with self._lock:
            self._collected[sid] = []
            try:
                if facts:
                    state = self._host.assert_facts(name, [{**f, "sid": sid} for f in facts])
                    if isinstance(state, dict) and state.get("exception"):
                        raise RuleEngineError(f"rule action failed: {str(state['exception'])[:300]}")
                return self._collected[sid]
            finally:
                del self._collected[sid]
                with contextlib.suppress(Exception):  # no state exists when no fact was asserted
                    self._host.delete_state(name, sid)

    def _observed(self, group: str, profile: str, fact: Fact) -> bool:
        """Whether any rule could join this input fact; others are not asserted (each costs a sink action)."""
        return any(
            kind == fact.get("kind") and all(test(fact) for test in tests)
            for kind, tests in self._observers[(group, profile)]
        )

    def _compile(self, rule: Rule, thresholds: dict[str, Any]) -> dict[str, Any]:
        conditions = []
        aliases = []
        for index, join in enumerate(rule.when):
            if len(join) != 1:
                raise RuleEngineError(f"rule {rule.id}: each `when` item names one fact kind")
            ((kind, spec),) = join.items()
            alias = f"a{index}"
            aliases.append(alias)
            terms: list[dict[str, Any]] = [{"kind": kind}]
            for field_name, condition in spec.items():
                terms += _terms(rule.id, field_name, condition, thresholds)
            conditions.append({alias: {"$and": terms}})
        then = dict(rule.then)
        if "finding" in then:
            output = {"kind": "finding", "code": then.pop("finding"), **then}
        else:
            output = {"kind": "card", "code": then.pop("card"), **then}
        return {"all": conditions, "run": self._action(rule.id, output, aliases)}

    def _action(self, rule_id: str, output: dict[str, Any], aliases: list[str]) -> Callable[[Any], None]:
        def run(c: Any) -> None:
            matched = c._m  # alias -> matched fact (durable's Closure keeps them there)
            because = tuple(str(matched[alias]["id"]) for alias in aliases)
            fact_id = f"{rule_id}({','.join(because)})"
            fields = {k: v for k, v in output.items() if k != "kind"}
            self._collected[str(matched[aliases[0]]["sid"])].append(
                Derived(output["kind"], fields, because, rule_id, fact_id)
            )
            c.assert_fact({**output, "id": fact_id})

        return run


def _sink(c: Any) -> None:
    """Observes every fact so none is dropped as unhandled (durable-rules.md §3)."""


def _enabled(rule: Rule, thresholds: dict[str, Any]) -> bool:
    return rule.enabled_if is None or bool(thresholds.get(rule.enabled_if))


def _resolve(rule_id: str, value: Any, thresholds: dict[str, Any]) -> Any:
    """`$a.b.0.c` -> the threshold at that path (numbers as float, so comparisons are never textual)."""
    if not (isinstance(value, str) and value.startswith("$")):
        return value
    current: Any = thresholds
    for part in value[1:].split("."):
        try:
            current = current[int(part)] if isinstance(current, list) else current[part]
        except (KeyError, IndexError, ValueError, TypeError) as error:
            raise RuleEngineError(f"rule {rule_id}: unknown threshold {value}") from error
    if not isinstance(current, int | float) or isinstance(current, bool):
        raise RuleEngineError(f"rule {rule_id}: threshold {value} is not a number")
    return float(current)


def _terms(rule_id: str, field_name: str, condition: Any, thresholds: dict[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(condition, dict):
        return [{field_name: _resolve(rule_id, condition, thresholds)}]
    terms: list[dict[str, Any]] = []
    for op, operand in condition.items():
        if op == "in":
            terms.append({"$or": [{field_name: _resolve(rule_id, v, thresholds)} for v in operand]})
        elif op in _OPERATORS:
            terms.append({_OPERATORS[op]: {field_name: _resolve(rule_id, operand, thresholds)}})
        else:
            raise RuleEngineError(f"rule {rule_id}: unknown operator {op!r}")
    return terms


def _predicate(
    rule_id: str, field_name: str, condition: Any, thresholds: dict[str, Any]
) -> Callable[[dict[str, Any]], bool]:
    """The Python twin of `_terms`, to decide which facts are worth asserting."""
    if not isinstance(condition, dict):
        wanted = _resolve(rule_id, condition, thresholds)
        return lambda fact: bool(fact.get(field_name) == wanted)
    checks: list[tuple[str, Any]] = [
        (op, _resolve_all(rule_id, operand, thresholds)) for op, operand in condition.items()
    ]

    def test(fact: dict[str, Any]) -> bool:
        if field_name not in fact:
            return False
        value = fact[field_name]
        for op, operand in checks:
            if op == "in":
                if value not in operand:
                    return False
            elif op == "ne":
                if value == operand:
                    return False
            elif not isinstance(value, int | float) or not _ORDER[op](value, operand):
                return False
        return True

    return test


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def _resolve_all(rule_id: str, operand: Any, thresholds: dict[str, Any]) -> Any:
    if isinstance(operand, list):
        return [_resolve(rule_id, v, thresholds) for v in operand]
    return _resolve(rule_id, operand, thresholds)
