"""Time each step of one service call in-process, in µs of CPU: the profile `make bench` prints beside its table.

CPU time of the calling thread (the background audit write: of the process), so a loaded machine does not
inflate a step with the time it waited for a core.

The steps are the ones `app.call_service` runs, called the same way: reading the body, the input limits,
the request model, selection and validation (split: the validation of the resources that survive selection is
timed on its own, selection is the rest of parsing), facts, rules, cards, audit and the response bytes.
Each step is repeated on the same input; a step that caches across calls would show its warm cost here,
so the profile is of the busy record of the first patient and is read beside the rotating HTTP figures.
`rotated` times the same steps cold (each once per call over the bench's 20 busy patients) beside the whole call
through the app: what a real call costs, and how much of it lies outside the pipeline's steps.

.venv/bin/python bench/profile.py                 # the busy request, µs per step
.venv/bin/python bench/profile.py typical         # the typical (200) request
.venv/bin/python bench/profile.py rotated         # the busy request cold: 20 patients rotated, and the whole call
.venv/bin/python -m cProfile -s tottime bench/profile.py | head -40
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse

from bench import scenarios
from cds_service.api.limits import check_shape, load_json
from cds_service.cdshooks.models import CDSRequest, CDSResponse, wire_json
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


def _context(request: CDSRequest, settings: Settings, now: datetime) -> EvaluationContext:
    """The facts step's context for `request`, as the service builds it (`invocation._evaluate`)."""
    selections = request.context.get("selections")
    return EvaluationContext(
        request.hook,
        settings.profile,
        now,
        settings.lookback_status_months,
        settings.lookback_chemistry_months,
        tuple(selections) if isinstance(selections, list) else None,
    )


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
        ctx = _context(request, settings, now)
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


def rotated_profile(bodies: list[dict[str, Any]], service_id: str, rounds: int = 3) -> dict[str, Any]:
    """µs per step as a cold call pays it: each round walks every patient's record once, step by step.

    `profile` repeats each step on one input, so caches (the processor's and Python's) are warm; a real call runs
    each step once on a record the process has not seen (issue 14: the HTTP figures were ~2x the warm sum). The
    median per step over every call, and the whole call through the app (`create_app` over httpx's ASGI transport:
    framework, middleware, thread hops, audit queue and writer, response) for the same rotation.
    """
    from cds_service.api.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), auth="disabled", validation_cache_entries=0, log_level="ERROR")
        evaluator = Evaluator(settings, load_knowledge())
        knowledge, service = evaluator.knowledge, evaluator.services[service_id]
        now = scenarios.now()
        raws = [json.dumps(body).encode() for body in bodies]
        steps: dict[str, list[float]] = {}

        def timed(name: str, step: Callable[..., Any], *args: Any) -> Any:
            started = time.thread_time()
            result = step(*args)
            steps.setdefault(name, []).append((time.thread_time() - started) * 1e6)
            return result

        for _ in range(rounds):
            for raw in raws:
                parsed, _ = timed("JSON parse", load_json, raw, settings)
                timed("input limits", check_shape, parsed, settings)
                request = timed("request model", parse_request, parsed, service)
                prefetched = asyncio.run(resolve_prefetch(request, service.prefetch, None))
                selection = _selection(knowledge, settings, now)
                record = timed(
                    "selection + validation", parsing.parse_record, prefetched, request.context, knowledge, selection
                )
                facts = timed("facts", build_facts, record, knowledge, _context(request, settings, now))
                group = hook_group(request.hook)
                engine = evaluator.engine
                derived = timed("rules (durable-rules)", engine.evaluate, group, settings.profile, facts.facts)
                render = RenderContext(settings.locale, settings.profile, str(request.context["patientId"]))
                cards = timed("cards", render_cards, derived, facts, knowledge, render, {})
                timed("response bytes", wire_json, CDSResponse(cards=cards))
        app = create_app(settings.model_copy(update={"data_dir": Path(tmp) / "app"}), knowledge=evaluator.knowledge)
        whole = asyncio.run(_whole_calls(app, service_id, raws, rounds))
    medians = {k: round(statistics.median(v)) for k, v in steps.items()}
    return {
        "steps_us": medians,
        "total_us": sum(medians.values()),
        "whole_call_us": whole["service"],
        "floor_call_us": whole["floor"],
    }


async def _whole_calls(app: Any, service_id: str, raws: list[bytes], rounds: int) -> dict[str, int]:
    """Median process CPU µs per call through the app (every thread: the audit writer's batches included), and
    per call of the bench's floor route on the same app (the framework, the client and a JSON read)."""

    @app.post("/bench/floor")
    async def floor(request: Request) -> JSONResponse:
        json.loads(await request.body())
        return JSONResponse({"cards": []})

    spent: dict[str, list[float]] = {"service": [], "floor": []}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for turn in range(rounds + 1):
                for raw in raws:
                    for name, path in (("service", f"/cds-services/{service_id}"), ("floor", "/bench/floor")):
                        started = time.process_time()
                        response = await client.post(path, content=raw, headers={"content-type": "application/json"})
                        assert response.status_code == 200, response.text[:200]
                        if turn:  # the first round warms the app up
                            spent[name].append((time.process_time() - started) * 1e6)
    return {name: round(statistics.median(values)) for name, values in spent.items()}


def busy_rotation(rounds: int = 3) -> dict[str, Any]:
    """The rotated profile of the bench's busy patient-view: its 20 patients."""
    now = scenarios.now()
    bodies = [
        scenarios.request("patient-view", scenarios.busy_record(now, seed, patient_id))
        for seed, patient_id in enumerate(scenarios.patient_ids("busy"), start=7)
    ]
    return rotated_profile(bodies, "vitd-mg-patient-view", rounds)


def show_rotation(result: dict[str, Any], title: str) -> str:
    lines = [f"{title}: median µs per step, each call cold (20 patients rotated)"]
    lines += [f"  {step:<24} {us:>8,}" for step, us in result["steps_us"].items()]
    lines.append(f"  {'sum of the steps':<24} {result['total_us']:>8,}")
    lines.append(f"  {'whole call through app':<24} {result['whole_call_us']:>8,}")
    lines.append(f"  {'floor call, same app':<24} {result['floor_call_us']:>8,}")
    return "\n".join(lines)


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
    elif which == "rotated":
        print(show_rotation(busy_rotation(), "busy patient-view"))
    else:
        print(show(busy_profile(), "busy patient-view"))


if __name__ == "__main__":
    main()
