"""Which rule classes a medication belongs to, from its codings and names (shared by parsing and facts).

Codes first: an ATC code exactly or by prefix, an RxNorm ingredient code, a SNOMED code. Names (ingredient
names, and the brand names of rules/valuesets/brands.yaml, issue 12) when no code matched, also when an ATC
code is present: a product coded with an ATC we do not list (a food supplement under a combination code, a
local code) still counts by its ingredient's name (issue 18). RxNorm/SNOMED lists hold ingredients only, so a
product code there may still be matched on its display name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from cds_service.knowledge.loader import ATC, RXNORM, SNOMED, Knowledge

Coding = tuple[str | None, str | None, str | None]  # system, code, display
_SYSTEM_NAMES = {ATC: "atc", RXNORM: "rxnorm", SNOMED: "snomed"}


@dataclass(frozen=True)
class MedMatch:
    med_class: str
    ingredient: str | None
    matched_on: str
    name: str


def classify(codings: Iterable[Coding], texts: Iterable[str], knowledge: Knowledge) -> list[MedMatch]:
    """Every class of the medication; each ingredient of a combination counts."""
    index = _index(knowledge)
    texts_given = [t for t in texts if t]
    matches: dict[tuple[str, str | None], MedMatch] = {}
    names = list(texts_given)
    for system, code, display in codings:
        if display:
            names.append(display)
        if not system or not code:
            continue
        for class_name, ingredient, name in index.codes.get((system, code), []):
            matches.setdefault((class_name, ingredient), MedMatch(class_name, ingredient, _SYSTEM_NAMES[system], name))
        if system == ATC:
            for prefix, class_name in index.atc_prefixes:
                if code.startswith(prefix) and not any(k[0] == class_name for k in matches):
                    product = display or (texts_given[0] if texts_given else None) or code
                    matches[(class_name, None)] = MedMatch(class_name, None, "atc", product)
    if matches:
        return list(matches.values())
    for text in names:
        for found in index.names.finditer(text.lower()):
            class_name, ingredient, name = index.by_name[found.group(0)]
            matches.setdefault((class_name, ingredient), MedMatch(class_name, ingredient, "text", name))
    return list(matches.values())


def ingredient_names_in(text: str, knowledge: Knowledge) -> list[tuple[str, str]]:
    """(class, ingredient) of every ingredient or brand name in a product's text, in the order they appear."""
    index = _index(knowledge)
    found = []
    for match in index.names.finditer(text.lower()):
        class_name, ingredient, _ = index.by_name[match.group(0)]
        found.append((class_name, ingredient))
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class _Index:
    codes: dict[tuple[str, str], list[tuple[str, str, str]]]
    atc_prefixes: list[tuple[str, str]]
    names: re.Pattern[str]
    by_name: dict[str, tuple[str, str, str]]


@lru_cache(maxsize=8)
def _index(knowledge: Knowledge) -> _Index:
    codes: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    by_name: dict[str, tuple[str, str, str]] = {}
    prefixes = []
    for class_name, med_class in knowledge.medications.classes.items():
        prefixes += [(p, class_name) for p in med_class.atc_prefixes]
        for ingredient_name, ingredient in med_class.ingredients.items():
            entry = (class_name, ingredient_name, ingredient.names[0])
            for system, values in ((ATC, ingredient.atc), (RXNORM, ingredient.rxnorm), (SNOMED, ingredient.snomed)):
                for value in values:
                    codes.setdefault((system, value), []).append(entry)
            for name in ingredient.names:
                by_name[name.lower()] = entry
    for brand_name, brand in knowledge.brands.brands.items():
        ingredient = knowledge.medications.classes[brand.med_class].ingredients[brand.ingredient]
        by_name[brand_name.lower()] = (brand.med_class, brand.ingredient, ingredient.names[0])
    # longest names first, whole words only: "esomeprazol" is not "omeprazol"
    alternation = "|".join(re.escape(n) for n in sorted(by_name, key=len, reverse=True))
    return _Index(codes, prefixes, re.compile(rf"(?<![a-z])(?:{alternation})(?![a-z])"), by_name)
