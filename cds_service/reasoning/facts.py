"""Normalised facts: validated FHIR -> flat, typed facts in canonical units, plus the evidence behind each.

Nothing is guessed: a value whose unit is unknown, a dose that cannot be computed or a result without a
date is left out of the facts and reported. Absence is a fact too (`lab-missing`, `condition-absent`),
so rules only ever join positive facts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cds_service.fhir._dates import DAYS_PER_MONTH, age_months, age_years, duration_days, observation_time, to_datetime
from cds_service.fhir._lab_values import LabValue, interval_ends, read_value, unit_factor
from cds_service.fhir.parsing import ParsedRecord
from cds_service.knowledge.loader import LOINC, SNOMED, DispenseUse, Knowledge, MedicationClass
from cds_service.knowledge.medication_classes import Coding, MedMatch, classify
from cds_service.knowledge.product_names import route_of_form
from cds_service.reasoning._course import MAX_COURSE_DAYS, course_of
from cds_service.reasoning._dosage import DoseError, daily_dose
from cds_service.reasoning._egfr import ckd_epi_2021
from cds_service.reasoning._mg_basis import mg_dose_basis, product_texts
from cds_service.reasoning.rule_language import value_cuts
from cds_service.reports import Report

Fact = dict[str, Any]
# durable-rules' C parser crashes the process on a number written with an exponent (1e-07, 1e+16) or on
# Infinity: every number in a fact is finite, below ENGINE_MAX, and never closer to zero than ENGINE_MIN.
ENGINE_MAX = 1e15
ENGINE_MIN = 1e-4
INTERPRETATION_LOW = {"L", "LL", "LU", "<"}
INTERPRETATION_HIGH = {"H", "HH", "HU", ">"}
INTERPRETATION_NORMAL = {"N"}
ACTIVE_CONDITION = {"active", "recurrence", "relapse"}
EXCLUDED_VERIFICATION = {"refuted", "entered-in-error"}
ORAL_ROUTES = {
    (SNOMED, "26643006"),
    ("urn:oid:2.16.840.1.113883.2.4.4.9", "9"),
    ("http://standardterms.edqm.eu", "20053000"),
}
SYSTEMIC_ROUTES = ORAL_ROUTES | {
    (SNOMED, "47625008"),  # intravenous
    (SNOMED, "78421000"),  # intramuscular
    (SNOMED, "34206005"),  # subcutaneous
    ("http://standardterms.edqm.eu", "20045000"),
    ("http://standardterms.edqm.eu", "20035000"),
}


@dataclass
class Evidence:
    """What a fact says about the record, for the card's data and "why" sections."""

    kind: str
    reference: str | None = None
    analyte: str | None = None
    value: float | None = None
    unit: str | None = None
    date: str | None = None
    range: tuple[float | None, float | None] | None = None
    range_source: str | None = None
    name: str | None = None
    med_class: str | None = None
    matched_on: str | None = None
    note: str | None = None
    comparator: str | None = None
    reported_value: float | None = None
    reported_unit: str | None = None
    unit_unknown: bool = False  # a bound sent without a unit ("<10"): shown as sent, never converted
    months: float | None = None
    dose_basis: str | None = None
    derived_from: list[str] = field(default_factory=list)
    rule: str | None = None
    # dose of an order (h18): why it was not computed, or its single dose, course length, upper-bound flag
    dose_note: str | None = None
    ingredient: str | None = None  # the class's ingredient matched (partner names per drug, issue 18)
    dose_reason: str | None = None
    single_dose: float | None = None
    course_days: float | None = None
    upper_bound: bool = False


@dataclass
class FactSet:
    facts: list[Fact] = field(default_factory=list)
    evidence: dict[str, Evidence] = field(default_factory=dict)
    reports: list[Report] = field(default_factory=list)

    def add(self, fact: Fact, evidence: Evidence) -> None:
        fact_id = f"{fact['kind']}:{len(self.facts)}"
        self.facts.append({**fact, "id": fact_id})
        self.evidence[fact_id] = evidence


@dataclass(frozen=True)
class EvaluationContext:
    hook: str
    profile: str
    now: datetime
    lookback_status_months: int
    lookback_chemistry_months: int
    selections: tuple[str, ...] | None = None


def build_facts(record: ParsedRecord, knowledge: Knowledge, ctx: EvaluationContext) -> FactSet:
    facts = FactSet(reports=list(record.reports))
    patient = record.patient
    if patient is not None and (patient.deceasedBoolean is True or patient.deceasedDateTime is not None):
        # no advice about a deceased patient: nothing reaches the rules, and the response says why
        facts.reports.append(Report("facts", f"Patient/{patient.id}", "patient is deceased: no cards"))
        return facts
    _patient_facts(record, facts, ctx)
    _lab_facts(record, knowledge, ctx, facts)
    _condition_facts(record, knowledge, facts)
    _medication_facts(record, knowledge, ctx, facts)
    return facts


# --- patient -------------------------------------------------------------------------------------------


def _patient_facts(record: ParsedRecord, facts: FactSet, ctx: EvaluationContext) -> None:
    patient = record.patient
    if patient is None or patient.birthDate is None:
        where = f"Patient/{patient.id}" if patient is not None else "prefetch.patient"
        facts.reports.append(Report("facts", where, "no birth date: age-dependent rules not applied"))
        return
    birth = to_datetime(patient.birthDate)
    if birth is None:
        return
    age = age_years(birth.date(), ctx.now)
    if age < 0:
        facts.reports.append(Report("facts", f"Patient/{patient.id}", "birth date after today; age not used"))
        return
    months = age_months(birth.date(), ctx.now)
    facts.add(
        {"kind": "patient", "age_years": age, "age_months": months},
        Evidence("patient", f"Patient/{patient.id}", value=age, months=months),
    )


# --- laboratory ----------------------------------------------------------------------------------------


@dataclass
class _Lab:
    analyte: str
    value: float
    when: datetime
    flag: str
    evidence: Evidence


def _lab_facts(record: ParsedRecord, knowledge: Knowledge, ctx: EvaluationContext, facts: FactSet) -> None:
    latest: dict[str, _Lab] = {}
    seen: set[str] = set()
    defaults = knowledge.profiles.common.get("reference_range_defaults", {})
    # the analyte each result was selected for (parsing decides it once), its time in the one reading order
    for obs, analyte in zip(record.observations, record.lab_analytes, strict=True):
        ref = f"Observation/{obs.id}"
        when = to_datetime(observation_time(obs))
        if when is None:
            facts.reports.append(Report("facts", ref, "no effective date or issued time; left out"))
            continue
        months = knowledge.lookback_months(analyte, ctx.lookback_status_months, ctx.lookback_chemistry_months)
        if when < ctx.now - timedelta(days=months * DAYS_PER_MONTH):
            continue
        seen.add(analyte)
        lab = _read_lab(obs, analyte, when, knowledge, defaults.get(analyte), facts, ref, ctx.profile)
        if lab is not None and (analyte not in latest or lab.when > latest[analyte].when):
            latest[analyte] = lab
    if "egfr" not in latest and "creatinine" in latest:  # creatinine only: eGFR by CKD-EPI 2021, marked computed
        computed = _egfr_from_creatinine(latest["creatinine"], record, knowledge, facts)
        if computed is not None:
            latest["egfr"] = computed
            seen.add("egfr")
    for analyte, lab in latest.items():
        age_days = max(0.0, (ctx.now - lab.when).total_seconds() / 86400)
        facts.add(
            {
                "kind": "lab",
                "analyte": analyte,
                "value": lab.value,
                "flag": lab.flag,
                "age_days": engine_number(round(age_days, 2)),
            },
            lab.evidence,
        )
    for analyte, definition in knowledge.labs.analytes.items():
        if definition.status_result and analyte not in seen:
            facts.add({"kind": "lab-missing", "analyte": analyte}, Evidence("lab-missing", analyte=analyte))


def _egfr_from_creatinine(creatinine: _Lab, record: ParsedRecord, knowledge: Knowledge, facts: FactSet) -> _Lab | None:
    """EGFR from the newest creatinine with the patient's age then and sex; None (reported) when not computable."""
    formula = knowledge.labs.egfr_from_creatinine
    if formula is None:
        return None
    ref = creatinine.evidence.reference or "creatinine"
    patient = record.patient
    sex = patient.gender if patient is not None else None
    birth = to_datetime(patient.birthDate) if patient is not None and patient.birthDate is not None else None
    if birth is None or sex not in ("female", "male"):
        why = "the Patient's birth date and sex (female or male) are needed"
        facts.reports.append(Report("facts", ref, f"eGFR not computed from creatinine: {why}"))
        return None
    age = age_years(birth.date(), creatinine.when)
    if age < formula.min_age_years:
        why = f"CKD-EPI 2021 is for adults (age {age:g} at the creatinine)"
        facts.reports.append(Report("facts", ref, f"eGFR not computed from creatinine: {why}"))
        return None
    value = ckd_epi_2021(creatinine.value, age, str(sex), formula)
    evidence = Evidence(
        "lab",
        ref,
        analyte="egfr",
        value=round(value, 1),
        unit=knowledge.labs.analytes["egfr"].canonical_unit,
        date=creatinine.evidence.date,
        note="computed-ckd-epi-2021",
        derived_from=[ref],
    )
    return _Lab("egfr", engine_number(value), creatinine.when, "unknown", evidence)


def _read_lab(
    obs: Any,
    analyte: str,
    when: datetime,
    knowledge: Knowledge,
    default: dict[str, Any] | None,
    facts: FactSet,
    ref: str,
    ctx_profile: str,
) -> _Lab | None:
    definition = knowledge.labs.analytes[analyte]
    read = read_value(obs, definition.normalised_units)
    if isinstance(read, str):
        facts.reports.append(Report("facts", ref, read.replace("unknown;", f"unknown for {analyte};")))
        return None
    value = read.canonical
    plausible = definition.plausible
    if not math.isfinite(value) or (plausible is not None and not plausible.low <= value <= plausible.high):
        shown = f"{value:.6g} {definition.canonical_unit}"
        bounds = f" (plausible: {plausible.low:g}-{plausible.high:g})" if plausible is not None else ""
        facts.reports.append(Report("facts", ref, f"{analyte} {shown} is not a possible result{bounds}; left out"))
        return None
    value = engine_number(value)
    low, high, source = _reference_range(obs, definition.normalised_units)
    flag = "unknown"
    if low is None and high is None:
        flag, source = _interpretation(obs)
        if flag == "unknown" and default is not None:
            low, high, source = float(default["low"]), float(default["high"]), "profile"
    if read.comparator is not None:
        censored = _censored(read, analyte, knowledge, ctx_profile, low, high, facts, ref)
        if censored is None:
            return None
        value = engine_number(censored)
    if low is not None or high is not None:
        flag = "low" if low is not None and value < low else "high" if high is not None and value > high else "normal"
    evidence = Evidence(
        "lab",
        ref,
        analyte=analyte,
        value=round(read.canonical, 4),
        unit=definition.canonical_unit,
        comparator=read.comparator,
        date=when.date().isoformat(),
        range=(low, high) if source in ("lab", "profile") else None,
        range_source=source,
        reported_value=read.number if read.unit or read.unit_from == "any unit" else None,
        reported_unit=read.unit,
        unit_unknown=read.unit_from == "any unit",
    )
    if read.unit_from == "any unit":
        facts.reports.append(
            Report(
                "facts",
                ref,
                f"result {read.comparator}{read.number:g} without a unit: reasoned with as "
                f"{'below' if (read.comparator or '').startswith('<') else 'above'} it in every unit of {analyte}",
            )
        )
    return _Lab(analyte, value, when, flag, evidence)


def _censored(
    read: LabValue,
    analyte: str,
    knowledge: Knowledge,
    profile: str,
    low: float | None,
    high: float | None,
    facts: FactSet,
    ref: str,
) -> float | None:
    """The value a result such as `<10` is reasoned with, or None (left out and reported).

    Every cut-off a rule applies to this analyte, and the reference range, must give the same answer at both
    ends of what the result allows (`<10`: just below 10 and far below): then the nearest end stands for it.
    When only the lab's range decides (`<0.6` with range 0.70-0.95 and a 0.50 critical limit) the result
    is reasoned with as low at its bound, and the undecided limits are reported.
    """
    near, far = interval_ends(read.canonical, read.comparator)
    shown = f"{read.comparator}{read.number:g}"
    tests = [(t.words(), t) for t in value_cuts(knowledge, profile, analyte)]
    undecided = [words for words, t in tests if t.matches({"value": near}) != t.matches({"value": far})]
    flag_near = (low is not None and near < low, high is not None and near > high)
    flag_far = (low is not None and far < low, high is not None and far > high)
    if not undecided and flag_near == flag_far:
        return near
    if flag_near == flag_far and any(flag_near):
        facts.reports.append(
            Report("facts", ref, f"result {shown}: abnormal by the lab's range; cannot decide {', '.join(undecided)}")
        )
        return near
    undecided_words = ", ".join(undecided) or "reference range"
    facts.reports.append(
        Report("facts", ref, f"result {shown} does not decide the {analyte} category ({undecided_words}); left out")
    )
    return None


def _unit_factor(quantity: Any, units: dict[str, float]) -> float | None:
    return unit_factor(quantity, units)


def _reference_range(obs: Any, units: dict[str, float]) -> tuple[float | None, float | None, str | None]:
    for rr in obs.referenceRange or []:
        bounds: list[float | None] = []
        for q in (rr.low, rr.high):
            if q is None or q.value is None:
                bounds.append(None)
                continue
            factor = _unit_factor(q, units)
            if factor is None:
                bounds = []
                break
            bound = float(Decimal(str(q.value))) * factor
            if not math.isfinite(bound):
                bounds = []
                break
            bounds.append(bound)
        if bounds and (bounds[0] is not None or bounds[1] is not None):
            return bounds[0], bounds[1], "lab"
    return None, None, None


def _interpretation(obs: Any) -> tuple[str, str | None]:
    for concept in obs.interpretation or []:
        for coding in concept.coding or []:
            if coding.code in INTERPRETATION_LOW:
                return "low", "interpretation"
            if coding.code in INTERPRETATION_HIGH:
                return "high", "interpretation"
            if coding.code in INTERPRETATION_NORMAL:
                return "normal", "interpretation"
    return "unknown", None


# --- conditions ----------------------------------------------------------------------------------------


def _condition_facts(record: ParsedRecord, knowledge: Knowledge, facts: FactSet) -> None:
    present: set[str] = set()
    sets = knowledge.conditions
    for condition in record.conditions:
        clinical = {c.code for c in (condition.clinicalStatus.coding or [])} if condition.clinicalStatus else set()
        verification = (
            {c.code for c in (condition.verificationStatus.coding or [])} if condition.verificationStatus else set()
        )
        if (clinical and not clinical & ACTIVE_CONDITION) or verification & EXCLUDED_VERIFICATION:
            continue
        for coding in condition.code.coding or [] if condition.code else []:
            for group_name in knowledge.condition_groups(coding.system, coding.code):
                if group_name not in present:
                    present.add(group_name)
                    facts.add(
                        {"kind": "condition", "group": group_name},
                        Evidence(
                            "condition",
                            f"Condition/{condition.id}",
                            name=coding.display or coding.code,
                            med_class=group_name,
                        ),
                    )
    for group_name in sets.groups:
        if group_name not in present:
            facts.add(
                {"kind": "condition-absent", "group": group_name},
                Evidence("condition-absent", med_class=group_name),
            )


# --- medication ----------------------------------------------------------------------------------------


def classify_medication(concepts: list[Any], knowledge: Knowledge) -> list[MedMatch]:
    """Classes of a medication from its CodeableConcepts (the product and its ingredients)."""
    codings: list[Coding] = []
    texts: list[str] = []
    for concept in concepts:
        if concept is None:
            continue
        if concept.text:
            texts.append(concept.text)
        codings += [(c.system, c.code, c.display) for c in concept.coding or []]
    return classify(codings, texts, knowledge)


def _route(dosages: list[Any]) -> str:
    """'oral', 'systemic' (IV/IM/SC), 'other' (a route is given but neither), or 'unknown'."""
    routes = [d.route for d in dosages if d is not None and d.route is not None]
    if not routes:
        return "unknown"
    for route in routes:
        for coding in route.coding or []:
            if (coding.system, coding.code) in ORAL_ROUTES:
                return "oral"
            if (coding.system, coding.code) in SYSTEMIC_ROUTES:
                return "systemic"
        if route.text and route.text.strip().lower() in {"oral", "oraal", "per os", "po"}:
            return "oral"
    return "other"


def _medication_facts(record: ParsedRecord, knowledge: Knowledge, ctx: EvaluationContext, facts: FactSet) -> None:
    items: list[tuple[Any, str, bool]] = []
    for statement in record.statements:
        period = statement.effectivePeriod
        end = to_datetime(period.end) if period is not None and period.end is not None else None
        if end is not None and end < ctx.now:
            continue
        items.append((statement, "MedicationStatement", False))
    items += [(r, "MedicationRequest", False) for r in record.requests]
    use = knowledge.medications.dispense_use
    for dispense in record.dispenses:
        if to_datetime(dispense.whenHandedOver or dispense.whenPrepared) is None:
            why = "no hand-over date: whether it is still taken cannot be told; left out"
            facts.reports.append(Report("facts", f"MedicationDispense/{dispense.id}", why))
        elif _dispensed_supply_lasts(dispense, use, ctx.now):
            items.append((dispense, "MedicationDispense", False))
    for administration in record.administrations:
        if _administered_recently(administration, use, ctx.now):
            items.append((administration, "MedicationAdministration", False))
    drafts = [(r, "MedicationRequest", True) for r in record.draft_medication_requests]
    items += drafts
    subjects = _subjects(
        ctx,
        [f"MedicationRequest/{r.id}" for r, _, _ in drafts]
        + [f"ServiceRequest/{s.id}" for s in record.draft_service_requests],
    )
    repeated = _repeatedly_dispensed(record, knowledge)
    vitamin_d: list[tuple[Any, str, bool, MedMatch, Any, list[Any]]] = []
    for resource, kind, is_draft in items:
        ref = f"{kind}/{resource.id}"
        concepts, medication = _medication_concepts(resource, record, facts, ref)
        if not concepts:
            continue
        dosages = _dosages(resource, kind)
        route = _route(dosages)
        if route == "unknown":  # no route sent: the dose form in the product's name or Medication.form says it
            route = _route_from_product(concepts, medication) or "unknown"
        course = course_of(resource, kind, dosages)
        if course.impossible is not None:
            facts.reports.append(Report("facts", ref, course.impossible))
        for match in classify_medication(concepts, knowledge):
            med_class = knowledge.medications.classes[match.med_class]
            if med_class.parenteral_as is not None and route == "systemic":
                match = replace(match, med_class=med_class.parenteral_as)
                med_class = knowledge.medications.classes[match.med_class]
            if not _route_allows(med_class, match, route, facts, ref):
                continue
            evidence = Evidence(
                "med",
                ref,
                name=match.name,
                med_class=match.med_class,
                matched_on=match.matched_on,
                ingredient=match.ingredient,
                note=None if route != "unknown" or not med_class.oral_only else "route-unknown",
            )
            fact: Fact = {
                "kind": "med",
                "class": match.med_class,
                "draft": "yes" if is_draft else "no",
                "route": route,
                "ingredient": match.ingredient or "unspecified",
                **({"contains": "magnesium"} if med_class.contains_magnesium else {}),
            }
            # the course's length where the data states it (daysSupply, bounds; else a statement's period or the
            # dispensed supply x repeats, issue 10): open-ended courses stay "open" for the prolonged-use rules
            # repeat dispenses of a class are long-term use (open); a single dispense is the course it supplies
            # (review F18: one 14-day PPI dispense is not prolonged use); an administration is open
            if kind == "MedicationDispense" and course.days is not None and match.med_class not in repeated:
                fact |= _engine_course(course.fields())
            elif kind in ("MedicationDispense", "MedicationAdministration"):
                fact |= {"course": "open"} | (
                    {"course_days": engine_number(round(course.days, 2))} if course.days is not None else {}
                )
            else:
                fact |= _engine_course(course.fields())
            facts.add(fact, evidence)
            if is_draft and ref in subjects:
                _order_fact(resource, match, med_class, medication, knowledge, facts, ref, _names(concepts))
            if med_class.daily_total:
                vitamin_d.append((resource, ref, is_draft and ref in subjects, match, medication, dosages))
    _vitd_total(vitamin_d, knowledge, facts)
    for service in record.draft_service_requests:
        ref = f"ServiceRequest/{service.id}"
        if ref not in subjects:
            continue
        for coding in (service.code.coding or []) if service.code else []:
            if coding.system == LOINC and coding.code in knowledge.loinc_index:
                analyte = knowledge.loinc_index[coding.code]
                facts.add(
                    {"kind": "order", "type": "service", "analyte": analyte},
                    Evidence("order", ref, analyte=analyte, name=coding.display or coding.code),
                )
                break


def _dosages(resource: Any, kind: str) -> list[Any]:
    if kind == "MedicationStatement":
        return list(resource.dosage or [])
    if kind == "MedicationAdministration":
        return [resource.dosage] if resource.dosage is not None else []
    return list(resource.dosageInstruction or [])


def _names(concepts: list[Any]) -> list[str]:
    """The product's names as sent: each concept's text and its codings' displays."""
    names = [c.text for c in concepts if c.text]
    return names + [d.display for c in concepts for d in c.coding or [] if d.display]


def _route_from_product(concepts: list[Any], medication: Any) -> str | None:
    """The route a dose form states: Medication.form first, then the product's name ("Oral Tablet")."""
    texts: list[str] = []
    form = medication.form if medication is not None else None
    if form is not None:
        texts += [form.text or ""] + [c.display or "" for c in form.coding or []]
    for concept in concepts:
        texts += [concept.text or ""] + [c.display or "" for c in concept.coding or []]
    for text in texts:
        if text and (route := route_of_form(text)) is not None:
            return route
    return None


def _repeatedly_dispensed(record: ParsedRecord, knowledge: Knowledge) -> set[str]:
    """Medication classes handed over more than once in the record (any dispense with a hand-over date)."""
    seen: dict[str, int] = {}
    scratch = FactSet()  # classification only: its reports are those of the main pass
    for dispense in record.dispenses:
        if to_datetime(dispense.whenHandedOver or dispense.whenPrepared) is None:
            continue
        concepts, _ = _medication_concepts(dispense, record, scratch, f"MedicationDispense/{dispense.id}")
        for med_class in {m.med_class for m in classify_medication(concepts, knowledge)} if concepts else set():
            seen[med_class] = seen.get(med_class, 0) + 1
    return {med_class for med_class, count in seen.items() if count > 1}


def _dispensed_supply_lasts(dispense: Any, use: DispenseUse, now: datetime) -> bool:
    """A dispense implies use until its supply (daysSupply, else the default) plus a grace period has passed."""
    handed = to_datetime(dispense.whenHandedOver or dispense.whenPrepared)
    if handed is None or handed > now + timedelta(days=1):
        return False
    supply = duration_days(dispense.daysSupply, default_unit="d")
    days = (supply if supply is not None else use.default_supply_days) + use.grace_days
    return handed + timedelta(days=days) >= now


def _administered_recently(administration: Any, use: DispenseUse, now: datetime) -> bool:
    if administration.status == "in-progress":
        return True
    period = administration.effectivePeriod
    when = to_datetime(administration.effectiveDateTime or (period.end or period.start if period is not None else None))
    return when is not None and now - timedelta(days=use.administration_recent_days) <= when <= now + timedelta(1)


def _subjects(ctx: EvaluationContext, drafts: list[str]) -> set[str]:
    """order-select: the selections; order-sign: every draft order."""
    if ctx.hook == "order-select" and ctx.selections is not None:
        return set(ctx.selections)
    return set(drafts)


def _route_allows(med_class: MedicationClass, match: MedMatch, route: str, facts: FactSet, ref: str) -> bool:
    if med_class.oral_only and route in ("systemic", "other"):
        return False
    if med_class.requires_systemic_route and match.matched_on != "atc" and route not in ("oral", "systemic"):
        facts.reports.append(
            Report("facts", ref, f"{match.name}: route {route}; systemic use cannot be established, left out")
        )
        return False
    return True


def _medication_concepts(resource: Any, record: ParsedRecord, facts: FactSet, ref: str) -> tuple[list[Any], Any]:
    """The medication's code and its ingredients' codes, from the concept or the referenced Medication."""
    if resource.medicationCodeableConcept is not None:
        return [resource.medicationCodeableConcept], None
    reference = resource.medicationReference.reference if resource.medicationReference else None
    medication = None
    if reference and reference.startswith("#"):
        medication = next(
            (c for c in (resource.contained or []) if c.id == reference[1:] and c.get_resource_type() == "Medication"),
            None,
        )
    elif reference:
        medication = record.medications.get(reference) or record.medications.get(
            "Medication/" + reference.rsplit("/", 1)[-1]
        )
    if medication is None:
        facts.reports.append(Report("facts", ref, f"medication reference {reference!r} not found; left out"))
        return [], None
    concepts = [medication.code] + [
        i.itemCodeableConcept for i in (medication.ingredient or []) if i.itemCodeableConcept
    ]
    return [c for c in concepts if c is not None], medication


def _order_fact(
    resource: Any,
    match: MedMatch,
    med_class: MedicationClass,
    medication: Any,
    knowledge: Knowledge,
    facts: FactSet,
    ref: str,
    product_names: list[str],
) -> None:
    fact: Fact = {
        "kind": "order",
        "type": "medication",
        "class": match.med_class,
        "ingredient": match.ingredient or "unspecified",
    }
    if med_class.contains_magnesium:
        fact["contains"] = "magnesium"
    dose_evidence = Evidence(
        "order",
        ref,
        name=match.name,
        med_class=match.med_class,
        matched_on=match.matched_on,
        ingredient=match.ingredient,
    )
    if med_class.dose_unit is not None:  # checked against an upper level: not computed is a card, not silence
        ingredient = med_class.ingredients.get(match.ingredient) if match.ingredient else None
        concepts = [resource.medicationCodeableConcept] if resource.medicationCodeableConcept is not None else []
        if medication is not None:
            concepts += [medication.code, *[i.itemCodeableConcept for i in medication.ingredient or []]]
        texts = [*product_names, *product_texts(concepts, list(resource.dosageInstruction or []))]
        basis = mg_dose_basis(texts)
        if med_class.dose_unit == "mg":  # whether a magnesium dose is elemental or the salt's mass
            dose_evidence.dose_basis = basis
        try:
            dose = daily_dose(
                resource.dosageInstruction or [],
                match.med_class,
                ingredient,
                medication,
                knowledge,
                _ingredient_matcher(match.med_class, knowledge),
                product_names,
                basis,
            )
        except DoseError as error:
            facts.reports.append(Report("facts", ref, f"daily dose of {match.name} not computed: {error}"))
            fact["dose"] = "not-computed"
            dose_evidence.dose_note = str(error)
            dose_evidence.dose_reason = error.code
        else:
            impossible = _impossible_dose(dose, med_class)
            if impossible:
                facts.reports.append(Report("facts", ref, f"daily dose of {match.name} {impossible}; not checked"))
                fact["dose"] = "not-computed"
                dose_evidence.dose_note, dose_evidence.dose_reason = impossible, "no-dose"
            else:
                _dose_fields(dose, fact, dose_evidence)
    # an impossible length was reported by the med fact of the same order; here it is only left out
    course = _engine_course(course_of(resource, "MedicationRequest", list(resource.dosageInstruction or [])).fields())
    if "course_days" in fact:  # the dose arithmetic found a bounded regimen: that is the course
        course = {"course": "bounded", "course_days": fact["course_days"]}
    facts.add({**fact, **course}, dose_evidence)


def _vitd_total(
    products: list[tuple[Any, str, bool, MedMatch, Any, list[Any]]], knowledge: Knowledge, facts: FactSet
) -> None:
    """Vitamin D per day from every active product and the draft under review, added up (issue 18).

    Only when a vitamin D order is under review and at least one other product is in use. A product whose
    dose cannot be computed makes the total unknown (reported, not guessed). A statement derived from a
    request in the record, and the prescription a draft renews, are not counted twice.
    """
    if not any(under_review for _, _, under_review, _, _, _ in products):
        return
    replaced: set[str] = set()
    for resource, *_ in products:
        for link in list(getattr(resource, "derivedFrom", None) or []) + list(getattr(resource, "basedOn", None) or []):
            if link.reference:
                replaced.add(link.reference)
        prior = getattr(resource, "priorPrescription", None)
        if prior is not None and prior.reference:
            replaced.add(prior.reference)
    counted = [p for p in products if p[1] not in replaced]
    by_ref: dict[str, tuple[Any, str, bool, MedMatch, Any, list[Any]]] = {}
    for product in counted:
        by_ref.setdefault(product[1], product)
    if len(by_ref) < 2:
        return
    total = 0.0
    refs = []
    for _resource, ref, _, match, medication, dosages in by_ref.values():
        ingredient = knowledge.medications.classes[match.med_class].ingredients.get(match.ingredient or "")
        try:
            dose = daily_dose(
                dosages,
                match.med_class,
                ingredient,
                medication,
                knowledge,
                _ingredient_matcher(match.med_class, knowledge),
            )
        except DoseError as error:
            facts.reports.append(Report("facts", ref, f"total vitamin D not computed: {match.name}: {error}"))
            # said on a card too, not only in the report (review R8): the sum was not checked, and why
            facts.add(
                {"kind": "vitd-total-unknown", "products": len(by_ref)},
                Evidence(
                    "vitd-total-unknown",
                    derived_from=list(by_ref),
                    med_class=knowledge.daily_total_class,
                    name=match.name,
                    dose_reason=error.code,
                ),
            )
            return
        if dose.per_day is None:
            continue  # a one-off dose is not daily intake
        total += dose.per_day
        refs.append(ref)
    if len(refs) < 2:
        return
    totalled = knowledge.daily_total_class
    assert totalled is not None  # products are collected only for a daily_total class
    plausible = knowledge.medications.classes[totalled].plausible_daily_dose
    if not math.isfinite(total) or (plausible is not None and not plausible.low <= total <= plausible.high):
        facts.reports.append(Report("facts", refs[0], f"total vitamin D {total:.6g} ug/day is not possible; left out"))
        return
    facts.add(
        {"kind": "vitd-total", "daily_dose": engine_number(round(total, 3)), "products": len(refs)},
        Evidence("vitd-total", value=round(total, 3), unit="ug", derived_from=refs, med_class=totalled),
    )


def _ingredient_matcher(med_class: str, knowledge: Knowledge) -> Any:
    """Which of the class's ingredients a Medication.ingredient item is (none: another ingredient)."""

    def match(concept: Any) -> list[str]:
        if concept is None:
            return []
        matches = classify_medication([concept], knowledge)
        mine = [m for m in matches if m.med_class == med_class]
        if any(m.med_class != med_class for m in matches) and not any(m.ingredient for m in mine):
            # A combination coded as one ingredient (Calci-Chew D3 as A12AX): its strength may be the other
            # component's (500 mg calcium), so it is never read as this class's ingredient.
            return []
        return [m.ingredient or m.med_class for m in mine]

    return match


def _dose_fields(dose: Any, fact: Fact, evidence: Evidence) -> None:
    """The computed dose on the order fact (rules) and its evidence (card text)."""
    fact["dose"] = "one-off" if dose.one_off else "computed"
    fact["single_dose"] = engine_number(round(dose.single, 3))
    if dose.per_day is not None:
        fact["daily_dose"] = engine_number(round(dose.per_day, 3))
        evidence.value = round(dose.per_day, 3)
    if dose.course_days is not None:
        fact["course_days"] = engine_number(round(dose.course_days, 2))
    evidence.unit = dose.unit
    evidence.single_dose = round(dose.single, 3)
    evidence.course_days = dose.course_days
    evidence.upper_bound = dose.upper_bound


def _impossible_dose(dose: Any, med_class: MedicationClass) -> str | None:
    """Why a computed dose cannot be meant as written (outside the class's plausibility bounds), or None."""
    plausible = med_class.plausible_daily_dose
    numbers = [n for n in (dose.per_day, dose.single) if n is not None]
    if dose.course_days is not None and not (
        math.isfinite(dose.course_days) and 0 <= dose.course_days < MAX_COURSE_DAYS
    ):
        return f"over {dose.course_days:.6g} days is not possible"
    for number in numbers:
        if not math.isfinite(number) or (plausible is not None and not plausible.low <= number <= plausible.high):
            bounds = f" (plausible: {plausible.low:g}-{plausible.high:g})" if plausible is not None else ""
            return f"{number:.6g} {dose.unit} is not possible{bounds}"
    return None


def _engine_course(fields: dict[str, Any]) -> dict[str, Any]:
    if "course_days" in fields:
        return fields | {"course_days": engine_number(fields["course_days"])}
    return fields


def engine_number(value: float) -> float:
    """A finite value in a form durable-rules parses: plain decimal JSON text (no exponent, no -0).

    Values closer to zero than ENGINE_MIN become 0.0 (no analyte or dose is meaningful there); a value
    outside +/-ENGINE_MAX is refused (ValueError): callers range-check first, so that is our bug.
    """
    if not math.isfinite(value) or abs(value) >= ENGINE_MAX:
        raise ValueError(f"{value!r} cannot be given to the rule engine")
    return 0.0 if abs(value) < ENGINE_MIN else float(value)
