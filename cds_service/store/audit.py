"""After the cards: leave out cards a clinician already overrode (alert fatigue), record the rest (audit).

Runs on the store, so it is the one step after rendering; the CLI's in-process evaluation skips it. The
suppression query is on the request's path (its answer changes the response); the audit rows are queued to
the writer thread (`audit_writer`), written in batches after the response.
"""

from __future__ import annotations

from datetime import datetime

from cds_service.cdshooks.models import CDSRequest
from cds_service.reasoning.invocation import Outcome
from cds_service.settings import Settings
from cds_service.store.audit_writer import AuditWriter
from cds_service.store.database import CardRecord, IssuedBatch, Store, pseudonym

SUPPRESSED_KEY = "org.vitdmg.suppressed"


def suppress_and_record(
    store: Store,
    audit: AuditWriter,
    settings: Settings,
    service_id: str,
    request: CDSRequest,
    outcome: Outcome,
    knowledge_version: str,
    now: datetime,
) -> None:
    """Drop suppressed cards from the response (counted in its extension) and queue the cards shown for the audit.

    Call it in a worker thread: it queries the store, and waits for room when the audit queue is full.
    """
    patient = pseudonym(
        settings.pseudonym_key.get_secret_value(), request.fhirServer, str(request.context["patientId"])
    )
    described: list[tuple[str, str, str]] = [
        (card.source.topic.code if card.source.topic else "", card.indicator, outcome.signatures.get(card.uuid, ""))
        for card in outcome.response.cards
    ]
    silent = store.quiet_topics(patient, described, settings.suppression_days, now) if settings.suppression else set()
    shown = [card for card, (topic, _, _) in zip(outcome.response.cards, described, strict=True) if topic not in silent]
    quiet = [topic for topic, _, _ in described if topic in silent]
    if quiet:
        extension = dict(outcome.response.extension or {})
        extension[SUPPRESSED_KEY] = {"count": len(quiet), "codes": sorted(quiet)}
        outcome.response.extension = extension
    outcome.response.cards = shown
    outcome.card_codes = [c.source.topic.code for c in shown if c.source.topic]
    records = [
        CardRecord(
            c.uuid, c.source.topic.code if c.source.topic else "", c.indicator, outcome.signatures.get(c.uuid, "")
        )
        for c in shown
    ]
    if records:
        batch = IssuedBatch(
            service_id, request.hookInstance, patient, knowledge_version, outcome.profile, tuple(records), now
        )
        audit.submit(batch, block=True)
