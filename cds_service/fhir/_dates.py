"""Date helpers for FHIR partial dates and date-times."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

DAYS_PER_MONTH = 365.25 / 12


def to_datetime(value: Any) -> datetime | None:
    """A FHIR date/dateTime/instant (as parsed by fhir.resources) as an aware datetime, or None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        for candidate in (text, f"{text}-01", f"{text}-01-01"):
            try:
                return to_datetime(datetime.fromisoformat(candidate.replace("Z", "+00:00")))
            except ValueError:
                continue
    return None


def observation_time(resource: Any) -> Any:
    """When an observation holds, as sent: the one order it is read in everywhere (issue 17).

    effectiveDateTime, effectiveInstant, effectivePeriod.start, then issued. `resource` is the raw JSON (selection,
    the fixture FHIR server's sort) or the validated model (the facts step); `to_datetime` reads either value.
    """
    if isinstance(resource, dict):
        period = resource.get("effectivePeriod")
        start = period.get("start") if isinstance(period, dict) else None
        found = resource.get("effectiveDateTime") or resource.get("effectiveInstant") or start
        return found or resource.get("issued")
    period = getattr(resource, "effectivePeriod", None)
    start = getattr(period, "start", None) if period is not None else None
    found = getattr(resource, "effectiveDateTime", None) or getattr(resource, "effectiveInstant", None) or start
    return found or getattr(resource, "issued", None)


def age_years(birth: date, now: datetime) -> float:
    today = now.date()
    years = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    return float(years)


def age_months(birth: date, now: datetime) -> float:
    """Completed months of age (upper intake levels for infants change at 6 and 12 months)."""
    today = now.date()
    return float((today.year - birth.year) * 12 + today.month - birth.month - (today.day < birth.day))


# UCUM duration units (boundsDuration, maxDosePerPeriod, daysSupply, expectedSupplyDuration) and the English
# words some systems send instead; one table for every duration the service reads.
DURATION_DAYS = {
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "day": 1.0,
    "days": 1.0,
    "wk": 7.0,
    "week": 7.0,
    "weeks": 7.0,
    "mo": DAYS_PER_MONTH,
    "month": DAYS_PER_MONTH,
    "months": DAYS_PER_MONTH,
    "a": 365.25,
}


def duration_days(quantity: Any, *, default_unit: str | None = None) -> float | None:
    """A FHIR Duration/Quantity in days; None without a value or with a unit that is not a duration.

    `default_unit` only where the element itself names the unit (MedicationDispense.daysSupply).
    """
    if quantity is None or quantity.value is None:
        return None
    unit = str(quantity.code or quantity.unit or default_unit or "").strip().lower()
    factor = DURATION_DAYS.get(unit)
    return None if factor is None else float(quantity.value) * factor


def period_days(period: Any) -> float | None:
    """Days from a Period's start to its end; None unless both are set and the end is not before the start."""
    if period is None:
        return None
    start, end = to_datetime(period.start), to_datetime(period.end)
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() / 86400
