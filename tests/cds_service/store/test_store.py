"""The store on SQLite and PostgreSQL (issue 6): migrations, feedback, suppression, audit without PHI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from cds_service.store.database import CardRecord, FeedbackItem, IssuedCard, Store, pseudonym
from tests.stores import store_url

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DAYS = {"already-addressed": 30}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    s = Store(store_url(request.param, tmp_path))
    s.upgrade()
    request.addfinalizer(s.dispose)
    return s


def quiet(
    store: Store, patient: str, topic: str, indicator: str, signature: str, periods: dict[str, int], now: datetime
) -> bool:
    """Whether the store keeps this one card quiet (the audit step asks for all of a response's cards at once)."""
    return topic in store.quiet_topics(patient, [(topic, indicator, signature)], periods, now)


def _issue(
    store: Store,
    uuid: str,
    topic: str = "mg-loss-ppi",
    indicator: str = "info",
    signature: str = "sig-1",
    patient: str = "p1",
) -> None:
    store.record_cards(
        "vitd-mg-patient-view",
        "hook-1",
        patient,
        "2026.1.0",
        "nl-be",
        [CardRecord(uuid, topic, indicator, signature)],
        NOW,
    )


def _override(store: Store, uuid: str, reason: str | None = "already-addressed", when: datetime = NOW) -> None:
    store.add_feedback([FeedbackItem(uuid, "overridden", reason, 0, when)], NOW)


def test_migrations_build_an_empty_database_and_are_idempotent(store: Store) -> None:
    store.upgrade()
    store.upgrade()
    tables = set(inspect(store.engine).get_table_names())
    assert {"issued_card", "feedback", "seen_token", "alembic_version"} <= tables
    assert store.ping()


def test_feedback_is_stored_once(store: Store) -> None:
    _issue(store, "c1")
    item = FeedbackItem("c1", "accepted", None, 1, NOW)
    assert store.add_feedback([item], NOW) == (1, 0)
    assert store.add_feedback([item, item], NOW) == (0, 2)
    assert store.issued_by("vitd-mg-patient-view", ["c1", "c2"]) == {"c1"}
    assert store.issued_by("vitd-mg-order-sign", ["c1"]) == set()


def test_suppression_after_override(store: Store) -> None:
    _issue(store, "c1")
    assert not quiet(store, "p1", "mg-loss-ppi", "info", "sig-1", DAYS, NOW)
    _override(store, "c1")
    assert quiet(store, "p1", "mg-loss-ppi", "info", "sig-1", DAYS, NOW)
    assert not quiet(store, "p2", "mg-loss-ppi", "info", "sig-1", DAYS, NOW)  # another patient
    assert not quiet(store, "p1", "mg-deficiency", "info", "sig-1", DAYS, NOW)  # another card


def test_suppression_expires(store: Store) -> None:
    _issue(store, "c1")
    _override(store, "c1", when=NOW - timedelta(days=31))
    assert not quiet(store, "p1", "mg-loss-ppi", "info", "sig-1", DAYS, NOW)
    _issue(store, "c2")
    _override(store, "c2", when=NOW - timedelta(days=29))
    assert quiet(store, "p1", "mg-loss-ppi", "info", "sig-1", DAYS, NOW)


def test_escalation_and_new_data_break_the_silence(store: Store) -> None:
    _issue(store, "c1", indicator="info")
    _override(store, "c1")
    assert not quiet(store, "p1", "mg-loss-ppi", "warning", "sig-1", DAYS, NOW)  # more severe
    assert not quiet(store, "p1", "mg-loss-ppi", "info", "sig-2", DAYS, NOW)  # newer result behind it
    assert quiet(store, "p1", "mg-loss-ppi", "info", "sig-1", DAYS, NOW)


def test_only_configured_reasons_suppress(store: Store) -> None:
    _issue(store, "c1")
    _override(store, "c1", reason="not-clinically-relevant")
    _issue(store, "c2")
    _override(store, "c2", reason=None)
    assert not quiet(store, "p1", "mg-loss-ppi", "info", "sig-1", DAYS, NOW)
    assert not quiet(store, "p1", "mg-loss-ppi", "info", "sig-1", {}, NOW)


def test_replay_cache_is_shared_through_the_store(store: Store, tmp_path: Path) -> None:
    later = (NOW + timedelta(days=3650)).timestamp()
    assert store.first_use("iss|jti-1", later)
    other = Store(store.url)  # another worker or process on the same database
    try:
        assert not other.first_use("iss|jti-1", later)
        assert other.first_use("iss|jti-2", later)
    finally:
        other.dispose()
    past = (datetime.now(UTC) - timedelta(seconds=5)).timestamp()
    assert store.first_use("iss|old", past)
    assert store.first_use("iss|old", past)  # expired: may be used again (the JWT itself is expired anyway)


def test_prune_applies_the_retention(store: Store) -> None:
    store.record_cards(
        "vitd-mg-patient-view",
        "h",
        "p1",
        "v",
        "nl-be",
        [CardRecord("old", "mg-loss-ppi", "info", "s")],
        NOW - timedelta(days=400),
    )
    _issue(store, "new")
    assert store.prune(365, NOW)["cards"] == 1
    with store.engine.connect() as connection:
        assert set(connection.scalars(select(IssuedCard.uuid))) == {"new"}


def test_report(store: Store) -> None:
    for uuid in ("a", "b", "c"):
        _issue(store, uuid)
    store.add_feedback([FeedbackItem("a", "accepted", None, 1, NOW)], NOW)
    _override(store, "b")
    (row,) = store.report()
    assert row == {
        "code": "mg-loss-ppi",
        "issued": 3,
        "accepted": 1,
        "overridden": 1,
        "reasons": {"already-addressed": 1},
        "acceptance_rate": 0.5,
    }


def test_pseudonym_is_keyed_and_stable() -> None:
    assert pseudonym("k", "https://ehr/fhir", "p1") == pseudonym("k", "https://ehr/fhir", "p1")
    assert pseudonym("k", "https://ehr/fhir", "p1") != pseudonym("other", "https://ehr/fhir", "p1")
    assert "p1" not in pseudonym("k", "https://ehr/fhir", "p1")


def test_critical_cards_are_never_suppressed_by_feedback(store: Store) -> None:
    """Issue 13 finding 4: an override keeps info and warning cards quiet, never a critical one."""
    _issue(store, "c1", indicator="critical")
    _override(store, "c1")
    assert not quiet(store, "p1", "mg-loss-ppi", "critical", "sig-1", DAYS, NOW)


def test_an_override_dated_in_the_future_does_not_silence_for_ever(store: Store) -> None:
    """Issue 13 finding 4: outcomeTimestamp 9999-12-31 kept a card quiet with no end; the period now runs from
    the override, never from later than the moment the feedback arrived (the API refuses future times too)."""
    _issue(store, "c1")
    _override(store, "c1", when=datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
    assert quiet(store, "p1", "mg-loss-ppi", "info", "sig-1", DAYS, NOW + timedelta(days=29))
    assert not quiet(store, "p1", "mg-loss-ppi", "info", "sig-1", DAYS, NOW + timedelta(days=31))


def test_one_instant_in_two_zones_is_one_feedback(store: Store) -> None:
    """Issue 13 finding 4: `12:05Z` and `13:05+01:00` were stored twice on SQLite; instants are stored in UTC."""
    _issue(store, "c1")
    utc = FeedbackItem("c1", "overridden", None, 0, datetime(2026, 11, 22, 12, 5, tzinfo=UTC))
    cet = FeedbackItem("c1", "overridden", None, 0, datetime.fromisoformat("2026-11-22T13:05:00+01:00"))
    assert store.add_feedback([utc, cet], NOW) == (1, 1)


def test_issued_by_takes_more_uuids_than_one_query_may_bind(store: Store) -> None:
    """Issue 13 finding 3: more than 65,535 uuids answered 500 on PostgreSQL (bind-parameter limit)."""
    _issue(store, "c1")
    uuids = [f"u{i}" for i in range(70_000)] + ["c1"]
    assert store.issued_by("vitd-mg-patient-view", uuids) == {"c1"}


_MIGRATE = """
import sys, time
from cds_service.store.database import Store
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
Store(sys.argv[1]).upgrade()
"""


def test_workers_migrating_one_fresh_sqlite_file_at_once_all_start(tmp_path: Path) -> None:
    """Issue 13 finding 7: `--workers 4` on a fresh SQLite file: three workers died racing the first migration.

    Six processes start the migration at the same instant; the file lock lets one migrate and the rest find it done.
    """
    import subprocess
    import sys
    import time

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    start = str(time.time() + 3)
    workers = [subprocess.Popen([sys.executable, "-c", _MIGRATE, url, start], stderr=subprocess.PIPE) for _ in range(6)]
    outputs = [w.communicate(timeout=120)[1].decode()[-500:] for w in workers]
    failures = [out for w, out in zip(workers, outputs, strict=True) if w.returncode != 0]
    assert failures == []
    store = Store(url)
    assert {"issued_card", "feedback", "seen_token"} <= set(inspect(store.engine).get_table_names())
    store.dispose()
