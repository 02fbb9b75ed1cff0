"""Dose of a medication order, in µg (vitamin D) or mg elemental magnesium: right, or a stated reason why not.

Nothing is guessed. A dose unit is converted to the ingredient's mass only through a strength whose
denominator is the same kind of unit (a tablet through "per tablet", mL through "per mL"); drops through
"per mL" only with a stated drops-per-mL. The strength used is that of the ingredient the class matched
(a calcium + vitamin D tablet that states only its calcium is not computable for vitamin D). A bounded
course (`count`, `boundsDuration`, `boundsPeriod`) is reported as a course with its length and its largest
single dose; a one-off dose has no daily average. Ranges (`doseRange`, `frequencyMax`) and `asNeeded`
with `maxDosePerPeriod` give the top of what may be taken: the dose is then marked as an upper bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cds_service.fhir._dates import DURATION_DAYS, duration_days, to_datetime
from cds_service.knowledge.loader import Ingredient, Knowledge, normalise_unit
from cds_service.knowledge.product_names import strength_of

# Timing.repeat.periodUnit: the UCUM codes FHIR binds it to (the words some systems send count only in Durations)
_PERIOD_DAYS = {unit: DURATION_DAYS[unit] for unit in ("s", "min", "h", "d", "wk", "mo", "a")}
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
_MG_PER_MMOL = 24.305  # g/mol (clinical-reference b.2)
_DROPS_PER_ML_URLS = ("urn:vitdmg:drops-per-ml",)

# Dose and strength units, folded by normalise_unit, to (kind, factor to the kind's base unit).
# Kinds: "mass" (base µg), "iu", "mmol", "meq", "volume" (base mL), "drop", and presentation units.
_UNITS: dict[str, tuple[str, float]] = {}
for _names, _kind, _factor in (
    (("ug", "mcg", "microgram", "micrograms", "microgram(s)", "microgr", "microg"), "mass", 1.0),
    (("mg", "milligram", "milligrams", "milligram(s)"), "mass", 1000.0),
    (("g", "gram", "grams", "gr"), "mass", 1_000_000.0),
    (
        (
            "[iu]",
            "iu",
            "ie",
            "[ie]",
            "u",
            "unt",
            "unit",
            "units",
            "unit(s)",
            "[iu]/1",
            "internationaleeenheid",
            "internationaleeenheden",
            "internationalunit",
            "internationalunits",
        ),
        "iu",
        1.0,
    ),
    (("mmol", "millimol", "millimole"), "mmol", 1.0),
    (("meq", "[meq]", "milliequivalent", "milliequivalents"), "meq", 1.0),
    (("ml", "milliliter", "millilitre", "cm3"), "volume", 1.0),
    (("l", "liter", "litre"), "volume", 1000.0),
    (("[drp]", "drp", "drop", "drops", "drop(s)", "druppel", "druppels", "gtt", "gtts"), "drop", 1.0),
    (("tablet", "tablets", "tablet(s)", "tab", "tabs", "tbl", "kauwtablet", "bruistablet", "smelttablet"), "tablet", 1),
    (("capsule", "capsules", "capsule(s)", "cap", "caps", "capsul", "caplet"), "capsule", 1.0),
    (("sachet", "sachets", "zakje", "zakjes", "sachet(s)", "powderpacket"), "sachet", 1.0),
    (("ampoule", "ampul", "ampule", "ampoules", "vial", "flacon"), "ampoule", 1.0),
    (("stuk", "stuks", "piece", "pieces", "each", "ea", "1", "unitofpresentation", "dose", "dosis"), "piece", 1.0),
    (("pill", "pills", "pill(s)"), "piece", 1.0),  # a pill: one tablet or capsule of the product (issue 12)
):
    for _name in _names:
        _UNITS[_name] = (_kind, _factor)
_PRESENTATIONS = {"tablet", "capsule", "sachet", "ampoule"}


class DoseError(ValueError):
    """The dose cannot be computed without guessing.

    The message says what is missing (for the report); `code` says which kind of reason it is (the card's
    text per language: rules/recommendations/dose-not-checked/card.yaml).
    """

    def __init__(self, message: str, code: str = "other") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Dose:
    """A computed dose in `unit` ("ug" or "mg").

    `per_day`: average per day while the regimen runs (None for a one-off dose); `single`: the largest
    single administration; `course_days`: the length of a bounded course (None when open-ended);
    `upper_bound`: the numbers are the top of a range or an as-needed maximum.
    """

    per_day: float | None
    unit: str
    single: float
    course_days: float | None = None
    course_total: float | None = None
    upper_bound: bool = False
    one_off: bool = False

    @property
    def value(self) -> float | None:  # the name facts used before courses were computed
        return self.per_day


# Classifies an ingredient's itemCodeableConcept: the ingredient names of the class it matches, if any.
IngredientMatcher = Callable[[Any], list[str]]


def daily_dose(
    dosages: list[Any],
    med_class: str,
    ingredient: Ingredient | None,
    medication: Any,
    knowledge: Knowledge,
    match_ingredient: IngredientMatcher | None = None,
    product_names: Sequence[str] = (),
    mg_basis: str = "salt-stated",
) -> Dose:
    """The order's dose; raises DoseError naming what is missing or ambiguous.

    `mg_basis` (_mg_basis.mg_dose_basis): whether a magnesium dose in mg is elemental or the salt's mass.

    `product_names`: the product's name(s) ("Cholecalciferol 2000 UNT Oral Capsule"); a dose in tablets or
    capsules uses the strength a name states for the ingredient when the Medication gives none (issue 12).
    """
    if not dosages:
        raise DoseError("no dosageInstruction", "schedule")
    target = knowledge.medications.classes[med_class].dose_unit
    if target is None:
        raise ValueError(f"medication class {med_class!r} has no dose_unit: its doses are not computed")
    if target == "ug" and ingredient is not None and not ingredient.dose_comparable:
        raise DoseError("this vitamin D form is not comparable with the colecalciferol upper limit", "not-comparable")
    convert = _Converter(med_class, ingredient, medication, knowledge, match_ingredient, product_names, mg_basis)
    phases: dict[int | None, list[Any]] = {}
    for dosage in dosages:
        phases.setdefault(dosage.sequence, []).append(dosage)
    if None in phases and len(dosages) > 1:
        raise DoseError("several dosageInstructions without a sequence: their order is not stated", "schedule")
    results = [_phase(group, convert) for _, group in sorted(phases.items(), key=lambda kv: kv[0] or 0)]
    if len(results) == 1:
        return _with_unit(results[0], target)
    bounded = all(r.course_days is not None for r in results)
    averages = [r.per_day for r in results if r.per_day is not None]
    return Dose(
        per_day=max(averages) if averages else None,
        unit=target,
        single=max(r.single for r in results),
        course_days=sum(r.course_days or 0 for r in results) if bounded else None,
        course_total=sum(r.course_total or 0 for r in results) if bounded else None,
        upper_bound=any(r.upper_bound for r in results),
        one_off=False,
    )


def _with_unit(dose: Dose, unit: str) -> Dose:
    return Dose(dose.per_day, unit, dose.single, dose.course_days, dose.course_total, dose.upper_bound, dose.one_off)


def _phase(dosages: list[Any], convert: _Converter) -> Dose:
    """One step of a regimen: dosage instructions with the same sequence number are taken together."""
    parts = [_instruction(d, convert) for d in dosages]
    if len(parts) == 1:
        return parts[0]
    if any(p.course_days is not None or p.per_day is None for p in parts):
        raise DoseError("concurrent dosage instructions with a course limit or a one-off dose", "schedule")
    return Dose(
        per_day=sum(p.per_day or 0 for p in parts),
        unit="",
        single=max(p.single for p in parts),
        upper_bound=any(p.upper_bound for p in parts),
    )


def _instruction(dosage: Any, convert: _Converter) -> Dose:
    upper = False
    single = _single_dose(dosage, convert)
    if single is not None and single[1]:
        upper = True
    as_needed = bool(dosage.asNeededBoolean) or dosage.asNeededCodeableConcept is not None
    if as_needed:
        maxima = dosage.maxDosePerPeriod  # 0..1 in R4, 0..* in R5
        maxima = [m for m in (maxima if isinstance(maxima, list) else [maxima]) if m is not None]
        if not maxima:
            raise DoseError("as needed without maxDosePerPeriod: the most that may be taken is not stated", "as-needed")
        per_day = min(_max_per_day(m, convert) for m in maxima)
        top_single = single[0] if single is not None else per_day
        return Dose(per_day, "", min(top_single, per_day), upper_bound=True)
    if single is None:
        raise DoseError("no doseQuantity or doseRange", "no-dose")
    amount = single[0]
    timing = dosage.timing
    if timing is None:
        raise DoseError("no timing", "schedule")
    rate, rate_upper = _times_per_day(timing)
    upper = upper or rate_upper
    admins, days = _course(timing, rate)
    if admins is None:
        if rate is None:
            raise DoseError("timing without frequency/period or a known timing code", "schedule")
        return Dose(amount * rate, "", amount, upper_bound=upper)
    total = amount * admins
    if admins <= 1:
        return Dose(None, "", amount, course_days=1.0, course_total=total, upper_bound=upper, one_off=True)
    if days is None:
        raise DoseError("a course of several doses without a rate or a duration", "schedule")
    return Dose(total / days, "", amount, course_days=days, course_total=total, upper_bound=upper)


def _single_dose(dosage: Any, convert: _Converter) -> tuple[float, bool] | None:
    """(largest single dose in the target unit, whether it is a range's top) or None when none is stated."""
    rates = [r for r in (dosage.doseAndRate or []) if r.doseQuantity is not None or r.doseRange is not None]
    if len(rates) > 1:
        raise DoseError("several doseAndRate entries: which applies is not stated", "no-dose")
    if not rates:
        return None
    rate = rates[0]
    if rate.doseQuantity is not None:
        quantity = rate.doseQuantity
        if quantity.comparator:
            raise DoseError(f"dose with comparator {quantity.comparator!r}", "no-dose")
        return convert(quantity), False
    high = rate.doseRange.high
    if high is None or high.value is None:
        raise DoseError("a dose range without its upper end", "no-dose")
    return convert(high), True


def _max_per_day(ratio: Any, convert: _Converter) -> float:
    numerator, denominator = ratio.numerator, ratio.denominator
    if numerator is None or denominator is None or numerator.value is None or denominator.value is None:
        raise DoseError("maxDosePerPeriod without a numerator and a denominator", "as-needed")
    days = duration_days(denominator)
    if days is None or days <= 0:
        raise DoseError(
            f"maxDosePerPeriod period unit {denominator.code or denominator.unit!r} not understood", "as-needed"
        )
    return convert(numerator) / days


def _times_per_day(timing: Any) -> tuple[float | None, bool]:
    """(administrations per day, whether that is the top of a frequency range); None when not stated."""
    repeat = timing.repeat
    if repeat is not None and (repeat.frequency is not None or repeat.period is not None):
        frequency = repeat.frequencyMax if repeat.frequencyMax is not None else repeat.frequency
        frequency = 1 if frequency is None else frequency
        if repeat.period is None or repeat.periodUnit not in _PERIOD_DAYS:
            raise DoseError("timing without period and periodUnit", "schedule")
        # the shortest period gives the most frequent intake: period, not periodMax
        period_days = float(repeat.period) * _PERIOD_DAYS[repeat.periodUnit]
        if period_days <= 0:
            raise DoseError("timing with a zero period", "schedule")
        days_of_week = len(repeat.dayOfWeek or [])
        if days_of_week and period_days == 1.0:
            return float(frequency) * days_of_week / 7.0, repeat.frequencyMax is not None
        return float(frequency) / period_days, repeat.frequencyMax is not None or repeat.periodMax is not None
    if repeat is not None and (repeat.when or repeat.timeOfDay):
        times = len(repeat.when or []) + len(repeat.timeOfDay or [])
        per_week = len(repeat.dayOfWeek or []) or 7
        return times * per_week / 7.0, False
    if repeat is not None and repeat.dayOfWeek:
        return len(repeat.dayOfWeek) / 7.0, False
    codes = [c.code for c in (timing.code.coding or [])] if timing.code else []
    for code in codes:
        if code in _TIMING_CODES:
            times, days = _TIMING_CODES[code]
            return times / days, False
    return None, False


def _course(timing: Any, rate: float | None) -> tuple[float | None, float | None]:
    """(number of administrations, course length in days) of a bounded course; (None, None) if open-ended."""
    repeat = timing.repeat
    count: float | None = None
    days: float | None = None
    if repeat is not None:
        top = repeat.countMax if repeat.countMax is not None else repeat.count
        count = float(top) if top is not None else None
        days = _bounds_days(repeat)
    if count is None and timing.event and rate is None:
        count = float(len(timing.event))
    if count is None and days is None:
        return None, None
    if count is None:
        if rate is None:
            raise DoseError("a course length without a frequency", "schedule")
        assert days is not None
        return max(1.0, rate * days), days
    if rate is None:
        if count <= 1:
            return count, None
        if days is None:
            raise DoseError("several doses without a frequency or a course length", "schedule")
        return count, days
    span = count / rate  # n doses, one every 1/rate days
    if days is not None and days < span:
        return rate * days, days
    return count, span


def _bounds_days(repeat: Any) -> float | None:
    if repeat.boundsDuration is not None:
        days = duration_days(repeat.boundsDuration)
        if days is None:
            raise DoseError("boundsDuration unit not understood", "schedule")
        return days
    if repeat.boundsRange is not None:
        high = repeat.boundsRange.high
        days = duration_days(high) if high is not None else None
        if days is None:
            raise DoseError("boundsRange without an understood upper end", "schedule")
        return days
    period = repeat.boundsPeriod
    if period is not None and period.end is not None:
        start, end = _day(period.start), _day(period.end)
        if start is None or end is None:
            raise DoseError("boundsPeriod without a start to measure the course from", "schedule")
        if end < start:
            raise DoseError("boundsPeriod ends before it starts", "schedule")
        return float((end - start).days + 1)
    return None


def _day(value: Any) -> date | None:
    moment = to_datetime(value)
    return moment.date() if isinstance(moment, datetime) else None


class _Converter:
    """A dose quantity -> µg vitamin D or mg elemental magnesium of the class's ingredient."""

    def __init__(
        self,
        med_class: str,
        ingredient: Ingredient | None,
        medication: Any,
        knowledge: Knowledge,
        match_ingredient: IngredientMatcher | None,
        product_names: Sequence[str] = (),
        mg_basis: str = "salt-stated",
    ) -> None:
        self._product_names = list(product_names)
        self._mg_basis = mg_basis
        self._vitd = knowledge.medications.classes[med_class].dose_unit == "ug"  # µg vitamin D, else mg elemental Mg
        self._ingredient = ingredient
        self._medication = medication
        self._knowledge = knowledge
        self._match = match_ingredient

    def __call__(self, quantity: Any) -> float:
        if quantity.value is None:
            raise DoseError("a dose without a value", "no-dose")
        raw_unit = quantity.code or quantity.unit or ""
        unit = normalise_unit(raw_unit)
        kind, factor = _UNITS.get(unit, ("", 0.0))
        amount = float(quantity.value)
        if kind in ("mass", "iu", "mmol", "meq"):
            return self._active(amount * factor, kind, self._ingredient)
        if kind in ("volume", "drop") or kind in _PRESENTATIONS or kind == "piece":
            return self._through_strength(amount * factor, kind)
        raise DoseError(f"dose unit {raw_unit or 'missing'!r} not understood", "unit")

    def _active(self, amount: float, kind: str, ingredient: Ingredient | None, strength: bool = False) -> float:
        """An amount of the active ingredient (mass in µg, IU, mmol or mEq) in the target unit.

        Magnesium mass is elemental unless the product says it is the salt's: a strength recorded on the salt,
        or a salt name with its amount; a statement that it is elemental wins over both (issue 11).
        """
        if self._vitd:
            if kind == "mass":
                return amount
            if kind == "iu":
                return amount / float(self._knowledge.profiles.common["iu_per_ug"]["value"])
            raise DoseError(f"vitamin D in {'mmol' if kind == 'mmol' else 'mEq'} is not a vitamin D dose", "unit")
        if kind == "mmol":
            return amount * _MG_PER_MMOL
        if kind == "meq":
            return amount / 2 * _MG_PER_MMOL  # Mg2+: 2 mEq = 1 mmol
        if kind == "iu":
            raise DoseError("magnesium in units is not a magnesium dose", "unit")
        if self._mg_basis == "elemental-stated" or (self._mg_basis == "elemental-by-label" and not strength):
            return amount / 1000.0
        if ingredient is None or ingredient.elemental_fraction is None:
            raise DoseError("mg of an unknown magnesium salt cannot be converted to elemental magnesium", "salt")
        return amount / 1000.0 * ingredient.elemental_fraction

    def _through_strength(self, amount: float, kind: str) -> float:
        strengths = self._strengths()
        if not strengths:
            raise DoseError(
                f"a dose in {kind} needs the strength of the product's ingredient, which was not sent", "strength"
            )
        drops_per_ml = self._drops_per_ml()
        return sum(
            _in_denominator(amount, kind, denominator_kind, drops_per_ml) * per_unit
            for per_unit, denominator_kind in strengths
        )

    def _strengths(self) -> list[tuple[float, str]]:
        """(target amount per one denominator unit, the denominator's kind) for each of the class's ingredients."""
        medication = self._medication
        if medication is None or not any(i.strength is not None for i in medication.ingredient or []):
            return self._named_strength()
        out: list[tuple[float, str]] = []
        for item in medication.ingredient or []:
            if item.strength is None:
                continue
            matched = self._match(item.itemCodeableConcept) if self._match is not None else []
            if not matched:
                continue  # another ingredient (the calcium of a calcium + vitamin D tablet): never its strength
            numerator, denominator = item.strength.numerator, item.strength.denominator
            if numerator is None or numerator.value is None:
                raise DoseError("the ingredient's strength has no numerator value", "strength")
            if denominator is None or denominator.value is None:
                denominator_kind, per = "piece", 1.0
            else:
                unit = normalise_unit(denominator.code or denominator.unit or "")
                denominator_kind, factor = _UNITS.get(unit, ("", 0.0)) if unit else ("piece", 1.0)
                if not denominator_kind or float(denominator.value) <= 0:
                    raise DoseError(
                        f"strength denominator {denominator.value} {denominator.unit!r} not understood", "strength"
                    )
                per = float(denominator.value) * factor
            unit = normalise_unit(numerator.code or numerator.unit or "")
            kind, factor = _UNITS.get(unit, ("", 0.0))
            if kind not in ("mass", "iu", "mmol", "meq"):
                raise DoseError(f"strength unit {numerator.code or numerator.unit!r} not understood", "strength")
            ingredient = self._knowledge_ingredient(matched[0]) or self._ingredient
            amount = float(numerator.value) * factor / per
            out.append((self._active(amount, kind, ingredient, strength=True), denominator_kind))
        return out

    def _named_strength(self) -> list[tuple[float, str]]:
        """The strength per piece that the product's name states for this ingredient ("... 2000 UNT Oral Capsule")."""
        if self._ingredient is None or not self._product_names:
            return []
        strength = strength_of(self._product_names, self._ingredient.names)
        if strength is None:
            return []
        kind, factor = _UNITS.get(normalise_unit(strength.unit), ("", 0.0))
        if kind not in ("mass", "iu", "mmol", "meq"):
            return []
        return [(self._active(float(strength.value) * factor, kind, self._ingredient, strength=True), "piece")]

    def _knowledge_ingredient(self, name: str) -> Ingredient | None:
        for med_class in self._knowledge.medications.classes.values():
            if name in med_class.ingredients:
                return med_class.ingredients[name]
        return None

    def _drops_per_ml(self) -> float | None:
        medication = self._medication
        for extension in (getattr(medication, "extension", None) or []) if medication is not None else []:
            if extension.url in _DROPS_PER_ML_URLS and extension.valueDecimal is not None:
                return float(extension.valueDecimal)
        return None


def _in_denominator(amount: float, dose_kind: str, denominator_kind: str, drops_per_ml: float | None) -> float:
    """The dose expressed in the strength's denominator unit; DoseError where that would be a guess."""
    if dose_kind == denominator_kind:
        return amount
    if dose_kind == "drop" and denominator_kind == "volume":
        if drops_per_ml is None:
            raise DoseError("dose in drops, strength per mL, and no drops-per-mL stated", "drops")
        return amount / drops_per_ml
    if dose_kind == "volume" and denominator_kind == "drop":
        if drops_per_ml is None:
            raise DoseError("dose in mL, strength per drop, and no drops-per-mL stated", "drops")
        return amount * drops_per_ml
    countable = _PRESENTATIONS | {"piece"}
    if dose_kind in countable and denominator_kind in countable and "piece" in (dose_kind, denominator_kind):
        return amount  # "1 stuk" of a tablet is one tablet
    raise DoseError(f"dose in {dose_kind} but the strength is per {denominator_kind}", "denominator")
