"""The clinical knowledge in `rules/`: value sets, profiles, findings, a folder per recommendation; loaded, checked."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

LOINC = "http://loinc.org"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
HOOK_GROUPS = ("patient-view", "orders")  # the rulesets per hook: patient-view, and the order hooks together


def hook_group(hook: str) -> str:
    """The ruleset a hook's call is evaluated with (order-select and order-sign share "orders")."""
    return "patient-view" if hook == "patient-view" else "orders"


LOCALES = ("nl", "en")


def _both_languages(text: dict[str, str]) -> dict[str, str]:
    if set(text) != set(LOCALES) or not all(text.values()):
        raise ValueError(f"needs non-empty texts in exactly {LOCALES}, got {sorted(text)}")
    return text


Text = Annotated[dict[str, str], AfterValidator(_both_languages)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Plausible(_Model):
    """Plausibility bounds (not clinical thresholds): outside them a value cannot be real and is left out."""

    low: float
    high: float


class Analyte(_Model):
    """One laboratory analyte with its codes and the units it may be reported in."""

    label: Text
    lookback: Literal["status", "chemistry"]
    canonical_unit: str
    order_code: str
    loinc: dict[str, str]
    units: dict[str, float]
    status_result: bool = True
    plausible: Plausible | None = None

    @cached_property
    def normalised_units(self) -> dict[str, float]:
        return {normalise_unit(unit): factor for unit, factor in self.units.items()}


class EgfrFormula(_Model):
    """CKD-EPI 2021 creatinine equation coefficients (labs.yaml `egfr_from_creatinine`), cited."""

    constant: float
    kappa: dict[Literal["female", "male"], float]
    alpha: dict[Literal["female", "male"], float]
    upper_exponent: float
    age_base: float
    female_factor: float
    min_age_years: float
    cite: list[str]


class LabValueSets(_Model):
    version: str
    cite: list[str]
    analytes: dict[str, Analyte]
    egfr_from_creatinine: EgfrFormula | None = None


class Ingredient(_Model):
    names: list[str]
    atc: list[str] = Field(default_factory=list)
    rxnorm: list[str] = Field(default_factory=list)
    snomed: list[str] = Field(default_factory=list)
    elemental_fraction: float | None = None
    dose_comparable: bool = True


class MedicationClass(_Model):
    """A medication class named by meaning, with its codes per system and ingredient names."""

    label: Text
    cite: list[str]
    ingredients: dict[str, Ingredient]
    atc_prefixes: list[str] = Field(default_factory=list)
    requires_systemic_route: bool = False
    oral_only: bool = False
    # an oral-only class given by a parenteral route counts as this class instead of being left out
    # (magnesium sulfate IV/IM: review F25)
    parenteral_as: str | None = None
    # "contains magnesium" (issue 18): renal and chelation rules read every such class, the upper-limit
    # rule only the supplements
    contains_magnesium: bool = False
    # the two sides of an interaction card (issue 17: named in the knowledge, not in code): the drug it names
    # as {partner} (chelation spacing, vitamin D absorption), and the magnesium or calcium product that binds
    # a partner in the gut, {binder}
    interaction_partner: bool = False
    chelation_binder: bool = False
    plausible_daily_dose: Plausible | None = None
    # what code does with a class, flagged here rather than named in code (issue 17):
    # an order's daily dose is computed in this unit and checked against an upper level; a dose that cannot be
    # computed gets a "dose not checked" card. ug: µg vitamin D (IU converted, a form not `dose_comparable` is
    # refused); mg: mg elemental magnesium (a salt's mass by its `elemental_fraction`, mmol/mEq of Mg2+)
    dose_unit: Literal["ug", "mg"] | None = None
    # the profile's upper-level table a dose card compares the order's dose with ({limit})
    upper_limit: Literal["vitd_ul", "mg_ul"] | None = None
    # every active product of this class and the order under review are added up (the vitd-total fact, issue 18)
    daily_total: bool = False
    # the drug a card is about, named by its ingredient as {drug} (review T17)
    named_as_drug: bool = False


class DispenseUse(_Model):
    """When a dispense or an administration implies current use (local policy, cited)."""

    default_supply_days: float
    grace_days: float
    administration_recent_days: float
    cite: list[str]


class MedicationValueSets(_Model):
    version: str
    snomed_status: str
    dispense_use: DispenseUse
    classes: dict[str, MedicationClass]


class Brand(_Model):
    """A proprietary product name and the class/ingredient its label states."""

    med_class: str = Field(alias="class")
    ingredient: str
    cite: list[str]


class BrandList(_Model):
    version: str
    brands: dict[str, Brand]


class ConditionGroup(_Model):
    label: Text
    cite: list[str]
    snomed: list[str] = Field(default_factory=list)
    icd10: list[str] = Field(default_factory=list)
    # ICD-10 codes matched exactly, where a prefix would take in a different meaning (WHO Z33 "pregnant
    # state" vs ICD-10-CM Z33.2 "elective termination", issue 18)
    icd10_exact: list[str] = Field(default_factory=list)


class ConditionValueSets(_Model):
    version: str
    cite: list[str]
    systems: dict[Literal["snomed", "icd10"], list[str]]
    groups: dict[str, ConditionGroup]


VITD25_CUTOFFS = ("deficient_below", "insufficient_below", "caution_above", "harmful_from")


class Vitd25Cutoffs(_Model):
    """A guideline's 25(OH)D cut-offs in the guideline's own unit (compared in that unit, see `thresholds`)."""

    unit: Literal["nmol/L", "ng/mL"]
    deficient_below: float
    insufficient_below: float
    caution_above: float
    harmful_from: float


class UpperLimitBand(_Model):
    """An upper intake level for ages from `from_months` up to (not including) `below_months`."""

    from_months: float
    below_months: float
    ug_per_day: float | None = None
    mg_per_day: float | None = None
    source_note: dict[str, str] | None = None
    """Words after the age band when the band's limit comes from another source than the table's (review R9)."""


class UpperLimits(_Model):
    cite: list[str]
    bands: list[UpperLimitBand]

    def band(self, months: float | None) -> UpperLimitBand | None:
        """The band for an age in completed months, or None (no age, or an age no band covers)."""
        if months is None:
            return None
        return next((b for b in self.bands if b.from_months <= months < b.below_months), None)


class Profile(_Model):
    """A guideline profile: its cut-offs, limits and sources.

    `unverified` names threshold paths that could not be verified at their source: every rule that reads one is
    left out for this profile, so it never reaches a card.
    """

    label: Text
    cite: list[str]
    vitd25: Vitd25Cutoffs
    vitd_ul: UpperLimits
    mg_ul: UpperLimits
    superseded: Text | None = None
    unverified: list[str] = Field(default_factory=list)
    background: list[str] = Field(default_factory=list)
    medication_coding: Literal["atc", "text"] = "atc"  # how medication proposals are coded for this profile's EHRs


class Profiles(_Model):
    version: str
    upper_limits: dict[str, UpperLimits]
    profiles: dict[str, Profile]
    common: dict[str, Any]


CitationKind = Literal[
    "guideline", "label", "regulator", "review", "local-policy", "study", "background", "terminology"
]
CARD_KINDS = ("guideline", "label", "regulator", "review", "local-policy")
"""The kinds of source a card may show; a single `study` (a trial, a cohort: review R6), `background` (the seed
texts) and `terminology` never appear on a card: they may stand behind a rule, not in front of a clinician."""
PROFILE_CITES = ("profile:vitd25", "profile:vitd-ul", "profile:mg-ul")
"""Card `cite` entries that stand for the active profile's sources (resolved per profile)."""


class Citation(_Model):
    """A source. `title` and `label` are shown on cards; `note` is internal provenance and never rendered."""

    title: str
    kind: CitationKind
    label: str | None = None
    where: str | None = None
    url: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _primary_sources_have_urls(self) -> Citation:
        if self.kind in ("guideline", "label", "regulator", "review", "study") and not (self.url or "").startswith(
            "https://"
        ):
            raise ValueError(f"a {self.kind} citation needs an https url")
        return self


class Rule(_Model):
    """One forward-chaining rule: `when` is a list of `{kind: {field: value-or-condition}}` joins.

    `unless` items in the same form each withdraw the rule's result when any fact matches them (rule_language.py).
    """

    id: str
    when: list[dict[str, dict[str, Any]]]
    unless: list[dict[str, dict[str, Any]]] = Field(default_factory=list)
    then: dict[str, Any]
    cite: list[str] = Field(default_factory=list)
    enabled_if: str | None = None

    @model_validator(mode="after")
    def _one_output(self) -> Rule:
        if ("finding" in self.then) == ("card" in self.then):
            raise ValueError(f"rule {self.id}: `then` needs exactly one of `finding` or `card`")
        return self


class RuleFile(_Model):
    """rules/findings.yaml: the findings every hook group shares."""

    version: str
    rules: list[Rule]


class RecommendationRules(_Model):
    """rules/recommendations/<code>/rules.yaml: the rules that emit the folder's card, per hook group."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    version: str
    patient_view: list[Rule] = Field(default_factory=list, alias="patient-view")
    orders: list[Rule] = Field(default_factory=list)

    def group(self, name: str) -> list[Rule]:
        return list(self.patient_view if name == "patient-view" else self.orders)


class MedicationProposal(_Model):
    """A draft MedicationRequest a card may propose: product by ATC, one dose, a simple schedule."""

    atc: str
    display: Text
    dose_value: float
    dose_unit: str
    dose_code: str
    frequency: int
    period: float
    period_unit: Literal["d", "wk", "mo"]
    cite: list[str]


class SuggestionTemplate(_Model):
    kind: Literal["create-lab-order", "replace-order-with-lab", "delete-order", "create-medication-order"]
    label: Text
    analyte: str | None = None
    when_missing: bool = False
    medication: MedicationProposal | None = None
    after_weeks: tuple[int, int] | None = None  # a follow-up test: the created order carries this window


class CardVariant(_Model):
    summary: Text
    advice: Text
    suggestions: list[SuggestionTemplate] = Field(default_factory=list)
    # sources of this variant only (e.g. the paediatric guideline of a child variant), after the card's own
    cite: list[str] = Field(default_factory=list)


class CardDefinition(_Model):
    """A catalog card: its code, texts per variant in nl and en, and its citations."""

    code: str
    version: str
    title: Text
    cite: list[str]
    variants: dict[str, CardVariant]
    # texts for the `{reason}` of a card, per reason code (dose-not-checked: why the dose was not computed)
    reasons: dict[str, Text] = Field(default_factory=dict)
    # override reasons of this card, offered before the common ones (issue 18)
    override_reasons: dict[str, Text] = Field(default_factory=dict)


class CardCommon(_Model):
    version: str
    source_label: Text
    topic_system: str
    override_reason_system: str
    override_reasons: dict[str, Text]
    headings: dict[str, Text]


class Knowledge(_Model):
    """Everything under `rules/`, validated and cross-checked."""

    def __hash__(self) -> int:  # loaded once and never changed: identity is enough for caches
        return id(self)

    version: str
    labs: LabValueSets
    medications: MedicationValueSets
    brands: BrandList
    conditions: ConditionValueSets
    profiles: Profiles
    citations: dict[str, Citation]
    rulesets: dict[str, list[Rule]]
    cards: dict[str, CardDefinition]
    card_common: CardCommon

    @model_validator(mode="after")
    def _cross_check(self) -> Knowledge:
        problems: list[str] = []
        cited: list[tuple[str, list[str]]] = [("labs", self.labs.cite), ("conditions", self.conditions.cite)]
        cited += [(f"medication class {k}", c.cite) for k, c in self.medications.classes.items()]
        cited += [(f"condition group {k}", g.cite) for k, g in self.conditions.groups.items()]
        cited += [(f"brand {k}", b.cite) for k, b in self.brands.brands.items()]
        cited.append(("medications dispense_use", self.medications.dispense_use.cite))
        if self.labs.egfr_from_creatinine is not None:
            cited.append(("labs egfr_from_creatinine", self.labs.egfr_from_creatinine.cite))
        for name, brand in self.brands.brands.items():
            med_class = self.medications.classes.get(brand.med_class)
            if med_class is None or brand.ingredient not in med_class.ingredients:
                problems.append(f"brand {name}: no ingredient {brand.ingredient!r} in class {brand.med_class!r}")
        for group in ("patient-view", "orders"):
            ids = [r.id for r in self.rulesets.get("findings", []) + self.rulesets.get(group, [])]
            problems += [
                f"rule id {i!r} used twice (findings + {group})" for i in sorted({i for i in ids if ids.count(i) > 1})
            ]
        for name, med_class in self.medications.classes.items():
            if med_class.parenteral_as is not None and med_class.parenteral_as not in self.medications.classes:
                problems.append(f"medication class {name}: parenteral_as names no class {med_class.parenteral_as!r}")
            if (med_class.dose_unit is None) != (med_class.upper_limit is None):
                problems.append(f"medication class {name}: dose_unit and upper_limit go together")
            if med_class.daily_total and med_class.dose_unit != "ug":
                problems.append(f"medication class {name}: daily_total adds up vitamin D, it needs dose_unit ug")
        totalled = [name for name, c in self.medications.classes.items() if c.daily_total]
        if len(totalled) > 1:  # one vitd-total fact: two classes would be added up as one
            problems.append(f"medication classes {', '.join(totalled)}: only one class may have daily_total")
        cited += [
            (f"profile {k}", p.cite + p.vitd_ul.cite + p.mg_ul.cite + p.background)
            for k, p in self.profiles.profiles.items()
        ]
        cited += [(f"card {k}", [c for c in d.cite if c not in PROFILE_CITES]) for k, d in self.cards.items()]
        cited += [
            (f"card {k} variant {n}", [c for c in v.cite if c not in PROFILE_CITES])
            for k, d in self.cards.items()
            for n, v in d.variants.items()
        ]
        cited += [
            (f"card {k} suggestion", s.medication.cite)
            for k, c in self.cards.items()
            for v in c.variants.values()
            for s in v.suggestions
            if s.medication is not None
        ]
        cited += [(f"rule {r.id}", r.cite) for rules in self.rulesets.values() for r in rules]
        for key, value in self.profiles.common.items():
            cited.append((f"threshold {key}", list(value.get("cite", [])) if isinstance(value, dict) else []))
        for where, ids in cited:
            problems += [f"{where}: unknown citation {i!r}" for i in ids if i not in self.citations]
        for definition in self.cards.values():
            if not definition.cite:
                problems.append(f"card {definition.code}: no citation")
            for profile in self.profiles.profiles:
                problems += self._card_source_problems(definition, profile)
        for name, chosen in self.profiles.profiles.items():
            thresholds = self.thresholds(name)
            for path in chosen.unverified:
                if _lookup(thresholds, path) is None:
                    problems.append(f"profile {name}: unverified path {path!r} names no threshold")
        for group, rules in self.rulesets.items():
            for rule in rules:
                if rule.enabled_if is not None and all(
                    not isinstance(self.thresholds(name).get(rule.enabled_if), bool) for name in self.profiles.profiles
                ):  # a switch no profile has would keep the rule off everywhere, silently
                    problems.append(f"rule {rule.id}: enabled_if {rule.enabled_if!r} is no profile's switch")
                card = rule.then.get("card")
                if card is None:
                    continue
                variant = rule.then.get("variant", "default")
                if card not in self.cards:
                    problems.append(f"rule {rule.id}: card {card!r} has no recommendations/{card}/card.yaml")
                elif variant not in self.cards[card].variants:
                    problems.append(f"rule {rule.id}: card {card!r} has no variant {variant!r}")
                if group == "findings":
                    problems.append(f"rule {rule.id}: findings.yaml may not emit cards")
        emitted = {
            (str(rule.then["card"]), str(rule.then.get("variant", "default")))
            for rules in self.rulesets.values()
            for rule in rules
            if "card" in rule.then
        }
        for code, definition in self.cards.items():  # a variant no rule shows is text nobody reviews
            unshown = [v for v in definition.variants if (code, v) not in emitted]
            problems += [f"card {code}: no rule shows variant {v!r}" for v in unshown]
        if problems:
            raise ValueError("inconsistent knowledge:\n  " + "\n  ".join(problems))
        return self

    def profile_problem(self, profile: str) -> str | None:
        """Why `profile` is not one of this knowledge's profiles (naming the valid ids), or None if it is."""
        if profile in self.profiles.profiles:
            return None
        return f"unknown profile {profile!r}; choose one of {', '.join(self.profiles.profiles)}"

    @cached_property
    def daily_total_class(self) -> str | None:
        """The class whose products are added up per day (`daily_total`), if any."""
        return next((name for name, c in self.medications.classes.items() if c.daily_total), None)

    def lookback_months(self, analyte: str, status_months: int, chemistry_months: int) -> int:
        return status_months if self.labs.analytes[analyte].lookback == "status" else chemistry_months

    @cached_property
    def loinc_index(self) -> dict[str, str]:
        """LOINC code -> analyte."""
        return {code: name for name, a in self.labs.analytes.items() for code in a.loinc}

    @cached_property
    def condition_index(self) -> tuple[dict[tuple[str, str], list[str]], dict[str, list[tuple[str, str]]]]:
        """(system, code) -> groups for SNOMED; per ICD-10 system its (prefix, group) pairs. Built once."""
        exact: dict[tuple[str, str], list[str]] = {}
        prefixes: dict[str, list[tuple[str, str]]] = {}
        systems = self.conditions.systems
        for name, group in self.conditions.groups.items():
            for system in systems["snomed"]:
                for code in group.snomed:
                    exact.setdefault((system, code), []).append(name)
            for system in systems["icd10"]:
                prefixes.setdefault(system, []).extend((prefix, name) for prefix in group.icd10)
            for system in systems["icd10"]:
                for code in group.icd10_exact:
                    exact.setdefault((system, code), []).append(name)
        return exact, prefixes

    def condition_groups(self, system: str | None, code: str | None) -> list[str]:
        """The condition groups a coding belongs to: SNOMED codes exactly, ICD-10 codes by prefix."""
        if not isinstance(system, str) or not isinstance(code, str):
            return []
        exact, prefixes = self.condition_index
        groups = list(exact.get((system, code), []))
        groups += [g for p, g in prefixes.get(system, ()) if code.startswith(p) and g not in groups]
        return groups

    def _card_source_problems(self, definition: CardDefinition, profile: str) -> list[str]:
        where = f"card {definition.code} ({profile})"
        problems: list[str] = []
        variants: list[str | None] = [*definition.variants] or [None]
        for variant in variants:
            ids = self.card_citations(definition, profile, variant)
            problems += [
                f"{where}: cites {i!r} of kind {self.citations[i].kind}, not a source a card may show"
                for i in ids
                if i in self.citations and self.citations[i].kind not in CARD_KINDS
            ]
            if not any(i in self.citations and self.citations[i].url for i in ids):
                problems.append(f"{where}: no cited source with a url to link to")
        return list(dict.fromkeys(problems))

    def card_citations(self, definition: CardDefinition, profile: str, variant: str | None = None) -> list[str]:
        """The card's sources for the active profile: `profile:*` entries stand for the profile's own sources.

        With a variant: the card's sources, then the variant's own.
        """
        chosen = self.profiles.profiles[profile]
        by_ref = {
            "profile:vitd25": chosen.cite,
            "profile:mg-ul": chosen.mg_ul.cite,
            "profile:vitd-ul": chosen.vitd_ul.cite,
        }
        out: list[str] = []
        own = definition.variants[variant].cite if variant is not None and variant in definition.variants else []
        for entry in [*definition.cite, *own]:
            for cited in by_ref.get(entry, [entry]):
                if cited not in out:
                    out.append(cited)
        return out

    def thresholds(self, profile: str) -> dict[str, Any]:
        """The values a rule's `$name.path` may refer to: the profile's, then the common ones.

        25(OH)D cut-offs are given in the guideline's unit and converted here with the very factor that converts
        a result reported in that unit, so a result of exactly 20 ng/mL meets a 20 ng/mL cut-off exactly (and a
        result in the other unit is compared as if converted to the guideline's unit).
        """
        chosen = self.profiles.profiles[profile]
        values = {**self.profiles.common, **chosen.model_dump()}
        cutoffs = chosen.vitd25
        factor = self.labs.analytes["vitd25"].normalised_units[normalise_unit(cutoffs.unit)]
        values["vitd25"] = {k: float(getattr(cutoffs, k)) * factor for k in VITD25_CUTOFFS}
        values["unverified"] = list(chosen.unverified) + list(self.profiles.common.get("unverified", []))
        # supplemental magnesium: a warning only above `mg_ul_warning_factor` x the band's upper level (N1/N2)
        margin = (self.profiles.common.get("mg_ul_warning_factor") or {}).get("value")
        if margin is not None:
            for band in values["mg_ul"]["bands"]:
                if band.get("mg_per_day") is not None:
                    band["warning_above_mg_per_day"] = float(band["mg_per_day"]) * float(margin)
        return values


def _lookup(values: Any, path: str) -> Any:
    """The value at a dotted threshold path (`vitd25.harmful_from`, `bands.0.ug_per_day`), or None."""
    current = values
    for part in path.split("."):
        try:
            current = current[int(part)] if isinstance(current, list) else current[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return current


_UNIT_NOISE = re.compile(r"[\s{}_^*]")


def normalise_unit(unit: str) -> str:
    """Fold the spellings of one unit together: case, µ/μ/u, braces, spaces (`mL/min/{1.73_m2}`)."""
    return _UNIT_NOISE.sub("", unit.replace("µ", "u").replace("μ", "u").replace("²", "2")).lower()


def default_rules_dir() -> Path:
    """`rules/` beside the package in a checkout, else the copy packaged into the wheel."""
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent / "rules"
    return checkout if (checkout / "manifest.yaml").is_file() else package / "_rules"


def shipped_profiles() -> list[str]:
    """The profile ids of the packaged knowledge's profiles.yaml, without loading the rest (for help texts)."""
    return list(_read(default_rules_dir() / "profiles.yaml")["profiles"])


def _read(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


RECOMMENDATION_FILES = ("card.yaml", "rules.yaml", "cases.yaml")
"""Everything about one recommendation, in rules/recommendations/<code>/: its card texts, the rules that emit the
card (per hook group), and its catalog cases (tests/rules/test_catalog.py runs them; here only their version)."""


def load_knowledge(rules_dir: Path | None = None) -> Knowledge:
    """Load and validate every knowledge file; raises ValueError naming each inconsistency."""
    root = rules_dir or default_rules_dir()
    manifest = _read(root / "manifest.yaml")
    versions: dict[str, str] = {}  # file under rules/ -> the version it carries
    findings = RuleFile.model_validate(_read(root / "findings.yaml"))
    versions["findings.yaml"] = findings.version
    rulesets: dict[str, list[Rule]] = {"findings": list(findings.rules), **{g: [] for g in HOOK_GROUPS}}
    cards = {}
    for folder in sorted(p for p in (root / "recommendations").iterdir() if p.is_dir()):
        code, where = folder.name, f"recommendations/{folder.name}"
        for name in RECOMMENDATION_FILES:
            if not (folder / name).is_file():
                raise ValueError(f"{where}: no {name}")
        definition = CardDefinition.model_validate(_read(folder / "card.yaml"))
        if definition.code != code:
            raise ValueError(f"{where}/card.yaml: code {definition.code!r} does not match the folder name")
        cards[code] = definition
        rules = RecommendationRules.model_validate(_read(folder / "rules.yaml"))
        for group in HOOK_GROUPS:
            for rule in rules.group(group):
                if rule.then.get("card") != code:  # a folder holds everything about its own card, nothing else
                    raise ValueError(f"{where}/rules.yaml: rule {rule.id} emits {rule.then}, not card {code!r}")
            rulesets[group] += rules.group(group)
        cases = _read(folder / "cases.yaml")
        versions |= {
            f"{where}/card.yaml": definition.version,
            f"{where}/rules.yaml": rules.version,
            f"{where}/cases.yaml": str(cases.get("version", "missing")) if isinstance(cases, dict) else "missing",
        }
    parts: dict[str, Any] = {  # the files read whole into one model each
        "labs": LabValueSets.model_validate(_read(root / "valuesets" / "labs.yaml")),
        "medications": MedicationValueSets.model_validate(_read(root / "valuesets" / "medications.yaml")),
        "brands": BrandList.model_validate(_read(root / "valuesets" / "brands.yaml")),
        "conditions": ConditionValueSets.model_validate(_read(root / "valuesets" / "conditions.yaml")),
        "profiles": Profiles.model_validate(_read(root / "profiles.yaml")),
        "card_common": CardCommon.model_validate(_read(root / "card_common.yaml")),
    }
    files = {"profiles": "profiles.yaml", "card_common": "card_common.yaml"}
    versions |= {files.get(k, f"valuesets/{k}.yaml"): v.version for k, v in parts.items()}
    citations = dict(_read(root / "citations.yaml"))
    versions["citations.yaml"] = str(citations.pop("version", "missing"))  # beside the citations, no source's id
    check_versions(str(manifest["version"]), versions)
    return Knowledge(
        version=manifest["version"],
        citations={k: Citation.model_validate(v) for k, v in citations.items()},
        rulesets=rulesets,
        cards=cards,
        **parts,
    )


_VERSION = re.compile(r"(\d{4})\.(\d+)\.(\d+)")


def check_versions(release: str, versions: dict[str, str]) -> None:
    """Every knowledge file's version is YEAR.MINOR.PATCH and no newer than the release in rules/manifest.yaml.

    A file carries the release in which it last changed; one newer than the release it ships in was edited
    without bumping the manifest (or copied from a later release).
    """
    top = _VERSION.fullmatch(release)
    if top is None:
        raise ValueError(f"manifest.yaml: version {release!r} is not YEAR.MINOR.PATCH")
    problems = []
    for name, version in sorted(versions.items()):
        found = _VERSION.fullmatch(version)
        if found is None:
            problems.append(f"{name}: version {version!r} is not YEAR.MINOR.PATCH")
        elif tuple(map(int, found.groups())) > tuple(map(int, top.groups())):
            problems.append(f"{name}: version {version} is newer than the knowledge release {release} (manifest.yaml)")
    if problems:
        raise ValueError("; ".join(problems))


def catalog_markdown(knowledge: Knowledge) -> str:
    """The card catalog as the Markdown table rules/README.md carries (a test keeps the two equal)."""
    rows = [
        "| hook | code | indicators | variants | rules | exclusions (unless) | cites |",
        "|---|---|---|---|---|---|---|",
    ]
    for group, label in (("patient-view", "patient-view"), ("orders", "order-select, order-sign")):
        by_code: dict[str, list[Rule]] = {}
        for rule in knowledge.rulesets[group]:
            by_code.setdefault(str(rule.then["card"]), []).append(rule)
        for code, rules in by_code.items():
            order = ("info", "warning", "critical")
            indicators = sorted({str(r.then["indicator"]) for r in rules}, key=order.index)
            variants = sorted({str(r.then.get("variant", "default")) for r in rules})
            definition = knowledge.cards[code]
            cites = ", ".join(definition.cite) + "".join(
                f"; {name} also: {', '.join(v.cite)}"
                for name, v in sorted(definition.variants.items())
                if v.cite and name in variants
            )
            rule_ids = ", ".join(f"`{r.id}`" for r in rules)
            exclusions = "<br>".join(
                f"`{r.id}`: " + "; ".join(_words(item) for item in r.unless) for r in rules if r.unless
            )
            rows.append(
                f"| {label} | `{code}` | {'/'.join(indicators)} | {', '.join(variants)} | {rule_ids} "
                f"| {exclusions or '—'} | {cites} |"
            )
    return "\n".join(rows)


def _words(item: dict[str, dict[str, Any]]) -> str:
    """A condition item as the catalog shows it (thresholds by name, as written in the ruleset)."""
    parts = []
    for kind, spec in item.items():
        fields = []
        for name, condition in spec.items():
            if isinstance(condition, dict):
                fields += [f"{name} {op} {value}" for op, value in condition.items()]
            else:
                fields.append(f"{name}={condition}")
        parts.append(f"{kind} " + ", ".join(fields))
    return "; ".join(parts)


def profiles_markdown(knowledge: Knowledge) -> str:
    """Each guideline profile's cut-offs and limits with their sources, as rules/README.md carries them."""
    factor = knowledge.labs.analytes["vitd25"].normalised_units
    other = {"nmol/L": "ng/mL", "ng/mL": "nmol/L"}
    words = {
        "deficient_below": "deficient below",
        "insufficient_below": "insufficient below",
        "caution_above": "caution above",
        "harmful_from": "harmful from",
    }
    out: list[str] = []
    for name, profile in knowledge.profiles.profiles.items():
        out += [f"### `{name}`: {profile.label['en']}", ""]
        if profile.superseded is not None:
            out += [f"_{profile.superseded['en']}_", ""]
        unit = profile.vitd25.unit
        out += [f"| 25(OH)D | in {unit} (compared) | in {other[unit]} | status |", "|---|---|---|---|"]
        for key, word in words.items():
            value = float(getattr(profile.vitd25, key))
            converted = value * factor[normalise_unit(unit)] / factor[normalise_unit(other[unit])]
            status = "NOT VERIFIED: rules reading it are off" if f"vitd25.{key}" in profile.unverified else "verified"
            out.append(f"| {word} | {value:g} | {converted:.2f} | {status} |")
        out += [""]
        out += ["| age | vitamin D upper level (µg/day) | supplemental magnesium upper level (mg/day elemental) |"]
        out += ["|---|---|---|"]
        edges = sorted({b.from_months for b in profile.vitd_ul.bands + profile.mg_ul.bands})
        for start in edges:
            vitd, mg = profile.vitd_ul.band(start), profile.mg_ul.band(start)
            end = min(b.below_months for b in profile.vitd_ul.bands + profile.mg_ul.bands if b.below_months > start)
            shown_vitd = f"{vitd.ug_per_day:g}" if vitd and vitd.ug_per_day is not None else "none set"
            shown_mg = f"{mg.mg_per_day:g}" if mg and mg.mg_per_day is not None else "none set"
            out.append(f"| {age_band_words(start, end, 'en')} | {shown_vitd} | {shown_mg} |")
        out.append("")
        sources = [
            ("25(OH)D", profile.cite),
            ("vitamin D upper level", profile.vitd_ul.cite),
            ("magnesium upper level", profile.mg_ul.cite),
        ]
        for what, ids in sources:
            for cited in ids:
                citation = knowledge.citations[cited]
                out.append(
                    f"- {what}: [{citation.title}]({citation.url})" if citation.url else f"- {what}: {citation.title}"
                )
        out.append("")
    return "\n".join(out)


def age_band_words(from_months: float, below_months: float, locale: str) -> str:
    """An age band as a GP writes it: "0-5 months", "1-3 years", "11 years and older" (Dutch: maanden, jaar)."""
    nl = locale == "nl"
    if from_months == 0 and below_months <= 12:
        return f"{'jonger dan' if nl else 'under'} {below_months:g} {'maanden' if nl else 'months'}"
    if below_months <= 12:
        return f"{from_months:g}-{below_months - 1:g} {'maanden' if nl else 'months'}"
    first = from_months // 12
    if below_months >= 1200:  # as the sources state an open band: "vanaf 4 jaar", "from 4 years" (review T10)
        return f"{'vanaf' if nl else 'from'} {first:g} {'jaar' if nl else 'years'}"
    return f"{first:g}-{below_months // 12 - 1:g} {'jaar' if nl else 'years'}"
