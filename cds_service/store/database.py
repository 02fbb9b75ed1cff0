"""The store: cards issued (audit), feedback on them, and JWT ids seen. SQLAlchemy 2 + Alembic.

SQLite by default (a file under VITDMG_DATA_DIR, WAL mode), PostgreSQL by VITDMG_DATABASE_URL. Patients
appear only as a keyed pseudonym (HMAC of FHIR server + patient id); no names, identifiers or content.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from cds_service.cdshooks.models import INDICATOR_RANK
from cds_service.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 7_420_611  # PostgreSQL advisory lock id held while migrating
IN_CHUNK = 1000  # values per IN (...) query: PostgreSQL takes at most 65,535 bind parameters


class Base(DeclarativeBase):
    pass


class IssuedCard(Base):
    """One card shown to a clinician: what, when, for which pseudonymous patient, on which data."""

    __tablename__ = "issued_card"
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64), index=True)
    topic: Mapped[str] = mapped_column(String(64), index=True)
    indicator: Mapped[str] = mapped_column(String(16))
    knowledge_version: Mapped[str] = mapped_column(String(32))
    profile: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    hook_instance: Mapped[str] = mapped_column(String(128))
    patient_pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    data_signature: Mapped[str] = mapped_column(String(64))


class Feedback(Base):
    """CDS Hooks feedback on an issued card; the same card, outcome and time is stored once."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("card_uuid", "outcome", "outcome_timestamp", name="uq_feedback_once"),
        Index("ix_feedback_patient_topic", "patient_pseudonym", "topic"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card_uuid: Mapped[str] = mapped_column(ForeignKey("issued_card.uuid", ondelete="CASCADE"), index=True)
    # copied from the card, so suppression looks up the few feedback rows, not every card ever issued
    patient_pseudonym: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    override_reason: Mapped[str | None] = mapped_column(String(128))
    accepted_suggestions: Mapped[int] = mapped_column(Integer, default=0)
    outcome_timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SeenToken(Base):
    """A JWT id seen, until it expires (replay protection across workers and processes)."""

    __tablename__ = "seen_token"
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def pseudonym(key: str, fhir_server: str | None, patient_id: str) -> str:
    """Stable per patient and EHR, meaningless without the key."""
    message = f"{fhir_server or ''}|{patient_id}".encode("utf-8", "surrogatepass")
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CardRecord:
    uuid: str
    topic: str
    indicator: str
    signature: str


@dataclass(frozen=True)
class IssuedBatch:
    """The cards of one response, as the audit records them."""

    service_id: str
    hook_instance: str
    patient: str
    knowledge_version: str
    profile: str
    cards: tuple[CardRecord, ...]
    now: datetime


@dataclass(frozen=True)
class FeedbackItem:
    card_uuid: str
    outcome: str
    override_reason: str | None
    accepted_suggestions: int
    outcome_timestamp: datetime


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        sqlite = url.startswith("sqlite")
        self.engine: Engine = create_engine(url, pool_pre_ping=not sqlite)
        # SQLite has one writer at a time; queueing writers here beats its sleep-and-retry on a busy database
        self._write_lock: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if sqlite else contextlib.nullcontext()
        )
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def upgrade(self) -> None:
        """Run the Alembic migrations to head (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with sqlite_migration_lock(self.url), self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":  # several workers start at once: one migrates, the rest wait
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    def record_cards(
        self,
        service_id: str,
        hook_instance: str,
        patient: str,
        knowledge_version: str,
        profile: str,
        cards: list[CardRecord],
        now: datetime,
    ) -> None:
        self.record_batches(
            [IssuedBatch(service_id, hook_instance, patient, knowledge_version, profile, tuple(cards), now)]
        )

    def record_batches(self, batches: list[IssuedBatch]) -> None:
        """The cards of many responses in one transaction (one executemany): the audit writer's unit of work."""
        rows = [
            {
                "uuid": c.uuid,
                "service_id": b.service_id,
                "topic": c.topic,
                "indicator": c.indicator,
                "knowledge_version": b.knowledge_version,
                "profile": b.profile,
                "issued_at": b.now,
                "hook_instance": b.hook_instance[:128],
                "patient_pseudonym": b.patient,
                "data_signature": c.signature,
            }
            for b in batches
            for c in b.cards
        ]
        if rows:
            with self._write_lock, self.engine.begin() as connection:
                connection.execute(insert(IssuedCard), rows)

    def issued_by(self, service_id: str, uuids: list[str]) -> set[str]:
        found: set[str] = set()
        with self._sessions() as session:
            for start in range(0, len(uuids), IN_CHUNK):
                chunk = uuids[start : start + IN_CHUNK]
                found |= set(
                    session.scalars(
                        select(IssuedCard.uuid).where(IssuedCard.uuid.in_(chunk), IssuedCard.service_id == service_id)
                    )
                )
        return found

    def add_feedback(self, items: list[FeedbackItem], now: datetime) -> tuple[int, int]:
        """Store each item once; returns (stored, duplicates)."""
        stored = duplicates = 0
        for item in items:
            try:
                with self._write_lock, self._sessions.begin() as session:
                    card = session.get(IssuedCard, item.card_uuid)
                    if card is None:
                        raise KeyError(item.card_uuid)
                    session.add(
                        Feedback(
                            card_uuid=item.card_uuid,
                            patient_pseudonym=card.patient_pseudonym,
                            topic=card.topic,
                            outcome=item.outcome,
                            override_reason=item.override_reason,
                            accepted_suggestions=item.accepted_suggestions,
                            outcome_timestamp=item.outcome_timestamp.astimezone(UTC),  # one instant, one form
                            received_at=now,
                        )
                    )
                stored += 1
            except IntegrityError:
                duplicates += 1
        return stored, duplicates

    def quiet_topics(
        self, patient: str, cards: list[tuple[str, str, str]], periods: dict[str, int], now: datetime
    ) -> set[str]:
        """The card codes to keep quiet, in one query per response.

        A card is quiet when it was overridden for this patient within its reason's period, is not more
        severe now, and rests on the same data.
        """
        if not periods or not cards:
            return set()
        oldest = now - timedelta(days=max(periods.values()))
        wanted = {topic: (indicator, signature) for topic, indicator, signature in cards}
        with self.engine.connect() as connection:
            rows = connection.execute(
                _QUIET_QUERY, {"patient": patient, "topics": list(wanted), "oldest": oldest}
            ).all()
        quiet = set()
        for topic, old_indicator, old_signature, reason, when, received in rows:
            days = periods.get(reason or "")
            # the period runs from the override, and never from later than the moment it reached us
            if days is None or min(_aware(when), _aware(received)) < now - timedelta(days=days):
                continue
            indicator, signature = wanted[topic]
            if indicator == "critical":  # feedback alone never silences a critical card
                continue
            if INDICATOR_RANK[indicator] > INDICATOR_RANK[old_indicator] or signature != old_signature:
                continue
            quiet.add(topic)
        return quiet

    def first_use(self, key: str, expires_at: float) -> bool:
        """Replay cache: record a JWT id; False if it was seen and has not expired."""
        now = datetime.now(UTC)
        expiry = datetime.fromtimestamp(expires_at, UTC)
        with self._write_lock, self._sessions.begin() as session:
            session.execute(delete(SeenToken).where(SeenToken.key == key, SeenToken.expires_at < now))
        try:
            with self._write_lock, self._sessions.begin() as session:
                session.add(SeenToken(key=key[:512], expires_at=expiry))
            return True
        except IntegrityError:
            return False

    def prune(self, retention_days: int, now: datetime) -> dict[str, int]:
        cutoff = now - timedelta(days=retention_days)
        with self._write_lock, self._sessions.begin() as session:
            cards = session.execute(delete(IssuedCard).where(IssuedCard.issued_at < cutoff))
            tokens = session.execute(delete(SeenToken).where(SeenToken.expires_at < now))
        return {"cards": int(getattr(cards, "rowcount", 0) or 0), "tokens": int(getattr(tokens, "rowcount", 0) or 0)}

    def report(self) -> list[dict[str, Any]]:
        """Per card code: issued, accepted, overridden by reason, acceptance rate."""
        with self._sessions() as session:
            issued = dict(session.execute(select(IssuedCard.topic, func.count()).group_by(IssuedCard.topic)).all())
            outcomes = session.execute(
                select(
                    IssuedCard.topic,
                    Feedback.outcome,
                    Feedback.override_reason,
                    func.count(func.distinct(Feedback.card_uuid)),
                )
                .join(Feedback, Feedback.card_uuid == IssuedCard.uuid)
                .group_by(IssuedCard.topic, Feedback.outcome, Feedback.override_reason)
            ).all()
        rows: dict[str, dict[str, Any]] = {
            t: {"code": t, "issued": n, "accepted": 0, "overridden": 0, "reasons": {}} for t, n in issued.items()
        }
        for topic, outcome, reason, count in outcomes:
            row = rows[topic]
            if outcome == "accepted":
                row["accepted"] += count
            else:
                row["overridden"] += count
                row["reasons"][reason or "(no reason)"] = row["reasons"].get(reason or "(no reason)", 0) + count
        for row in rows.values():
            answered = row["accepted"] + row["overridden"]
            row["acceptance_rate"] = row["accepted"] / answered if answered else None
        return sorted(rows.values(), key=lambda r: r["code"])

    def dispose(self) -> None:
        self.engine.dispose()


# Built once (SQLAlchemy caches its compiled form); run on a plain connection: the ORM session cost ~10x the query.
_QUIET_QUERY = (
    select(
        IssuedCard.topic,
        IssuedCard.indicator,
        IssuedCard.data_signature,
        Feedback.override_reason,
        Feedback.outcome_timestamp,
        Feedback.received_at,
    )
    .join(Feedback, Feedback.card_uuid == IssuedCard.uuid)
    .where(
        Feedback.patient_pseudonym == bindparam("patient"),
        Feedback.topic.in_(bindparam("topics", expanding=True)),
        Feedback.outcome == "overridden",
        Feedback.outcome_timestamp >= bindparam("oldest"),
    )
)


def open_store(settings: Settings, *, migrate: bool) -> Store:
    """The configured store (the default SQLite file's folder is created), migrated to head when asked."""
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url())
    if migrate:
        store.upgrade()
    return store


@contextlib.contextmanager
def sqlite_migration_lock(url: str) -> Iterator[None]:
    """Serialise migrations of one SQLite file across processes: a file lock beside the database.

    Several workers (`serve --workers N`) starting on a fresh file would otherwise race the first migration.
    PostgreSQL has its advisory lock in `Store.upgrade`; for any other URL this does nothing.
    """
    database = make_url(url).database if url.startswith("sqlite") else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}.migrate.lock", "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe in WAL mode; a commit no longer waits for fsync
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
