"""The audit trail off the request's critical path: a bounded queue drained by one writer thread in batches.

A response's cards are queued before the response is sent and written within `flush_seconds`, many responses
in one transaction. What a crash can cost: a process killed outright (SIGKILL, power loss) loses the rows of
the responses answered in the last `flush_seconds` (plus the batch being committed); a normal shutdown
(SIGTERM/SIGINT, the app's lifespan end) calls `drain`, which writes everything queued. A full queue makes
the request wait for room (back-pressure), never drops a row; a failing database is retried until it answers.
Feedback on a card still queued finds it: `pending` says so and `flush` writes it first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError

from cds_service.store.database import IssuedBatch, Store

logger = logging.getLogger("vitdmg_cds")
_RETRY_SECONDS = (0.05, 0.2, 1.0, 2.0)


class AuditWriter:
    """One per process: `submit` from requests, `flush`/`drain` to wait for the rows to be on disk."""

    def __init__(
        self, store: Store, *, flush_seconds: float = 0.05, max_queued_cards: int = 10_000, max_batch: int = 1_000
    ) -> None:
        self._store = store
        self.flush_seconds = flush_seconds
        self._max_queued = max_queued_cards
        self._max_batch = max_batch
        self._lock = threading.Condition()
        self._queue: deque[IssuedBatch] = deque()
        self._queued_cards = 0
        self._pending: dict[str, str] = {}  # card uuid -> service id, queued or being written
        self._submitted = 0  # batches accepted so far
        self._written = 0  # batches on disk (or given up after a duplicate id)
        self._hurry = False
        self._closed = False
        self.batches_committed = 0
        self.unwritten_cards = 0  # given up on at shutdown with the database unreachable (logged)
        self._thread = threading.Thread(target=self._run, name="vitdmg-audit-writer", daemon=True)
        self._thread.start()

    def submit(self, batch: IssuedBatch, *, block: bool = False) -> bool:
        """Queue one response's cards. When the queue is full: False, or with `block` wait for room.

        After `drain` the writer is gone: the batch is written here, synchronously.
        """
        if not batch.cards:
            return True
        with self._lock:
            while self._queued_cards >= self._max_queued and not self._closed:
                if not block:
                    return False
                self._lock.wait()
            if not self._closed:
                self._queue.append(batch)
                self._queued_cards += len(batch.cards)
                self._pending.update((c.uuid, batch.service_id) for c in batch.cards)
                self._submitted += 1
                self._lock.notify_all()
                return True
        self._store.record_batches([batch])
        return True

    def pending(self, uuids: Iterable[str], service_id: str) -> set[str]:
        """The cards among `uuids` this service issued that are queued or being written (not yet readable)."""
        with self._lock:
            return {u for u in uuids if self._pending.get(u) == service_id}

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._submitted
            self._hurry = True
            self._lock.notify_all()
            while self._written < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return self._written >= target
                self._lock.wait(remaining)
            return True

    def drain(self, timeout: float = 10.0) -> int:
        """At shutdown: write every queued row, stop the writer. Returns the cards left unwritten (0 = none)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self.flush(timeout)
        self._thread.join(max(0.0, timeout))
        with self._lock:
            left = self._queued_cards + self.unwritten_cards
        if left:
            logger.error("audit rows not written at shutdown", extra={"event": {"cards": left}})
        return left

    @property
    def queued_cards(self) -> int:
        with self._lock:
            return self._queued_cards

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._hurry = False
                    self._lock.wait()
                if not self._queue:
                    return
                # let the batch fill for `flush_seconds`: one transaction for many responses
                deadline = time.monotonic() + self.flush_seconds
                while not (self._hurry or self._closed or self._queued_cards >= self._max_batch):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._lock.wait(remaining)
                batch: list[IssuedBatch] = []
                cards = 0
                while self._queue and cards < self._max_batch:
                    batch.append(self._queue.popleft())
                    cards += len(batch[-1].cards)
            written = self._write(batch)
            with self._lock:
                if not written:
                    self.unwritten_cards += cards
                for item in batch:
                    for card in item.cards:
                        self._pending.pop(card.uuid, None)
                self._queued_cards -= cards
                self._written += len(batch)
                self.batches_committed += 1
                self._lock.notify_all()

    def _write(self, batch: list[IssuedBatch]) -> bool:
        """One transaction; retried while the database fails, so no row is dropped for a passing outage."""
        attempt = 0
        while True:
            try:
                self._store.record_batches(batch)
                return True
            except IntegrityError:
                # a card id already recorded: write the responses one by one, so only that response is skipped
                for item in batch:
                    try:
                        self._store.record_batches([item])
                    except IntegrityError:
                        logger.error("audit row already recorded", extra={"event": {"cards": len(item.cards)}})
                return True
            except Exception as error:  # the database is down or busy: keep the rows, try again
                delay = _RETRY_SECONDS[min(attempt, len(_RETRY_SECONDS) - 1)]
                logger.warning(
                    "audit write failed; retrying",
                    extra={"event": {"error": type(error).__name__, "cards": sum(len(b.cards) for b in batch)}},
                )
                attempt += 1
                if self._closed and attempt > 20:
                    return False  # shutting down and the store does not answer: drain reports what is left
                time.sleep(delay)
