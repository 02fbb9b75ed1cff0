"""The rule engine: the YAML rulesets of `rules/` compiled once into durable-rules, evaluated per request.

Follows the pattern of docs/engine.md (section 2): one private Host without durable's background threads, one
lock, a fresh sid per evaluation, `delete_state` in `finally`, and action errors surfaced as exceptions (they
are our bug, not the caller's). All of a request's facts go in one `assert_facts` call. Instead of a sink rule
(docs/engine.md 1.3; one Python action per fact, about half of all actions), only facts some rule joins are
asserted, input and derived alike, so every asserted fact is observed (plus one marker fact whose one action
keeps durable's session cleanup sound, see `__request` below); should durable still find one
unobserved (the parsed form and the durable term disagreeing would be our defect), the evaluation is re-run on
a copy of the ruleset that has the sink, and a warning is logged.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from durable import engine as durable_engine

from cds_service.knowledge.loader import HOOK_GROUPS, Knowledge, Rule
from cds_service.reasoning.facts import Fact
from cds_service.reasoning.rule_language import CompiledRule, Pattern, RuleLanguageError, compile_rule, strata

logger = logging.getLogger("vitdmg_cds")


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
        self._rules: dict[tuple[str, str], dict[str, CompiledRule]] = {}
        self._strata: dict[tuple[str, str], dict[str, int]] = {}
        self._patterns: dict[tuple[str, str], dict[str, list[Pattern]]] = {}
        self._with_sink: dict[tuple[str, str], str] = {}
        self._compiling = ("", "")  # the (group, profile) whose rules are being compiled
        self.fallbacks = 0  # evaluations re-run with the sink (0 unless the two forms of a rule disagree)
        version = knowledge.version.replace(".", "_")
        for profile in profiles:
            thresholds = knowledge.thresholds(profile)
            for group in HOOK_GROUPS:
                rules = knowledge.rulesets["findings"] + knowledge.rulesets[group]
                name = f"vitdmg_{version}_{group}_{profile}".replace("-", "_")
                try:
                    parsed = {r.id: compile_rule(r, thresholds) for r in rules if _enabled(r, thresholds)}
                    self._strata[(group, profile)] = strata(parsed.values())
                except RuleLanguageError as error:
                    raise RuleEngineError(str(error)) from error
                self._rules[(group, profile)] = parsed
                patterns: dict[str, list[Pattern]] = {}
                for rule in parsed.values():
                    for pattern in rule.when:
                        patterns.setdefault(pattern.kind, []).append(pattern)
                self._patterns[(group, profile)] = patterns
                self._compiling = (group, profile)
                compiled = {rule_id: self._compile(rule) for rule_id, rule in parsed.items()}
                # durable-rules corrupts its heap deleting a session in which no action ran (seen as "free():
                # invalid size" and segfaults in delete_state): one marker fact per evaluation, one action
                compiled["__request"] = {"all": [{"m": {"kind": _MARKER["kind"]}}], "run": _sink}
                sinking = {**compiled, "__sink": {"all": [{"m": {"$ex": {"kind": 1}}}], "run": _sink}}
                try:  # registration deletes `run` from the dicts it is given: each ruleset gets its own copies
                    self._host.set_rulesets({name: {k: dict(v) for k, v in compiled.items()}})
                    self._host.set_rulesets({f"{name}_sink": {k: dict(v) for k, v in sinking.items()}})
                except Exception as error:
                    raise RuleEngineError(f"ruleset {name} does not compile: {error}") from error
                self._names[(group, profile)] = name
                self._with_sink[(group, profile)] = f"{name}_sink"

    @property
    def live_sessions(self) -> int:
        """Sessions not yet cleaned up (always 0 between evaluations)."""
        return len(self._collected)

    def evaluate(self, group: str, profile: str, facts: list[Fact]) -> list[Derived]:
        joined = [*(f for f in facts if self._joined(group, profile, f)), _MARKER]
        _check_numbers(joined)
        try:
            collected = self._run(self._names[(group, profile)], joined)
        except durable_engine.MessageNotHandledException:
            self.fallbacks += 1
            logger.warning("a fact no rule observed: evaluated with the sink rule", extra={"event": {"group": group}})
            collected = self._run(self._with_sink[(group, profile)], joined)
        return self._without_exclusions(group, profile, facts, collected)

    def _run(self, name: str, facts: list[Fact]) -> list[Derived]:
        """All facts in one assert call, in a fresh sid, cleaned up whatever happens."""
        sid = uuid.uuid4().hex
        with self._lock:
            self._collected[sid] = []
            try:
                state = self._host.assert_facts(name, [{**f, "sid": sid} for f in facts])
                if isinstance(state, dict) and state.get("exception"):
                    raise RuleEngineError(f"rule action failed: {str(state['exception'])[:300]}")
                return self._collected[sid]
            finally:
                del self._collected[sid]
                with contextlib.suppress(Exception):
                    self._host.delete_state(name, sid)

    def _without_exclusions(self, group: str, profile: str, facts: list[Fact], derived: list[Derived]) -> list[Derived]:
        """Withdraw derived facts whose rule's `unless` matches a final fact, and all that rests on them.

        Decided stratum by stratum after chaining (rule_language.strata), so fact order never matters.
        """
        rules, level = self._rules[(group, profile)], self._strata[(group, profile)]
        pool: list[dict[str, Any]] = list(facts)
        kept_ids = {str(f.get("id")) for f in facts}
        kept: list[Derived] = []
        for stratum in sorted({level[d.rule] for d in derived}):
            for d in derived:
                if level[d.rule] != stratum or not all(b in kept_ids for b in d.because):
                    continue
                exclusions = rules[d.rule].unless
                if any(p.matches(f) for p in exclusions for f in pool):
                    continue
                kept.append(d)
                kept_ids.add(d.id)
                pool.append({"kind": d.kind, **d.fields, "id": d.id})
        return kept

    def _joined(self, group: str, profile: str, fact: Fact) -> bool:
        """Whether any rule could join this fact; no other is asserted (it would only cost an action)."""
        return any(p.matches(fact) for p in self._patterns[(group, profile)].get(str(fact.get("kind")), ()))

    def _compile(self, rule: CompiledRule) -> dict[str, Any]:
        aliases = [f"a{index}" for index in range(len(rule.when))]
        conditions = [{alias: p.durable()} for alias, p in zip(aliases, rule.when, strict=True)]
        return {"all": conditions, "run": self._action(rule.id, rule.output, aliases)}

    def _action(self, rule_id: str, output: dict[str, Any], aliases: list[str]) -> Callable[[Any], None]:
        """The rule's action: collect the derived fact; assert it (chaining) only when some rule joins it."""
        joined = self._joined(*self._compiling, {**output, "id": ""})

        def run(c: Any) -> None:
            matched = c._m  # alias -> matched fact (durable's Closure keeps them there)
            because = tuple(str(matched[alias]["id"]) for alias in aliases)
            fact_id = f"{rule_id}({','.join(because)})"
            fields = {k: v for k, v in output.items() if k != "kind"}
            self._collected[str(matched[aliases[0]]["sid"])].append(
                Derived(output["kind"], fields, because, rule_id, fact_id)
            )
            if joined:
                c.assert_fact({**output, "id": fact_id})

        return run


_MARKER: dict[str, Any] = {"kind": "__request", "id": "__request"}


def _check_numbers(facts: list[Fact]) -> None:
    """Last line before durable's C parser, which kills the process on `1e-07`, `1e+16` or `Infinity`.

    The facts step makes every number safe (facts.engine_number); one that is not is our bug: an exception.
    """
    for fact in facts:
        for key, value in fact.items():
            if isinstance(value, float) and not (math.isfinite(value) and "e" not in repr(value)):
                raise RuleEngineError(f"fact {fact.get('kind')}.{key}: a number durable-rules cannot parse")


def _sink(c: Any) -> None:
    """Observes every fact so none is dropped as unhandled (docs/engine.md 1.3); the fallback ruleset only."""


def _enabled(rule: Rule, thresholds: dict[str, Any]) -> bool:
    """Off when its profile switch is off, or when it reads a threshold the profile marks unverified."""
    if rule.enabled_if is not None and not thresholds.get(rule.enabled_if):
        return False
    unverified = {f"${path}" for path in thresholds.get("unverified", [])}
    return not (unverified and unverified & set(_threshold_refs([*rule.when, *rule.unless])))


def _threshold_refs(value: Any) -> list[str]:
    """Every `$path` a rule's conditions name."""
    if isinstance(value, str):
        return [value] if value.startswith("$") else []
    if isinstance(value, dict):
        return [ref for v in value.values() for ref in _threshold_refs(v)]
    if isinstance(value, list):
        return [ref for v in value for ref in _threshold_refs(v)]
    return []
