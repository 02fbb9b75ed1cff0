"""After the cards: leave out cards a clinician already overrode (alert fatigue), record the rest (audit).

Runs on the store, so it is the one step after rendering; the CLI's in-process evaluation skips it.
"""

from __future__ import annotations

from datetime import datetime

from .invocation import Outcome
from .models import CDSRequest
from .settings import Settings
from .store import CardRecord, Store, pseudonym

SUPPRESSED_KEY = "org.vitdmg.suppressed"


def suppress_and_record(
    store: Store,
    settings: Settings,
    service_id: str,
    request: CDSRequest,
    outcome: Outcome,
    knowledge_version: str,
    now: datetime,
) -> None:
    """Drop suppressed cards from the response (counted in its extension) and record the cards shown."""
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
        store.record_cards(service_id, request.hookInstance, patient, knowledge_version, outcome.profile, records, now)
