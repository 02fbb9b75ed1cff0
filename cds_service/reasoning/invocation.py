"""One service call, start to end: request -> prefetch -> parsing -> facts -> rules -> cards -> response.

This is the only module that sees every step; each step imports only the steps before it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pydantic

from cds_service.cdshooks.models import CDSRequest, CDSResponse
from cds_service.cdshooks.services import ServiceDefinition, check_context
from cds_service.errors import Issue, ServiceError, json_path
from cds_service.fhir._dates import DAYS_PER_MONTH
from cds_service.fhir.identity import filter_drafts, keep_patient_resources
from cds_service.fhir.parsing import PrefetchPart, Selection, check_deadline, parse_prefetch, parse_record
from cds_service.fhir.prefetch import FhirAccess, Prefetched, resolve_prefetch
from cds_service.fhir.validated_cache import ValidatedCache
from cds_service.knowledge.loader import Knowledge, hook_group
from cds_service.reasoning.cards import RenderContext, render_cards
from cds_service.reasoning.engine import RuleEngine
from cds_service.reasoning.facts import EvaluationContext, build_facts
from cds_service.reports import EXTENSION_KEY, Report
from cds_service.settings import Settings


@dataclass
class Outcome:
    """The response plus what the log line needs (timings in ms, card codes); never patient data."""

    response: CDSResponse
    timings: dict[str, float] = field(default_factory=dict)
    card_codes: list[str] = field(default_factory=list)
    signatures: dict[str, str] = field(default_factory=dict)
    profile: str = ""


def parse_request(body: Any, service: ServiceDefinition) -> CDSRequest:
    """C2 + P: the request model, the service's hook and the hook's required context, or a 400."""
    if not isinstance(body, dict):
        raise ServiceError(400, [Issue("structure", "the request body must be a JSON object")])
    try:
        request = CDSRequest.model_validate(body)
    except pydantic.ValidationError as error:
        raise ServiceError(
            400,
            [
                Issue(
                    "required" if e["type"] == "missing" else "invalid",
                    f"{json_path(e['loc'])}: {e['msg']}",
                    json_path(e["loc"]),
                )
                for e in error.errors()
            ],
        ) from None
    if request.hook != service.hook:
        raise ServiceError(
            400,
            [
                Issue(
                    "invalid",
                    f"service {service.id} answers hook {service.hook!r}, not {request.hook!r}",
                    "hook",
                )
            ],
        )
    if request.fhirAuthorization is not None and request.fhirServer is None:
        raise ServiceError(
            400, [Issue("required", "fhirServer is required when fhirAuthorization is given", "fhirServer")]
        )
    check_context(request.hook, request.context)
    return request


async def invoke(
    request: CDSRequest,
    service: ServiceDefinition,
    *,
    knowledge: Knowledge,
    engine: RuleEngine,
    settings: Settings,
    locale: str,
    access: FhirAccess | None,
    profile: str | None = None,
    now: datetime | None = None,
    cache: ValidatedCache | None = None,
    limiter: anyio.CapacityLimiter | None = None,
) -> Outcome:
    """Prefetch on the event loop (it waits on the network), the CPU work (parsing to cards) in a worker thread."""
    _check_draft_count(request.context, settings)
    started = time.perf_counter()
    prefetched = await resolve_prefetch(
        request, service.prefetch, access if request.fhirServer else None, service.optional_prefetch
    )
    timings = {"prefetch": round((time.perf_counter() - started) * 1000, 2)}
    return await anyio.to_thread.run_sync(
        _evaluate,
        request,
        prefetched,
        _Work(knowledge, engine, settings, locale, profile or settings.profile, now or datetime.now(UTC), cache),
        timings,
        limiter=limiter,
    )


@dataclass(frozen=True)
class _Work:
    knowledge: Knowledge
    engine: RuleEngine
    settings: Settings
    locale: str
    profile: str
    now: datetime
    cache: ValidatedCache | None = None


def _evaluate(request: CDSRequest, prefetched: Prefetched, work: _Work, timings: dict[str, float]) -> Outcome:
    """Parsing -> facts -> rules -> cards, within the processing budget (checked during parsing and between steps)."""
    knowledge, engine, settings, profile, now = work.knowledge, work.engine, work.settings, work.profile, work.now
    deadline = time.monotonic() + settings.processing_budget_seconds
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        if step != "cards":  # the work is done: answer it
            check_deadline(deadline)
        timings[step] = round((time.perf_counter() - clock) * 1000, 2)
        clock = time.perf_counter()

    selection = _selection(knowledge, settings, now, work.cache)
    selection = Selection(
        selection.now, selection.lab_cutoffs, settings.max_lab_candidates, deadline, cache=selection.cache
    )
    patient_id = str(request.context["patientId"])
    part = _prefetch_part(prefetched, patient_id, knowledge, selection, work.cache)
    context = filter_drafts(request.context, patient_id, prefetched)
    record = parse_record(prefetched, context, knowledge, selection, part)
    lap("parse")
    selections = request.context.get("selections")
    ctx = EvaluationContext(
        hook=request.hook,
        profile=profile,
        now=now,
        lookback_status_months=settings.lookback_status_months,
        lookback_chemistry_months=settings.lookback_chemistry_months,
        selections=tuple(selections) if isinstance(selections, list) else None,
    )
    facts = build_facts(record, knowledge, ctx)
    lap("facts")
    derived = engine.evaluate(hook_group(request.hook), profile, facts.facts)
    lap("rules")
    render = RenderContext(locale=work.locale, profile=profile, patient_id=str(request.context["patientId"]), now=now)
    signatures: dict[str, str] = {}
    cards = render_cards(derived, facts, knowledge, render, signatures)
    lap("cards")
    reports = prefetched.reports + facts.reports
    extension = {EXTENSION_KEY: [r.to_json() for r in reports]} if reports else None
    response = CDSResponse(cards=cards, extension=extension)
    return Outcome(response, timings, [c.source.topic.code for c in cards if c.source.topic], signatures, profile)


def _prefetch_part(
    prefetched: Prefetched, patient_id: str, knowledge: Knowledge, selection: Selection, cache: ValidatedCache | None
) -> PrefetchPart:
    """Identity and parsing of the prefetch, or what the same resources of the same patient gave before (issue 14).

    Used again only while every comparison with now it rests on comes out the same (`PrefetchPart.holds`): a hit
    reports what a miss reports, in the same order, and gives the same record.
    """
    key = cache.record_key(prefetched.resources, patient_id) if cache is not None else None
    known: tuple[list[Report], PrefetchPart] | None = (
        cache.records.get(key) if cache is not None and key is not None else None
    )
    if known is not None:
        identity_reports, part = known
        if part.holds(selection):
            prefetched.reports += identity_reports
            return part
    before = len(prefetched.reports)
    keep_patient_resources(prefetched, patient_id)  # iterates every resource: in the thread too
    part = parse_prefetch(prefetched, knowledge, selection)
    if cache is not None and key is not None:
        cache.records.put(key, (prefetched.reports[before:], part))
    return part


def _check_draft_count(context: dict[str, Any], settings: Settings) -> None:
    """413 above VITDMG_MAX_DRAFT_ORDERS: each draft is validated and becomes facts, so they are bounded."""
    drafts = context.get("draftOrders")
    entries = drafts.get("entry") if isinstance(drafts, dict) else None
    if isinstance(entries, list) and len(entries) > settings.max_draft_orders:
        message = f"{len(entries)} draft orders; at most {settings.max_draft_orders} (VITDMG_MAX_DRAFT_ORDERS)"
        raise ServiceError(413, [Issue("too-costly", message, "context.draftOrders.entry")])


def _selection(
    knowledge: Knowledge, settings: Settings, now: datetime, cache: ValidatedCache | None = None
) -> Selection:
    """The look-back cutoff per analyte, so parsing can skip what the facts step would never read."""
    cutoffs = {
        analyte: now
        - timedelta(
            days=DAYS_PER_MONTH
            * knowledge.lookback_months(analyte, settings.lookback_status_months, settings.lookback_chemistry_months)
        )
        for analyte in knowledge.labs.analytes
    }
    return Selection(now=now, lab_cutoffs=cutoffs, cache=cache)
