"""Time each step of one service call in-process, in µs of CPU: the profile `make bench` prints beside its table.

CPU time of the calling thread (the background audit write: of the process), so a loaded machine does not
inflate a step with the time it waited for a core.

The steps are the ones `app.call_service` runs, called the same way: reading the body, the input limits,
the request model, selection and validation (split: the validation of the resources that survive selection is
timed on its own, selection is the rest of parsing), facts, rules, cards, audit and the response bytes.
Each step is repeated on the same input; a step that caches across calls would show its warm cost here,
so the profile is of the busy record of the first patient and is read beside the rotating HTTP figures.

.venv/bin/python bench/profile.py                 # the busy request, µs per step
.venv/bin/python bench/profile.py typical         # the typical (200) request
.venv/bin/python -m cProfile -s tottime bench/profile.py | head -40
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scenarios
from cds_service.api.limits import check_shape, load_json
from cds_service.cdshooks.models import CDSResponse, wire_json
from cds_service.fhir import parsing
from cds_service.fhir.prefetch import resolve_prefetch
from cds_service.knowledge.loader import hook_group, load_knowledge
from cds_service.offline.evaluation import Evaluator
from cds_service.reasoning.cards import RenderContext, render_cards
from cds_service.reasoning.facts import EvaluationContext, build_facts
from cds_service.reasoning.invocation import Outcome, _selection, parse_request
from cds_service.settings import Settings
from cds_service.store.audit import suppress_and_record
from cds_service.store.audit_writer import AuditWriter
from cds_service.store.database import open_store


def _timed(step: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    result = step()
    started = time.thread_time()
    for _ in range(repeat):
        result = step()
    return (time.thread_time() - started) / repeat * 1e6, result


def profile(body: dict[str, Any], service_id: str, repeat: int = 100) -> dict[str, Any]:
    """µs per step of one call of `service_id` with `body`, plus how many resources were validated."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), auth="disabled")
        evaluator = Evaluator(settings, load_knowledge())
        knowledge, service = evaluator.knowledge, evaluator.services[service_id]
        store = open_store(settings, migrate=True)
        now = scenarios.now()
        raw = json.dumps(body).encode()
        steps: dict[str, float] = {}
        gc.freeze()  # as create_app does: knowledge and compiled rulesets out of the collector's way
        steps["JSON parse"], (parsed, _) = _timed(lambda: load_json(raw, settings), repeat)
        steps["input limits"], _ = _timed(lambda: check_shape(parsed, settings), repeat)
        steps["request model"], request = _timed(lambda: parse_request(parsed, service), repeat)
        prefetched = asyncio.run(resolve_prefetch(request, service.prefetch, None))
        selection = _selection(knowledge, settings, now)

        validated: list[tuple[type[Any], dict[str, Any]]] = []
        add = parsing._Parser.add

        def recording(self: Any, into: list[Any], model: type[Any], data: dict[str, Any], where: str) -> None:
            validated.append((model, data))
            add(self, into, model, data, where)

        setattr(parsing._Parser, "add", recording)  # noqa: B010 (a patch for the duration of one call)
        try:
            parsing.parse_record(prefetched, request.context, knowledge, selection)
        finally:
            setattr(parsing._Parser, "add", add)  # noqa: B010
        total, record = _timed(lambda: parsing.parse_record(prefetched, request.context, knowledge, selection), repeat)
        steps["validation"], _ = _timed(lambda: [m.model_validate(d) for m, d in validated], repeat)
        steps["selection"] = max(0.0, total - steps["validation"])
        selections = request.context.get("selections")
        ctx = EvaluationContext(
            request.hook,
            settings.profile,
            now,
            settings.lookback_status_months,
            settings.lookback_chemistry_months,
            tuple(selections) if isinstance(selections, list) else None,
        )
        steps["facts"], facts = _timed(lambda: build_facts(record, knowledge, ctx), repeat)
        group = hook_group(request.hook)
        steps["rules (durable-rules)"], derived = _timed(
            lambda: evaluator.engine.evaluate(group, settings.profile, facts.facts), repeat
        )
        render = RenderContext(settings.locale, settings.profile, str(request.context["patientId"]))
        signatures: dict[str, str] = {}
        steps["cards"], cards = _timed(lambda: render_cards(derived, facts, knowledge, render, signatures), repeat)

        audit_writer = AuditWriter(store, flush_seconds=3600)  # only the queueing is on the request's path

        def audit() -> Outcome:  # fresh card ids each time: an id is recorded once
            fresh = [card.model_copy(update={"uuid": str(uuid.uuid4())}) for card in cards]
            signed = {new.uuid: signatures.get(old.uuid, "") for old, new in zip(cards, fresh, strict=True)}
            outcome = Outcome(CDSResponse(cards=fresh), {}, [], signed, settings.profile)
            suppress_and_record(store, audit_writer, settings, service_id, request, outcome, knowledge.version, now)
            return outcome

        steps["suppression + audit queue"], outcome = _timed(audit, repeat)
        started = time.process_time()  # the writer thread's CPU too
        audit_writer.drain()
        # the writer thread's CPU per response (all in one batch here): off the request's path, not off the machine
        steps["(audit write, background)"] = (time.process_time() - started) / (repeat + 1) * 1e6
        steps["response bytes"], _ = _timed(lambda: wire_json(outcome.response), repeat)
        store.dispose()
    return {
        "steps_us": {k: round(v) for k, v in steps.items()},
        "total_us": round(sum(v for k, v in steps.items() if not k.startswith("("))),
        "validated": len(validated),
        "cards": len(cards),
    }


def busy_profile(repeat: int = 100) -> dict[str, Any]:
    body = scenarios.request("patient-view", scenarios.busy_record(scenarios.now(), 7, "busy-1"))
    return profile(body, "vitd-mg-patient-view", repeat)


def show(result: dict[str, Any], title: str) -> str:
    lines = [f"{title}: µs per step ({result['validated']} resources validated, {result['cards']} cards)"]
    lines += [f"  {step:<24} {us:>8,}" for step, us in result["steps_us"].items()]
    lines.append(f"  {'total':<24} {result['total_us']:>8,}")
    return "\n".join(lines)


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else "busy"
    if which == "typical":
        body = scenarios.request("patient-view", scenarios.record(200, scenarios.now()))
        print(show(profile(body, "vitd-mg-patient-view"), "typical patient-view"))
    else:
        print(show(busy_profile(), "busy patient-view"))


if __name__ == "__main__":
    main()
