"""The audit writer (issue 14): rows queued off the request's path, written in batches, none lost on a normal stop,
none dropped by a full queue or a failing database, and feedback that finds a card still queued."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from cds_service.store.audit_writer import AuditWriter
from cds_service.store.database import CardRecord, IssuedBatch, IssuedCard, Store
from tests.builders import request
from tests.conftest import AppClient
from tests.stores import store_url

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PV = "/cds-services/vitd-mg-patient-view"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    s = Store(store_url(request.param, tmp_path))
    s.upgrade()
    request.addfinalizer(s.dispose)
    return s


def _batch(n: int, cards: int = 3) -> IssuedBatch:
    return IssuedBatch(
        "vitd-mg-patient-view",
        f"hook-{n}",
        "p1",
        "v",
        "nl-be",
        tuple(CardRecord(f"00000000-0000-4000-8000-{n:06d}{i:06d}", "mg-loss-ppi", "info", "s") for i in range(cards)),
        NOW,
    )


def _rows(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(IssuedCard)).scalar_one())


def test_many_responses_are_written_in_few_transactions(store: Store) -> None:
    writer = AuditWriter(store, flush_seconds=0.3)
    try:
        for n in range(20):
            assert writer.submit(_batch(n))
        assert writer.pending([c.uuid for c in _batch(0).cards], "vitd-mg-patient-view")
        assert writer.flush(10)
        assert _rows(store) == 60
        assert 1 <= writer.batches_committed < 20  # batched: one transaction for many responses
        assert not writer.pending([c.uuid for c in _batch(0).cards], "vitd-mg-patient-view")
    finally:
        assert writer.drain() == 0


def test_drain_writes_everything_queued_and_later_rows_synchronously(store: Store) -> None:
    writer = AuditWriter(store, flush_seconds=60)  # nothing would be written for a minute
    for n in range(5):
        writer.submit(_batch(n))
    assert _rows(store) == 0
    assert writer.drain(10) == 0
    assert _rows(store) == 15
    writer.submit(_batch(99))  # after shutdown began: written at once, not lost in a dead queue
    assert _rows(store) == 18


def test_a_full_queue_waits_for_room_and_drops_nothing(store: Store) -> None:
    writer = AuditWriter(store, flush_seconds=0.2, max_queued_cards=6)
    try:
        assert writer.submit(_batch(0)) and writer.submit(_batch(1))
        assert not writer.submit(_batch(2))  # full: the caller is told, nothing is queued
        assert writer.submit(_batch(2), block=True)  # waits until the writer made room
        assert writer.flush(10)
        assert _rows(store) == 9
    finally:
        writer.drain()


class _FailingStore:
    """A store whose first writes fail as an unreachable database does."""

    def __init__(self, store: Store, failures: int) -> None:
        self._store, self.failures, self.calls = store, failures, 0

    def record_batches(self, batches: list[IssuedBatch]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        self._store.record_batches(batches)


def test_a_failing_database_is_retried_not_dropped(store: Store) -> None:
    failing: Any = _FailingStore(store, failures=3)
    writer = AuditWriter(failing, flush_seconds=0.01)
    try:
        writer.submit(_batch(0))
        assert writer.flush(15)
        assert failing.calls == 4 and _rows(store) == 3
    finally:
        writer.drain()


def test_a_duplicate_card_id_skips_only_its_response(store: Store) -> None:
    store.record_batches([_batch(1)])
    writer = AuditWriter(store, flush_seconds=0.2)
    for n in range(3):
        writer.submit(_batch(n))
    assert writer.drain(10) == 0
    assert _rows(store) == 9  # batch 1 was there already; 0 and 2 written


def test_submitting_from_many_threads_loses_nothing(store: Store) -> None:
    writer = AuditWriter(store, flush_seconds=0.01, max_queued_cards=20)
    threads = [
        threading.Thread(target=lambda k=k: [writer.submit(_batch(k * 100 + n), block=True) for n in range(25)])
        for k in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert writer.drain(20) == 0
    assert _rows(store) == 4 * 25 * 3


async def test_feedback_finds_a_card_still_queued(make_client: AppClient) -> None:
    """K4 with the audit behind: the card answered a moment ago is in no table yet, feedback still finds it."""
    client = await make_client(audit_flush_seconds=5)  # the writer would wait 5 s
    app: Any = client._transport.app
    card = (await client.post(PV, json=request())).json()["cards"][0]
    assert app.state.audit.pending([card["uuid"]], "vitd-mg-patient-view")
    item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-22T12:05:00Z"}
    started = time.monotonic()
    response = await client.post(PV + "/feedback", json={"feedback": [item]})
    assert response.status_code == 200 and response.json() == {"stored": 1, "duplicates": 0}
    assert time.monotonic() - started < 4  # written on demand, not after the interval
