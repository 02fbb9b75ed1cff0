"""The durable-rules wrapper (docs/engine.md): no threads, no leaked sessions, errors surface."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from cds_service.api import app as app_module
from cds_service.knowledge.loader import Knowledge
from cds_service.reasoning.engine import RuleEngine, RuleEngineError
from tests.builders import request
from tests.conftest import AppClient

LOW_MG: list[dict[str, Any]] = [
    {"kind": "lab", "analyte": "mg", "value": 0.6, "flag": "low", "age_days": 3.0, "id": "lab:0"},
    {"kind": "med", "class": "ppi", "draft": "no", "route": "oral", "course": "open", "id": "med:1"},
]


def test_engine_starts_no_threads(knowledge: Knowledge) -> None:
    """durable's Host starts two timer threads; ours must start none."""
    before = threading.active_count()
    engine = RuleEngine(knowledge, ["nl-be"])
    engine.evaluate("patient-view", "nl-be", LOW_MG)
    assert threading.active_count() == before


def test_two_thousand_evaluations_leave_no_live_sessions(knowledge: Knowledge) -> None:
    """Each evaluation deletes its sid: 2,000 runs (past durable's 1,024-sid limit) leave nothing behind."""
    engine = RuleEngine(knowledge, ["nl-be"])
    for _ in range(2000):
        derived = engine.evaluate("patient-view", "nl-be", LOW_MG)
        assert {d.fields["code"] for d in derived if d.kind == "card"} == {"mg-deficiency", "mg-loss-ppi"}
    assert engine.live_sessions == 0
    name = engine._names[("patient-view", "nl-be")]
    assert engine._host.get_ruleset(name) is not None


def test_forward_chain_records_why(knowledge: Knowledge) -> None:
    """Input facts -> findings -> card intents, each derived fact naming the facts that fired it."""
    derived = RuleEngine(knowledge, ["nl-be"]).evaluate("patient-view", "nl-be", LOW_MG)
    card = next(d for d in derived if d.kind == "card" and d.fields["code"] == "mg-loss-ppi")
    assert card.because == ("mg-losing-drug-ppi(med:1)", "mg-low(lab:0)")


def test_no_facts_no_cards(knowledge: Knowledge) -> None:
    assert RuleEngine(knowledge, ["nl-be"]).evaluate("orders", "nl-be", []) == []


class _BrokenEngine(RuleEngine):
    """A rule action that raises, as a bug in an action would."""

    def _action(self, rule_id: str, output: dict[str, Any], aliases: list[str]) -> Callable[[Any], None]:
        if rule_id == "mg-low":

            def broken(c: Any) -> None:
                raise ZeroDivisionError("bug in an action")

            return broken
        return super()._action(rule_id, output, aliases)


def test_action_errors_are_raised_not_swallowed(knowledge: Knowledge) -> None:
    """durable stores action exceptions in the state; the wrapper raises them and still cleans up."""
    engine = _BrokenEngine(knowledge, ["nl-be"])
    with pytest.raises(RuleEngineError, match="ZeroDivisionError"):
        engine.evaluate("patient-view", "nl-be", LOW_MG)
    assert engine.live_sessions == 0


async def test_action_error_is_a_generic_500(make_client: AppClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our bug, not the caller's: 500 with a generic OperationOutcome, no traceback or detail."""
    monkeypatch.setattr(app_module, "RuleEngine", _BrokenEngine)
    client = await make_client()
    response = await client.post("/cds-services/vitd-mg-patient-view", json=request())
    assert response.status_code == 500
    body = response.json()
    assert body["issue"][0]["diagnostics"] == "internal error in the CDS service"
    assert "ZeroDivision" not in response.text


def test_unknown_threshold_fails_at_compile_time(knowledge: Knowledge) -> None:
    """A rule that names a threshold the profile lacks fails startup, not a request."""
    rules = dict(knowledge.rulesets)
    bad = rules["findings"][0].model_copy(update={"when": [{"lab": {"value": {"lt": "$vitd25.nonexistent"}}}]})
    rules["findings"] = [bad, *rules["findings"][1:]]
    with pytest.raises(RuleEngineError, match="unknown threshold"):
        RuleEngine(knowledge.model_copy(update={"rulesets": rules}), ["nl-be"])


def test_facts_no_rule_reads_are_not_asserted_and_change_nothing(knowledge: Knowledge) -> None:
    """Only facts some rule can join are asserted (another would cost an action); the result is the same."""
    engine = RuleEngine(knowledge, ["nl-be"])
    extra: list[dict[str, Any]] = [
        {"kind": "lab", "analyte": "phosphate", "value": 1.1, "flag": "normal", "age_days": 2.0, "id": "lab:9"},
        {"kind": "condition-absent", "group": "pregnancy", "id": "ca:1"},
    ]
    assert not any(engine._joined("patient-view", "nl-be", f) for f in extra)
    assert engine._joined("patient-view", "nl-be", LOW_MG[0])
    plain = {(d.kind, d.id) for d in engine.evaluate("patient-view", "nl-be", LOW_MG)}
    assert {(d.kind, d.id) for d in engine.evaluate("patient-view", "nl-be", LOW_MG + extra)} == plain


def test_no_sink_action_and_the_same_result_as_with_the_sink(knowledge: Knowledge) -> None:
    """Issue 14: without the sink rule (and without asserting card intents no rule joins) the derived facts are
    those of the ruleset with the sink, and durable finds every asserted fact observed."""
    engine = RuleEngine(knowledge, ["nl-be"])
    facts = [
        *LOW_MG,
        {"kind": "med", "class": "loop-diuretic", "draft": "no", "route": "oral", "id": "med:2"},
        {"kind": "lab", "analyte": "vitd25", "value": 20.0, "flag": "low", "age_days": 3.0, "id": "lab:1"},
    ]
    derived = engine.evaluate("patient-view", "nl-be", facts)
    assert engine.fallbacks == 0 and {d.kind for d in derived} == {"finding", "card"}
    joined = [f for f in facts if engine._joined("patient-view", "nl-be", f)]
    with_sink = engine._run(engine._with_sink[("patient-view", "nl-be")], joined)
    assert {d.id for d in engine._run(engine._names[("patient-view", "nl-be")], joined)} == {d.id for d in with_sink}


def test_an_unobserved_fact_falls_back_to_the_sink_ruleset(
    knowledge: Knowledge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the parsed form and the durable term to disagree, the request still gets its cards (and a warning)."""
    engine = RuleEngine(knowledge, ["nl-be"])
    expected = {d.id for d in engine.evaluate("patient-view", "nl-be", LOW_MG)}
    monkeypatch.setattr(engine, "_joined", lambda *_: True)  # assert even a fact no rule observes
    stray = {"kind": "nothing-reads-this", "id": "x:1"}
    assert {d.id for d in engine.evaluate("patient-view", "nl-be", [*LOW_MG, stray])} == expected
    assert engine.fallbacks == 1 and engine.live_sessions == 0


# durable-rules' C parser, fed the JSON text json.dumps writes for these numbers, kills the process (issue 13).
_CRASH = """
import sys
from cds_service.reasoning.engine import RuleEngine, RuleEngineError
from cds_service.knowledge.loader import load_knowledge
value = float(sys.argv[1])
engine = RuleEngine(load_knowledge(), ["nl-be"])
facts = [{"kind": "lab", "analyte": "mg", "value": value, "flag": "low", "age_days": 3.0, "id": "lab:0"}]
if sys.argv[2] == "raw":  # straight into durable, past our guard: the crash itself
    engine._host.assert_facts(engine._names[("patient-view", "nl-be")], [{**facts[0], "sid": "s1"}])
else:
    try:
        engine.evaluate("patient-view", "nl-be", facts)
    except RuleEngineError:
        print("refused")
print("alive")
"""


def _run(value: str, mode: str) -> Any:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", _CRASH, value, mode], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("value", ["1e-07", "1e16", "inf"])
def test_durable_itself_dies_on_exponent_notation(value: str) -> None:
    """The hazard, reproduced in a subprocess (never in the test process): exit by SIGSEGV."""
    result = _run(value, "raw")
    assert result.returncode != 0 and "alive" not in result.stdout


@pytest.mark.parametrize("value", ["1e-07", "1e16", "inf", "-inf", "nan"])
def test_the_engine_refuses_a_number_durable_cannot_parse(value: str) -> None:
    """Issue 13 finding 1: the engine's last check raises instead of letting durable kill the process."""
    result = _run(value, "guarded")
    assert result.returncode == 0 and result.stdout.split() == ["refused", "alive"], result.stderr[-500:]
