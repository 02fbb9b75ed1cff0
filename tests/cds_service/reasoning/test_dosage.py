"""Dose arithmetic (issue 18): a computed dose is right, or reported as not computable; never a number from
the wrong ingredient or the wrong unit.

The property test draws a true dose (µg vitamin D or mg elemental magnesium per administration, and a
schedule), then writes it as a FHIR dosage instruction in one of the ways real systems do (µg, mg, IU/IE/
UNT/units, mmol, mEq, tablets or mL through a stated strength, drops through a stated drops-per-mL, a
dose range, as-needed with a maximum, a count or a course length). The expected daily dose is computed
here from the drawn truth, not by the code under test. Encodings that cannot be read without guessing
(drops without drops-per-mL, a strength for another ingredient, tablets against a strength per mL) must
raise DoseError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fhir.resources.R4B.dosage import Dosage
from fhir.resources.R4B.medication import Medication
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.knowledge.loader import Knowledge, load_knowledge
from cds_service.reasoning._dosage import DoseError, daily_dose
from cds_service.reasoning.facts import _ingredient_matcher

UCUM = "http://unitsofmeasure.org"
KNOWLEDGE = load_knowledge()
IU_PER_UG = 40.0
MG_PER_MMOL = 24.305
MGO_FRACTION = 0.603
PERIOD_DAYS = {"d": 1.0, "wk": 7.0, "mo": 365.25 / 12}

COLECALCIFEROL = {"text": "colecalciferol"}
CALCIUM = {"text": "calciumcarbonaat"}
MGO = {"text": "magnesiumoxide"}


@dataclass
class Case:
    med_class: str
    dosage: dict[str, Any]
    medication: dict[str, Any] | None
    single: float | None  # None: not computable
    per_day: float | None  # None with single set: a one-off dose
    reason: str = ""

    @property
    def ingredient(self) -> str:
        if self.med_class == "vitd-native":
            return "colecalciferol"
        return "magnesium-citrate" if self.reason == "salt" else "magnesium-oxide"


def _medication(
    *ingredients: tuple[dict[str, Any], float, str, float, str], drops_per_ml: float | None = None
) -> dict[str, Any]:
    med: dict[str, Any] = {
        "resourceType": "Medication",
        "id": "m",
        "ingredient": [
            {
                "itemCodeableConcept": item,
                "strength": {
                    "numerator": {"value": num, "unit": num_unit, "system": UCUM, "code": num_unit},
                    "denominator": {"value": den, "unit": den_unit},
                },
            }
            for item, num, num_unit, den, den_unit in ingredients
        ],
    }
    if drops_per_ml is not None:
        med["extension"] = [{"url": "urn:vitdmg:drops-per-ml", "valueDecimal": drops_per_ml}]
    return med


@st.composite
def vitamin_d_dose(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any] | None, float | None, str]:
    """(doseQuantity-like dict, medication, true µg per administration or None if not computable, reason)."""
    ug = draw(st.sampled_from([10, 20, 25, 50, 100, 500, 1250, 7500]))
    way = draw(
        st.sampled_from(
            [
                "ug",
                "mg",
                "iu",
                "tablet",
                "tablet-with-calcium",
                "ml",
                "drops",
                "drops-no-rate",
                "calcium-only",
                "mismatch",
            ]
        )
    )
    if way == "ug":
        unit = draw(st.sampled_from(["ug", "mcg", "microgram", "µg"]))
        return {"value": ug, "unit": unit}, None, ug, ""
    if way == "mg":
        return {"value": ug / 1000, "unit": "mg", "system": UCUM, "code": "mg"}, None, ug, ""
    if way == "iu":
        unit = draw(st.sampled_from(["[iU]", "IU", "IE", "UNT", "units", "U"]))
        return {"value": ug * IU_PER_UG, "unit": unit}, None, ug, ""
    if way in ("tablet", "tablet-with-calcium", "calcium-only", "mismatch"):
        per_tablet = draw(st.sampled_from([10, 20, 25, 50]))
        tablets = ug / per_tablet
        vitd = (COLECALCIFEROL, per_tablet * IU_PER_UG, "[iU]", 1, "tablet")
        calcium = (CALCIUM, 1250, "mg", 1, "tablet")
        if way == "tablet":
            return {"value": tablets, "unit": "tablet"}, _medication(vitd), ug, ""
        if way == "tablet-with-calcium":
            order = [calcium, vitd] if draw(st.booleans()) else [vitd, calcium]
            return {"value": tablets, "unit": "tablet"}, _medication(*order), ug, ""
        if way == "calcium-only":
            return {"value": tablets, "unit": "tablet"}, _medication(calcium), None, "strength"
        return {"value": tablets, "unit": "mL"}, _medication(vitd), None, "denominator"
    per_ml_iu = draw(st.sampled_from([400, 2400, 20000]))
    per = draw(st.sampled_from([1, 10]))
    ml = ug * IU_PER_UG / per_ml_iu
    vitd_ml = (COLECALCIFEROL, per_ml_iu * per, "IE", per, "mL")
    if way == "ml":
        return {"value": ml, "unit": "mL", "system": UCUM, "code": "mL"}, _medication(vitd_ml), ug, ""
    drops_per_ml = draw(st.sampled_from([20.0, 30.0, 40.0]))
    drops = ml * drops_per_ml
    if way == "drops":
        return {"value": drops, "unit": "druppel"}, _medication(vitd_ml, drops_per_ml=drops_per_ml), ug, ""
    return {"value": drops, "unit": "[drp]", "system": UCUM, "code": "[drp]"}, _medication(vitd_ml), None, "drops"


@st.composite
def magnesium_dose(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any] | None, float | None, str]:
    mg = draw(st.sampled_from([60.3, 121.5, 243.05, 301.5, 400.0]))
    way = draw(st.sampled_from(["mmol", "meq", "mgo-mg", "tablet", "units", "unknown-salt"]))
    if way == "mmol":
        return {"value": mg / MG_PER_MMOL, "unit": "mmol", "system": UCUM, "code": "mmol"}, None, mg, ""
    if way == "meq":
        return {"value": mg / MG_PER_MMOL * 2, "unit": "mEq", "system": UCUM, "code": "meq"}, None, mg, ""
    if way == "mgo-mg":
        return {"value": mg / MGO_FRACTION, "unit": "mg"}, None, mg, ""
    if way == "tablet":
        salt_mg = draw(st.sampled_from([250, 500, 724]))
        tablets = mg / (salt_mg * MGO_FRACTION)
        return {"value": tablets, "unit": "tablet"}, _medication((MGO, salt_mg, "mg", 1, "tablet")), mg, ""
    if way == "units":
        return {"value": mg, "unit": "units"}, None, None, "unit"
    return {"value": mg, "unit": "mg"}, None, None, "salt"


@st.composite
def cases(draw: st.DrawFn) -> Case:
    med_class = draw(st.sampled_from(["vitd-native", "mg-supplement"]))
    quantity, medication, single, reason = draw(vitamin_d_dose() if med_class == "vitd-native" else magnesium_dose())
    frequency = draw(st.integers(1, 4))
    period = draw(st.sampled_from([1, 2, 7]))
    unit = draw(st.sampled_from(list(PERIOD_DAYS)))
    rate = frequency / (period * PERIOD_DAYS[unit])
    repeat: dict[str, Any] = {"frequency": frequency, "period": period, "periodUnit": unit}
    dose_shape = draw(st.sampled_from(["quantity", "range", "as-needed"]))
    dosage: dict[str, Any] = {"timing": {"repeat": repeat}}
    per_day = None if single is None else single * rate
    if dose_shape == "quantity":
        dosage["doseAndRate"] = [{"doseQuantity": quantity}]
    elif dose_shape == "range":
        low = {**quantity, "value": quantity["value"] / 2}
        dosage["doseAndRate"] = [{"doseRange": {"low": low, "high": quantity}}]
    else:
        # as needed, at most `times` administrations of the dose per `days`
        times, days = draw(st.integers(1, 6)), draw(st.sampled_from([1, 7]))
        maximum = {**quantity, "value": quantity["value"] * times}
        dosage = {
            "asNeededBoolean": True,
            "doseAndRate": [{"doseQuantity": quantity}],
            "maxDosePerPeriod": {
                "numerator": maximum,
                "denominator": {"value": days, "unit": "d", "system": UCUM, "code": "d"},
            },
        }
        per_day = None if single is None else single * times / days
        return Case(med_class, dosage, medication, single, per_day, reason)
    course = draw(st.sampled_from(["open", "count", "bounds"]))
    if course == "count":
        count = draw(st.integers(1, 12))
        repeat["count"] = count
        if count == 1 and single is not None:
            per_day = None  # one-off
    elif course == "bounds":
        weeks = draw(st.integers(1, 12))
        repeat["boundsDuration"] = {"value": weeks, "unit": "wk", "system": UCUM, "code": "wk"}
        if rate * weeks * 7 <= 1 and single is not None:
            per_day = None
    return Case(med_class, dosage, medication, single, per_day, reason)


def _compute(case: Case, knowledge: Knowledge) -> Any:
    dosage = Dosage.model_validate(case.dosage)
    medication = Medication.model_validate(case.medication) if case.medication else None
    ingredient = knowledge.medications.classes[case.med_class].ingredients[case.ingredient]
    return daily_dose(
        [dosage], case.med_class, ingredient, medication, knowledge, _ingredient_matcher(case.med_class, knowledge)
    )


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_a_computed_dose_is_right_or_reported_not_computable(case: Case) -> None:
    if case.single is None:
        with pytest.raises(DoseError) as caught:
            _compute(case, KNOWLEDGE)
        assert caught.value.code == case.reason
        return
    dose = _compute(case, KNOWLEDGE)
    expected_single = case.single
    if "asNeededBoolean" in case.dosage:
        expected_single = min(case.single, case.per_day or case.single)
    assert dose.single == pytest.approx(expected_single, rel=1e-9)
    if case.per_day is None:
        assert dose.one_off and dose.per_day is None
    else:
        assert dose.per_day == pytest.approx(case.per_day, rel=1e-9)


# --- the probes, one by one ---------------------------------------------------------------------


def _dose(
    dosages: list[dict[str, Any]], medication: dict[str, Any] | None = None, med_class: str = "vitd-native"
) -> Any:
    ingredient = "colecalciferol" if med_class == "vitd-native" else "magnesium-oxide"
    return daily_dose(
        [Dosage.model_validate(d) for d in dosages],
        med_class,
        KNOWLEDGE.medications.classes[med_class].ingredients[ingredient],
        Medication.model_validate(medication) if medication else None,
        KNOWLEDGE,
        _ingredient_matcher(med_class, KNOWLEDGE),
    )


DAILY = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}
WEEKLY = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}
OIL_20000_PER_ML = _medication((COLECALCIFEROL, 20000, "IE", 1, "mL"))


def test_one_drop_of_an_oil_per_ml_is_not_read_as_one_ml() -> None:
    """Issue probe: 1 drop of 20,000 IE/mL was read as 1 mL (500 µg/day)."""
    with pytest.raises(DoseError, match="drops-per-mL") as caught:
        _dose([{"timing": DAILY, "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "druppel"}}]}], OIL_20000_PER_ML)
    assert caught.value.code == "drops"


def test_drops_with_a_stated_drops_per_ml() -> None:
    oil = {**OIL_20000_PER_ML, "extension": [{"url": "urn:vitdmg:drops-per-ml", "valueDecimal": 40}]}
    dose = _dose([{"timing": DAILY, "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "druppel"}}]}], oil)
    assert dose.per_day == pytest.approx(12.5)  # 20,000 IE/mL / 40 drops = 500 IE = 12.5 µg


def test_calci_chew_with_only_its_calcium_strength_is_not_computed() -> None:
    """Issue probe: Calci-Chew D3 sent with only 1,250 mg calcium became 2,500,000 µg vitamin D a day."""
    calci_chew = _medication((CALCIUM, 1250, "mg", 1, "tablet"))
    with pytest.raises(DoseError, match="strength") as caught:
        _dose(
            [
                {
                    "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                    "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
                }
            ],
            calci_chew,
        )
    assert caught.value.code == "strength"


def test_calci_chew_with_both_strengths_uses_the_vitamin_d() -> None:
    calci_chew = _medication((CALCIUM, 1250, "mg", 1, "tablet"), (COLECALCIFEROL, 400, "IE", 1, "tablet"))
    dose = _dose(
        [
            {
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
            }
        ],
        calci_chew,
    )
    assert dose.per_day == pytest.approx(20.0)


def test_one_off_300000_ie_is_a_single_dose_not_a_daily_dose() -> None:
    """Issue probe: a one-off 300,000 IE dose became 7,500 µg per day (count ignored)."""
    dose = _dose(
        [{"timing": {"repeat": {"count": 1}}, "doseAndRate": [{"doseQuantity": {"value": 300000, "unit": "IE"}}]}]
    )
    assert dose.one_off and dose.per_day is None
    assert dose.single == pytest.approx(7500)


def test_loading_course_then_monthly_maintenance() -> None:
    """50,000 IE weekly for 6 weeks, then 50,000 IE monthly: the loading phase is the highest daily average."""
    loading = {
        "sequence": 1,
        "timing": {
            "repeat": {**WEEKLY["repeat"], "boundsDuration": {"value": 6, "unit": "wk", "system": UCUM, "code": "wk"}}
        },
        "doseAndRate": [{"doseQuantity": {"value": 50000, "unit": "IE"}}],
    }
    maintenance = {
        "sequence": 2,
        "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "mo"}},
        "doseAndRate": [{"doseQuantity": {"value": 50000, "unit": "IE"}}],
    }
    dose = _dose([loading, maintenance])
    assert dose.per_day == pytest.approx(1250 / 7)
    assert dose.single == pytest.approx(1250)
    assert dose.course_days is None  # open-ended after the loading phase


def test_loading_course_alone_is_a_course_of_six_weeks() -> None:
    repeat = {**WEEKLY["repeat"], "count": 6}
    dose = _dose([{"timing": {"repeat": repeat}, "doseAndRate": [{"doseQuantity": {"value": 50000, "unit": "IE"}}]}])
    assert dose.course_days == pytest.approx(42) and dose.per_day == pytest.approx(1250 / 7)


def test_bounds_period_gives_the_course_length() -> None:
    repeat = {**DAILY["repeat"], "boundsPeriod": {"start": "2026-11-22", "end": "2026-12-05"}}
    dose = _dose([{"timing": {"repeat": repeat}, "doseAndRate": [{"doseQuantity": {"value": 4000, "unit": "IE"}}]}])
    assert dose.course_days == 14 and dose.per_day == pytest.approx(100)


def test_dose_range_uses_its_top() -> None:
    rng = {"low": {"value": 1, "unit": "tablet"}, "high": {"value": 2, "unit": "tablet"}}
    dose = _dose(
        [{"timing": DAILY, "doseAndRate": [{"doseRange": rng}]}], _medication((COLECALCIFEROL, 25, "ug", 1, "tablet"))
    )
    assert dose.per_day == pytest.approx(50) and dose.upper_bound


def test_as_needed_without_a_maximum_is_not_computed() -> None:
    with pytest.raises(DoseError) as caught:
        _dose([{"asNeededBoolean": True, "doseAndRate": [{"doseQuantity": {"value": 400, "unit": "IE"}}]}])
    assert caught.value.code == "as-needed"


@pytest.mark.parametrize("unit", ["units", "UNT", "[iU]", "IE", "U"])
def test_unit_spellings_for_international_units(unit: str) -> None:
    dose = _dose([{"timing": DAILY, "doseAndRate": [{"doseQuantity": {"value": 800, "unit": unit}}]}])
    assert dose.per_day == pytest.approx(20)


def test_microgram_spelled_out() -> None:
    dose = _dose([{"timing": DAILY, "doseAndRate": [{"doseQuantity": {"value": 20, "unit": "microgram"}}]}])
    assert dose.per_day == pytest.approx(20)


def test_meq_magnesium_is_half_a_mmol() -> None:
    dose = _dose(
        [
            {
                "timing": DAILY,
                "doseAndRate": [{"doseQuantity": {"value": 20, "unit": "mEq", "code": "meq", "system": UCUM}}],
            }
        ],
        med_class="mg-supplement",
    )
    assert dose.per_day == pytest.approx(10 * MG_PER_MMOL)


def test_several_instructions_without_sequence_are_not_guessed() -> None:
    one = {"timing": DAILY, "doseAndRate": [{"doseQuantity": {"value": 400, "unit": "IE"}}]}
    with pytest.raises(DoseError, match="sequence"):
        _dose([one, one])


def test_concurrent_instructions_with_one_sequence_add_up() -> None:
    one = {"sequence": 1, "timing": DAILY, "doseAndRate": [{"doseQuantity": {"value": 400, "unit": "IE"}}]}
    assert _dose([one, one]).per_day == pytest.approx(20)
