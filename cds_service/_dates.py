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


def age_years(birth: date, now: datetime) -> float:
    today = now.date()
    years = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    return float(years)


def age_months(birth: date, now: datetime) -> float:
    """Completed months of age (upper intake levels for infants change at 6 and 12 months)."""
    today = now.date()
    return float((today.year - birth.year) * 12 + today.month - birth.month - (today.day < birth.day))
