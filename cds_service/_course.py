"""How long a medication course is planned to last, when the record says so (issue 10: course length).

Read from, in this order: a stated course in the dosage timing (`boundsDuration`, `boundsPeriod`), a
MedicationStatement's `effectivePeriod` with both start and end, and a MedicationRequest's
`dispenseRequest.expectedSupplyDuration` x (1 + `numberOfRepeatsAllowed`). Anything else is open-ended:
rules about prolonged use then still apply (never guessed short).
"""

from __future__ import annotations

from typing import Any

from ._dates import to_datetime

_DAYS = {"h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0}


def course_fields(resource: Any, dosages: list[Any]) -> dict[str, Any]:
    """`{"course": "bounded", "course_days": n}` or `{"course": "open"}`, for med and order facts."""
    days = course_days(resource, dosages)
    return {"course": "open"} if days is None else {"course": "bounded", "course_days": round(days, 2)}


def course_days(resource: Any, dosages: list[Any]) -> float | None:
    stated = [d for d in (_timing_days(dosage) for dosage in dosages if dosage is not None) if d is not None]
    if stated:
        return max(stated)
    period = getattr(resource, "effectivePeriod", None)
    if period is not None and period.start is not None and period.end is not None:
        start, end = to_datetime(period.start), to_datetime(period.end)
        if start is not None and end is not None and end >= start:
            return (end - start).total_seconds() / 86400
    dispense = getattr(resource, "dispenseRequest", None)
    supply = getattr(dispense, "expectedSupplyDuration", None) if dispense is not None else None
    days = _duration_days(supply)
    if days is not None:
        return days * (1 + int(getattr(dispense, "numberOfRepeatsAllowed", None) or 0))
    return None


def _timing_days(dosage: Any) -> float | None:
    repeat = dosage.timing.repeat if dosage.timing is not None else None
    if repeat is None:
        return None
    days = _duration_days(repeat.boundsDuration)
    if days is not None:
        return days
    period = repeat.boundsPeriod
    if period is not None and period.start is not None and period.end is not None:
        start, end = to_datetime(period.start), to_datetime(period.end)
        if start is not None and end is not None and end >= start:
            return (end - start).total_seconds() / 86400
    return None


def _duration_days(duration: Any) -> float | None:
    if duration is None or duration.value is None:
        return None
    unit = duration.code or duration.unit
    if unit not in _DAYS:
        return None
    return float(duration.value) * _DAYS[unit]
