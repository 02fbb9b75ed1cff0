"""How long a medication course is planned to last, when the record says so (issue 10: course length).

One reading for every medication resource, in this order: a dispense's `daysSupply`, an administration's
`effectivePeriod`, a stated course in the dosage timing (`boundsDuration`, `boundsPeriod`; the longest),
a MedicationStatement's `effectivePeriod` with both start and end, and a MedicationRequest's
`dispenseRequest.expectedSupplyDuration` x (1 + `numberOfRepeatsAllowed`). Anything else is open-ended:
rules about prolonged use then still apply (never guessed short). A length no course can have (negative,
not finite, longer than MAX_COURSE_DAYS) is a data error: not used, and said so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cds_service.fhir._dates import duration_days, period_days

MAX_COURSE_DAYS = 1e6  # a course longer than ~2,700 years is a data error: its length is not used (reported)


@dataclass(frozen=True)
class Course:
    """The course length read from one resource: `days` when usable, else `impossible` says why (or neither)."""

    days: float | None = None
    impossible: str | None = None

    def fields(self) -> dict[str, Any]:
        """`{"course": "bounded", "course_days": n}` or `{"course": "open"}`, for med and order facts."""
        if self.days is None:
            return {"course": "open"}
        return {"course": "bounded", "course_days": round(self.days, 2)}


def course_of(resource: Any, kind: str, dosages: list[Any]) -> Course:
    days = _stated_days(resource, kind, dosages)
    if days is None:
        return Course()
    if not (math.isfinite(days) and 0 <= days < MAX_COURSE_DAYS):
        return Course(impossible=f"a course of {days:.6g} days is not possible; length not used")
    return Course(days)


def _stated_days(resource: Any, kind: str, dosages: list[Any]) -> float | None:
    if kind == "MedicationDispense" and resource.daysSupply is not None:
        return duration_days(resource.daysSupply, default_unit="d")
    if kind == "MedicationAdministration" and resource.effectivePeriod is not None:
        return period_days(resource.effectivePeriod)
    stated = [d for d in (_timing_days(dosage) for dosage in dosages if dosage is not None) if d is not None]
    if stated:
        return max(stated)
    if kind == "MedicationStatement":
        days = period_days(getattr(resource, "effectivePeriod", None))
        if days is not None:
            return days
    dispense = getattr(resource, "dispenseRequest", None)
    supply = duration_days(getattr(dispense, "expectedSupplyDuration", None)) if dispense is not None else None
    if supply is not None:
        return supply * (1 + int(getattr(dispense, "numberOfRepeatsAllowed", None) or 0))
    return None


def _timing_days(dosage: Any) -> float | None:
    timing = getattr(dosage, "timing", None)  # a MedicationAdministration's dosage has no timing
    repeat = timing.repeat if timing is not None else None
    if repeat is None:
        return None
    days = duration_days(repeat.boundsDuration)
    return days if days is not None else period_days(repeat.boundsPeriod)
