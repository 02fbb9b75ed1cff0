"""Time each pipeline step of one typical patient-view request in-process (the benchmark's profile).

.venv/bin/python bench/profile_typical.py            # per-step milliseconds
.venv/bin/python -m cProfile -s tottime bench/profile_typical.py | head -40
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import scenarios
from cds_service.cards import RenderContext, render_cards
from cds_service.evaluation import Evaluator
from cds_service.facts import EvaluationContext, build_facts
from cds_service.invocation import _selection, parse_request
from cds_service.knowledge import load_knowledge
from cds_service.parsing import parse_record
from cds_service.prefetch import resolve_prefetch
from cds_service.settings import Settings


def timed(label: str, step: Callable[[], Any], repeat: int = 200) -> Any:
    step()
    started = time.perf_counter()
    for _ in range(repeat):
        result = step()
    print(f"{label:<28} {(time.perf_counter() - started) / repeat * 1000:7.3f} ms")
    return result


def main() -> None:
    evaluator = Evaluator(Settings(), load_knowledge())
    now = scenarios.now()
    body = scenarios.request("patient-view", scenarios.record(200, now))
    raw = json.dumps(body)
    service = evaluator.services["vitd-mg-patient-view"]
    timed("json.loads (65 KB body)", lambda: json.loads(raw))
    request = timed("request model + checks", lambda: parse_request(body, service))
    prefetched = asyncio.run(resolve_prefetch(request, service.prefetch, None))
    selection = _selection(evaluator.knowledge, evaluator.settings, now)
    record = timed(
        "select + validate (FHIR)", lambda: parse_record(prefetched, request.context, evaluator.knowledge, selection)
    )
    print(
        f"{'':<28} {len(record.observations) + len(record.statements) + len(record.conditions) + 1} resources validated"
    )
    ctx = EvaluationContext("patient-view", "nl-be", now, 12, 6)
    facts = timed("facts", lambda: build_facts(record, evaluator.knowledge, ctx))
    derived = timed("rules (durable-rules)", lambda: evaluator.engine.evaluate("patient-view", "nl-be", facts.facts))
    render = RenderContext("nl", "nl-be", scenarios.PATIENT_ID)
    timed("cards", lambda: render_cards(derived, facts, evaluator.knowledge, render))


if __name__ == "__main__":
    main()
