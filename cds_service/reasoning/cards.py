"""Card rendering: card intents from the rule engine -> CDS Hooks cards in Dutch or English.

One card per catalog code: the most urgent intent wins, the reasons of all intents of that code are shown.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import uuid
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from cds_service.cdshooks.models import INDICATOR_RANK, Action, Card, Coding, Link, Source, Suggestion
from cds_service.knowledge.loader import (
    ATC,
    LOINC,
    VITD25_CUTOFFS,
    CardDefinition,
    Knowledge,
    MedicationClass,
    MedicationProposal,
    Profile,
    SuggestionTemplate,
    UpperLimitBand,
    UpperLimits,
    Vitd25Cutoffs,
    age_band_words,
    normalise_unit,
)
from cds_service.knowledge.medication_classes import ingredient_names_in
from cds_service.reasoning.engine import Derived
from cds_service.reasoning.facts import Evidence, FactSet

SUMMARY_MAX = 139  # CDS Hooks: a summary under 140 characters
logger = logging.getLogger("vitdmg_cds")


@dataclass(frozen=True)
class RenderContext:
    locale: str
    profile: str
    patient_id: str
    now: datetime | None = None  # timing of follow-up lab suggestions ("in 8-12 weeks")


def render_cards(
    derived: list[Derived],
    facts: FactSet,
    knowledge: Knowledge,
    ctx: RenderContext,
    signatures: dict[str, str] | None = None,
) -> list[Card]:
    """One card per catalog code; `signatures` receives, per card uuid, a digest of the data it rests on."""
    by_id = {d.id: d for d in derived}
    intents: dict[str, list[Derived]] = {}
    for d in derived:
        if d.kind == "card":
            intents.setdefault(str(d.fields["code"]), []).append(d)
    cards = []
    claimed: set[str] = set()  # resources a suggestion already creates: one suggestion per order (issue 10)
    record_values = _record_values(facts, knowledge, ctx) if intents else None  # the same for every card
    for code in sorted(intents, key=lambda c: (-max(INDICATOR_RANK[i.fields["indicator"]] for i in intents[c]), c)):
        chosen = max(intents[code], key=lambda i: INDICATOR_RANK[i.fields["indicator"]])
        evidence_ids: list[str] = []
        for intent in intents[code]:
            for fact_id in _input_facts(intent, by_id):
                if fact_id not in evidence_ids:
                    evidence_ids.append(fact_id)
        why = [facts.evidence[i] for i in evidence_ids]
        card = _render(knowledge.cards[code], chosen, why, facts, knowledge, ctx, claimed, record_values)
        if signatures is not None:
            signatures[card.uuid] = _signature(why)
        cards.append(card)
    return cards


def _signature(why: list[Evidence]) -> str:
    """Locale-free digest of the facts behind a card: a newer result or another medication changes it."""
    parts = sorted(f"{e.kind}|{e.reference}|{e.analyte}|{e.value}|{e.date}|{e.med_class}" for e in why)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _input_facts(intent: Derived, by_id: dict[str, Derived]) -> list[str]:
    """The input facts behind a derived fact, following findings back to the record."""
    found: list[str] = []
    for fact_id in intent.because:
        found += _input_facts(by_id[fact_id], by_id) if fact_id in by_id else [fact_id]
    return found


def _render(
    definition: CardDefinition,
    intent: Derived,
    why: list[Evidence],
    facts: FactSet,
    knowledge: Knowledge,
    ctx: RenderContext,
    claimed: set[str] | None = None,
    record_values: dict[str, Any] | None = None,
) -> Card:
    loc = ctx.locale
    common = knowledge.card_common
    variant_name = str(intent.fields["variant"])
    variant = definition.variants[variant_name]
    values = _template_values(why, facts, knowledge, ctx, record_values)
    summary = variant.summary[loc].format_map(values)
    if variant.summary[loc].startswith("{"):  # a drug or condition name opens the line: "Ciprofloxacine: …"
        summary = summary[:1].upper() + summary[1:]
    if len(summary) > SUMMARY_MAX:  # our text plus an extreme value: cut and log it, never fail the call
        logger.error("card summary truncated", extra={"event": {"card": definition.code, "length": len(summary)}})
        summary = summary[: SUMMARY_MAX - 1].rstrip() + "…"
    advice = variant.advice[loc].format_map(values)
    if variant.advice[loc].startswith("{"):
        advice = advice[:1].upper() + advice[1:]
    lines = [advice, "", f"**{common.headings['why'][loc]}**"]
    # once each (R16), and a draft order once: as the order, not again as medication in the same session (Q8)
    ordered = {e.reference for e in why if e.kind == "order"}
    shown = [e for e in why if not (e.kind == "med" and e.reference in ordered)]
    lines += [f"- {line}" for line in dict.fromkeys(_describe(e, knowledge, loc) for e in shown)]
    chosen = str(intent.fields["variant"])
    cited = [knowledge.citations[c] for c in knowledge.card_citations(definition, ctx.profile, chosen)]
    lines += ["", f"**{common.headings['sources'][loc]}**"]
    lines += [f"- [{c.title}]({c.url})" if c.url else f"- {c.title}" for c in cited]
    profile = knowledge.profiles.profiles[ctx.profile]
    if profile.superseded is not None:
        lines += ["", f"_{profile.label[loc]}: {profile.superseded[loc]}_"]
    lines += [
        "",
        f"_{common.headings['profile'][loc]}: {profile.label[loc]} · "
        f"{common.headings['knowledge'][loc]}: {knowledge.version}_",
    ]
    suggestions = _unclaimed(_suggestions(variant.suggestions, why, facts, knowledge, ctx), claimed)
    source_label = f"{common.source_label[loc]} {knowledge.version}"
    if profile.superseded is not None:
        source_label += f" · {profile.label[loc]}"
    return Card(
        uuid=str(uuid.uuid4()),
        summary=summary,
        detail="\n".join(lines),
        indicator=intent.fields["indicator"],
        source=Source(
            label=source_label,
            topic=Coding(system=common.topic_system, code=definition.code, display=definition.title[loc]),
        ),
        links=[Link(label=c.label or c.title, url=c.url, type="absolute") for c in cited if c.url] or None,
        suggestions=suggestions or None,
        selectionBehavior=_selection_behavior(suggestions),
        overrideReasons=[
            Coding(system=common.override_reason_system, code=code, display=text[loc])
            for code, text in {**definition.override_reasons, **common.override_reasons}.items()
        ],
    )


def _creates(suggestion: Suggestion) -> list[str]:
    """What each create action of a suggestion makes: resource type and its first coding (or text)."""
    keys = []
    for action in suggestion.actions or []:
        resource = action.resource if isinstance(action.resource, dict) else None
        if action.type != "create" or resource is None:
            continue
        concept = resource.get("code") or resource.get("medicationCodeableConcept") or {}
        coding = (concept.get("coding") or [{}])[0]
        keys.append(
            f"{resource.get('resourceType')}|{coding.get('system')}|{coding.get('code') or concept.get('text')}"
        )
    return keys


def _unclaimed(suggestions: list[Suggestion], claimed: set[str] | None) -> list[Suggestion]:
    """Drop a suggestion that would create what an earlier (more urgent) card already suggests."""
    if claimed is None:
        return suggestions
    kept = []
    for suggestion in suggestions:
        keys = _creates(suggestion)
        if any(k in claimed for k in keys):
            continue
        claimed.update(keys)
        kept.append(suggestion)
    if kept and not any(s.isRecommended for s in kept):
        kept[0] = kept[0].model_copy(update={"isRecommended": True})
    return kept


def _selection_behavior(suggestions: list[Suggestion]) -> str | None:
    """`any` when every suggestion only creates (independent: repeat a test, start a supplement)."""
    if not suggestions:
        return None
    only_creates = all(a.type == "create" for s in suggestions for a in s.actions or [])
    return "any" if only_creates else "at-most-one"


def _number(value: float, locale: str, decimals: int | None = None) -> str:
    """A value as a GP writes it: whole numbers bare, below 3 two decimals (0,62 mmol/L), else one (29,9).

    Thousands grouped as each language writes them: 7.500 µg (300.000 IE) in Dutch, 7,500 µg (300,000 IU) in English.
    """
    if decimals is None:
        decimals = _decimals(value)
    # a float has at most 309 integer digits: enough precision that an extreme value (1e300) rounds, not raises
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP, context=_WIDE)
    text = f"{rounded:,.{decimals}f}" if abs(value) >= 1000 else f"{rounded:.{decimals}f}"
    return text.translate(_DUTCH_SEPARATORS) if locale == "nl" else text


_WIDE = Context(prec=400)
_DUTCH_SEPARATORS = str.maketrans({",": ".", ".": ","})


def _dose_number(value: float, locale: str, limit: float | None = None) -> str:
    """A dose of 100 or more whole (301,5 mg elemental magnesium is "302 mg"); one decimal only near a cut-off.

    Near the limit a whole number would hide which side of it the dose is on (250,4 mg against 250 mg; review T8).
    """
    if abs(value) < 100 or value == int(value):
        return _number(value, locale)
    near = limit is not None and abs(value - limit) < 1
    return _number(value, locale, 1 if near else 0)


def _decimals(value: float) -> int:
    return 0 if value == int(value) else 2 if abs(value) < 3 else 1


_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _date(iso: str | None, locale: str) -> str | None:
    """A result date as a GP writes it: Dutch dd-mm-jjjj, English "1 Oct 2026" (issue 11).

    The English form reads the same on both sides of the Atlantic (no 10/01 ambiguity); anything not a
    YYYY-MM-DD date is shown as sent.
    """
    if iso is None or len(iso) != 10 or iso[4] != "-" or iso[7] != "-":
        return iso
    year, month, day = iso.split("-")
    if not (year.isdigit() and month.isdigit() and day.isdigit() and 1 <= int(month) <= 12):
        return iso
    if locale == "nl":
        return f"{day}-{month}-{year}"
    return f"{int(day)} {_MONTHS_EN[int(month) - 1]} {year}"


def _range(evidence: Evidence, locale: str, knowledge: Knowledge | None = None) -> str:
    """A reference range printed whole: "0,70-1,00 mmol/L", "≥ 60 mL/min/1.73m2", "≤ 65 pg/mL".

    A lab's own range of a result it reported in another unit is shown in that unit first, then converted:
    "1.7-2.4 mg/dL = 0.70-0.99 mmol/L" (issue 11; a profile's default range only in the unit we compare in).
    """
    converted = _range_in(evidence.range, evidence.unit, locale, _decimals)
    factor = _reported_factor(evidence, knowledge) if evidence.range_source == "lab" else None
    if factor is None or evidence.range is None:
        return converted
    low, high = (None if x is None else round(x / factor, 6) for x in evidence.range)
    reported = _range_in((low, high), evidence.reported_unit, locale, _reported_decimals)
    return f"{reported} = {converted}"


def _reported_decimals(value: float) -> int:
    """The decimals a lab wrote a number with (1.7 -> 1), as _as_reported keeps them."""
    return len(_as_reported(value, "en").partition(".")[2])


def _range_in(
    bounds: tuple[float | None, float | None] | None,
    unit: str | None,
    locale: str,
    decimals_of: Callable[[float], int],
) -> str:
    low, high = bounds or (None, None)
    if low is not None and high is not None:
        decimals = max(decimals_of(low), decimals_of(high))
        return f"{_number(low, locale, decimals)}-{_number(high, locale, decimals)} {unit}"
    if low is not None:
        return f"≥ {_number(low, locale, decimals_of(low))} {unit}"
    if high is not None:
        return f"≤ {_number(high, locale, decimals_of(high))} {unit}"
    return "?"


def _reported_factor(evidence: Evidence, knowledge: Knowledge | None) -> float | None:
    """The factor from the lab's unit to ours when the lab reported in another unit we know, else None."""
    if knowledge is None or not evidence.analyte or not evidence.reported_unit or evidence.reported_value is None:
        return None
    if normalise_unit(evidence.reported_unit) == normalise_unit(evidence.unit or ""):
        return None
    analyte = knowledge.labs.analytes.get(evidence.analyte)
    factor = analyte.normalised_units.get(normalise_unit(evidence.reported_unit)) if analyte else None
    return float(factor) if factor else None


def _template_values(
    why: list[Evidence],
    facts: FactSet,
    knowledge: Knowledge,
    ctx: RenderContext,
    record_values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The values a card's texts may name; `record_values` (the same for every card of a response) if known."""
    loc = ctx.locale
    profile = knowledge.profiles.profiles[ctx.profile]
    values = dict(record_values if record_values is not None else _record_values(facts, knowledge, ctx))
    # interactions named per drug (issue 18): the drug and the binding product, from the order and from active
    # medication alike, in the card's language
    partners, binders = _chelation_classes(knowledge)
    values["partner"] = _names(why, partners, knowledge, loc) or "?"
    values["binder"] = _names(why, binders, knowledge, loc) or "magnesium"
    # what the patient has, not the group a rule reads (review T17): the drug, the condition, the magnesium product
    values["drug"] = _names(why, _drug_classes(knowledge), knowledge, loc) or "?"
    values["condition"] = _conditions(why, knowledge, loc) or "?"
    values["mg_product"] = _mg_products(why, knowledge, loc) or "?"
    for evidence in why:
        if evidence.kind == "order" and evidence.value is not None:
            unit = "µg" if evidence.unit == "ug" else evidence.unit
            limit, values["limit"] = _dose_limit(evidence, why, profile, loc, knowledge)
            values["dose"] = f"{_dose_number(evidence.value, loc, limit)} {unit}"
            if evidence.unit == "ug":  # vitamin D also in the units prescribers write (review R10)
                values["dose"] += _iu(evidence.value, knowledge, loc)
            values["course"] = _course_words(evidence, knowledge, loc)
        if evidence.kind == "vitd-total" and evidence.value is not None:
            limit, limit_text = _dose_limit(evidence, why, profile, loc, knowledge)
            values["total"] = f"{_dose_number(evidence.value, loc, limit)} µg{_iu(evidence.value, knowledge, loc)}"
            values["products"] = str(len(evidence.derived_from))
            values.setdefault("limit", limit_text)
    values.setdefault("course", "?")
    values.update(_dose_values(why, knowledge, loc))
    values.setdefault("total", "?")
    values.setdefault("products", "?")
    return values


def _record_values(facts: FactSet, knowledge: Knowledge, ctx: RenderContext) -> dict[str, Any]:
    """The values that do not depend on the card: the profile's limits and each analyte's latest result."""
    loc = ctx.locale
    cutoffs = knowledge.profiles.profiles[ctx.profile].vitd25
    values: dict[str, Any] = dict(_profile_values(knowledge, ctx.profile, loc))
    for evidence in facts.evidence.values():
        if evidence.kind == "lab" and evidence.analyte and evidence.value is not None:
            if evidence.unit_unknown:  # a bound without a unit is shown as sent, never converted
                values[f"{evidence.analyte}_value"] = _unitless(evidence, loc)
            else:
                values[f"{evidence.analyte}_value"] = _lab_value(evidence, knowledge, loc)
            values[f"{evidence.analyte}_date"] = _date(evidence.date, loc)
            values[f"{evidence.analyte}_range"] = _range(evidence, loc, knowledge) if evidence.range else "?"
            if evidence.analyte == "vitd25":
                values["vitd25_value"] = _vitd25_value(evidence, cutoffs, knowledge, loc)
    return values


@functools.lru_cache(maxsize=64)
def _profile_values(knowledge: Knowledge, profile_name: str, loc: str) -> dict[str, str]:
    """The profile's cut-offs and adult upper levels in words: worked out once per profile and language."""
    profile = knowledge.profiles.profiles[profile_name]
    cutoffs = profile.vitd25
    values = {
        "limit_" + k.rsplit("_", 1)[0]: f"{_number(getattr(cutoffs, k), loc)} {cutoffs.unit}" for k in VITD25_CUTOFFS
    }
    adult_vitd, adult_mg = profile.vitd_ul.bands[-1].ug_per_day, profile.mg_ul.bands[-1].mg_per_day
    values["vitd_ul_adult"] = f"{_number(adult_vitd or 0, loc)} µg{_iu(adult_vitd or 0, knowledge, loc)}"  # R17
    values["mg_ul_adult"] = f"{_number(adult_mg or 0, loc)} mg"
    return values


@functools.lru_cache(maxsize=8)
def _chelation_classes(knowledge: Knowledge) -> tuple[frozenset[str], frozenset[str]]:
    """The classes the knowledge flags as an interaction partner (the drug), and as a binder (Mg, Ca products)."""
    classes = knowledge.medications.classes.items()
    partners = frozenset(k for k, c in classes if c.interaction_partner)
    return partners, frozenset(k for k, c in classes if c.chelation_binder)


@functools.lru_cache(maxsize=8)
def _drug_classes(knowledge: Knowledge) -> frozenset[str]:
    """The classes the knowledge flags as the drug a card is about ({drug} of vitd-lowering-medication, T17)."""
    return frozenset(k for k, c in knowledge.medications.classes.items() if c.named_as_drug)


def _dose_values(why: list[Evidence], knowledge: Knowledge, loc: str) -> dict[str, str]:
    """{order_name}, {single}, {reason}/{reason_short} of the order a dose card is about (issue 18)."""
    reasons = knowledge.cards["dose-not-checked"].reasons if "dose-not-checked" in knowledge.cards else {}
    values: dict[str, str] = {}
    for e in why:
        if e.kind != "order" or not e.med_class:
            continue
        values.setdefault("order_name", _product_name(e, knowledge, loc))
        if e.single_dose is not None:
            values["single"] = f"{_number(e.single_dose, loc)} {'µg' if e.unit == 'ug' else e.unit}"
            if e.unit == "ug":  # the prescriber wrote IU/IE: show both
                iu = _in_iu(e.single_dose, knowledge)
                values["single"] += f" ({_number(iu, loc)} {'IE' if loc == 'nl' else 'IU'})"
        if e.dose_reason is not None:
            text = reasons.get(e.dose_reason, reasons.get("other", {})).get(loc, e.dose_reason)
            values["reason"] = values["reason_short"] = text
    for e in why:
        if e.kind == "vitd-total-unknown" and e.dose_reason is not None:  # which product's dose, and why (R8)
            reason = reasons.get(e.dose_reason, reasons.get("other", {})).get(loc, e.dose_reason)
            values["reason"] = values["reason_short"] = reason
            values["product"] = _product_name(e, knowledge, loc)
    if "reason" not in values and "other" in reasons:
        values["reason"] = values["reason_short"] = reasons["other"][loc]
    values.setdefault("single", "?")
    values.setdefault("order_name", "?")
    values.setdefault("product", "?")
    return values


def _unitless(evidence: Evidence, loc: str) -> str:
    """A bound sent without a unit ("<10"), as sent: the lab's number, and that it had no unit."""
    number = _number(evidence.reported_value if evidence.reported_value is not None else 0, loc)
    return f"{evidence.comparator or ''}{number} ({'zonder eenheid' if loc == 'nl' else 'no unit'})"


def _lab_value(evidence: Evidence, knowledge: Knowledge, loc: str) -> str:
    """A result as the lab reported it, then converted when the lab's unit is not the one we compare in.

    "1.5 mg/dL = 0.62 mmol/L" (issue 11: a US lab's magnesium in its own unit too).
    """
    converted, reported = _lab_parts(evidence, knowledge, loc)
    return converted if reported is None else f"{reported} = {converted}"


def _lab_parts(evidence: Evidence, knowledge: Knowledge, loc: str) -> tuple[str, str | None]:
    """The value in the unit we compare in, and the lab's own value and unit when that unit differs (else None).

    Near a cut-off (the reference range, the critical magnesium level) one more decimal where rounding would land
    on it: 0.699, not "0.70".
    """
    assert evidence.value is not None
    limits = [x for x in evidence.range or () if x is not None]
    if evidence.analyte == "mg":
        limits.append(float(knowledge.profiles.common["mg_critical_below"]["value"]))
    decimals = _decimals(evidence.value)
    if any(round(evidence.value, decimals) == x != evidence.value for x in limits):
        decimals += 1
    sign = evidence.comparator or ""
    converted = f"{sign}{_number(evidence.value, loc, decimals)} {evidence.unit}"
    if (
        evidence.reported_value is None
        or not evidence.reported_unit
        or normalise_unit(evidence.reported_unit) == normalise_unit(evidence.unit or "")
    ):
        return converted, None
    return converted, f"{sign}{_as_reported(evidence.reported_value, loc)} {evidence.reported_unit}"


def _as_reported(value: float, loc: str) -> str:
    """A lab's number with the decimals it was sent with (1.5 mg/dL stays 1.5, not 1.50)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if loc == "nl" else text


def _vitd25_value(evidence: Evidence, cutoffs: Vitd25Cutoffs, knowledge: Knowledge, loc: str) -> str:
    """The lab's value and unit as reported, then the value in the guideline's unit when that differs.

    One decimal; two where one would round onto a cut-off the value does not reach (29,96 is not "30,0").
    """
    units = knowledge.labs.analytes["vitd25"].normalised_units
    comparator = evidence.comparator or ""
    if evidence.unit_unknown:
        return _unitless(evidence, loc)
    reported_unit = evidence.reported_unit or evidence.unit or ""
    reported = evidence.reported_value if evidence.reported_value is not None else evidence.value
    assert reported is not None and evidence.value is not None
    in_profile_unit = evidence.value / units[normalise_unit(cutoffs.unit)]
    limits = [float(getattr(cutoffs, k)) for k in VITD25_CUTOFFS]

    def shown(value: float, unit_limits: list[float]) -> str:
        decimals = 2 if any(round(value, 1) == c and value != c for c in unit_limits) else 1
        return _number(value, loc, decimals if value != int(value) else 0)

    reported_in_profile_unit = normalise_unit(reported_unit) == normalise_unit(cutoffs.unit)
    text = f"{comparator}{shown(reported, limits if reported_in_profile_unit else [])} {reported_unit}"
    if not reported_in_profile_unit:
        text += f" = {comparator}{shown(in_profile_unit, limits)} {cutoffs.unit}"
    return text


def _names(why: list[Evidence], classes: AbstractSet[str], knowledge: Knowledge, loc: str) -> str:
    """The medication of these classes behind a card, by ingredient in the card's language (review T7)."""
    names = [
        _product_name(e, knowledge, loc)
        for e in why
        if e.kind in ("med", "order") and e.med_class is not None and e.med_class in classes
    ]
    return ", ".join(dict.fromkeys(names))


def _localised(key: str, names: list[str], loc: str) -> str:
    """An ingredient's name in the card's language: the Dutch name first in the value set, the English key."""
    return names[0] if loc == "nl" else key.replace("-", " ")


def _product_name(e: Evidence, knowledge: Knowledge, loc: str) -> str:
    """What a product is, for running text: its ingredients in the card's language.

    Never a product's display in capitals ("CALCIUMCARBONAAT/COLECALCIFEROL KAUWTABLET 1,25G/800IE" is
    "calciumcarbonaat/colecalciferol"; review T7). A product whose text names no ingredient we know is named by
    its class ("magnesiumhoudend antacidum").
    """
    med_class = knowledge.medications.classes.get(e.med_class or "")
    if med_class is None:
        return e.name or "?"
    for named_by in (med_class, *_reclassed_from(e, knowledge)):
        ingredient = named_by.ingredients.get(e.ingredient or "")
        if ingredient is not None and e.ingredient:
            return _localised(e.ingredient, ingredient.names, loc)
    found = []
    for class_name, key in ingredient_names_in(e.name or "", knowledge):
        found.append(_localised(key, knowledge.medications.classes[class_name].ingredients[key].names, loc))
    if found:
        return "/".join(dict.fromkeys(found))
    return med_class.label[loc]


def _conditions(why: list[Evidence], knowledge: Knowledge, loc: str) -> str:
    """The conditions behind a card, by their group in the card's language ("alcoholgebruiksstoornis")."""
    groups = [knowledge.conditions.groups[e.med_class].label[loc] for e in why if e.kind == "condition" and e.med_class]
    return ", ".join(dict.fromkeys(groups))


def _mg_products(why: list[Evidence], knowledge: Knowledge, loc: str) -> str:
    """Each magnesium-containing medicine by its kind and ingredient.

    "magnesiumhoudend laxeermiddel (magnesiumoxide)": a laxative or antacid is not "a magnesium supplement" (T16).
    """
    out = []
    for e in why:
        med_class = knowledge.medications.classes.get(e.med_class or "")
        if e.kind not in ("med", "order") or med_class is None:
            continue
        if not (med_class.contains_magnesium or any(c.contains_magnesium for c in _reclassed_from(e, knowledge))):
            continue  # magnesium given IV/IM is re-classed from a magnesium-containing class (review R2)
        name = _product_name(e, knowledge, loc)
        out.append(name if name == med_class.label[loc] else f"{med_class.label[loc]} ({name})")
    return ", ".join(dict.fromkeys(out))


def _dose_limit(
    order: Evidence, why: list[Evidence], profile: Profile, loc: str, knowledge: Knowledge
) -> tuple[float | None, str]:
    """The upper level that applies at the patient's age, with the age band: "100 µg = 4.000 IE (vanaf 11 jaar)".

    Which table is the dose's class's `upper_limit`; an order's or a total's evidence names the class.
    """
    med_class = knowledge.medications.classes.get(order.med_class or "")
    if med_class is None or med_class.upper_limit is None or med_class.dose_unit is None:
        return None, "?"
    unit = "µg" if med_class.dose_unit == "ug" else med_class.dose_unit
    return _band_limit(why, getattr(profile, med_class.upper_limit), unit, loc, knowledge)


def _iu(ug: float, knowledge: Knowledge, loc: str, *, joined: bool = False) -> str:
    """Micrograms of vitamin D in international units as well (review R10; 1 µg = 40 IU).

    " (4.000 IE)" after a dose; " = 4.000 IE" where brackets follow anyway (a limit and its age band).
    """
    text = f"{_dose_number(_in_iu(ug, knowledge), loc)} {'IE' if loc == 'nl' else 'IU'}"
    return f" = {text}" if joined else f" ({text})"


def _in_iu(ug: float, knowledge: Knowledge) -> float:
    """Micrograms of vitamin D in international units, by the profiles' one factor (1 µg = 40 IU)."""
    return ug * float(knowledge.profiles.common["iu_per_ug"]["value"])


def _band_limit(
    why: list[Evidence], limits: UpperLimits, unit: str, loc: str, knowledge: Knowledge
) -> tuple[float | None, str]:
    """The band's limit and its words.

    Neighbouring bands with the same limit are one band as the source states it: the tables split a band where a
    source has fewer (EFSA magnesium 250 mg "from 4 years" is not "9 years and older", review T10).
    """
    months = next((e.months for e in why if e.kind == "patient" and e.months is not None), None)
    band = limits.band(months)
    if band is None:
        return None, "?"

    def limit(b: UpperLimitBand) -> float | None:
        return b.ug_per_day if b.ug_per_day is not None else b.mg_per_day

    value = limit(band)
    assert value is not None
    start, end = band.from_months, band.below_months
    for other in reversed(limits.bands):
        if other.below_months == start and limit(other) == value:
            start = other.from_months
    for other in limits.bands:
        if other.from_months == end and limit(other) == value:
            end = other.below_months
    note = f"; {band.source_note[loc]}" if band.source_note else ""
    in_iu = _iu(value, knowledge, loc, joined=True) if unit == "µg" else ""
    return value, f"{_number(value, loc)} {unit}{in_iu} ({age_band_words(start, end, loc)}{note})"


def _course_words(order: Evidence, knowledge: Knowledge, loc: str) -> str:
    """{course} of a dose card: no course length stated, or a stated course longer than a treatment course (T12)."""
    words = knowledge.cards["vitd-dose-above-ul"].reasons if "vitd-dose-above-ul" in knowledge.cards else {}
    if order.course_days is not None and "course-long" in words:
        return words["course-long"][loc].format(days=_number(order.course_days, loc))
    return words["course-open"][loc] if "course-open" in words else "?"


_BASIS = {
    "elemental-stated": ("elementair magnesium volgens het product", "elemental magnesium as the product states"),
    "elemental-by-label": (
        "gelezen als elementair magnesium (het product noemt geen zoutmassa)",
        "read as elemental magnesium (the product states no salt mass)",
    ),
    "salt-stated": ("zoutmassa omgerekend naar elementair magnesium", "salt mass converted to elemental magnesium"),
}

_MATCHED_ON = {"atc": "ATC", "rxnorm": "RxNorm", "snomed": "SNOMED"}


def _describe(e: Evidence, knowledge: Knowledge, loc: str) -> str:
    """One line of the "why" section: the fact in words, and the resource it came from."""
    ref = f" ({e.reference})" if e.reference else ""
    nl = loc == "nl"
    if e.kind == "lab" and e.analyte and e.value is not None:
        label = knowledge.labs.analytes[e.analyte].label[loc]
        if e.unit_unknown:
            value = _unitless(e, loc)
        else:
            converted, reported = _lab_parts(e, knowledge, loc)
            value = converted if reported is None else f"{reported} (= {converted})"
        text = f"{label} {value} {'op' if nl else 'on'} {_date(e.date, loc)}"
        if e.range and e.range_source in ("lab", "profile"):
            source = {"lab": "lab", "profile": "profiel" if nl else "profile"}[e.range_source]
            text += f" (ref. {_range(e, loc, knowledge)}, {source})"
        elif e.range_source == "interpretation":
            text += (
                " ("
                + ("afwijkend volgens de lab-interpretatie" if nl else "abnormal by the lab's interpretation")
                + ")"
            )
        if e.note == "computed-ckd-epi-2021":  # not sent by the lab: computed here from creatinine, age and sex
            text += (
                " (berekend met CKD-EPI 2021 uit creatinine, leeftijd en geslacht)"
                if nl
                else " (computed by CKD-EPI 2021 from creatinine, age and sex)"
            )
        return text + ref
    if e.kind == "lab-missing" and e.analyte:
        label = knowledge.labs.analytes[e.analyte].label[loc]
        return (
            f"{'geen' if nl else 'no'} {label} {'binnen de terugkijkperiode' if nl else 'within the look-back window'}"
        )
    if e.kind in ("med", "order") and e.med_class:
        cls = knowledge.medications.classes[e.med_class].label[loc]
        how = (
            knowledge.card_common.headings["text_match"][loc]
            if e.matched_on == "text"
            else _MATCHED_ON.get(e.matched_on or "", "")
        )
        prefix = ("voorschrift: " if nl else "order: ") if e.kind == "order" else ""
        dose = (
            f", {_number(e.value, loc)} {'µg' if e.unit == 'ug' else e.unit}/{'dag' if nl else 'day'}"
            if e.value is not None
            else ""
        )
        route = (
            (", " + ("toedieningsweg niet vermeld" if nl else "route not stated")) if e.note == "route-unknown" else ""
        )
        if e.value is not None and e.upper_bound:
            dose = dose.replace(", ", ", " + ("tot " if nl else "up to "), 1)
        if e.dose_basis is not None and e.value is not None:
            dose += ", " + _BASIS[e.dose_basis][0 if nl else 1]
        if e.course_days is not None and e.value is not None:
            dose += f", {'kuur van' if nl else 'course of'} {_number(e.course_days, loc)} {'dagen' if nl else 'days'}"
        return f"{prefix}{_ingredient_name(e, knowledge, loc)} ({cls}; {how}{dose}{route}){ref}"
    if e.kind == "vitd-total" and e.value is not None:
        products = ", ".join(e.derived_from)
        return (
            f"{'vitamine D uit alle producten samen' if nl else 'vitamin D from all products together'}: "
            f"{_number(e.value, loc)} µg/{'dag' if nl else 'day'} ({products})"
        )
    if e.kind == "vitd-total-unknown":
        products = ", ".join(e.derived_from)
        together = "vitamine D uit alle producten samen" if nl else "vitamin D from all products together"
        return f"{together}: {'niet te berekenen' if nl else 'not computable'} ({products})"
    if e.kind == "order" and e.analyte:
        return f"{'aanvraag' if nl else 'order'}: {_order_label(e, knowledge, loc)}{ref}"
    if e.kind == "condition" and e.med_class:
        group = knowledge.conditions.groups[e.med_class].label[loc]
        return f"{group}: {e.name}{ref}"
    if e.kind == "condition-absent" and e.med_class:
        group = knowledge.conditions.groups[e.med_class].label[loc]
        return f"{'geen' if nl else 'no'} {group} {'geregistreerd' if nl else 'recorded'}"
    if e.kind == "patient" and e.value is not None:
        return f"{'leeftijd' if nl else 'age'} {_number(e.value, loc)}{ref}"
    return f"{e.kind}{ref}"


def _suggestions(
    templates: list[SuggestionTemplate],
    why: list[Evidence],
    facts: FactSet,
    knowledge: Knowledge,
    ctx: RenderContext,
) -> list[Suggestion]:
    missing = {e.analyte for e in facts.evidence.values() if e.kind == "lab-missing"}
    # one delete per draft order, however many facts of the card point at it (issue 18)
    orders = list({e.reference: e for e in why if e.kind == "order" and e.reference}.values())
    out: list[Suggestion] = []
    for template in templates:
        if template.when_missing and template.analyte not in missing:
            continue
        actions: list[Action] = []
        if template.kind in ("replace-order-with-lab", "delete-order"):
            actions += [
                Action(
                    type="delete",
                    description=_delete_label(o, knowledge, ctx.locale),
                    resourceId=o.reference,
                )
                for o in orders
            ]
        if template.kind in ("create-lab-order", "replace-order-with-lab") and template.analyte:
            actions.append(_lab_order(template.analyte, knowledge, ctx, template.after_weeks))
        if template.kind == "create-medication-order" and template.medication is not None:
            actions.append(_medication_order(template.medication, ctx, knowledge))
        actions = _distinct(actions)
        if actions:
            # isRecommended always sent (optional in CDS Hooks 2.0, required by some clients' models): the
            # first suggestion is the card's recommended one.
            out.append(
                Suggestion(
                    label=template.label[ctx.locale], uuid=str(uuid.uuid4()), isRecommended=not out, actions=actions
                )
            )
    return out


def _distinct(actions: list[Action]) -> list[Action]:
    """No action twice in one suggestion (the same delete or the same proposed resource)."""
    seen: set[str] = set()
    out = []
    for action in actions:
        key = action.model_dump_json(exclude={"description"})
        if key not in seen:
            seen.add(key)
            out.append(action)
    return out


def _delete_label(e: Evidence, knowledge: Knowledge, loc: str) -> str:
    """Which order is deleted: the product as the prescriber chose it identifies it."""
    return f"{'Annuleer' if loc == 'nl' else 'Delete the order'} {_order_label(e, knowledge, loc)}"


def _order_label(e: Evidence, knowledge: Knowledge, loc: str) -> str:
    """What the prescriber ordered, in words: the product's text or the test's name, never a bare code."""
    if e.analyte:
        return knowledge.labs.analytes[e.analyte].label[loc]
    if e.name:
        return _ingredient_name(e, knowledge, loc)
    return knowledge.medications.classes[e.med_class].label[loc] if e.med_class else "order"


def _ingredient_name(e: Evidence, knowledge: Knowledge, loc: str) -> str:
    """An ingredient matched by one of its names, named in the card's language (magnesiumoxide/magnesium oxide).

    A product's own text (a brand, a G-Standaard or RxNorm name) is shown as sent.
    """
    name = e.name or ""
    med_class = knowledge.medications.classes.get(e.med_class or "")
    if med_class is None:
        return name
    for named_by in (med_class, *_reclassed_from(e, knowledge)):
        for key, ingredient in named_by.ingredients.items():
            if name.lower() in (n.lower() for n in ingredient.names) or name.lower() == key.replace("-", " "):
                return ingredient.names[0] if loc == "nl" else key.replace("-", " ")
    return name


def _reclassed_from(e: Evidence, knowledge: Knowledge) -> tuple[MedicationClass, ...]:
    """The classes whose products given by another route count as `e`'s class (`parenteral_as`).

    Their ingredients name the product: "magnesium sulfate" given IV is mg-parenteral, named by mg-supplement's
    ingredients (review R12).
    """
    return _reclass_sources(knowledge).get(e.med_class or "", ())


@functools.lru_cache(maxsize=8)
def _reclass_sources(knowledge: Knowledge) -> dict[str, tuple[MedicationClass, ...]]:
    """Per class, the classes re-classed to it (`parenteral_as`): worked out once per knowledge, not per evidence."""
    sources: dict[str, list[MedicationClass]] = {}
    for med_class in knowledge.medications.classes.values():
        if med_class.parenteral_as:
            sources.setdefault(med_class.parenteral_as, []).append(med_class)
    return {target: tuple(found) for target, found in sources.items()}


def _lab_order(
    analyte: str, knowledge: Knowledge, ctx: RenderContext, after_weeks: tuple[int, int] | None = None
) -> Action:
    definition = knowledge.labs.analytes[analyte]
    display = definition.loinc[definition.order_code]
    label = definition.label[ctx.locale]
    timing: dict[str, Any] = {}
    if after_weeks is not None and ctx.now is not None:
        # a follow-up test carries its timing, so the created order is not done today by mistake
        start, end = (ctx.now + timedelta(weeks=w) for w in after_weeks)
        timing = {"occurrencePeriod": {"start": start.date().isoformat(), "end": end.date().isoformat()}}
    return _proposal(
        "ServiceRequest",
        ("Vraag aan: " if ctx.locale == "nl" else "Order: ") + label,
        {"code": {"coding": [{"system": LOINC, "code": definition.order_code, "display": display}], "text": label}},
        timing,
        ctx,
    )


def _proposal(kind: str, description: str, what: dict[str, Any], how: dict[str, Any], ctx: RenderContext) -> Action:
    """A draft order of `kind` for the clinician to sign: what is ordered, for this patient, then how."""
    return Action(
        type="create",
        description=description,
        resource={
            "resourceType": kind,
            "status": "draft",
            "intent": "proposal",
            **what,
            "subject": {"reference": f"Patient/{ctx.patient_id}"},
            **how,
        },
    )


def _medication_order(proposal: MedicationProposal, ctx: RenderContext, knowledge: Knowledge | None = None) -> Action:
    display = proposal.display[ctx.locale]
    # nl-be/dach EHRs code medication with ATC; for US profiles no RxNorm code of these products is verified,
    # so the proposal is text only (the clinician picks the product)
    by_text = knowledge is not None and knowledge.profiles.profiles[ctx.profile].medication_coding == "text"
    concept: dict[str, Any] = (
        {"text": display} if by_text else {"coding": [{"system": ATC, "code": proposal.atc}], "text": display}
    )
    unit = proposal.dose_unit
    if proposal.dose_code == "[iU]":
        unit = "IE" if ctx.locale == "nl" else "IU"
    return _proposal(
        "MedicationRequest",
        ("Voorstel: " if ctx.locale == "nl" else "Proposal: ") + display,
        {"medicationCodeableConcept": concept},
        {
            "dosageInstruction": [
                {
                    "text": display,
                    "timing": {
                        "repeat": {
                            "frequency": proposal.frequency,
                            "period": proposal.period,
                            "periodUnit": proposal.period_unit,
                        }
                    },
                    "route": {
                        "coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral route"}]
                    },
                    "doseAndRate": [
                        {
                            "doseQuantity": {
                                "value": proposal.dose_value,
                                "unit": unit,
                                "system": "http://unitsofmeasure.org",
                                "code": proposal.dose_code,
                            }
                        }
                    ],
                }
            ],
        },
        ctx,
    )
