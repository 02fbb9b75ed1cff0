"""The record sketch vocabulary of the catalog cases (rules/recommendations/<code>/cases.yaml), and their loader.

A case sketches a record as a list of items, each `{helper: [positional, ..., {keyword: value}]}` naming one of
the helpers below (a last mapping holds keyword arguments), or `{fact: {...}}` for a normalised fact given whole.
Every helper writes the normalised facts of cds_service.reasoning.facts (not FHIR: FHIR data lives in
fhir_fixtures/ and runs through the scenario tests), so a case says what the facts step would have found:

- `lab: [analyte, value, flag?, age_days?]`: a result (flag low/normal/high/unknown as the lab flagged it,
  default unknown; default 10 days old)
- `missing: [analyte]`: no usable result in the look-back window
- `med: [class, draft?, ingredient?]`: a medication in use (draft "yes" for another draft order), oral, an open
  course, `contains: magnesium` for the magnesium-containing classes
- `order: [class, daily_dose?]`: a draft medication order (an `order` fact and its draft `med` context)
- `dosed: [class, {dose: ..., daily_dose: ..., single_dose: ..., course: ..., course_days: ...}]`: a draft order
  with the dose fields of the facts step
- `order_lab: [analyte]`: a draft laboratory order
- `cond: [group]`, `absent: [group, ...]`: a condition of a value-set group; groups recorded as absent
- `patient: [age_years]`: the patient's age
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict

from cds_service.reasoning.engine import RuleEngine

_ids = itertools.count()
Fact = dict[str, Any]


def lab(analyte: str, value: float, flag: str = "unknown", age_days: float = 10.0) -> Fact:
    return {"kind": "lab", "analyte": analyte, "value": float(value), "flag": flag, "age_days": age_days}


def missing(analyte: str) -> Fact:
    return {"kind": "lab-missing", "analyte": analyte}


# classes with `contains_magnesium` in rules/valuesets/medications.yaml: facts carry `contains: magnesium`
MG_CLASSES = {"mg-supplement", "mg-laxative", "mg-antacid"}  # not mg-parenteral (no binding in the gut)


def _mg(med_class: str) -> Fact:
    return {"contains": "magnesium"} if med_class in MG_CLASSES else {}


def med(med_class: str, draft: str = "no", ingredient: str = "unspecified") -> Fact:
    # course: "open" as the facts step writes it when no end or course length is recorded (issue 10)
    fact = {
        "kind": "med",
        "class": med_class,
        "draft": draft,
        "route": "oral",
        "ingredient": ingredient,
        "course": "open",
    }
    return {**fact, **_mg(med_class)}


def cond(group: str) -> Fact:
    return {"kind": "condition", "group": group}


def absent(*groups: str) -> list[Fact]:
    return [{"kind": "condition-absent", "group": g} for g in groups]


def patient(age: float) -> Fact:
    return {"kind": "patient", "age_years": float(age), "age_months": float(age) * 12}


def order(med_class: str, dose: float | None = None) -> list[Fact]:
    """A draft medication order is both an order under review and (draft) medication context."""
    fact: Fact = {
        "kind": "order",
        "type": "medication",
        "class": med_class,
        "ingredient": "unspecified",
        "course": "open",
        **_mg(med_class),
    }
    if dose is not None:
        fact["daily_dose"] = float(dose)
    return [fact, med(med_class, draft="yes")]


def dosed(med_class: str, **fields: Any) -> list[Fact]:
    """A draft order with the dose fields of cds_service.reasoning.facts (issue 18: dose, daily_dose, single_dose)."""
    order_fact = {
        "kind": "order",
        "type": "medication",
        "class": med_class,
        "ingredient": "unspecified",
        **_mg(med_class),
        **fields,
    }
    return [order_fact, med(med_class, draft="yes")]


def order_lab(analyte: str) -> Fact:
    return {"kind": "order", "type": "service", "analyte": analyte}


def flat(*items: Fact | list[Fact]) -> list[Fact]:
    out: list[Fact] = []
    for item in items:
        out += item if isinstance(item, list) else [item]
    return [{**f, "id": f"t{next(_ids)}"} for f in out]


SKETCH: dict[str, Callable[..., Fact | list[Fact]]] = {
    "lab": lab,
    "missing": missing,
    "med": med,
    "cond": cond,
    "absent": absent,
    "patient": patient,
    "order": order,
    "dosed": dosed,
    "order_lab": order_lab,
}


class _Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    hook: Literal["patient-view", "orders"]
    profile: str
    record: list[dict[str, Any]]
    expect: Literal["info", "warning", "critical", "none"]


class _CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    cases: list[_Case]


@dataclass(frozen=True)
class CatalogCase:
    """One case of a recommendation: the facts of its sketch, and its card's expected indicator (None: quiet)."""

    code: str
    id: str
    group: str
    profile: str
    facts: list[Fact]
    expect: str | None


def expand(record: list[dict[str, Any]]) -> list[Fact]:
    """A record sketch as the facts the engine is given; an unknown helper or a malformed item is an error."""
    items: list[Fact | list[Fact]] = []
    for entry in record:
        if len(entry) != 1:
            raise ValueError(f"a sketch item names one helper, got {sorted(entry)}")
        ((name, value),) = entry.items()
        if name == "fact":
            if not isinstance(value, dict) or "kind" not in value:
                raise ValueError(f"`fact` needs a mapping with a kind, got {value!r}")
            items.append(dict(value))
            continue
        if name not in SKETCH:
            raise ValueError(f"unknown sketch helper {name!r} (known: fact, {', '.join(SKETCH)})")
        args = list(value) if isinstance(value, list) else [value]
        keywords = args.pop() if args and isinstance(args[-1], dict) else {}
        items.append(SKETCH[name](*args, **keywords))
    return flat(*items)


def load_cases(rules_dir: Path) -> list[CatalogCase]:
    """Every recommendation's cases.yaml, in folder order; case ids are unique within a recommendation.

    The knowledge loader requires the file in every folder and checks its version against the manifest.
    """
    out: list[CatalogCase] = []
    for path in sorted((rules_dir / "recommendations").glob("*/cases.yaml")):
        code = path.parent.name
        parsed = _CaseFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        ids = [c.id for c in parsed.cases]
        if len(ids) != len(set(ids)):
            raise ValueError(f"{path}: case ids used twice: {sorted({i for i in ids if ids.count(i) > 1})}")
        for case in parsed.cases:
            try:
                facts = expand(case.record)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{path}: case {case.id}: {error}") from error
            expect = None if case.expect == "none" else case.expect
            out.append(CatalogCase(code, case.id, case.hook, case.profile, facts, expect))
    return out


Variant = tuple[str, str, list[Fact], str, set[str]]
"""A review round's case: its id, the hook group, the facts, the card's code, the variants expected (none: quiet)."""


def variant_test(cases: list[Variant]) -> Callable[..., None]:
    """A review round's boundary test over its cases: the variants of each card shown under nl-be.

    Its module provides the `engine` fixture (nl-be) and names the test `test_variant_at_boundary`.
    """

    @pytest.mark.parametrize(("case", "group", "facts", "code", "variants"), cases, ids=[c[0] for c in cases])
    def test_variant_at_boundary(
        engine: RuleEngine, case: str, group: str, facts: list[Fact], code: str, variants: set[str]
    ) -> None:
        shown = {
            str(d.fields["variant"])
            for d in engine.evaluate(group, "nl-be", facts)
            if d.kind == "card" and d.fields["code"] == code
        }
        assert shown == variants

    return test_variant_at_boundary
