"""Reading one laboratory value: a valueQuantity (with or without comparator) or a text result such as "<10".

Shared by parsing (is this result readable at all?) and facts (what does it say?). Works on raw JSON dicts
and on validated models alike. A unit is never guessed: it comes from the quantity, from the text itself
("<10 nmol/L"), or from the result's own reference range. A bound without any unit ("<10") is read in the
analyte's unit that makes it widest (the largest factor for `<`, the smallest for `>`): what it allows then
covers every unit the lab could have meant, so a category it decides holds whatever the unit was (issue 10,
review F13). An exact number without a unit is unreadable.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from cds_service.knowledge.loader import normalise_unit

COMPARATORS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "≤": "<=", "≥": ">="}
_TEXT = re.compile(r"^\s*(<=|>=|<|>|≤|≥)?\s*([0-9]+(?:[.,][0-9]+)?)\s*(.*?)\s*$")


@dataclass(frozen=True)
class LabValue:
    """A number in the unit it was sent in, its factor to the canonical unit, and its comparator if any."""

    number: float
    factor: float
    comparator: str | None
    unit_from: str  # "quantity", "text", "reference range" or "any unit" (a bound without a unit)
    unit: str | None = None  # as sent (quantity unit or code, or the text's unit), for display beside the conversion

    @property
    def canonical(self) -> float:
        return self.number * self.factor


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def unit_factor(quantity: Any, units: dict[str, float]) -> float | None:
    """The factor to the canonical unit: UCUM code first, then the unit text (case variants included)."""
    for candidate in (_get(quantity, "code"), _get(quantity, "unit")):
        if isinstance(candidate, str) and normalise_unit(candidate) in units:
            return units[normalise_unit(candidate)]
    return None


def read_value(observation: Any, units: dict[str, float]) -> LabValue | str:
    """The observation's value, or the reason it cannot be read (for the left-out report)."""
    quantity = _get(observation, "valueQuantity")
    if quantity is not None:
        number = _number(_get(quantity, "value"))
        if number is None:
            return "no numeric valueQuantity; left out"
        comparator = _get(quantity, "comparator")
        if comparator is not None and comparator not in COMPARATORS:
            return f"value has comparator {comparator!r}, which does not bound the value; left out"
        factor = unit_factor(quantity, units)
        if factor is None:
            return f"unit {_get(quantity, 'code') or _get(quantity, 'unit')!r} unknown; left out"
        sent = _get(quantity, "unit") or _get(quantity, "code")
        return LabValue(number, factor, COMPARATORS[comparator] if comparator else None, "quantity", sent)
    text = _get(observation, "valueString")
    if not isinstance(text, str):
        return "no numeric valueQuantity; left out"
    match = _TEXT.match(text)
    if match is None:
        return "text result is not a number with an optional comparator; left out"
    symbol, digits, unit_text = match.groups()
    number = float(Decimal(digits.replace(",", ".")))
    if unit_text:
        factor = units.get(normalise_unit(unit_text))
        if factor is None:
            return f"unit {unit_text!r} in the text result unknown; left out"
        unit_from = "text"
    else:
        factor = _range_factor(observation, units)
        unit_from = "reference range"
        if factor is None and symbol in ("<", "<=", "≤") and units:
            factor, unit_from = max(units.values()), "any unit"
        elif factor is None and symbol in (">", ">=", "≥") and units:
            factor, unit_from = min(units.values()), "any unit"
        if factor is None:
            return "text result without a unit (none in the text, none in a reference range); left out"
    return LabValue(number, factor, COMPARATORS[symbol] if symbol else None, unit_from, unit_text or None)


def _range_factor(observation: Any, units: dict[str, float]) -> float | None:
    """The unit of the result's own reference range, when all its bounds agree on one known unit."""
    factors = set()
    for reference in _get(observation, "referenceRange") or []:
        for bound in (_get(reference, "low"), _get(reference, "high")):
            if bound is not None:
                factor = unit_factor(bound, units)
                if factor is None:
                    return None
                factors.add(factor)
    return factors.pop() if len(factors) == 1 else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        number = float(Decimal(str(value)))
    except InvalidOperation:
        return None
    return number if math.isfinite(number) else None


def interval_ends(value: float, comparator: str | None) -> tuple[float, float]:
    """(nearest, farthest) possible true value: `<10` -> (just below 10, -inf); exact -> (value, value)."""
    if comparator is None:
        return value, value
    if comparator in ("<", "<="):
        return (math.nextafter(value, -math.inf) if comparator == "<" else value), -math.inf
    return (math.nextafter(value, math.inf) if comparator == ">" else value), math.inf
