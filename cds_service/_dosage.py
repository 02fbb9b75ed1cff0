"""Average daily dose of a draft order, in µg (vitamin D) or mg elemental magnesium; never guessed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .knowledge import Ingredient, Knowledge, normalise_unit

_PERIOD_DAYS = {
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "wk": 7.0,
    "mo": 365.25 / 12,
    "a": 365.25,
}
# HL7 v3 GTSAbbreviation timing codes with one unambiguous meaning: (times, per days).
_TIMING_CODES = {
    "QD": (1, 1.0),
    "BID": (2, 1.0),
    "TID": (3, 1.0),
    "QID": (4, 1.0),
    "AM": (1, 1.0),
    "PM": (1, 1.0),
    "QOD": (1, 2.0),
    "WK": (1, 7.0),
    "MO": (1, 365.25 / 12),
}
_MASS_TO_UG = {"ug": 1.0, "mcg": 1.0, "mg": 1000.0, "g": 1_000_000.0}
_MG_PER_MMOL = 24.305


class DoseError(ValueError):
    """The dose cannot be computed without guessing; the message says what is missing."""


@dataclass(frozen=True)
class Dose:
    value: float
    unit: str


def daily_dose(
    dosages: list[Any], med_class: str, ingredient: Ingredient | None, medication: Any, knowledge: Knowledge
) -> Dose:
    if len(dosages) != 1:
        raise DoseError("needs exactly one dosageInstruction" if dosages else "no dosageInstruction")
    dosage = dosages[0]
    per_day = _times_per_day(dosage)
    quantity = _dose_quantity(dosage)
    amount = Decimal(str(quantity.value))
    unit = normalise_unit(quantity.code or quantity.unit or "")
    if med_class == "vitd-native":
        if ingredient is not None and not ingredient.dose_comparable:
            raise DoseError("this vitamin D form is not comparable with the colecalciferol upper limit")
        per_dose = _vitamin_d_ug(amount, unit, medication, knowledge)
        return Dose(per_dose * per_day, "ug")
    per_dose = _magnesium_mg(amount, unit, ingredient, medication)
    return Dose(per_dose * per_day, "mg")


def _dose_quantity(dosage: Any) -> Any:
    rates = dosage.doseAndRate or []
    quantities = [r.doseQuantity for r in rates if r.doseQuantity is not None]
    if len(quantities) != 1 or quantities[0].value is None:
        raise DoseError("no single doseQuantity (a dose range is not averaged)")
    return quantities[0]


def _times_per_day(dosage: Any) -> float:
    timing = dosage.timing
    if timing is None:
        raise DoseError("no timing")
    repeat = timing.repeat
    if repeat is not None and (repeat.frequency is not None or repeat.period is not None):
        if repeat.frequencyMax is not None or repeat.periodMax is not None:
            raise DoseError("a frequency or period range is not averaged")
        frequency = repeat.frequency if repeat.frequency is not None else 1
        if repeat.period is None or repeat.periodUnit not in _PERIOD_DAYS:
            raise DoseError("timing without period and periodUnit")
        return float(frequency) / (float(repeat.period) * _PERIOD_DAYS[repeat.periodUnit])
    codes = [c.code for c in (timing.code.coding or [])] if timing.code else []
    for code in codes:
        if code in _TIMING_CODES:
            times, days = _TIMING_CODES[code]
            return times / days
    raise DoseError("timing without frequency/period or a known timing code")


def _strength(medication: Any) -> tuple[Decimal, str] | None:
    """Per-unit strength from the Medication's single ingredient (e.g. 25 µg per tablet)."""
    if medication is None:
        return None
    strengths = [i.strength for i in (medication.ingredient or []) if i.strength is not None]
    if len(strengths) != 1 or strengths[0].numerator is None or strengths[0].numerator.value is None:
        return None
    numerator = strengths[0].numerator
    denominator = strengths[0].denominator
    if denominator is not None and denominator.value not in (None, 1):
        return None
    return Decimal(str(numerator.value)), normalise_unit(numerator.code or numerator.unit or "")


def _vitamin_d_ug(amount: Decimal, unit: str, medication: Any, knowledge: Knowledge) -> float:
    iu_per_ug = float(knowledge.profiles.common["iu_per_ug"]["value"])
    if unit in _MASS_TO_UG:
        return float(amount) * _MASS_TO_UG[unit]
    if unit in ("[iu]", "iu", "ie"):
        return float(amount) / iu_per_ug
    strength = _strength(medication)
    if strength is None:
        raise DoseError(f"dose unit {unit or 'missing'!r} needs the product's strength, which was not sent")
    per_unit, strength_unit = strength
    return float(amount) * _vitamin_d_ug(per_unit, strength_unit, None, knowledge)


def _magnesium_mg(amount: Decimal, unit: str, ingredient: Ingredient | None, medication: Any) -> float:
    if unit == "mmol":
        return float(amount) * _MG_PER_MMOL
    if unit in ("mg", "g"):
        if ingredient is None or ingredient.elemental_fraction is None:
            raise DoseError("mg of an unknown magnesium salt cannot be converted to elemental magnesium")
        return float(amount) * (1000.0 if unit == "g" else 1.0) * ingredient.elemental_fraction
    strength = _strength(medication)
    if strength is None:
        raise DoseError(f"dose unit {unit or 'missing'!r} needs the product's strength, which was not sent")
    per_unit, strength_unit = strength
    return float(amount) * _magnesium_mg(per_unit, strength_unit, ingredient, None)
