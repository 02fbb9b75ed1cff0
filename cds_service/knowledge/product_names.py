"""What a product's name says: ingredient strengths and dose form, hence the route (shared by parsing and facts).

Real systems often code medication at product level and send the product's name beside (or instead of) codes:
RxNorm clinical/branded drug names ("Furosemide 40 MG Oral Tablet [Lasix]", "Lisinopril 10 MG /
Hydrochlorothiazide 12.5 MG Oral Tablet") and G-Standaard names ("OMEPRAZOL CAPSULE MSR 20MG", "Colecalciferol
800 IE tablet"). Only what the name states unambiguously is read: one strength per ingredient segment, a dose
form from a fixed list; anything else gives nothing (never a guess).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

# Strength units as written in RxNorm (UNT, MG, MCG) and G-Standaard (MG, MCG, IE, MMOL) names.
_UNITS = {"mg": "mg", "mcg": "ug", "ug": "ug", "µg": "ug", "microgram": "ug", "g": "g", "unt": "[iU]", "ie": "[iU]"}
_UNITS.update({"iu": "[iU]", "mmol": "mmol", "ke": "[iU]"})
_STRENGTH = re.compile(
    r"(?<![\w.,])(\d+(?:[.,]\d+)?)\s*(mg|mcg|ug|µg|microgram|g|unt|ie|iu|mmol)(?![a-z/])", re.IGNORECASE
)
_BRAND = re.compile(r"\[([^\]]+)\]\s*$")

# Dose forms -> route. Oral forms in English (RxNorm dose forms) and Dutch (G-Standaard farmaceutische vormen).
_ORAL_FORMS = (
    "oral",
    "tablet",
    "capsule",
    "caplet",
    "lozenge",
    "chewable",
    "sachet",
    "granules",
    "kauwtablet",
    "bruistablet",
    "smelttablet",
    "zuigtablet",
    "dragee",
    "drank",
    "druppels oraal",
    "orale",
    "granulaat",
    "poeder voor drank",
)
_PARENTERAL_FORMS = (
    "injection",
    "injectable",
    "injectie",
    "injectievloeistof",
    "infusion",
    "infuus",
    "infusievloeistof",
    "prefilled syringe",
)
_OTHER_FORMS = (
    "topical",
    "cream",
    "ointment",
    "gel",
    "lotion",
    "inhaler",
    "inhalation",
    "nasal",
    "ophthalmic",
    "otic",
    "transdermal",
    "rectal",
    "vaginal",
    "zalf",
    "creme",
    "crème",
    "oogdruppels",
    "neusspray",
    "inhalatie",
    "aerosol",
    "zetpil",
    "suppository",
    "enema",
    "shampoo",
    "patch",
    "pleister",
)
# Count units of a dose ("1 tablet"): the product's strength gives the amount.
COUNT_UNITS = frozenset(
    {"tablet", "tablets", "tab", "tbl", "capsule", "capsules", "cap", "caps", "pill", "pills", "stuk", "stuks"}
)


@dataclass(frozen=True)
class Strength:
    value: Decimal
    unit: str  # UCUM: mg, ug, g, [iU], mmol


@dataclass(frozen=True)
class ProductName:
    strengths: list[tuple[str, Strength]]  # (the name segment it was read from, its strength)
    route: str | None  # "oral", "systemic" (parenteral), "other", or None when the name gives no form
    brand: str | None


def read_product_name(text: str) -> ProductName:
    """Strengths per ingredient segment, the route of the dose form, and an RxNorm [Brand]."""
    brand_match = _BRAND.search(text)
    brand = brand_match.group(1).strip() if brand_match else None
    body = text[: brand_match.start()] if brand_match else text
    strengths: list[tuple[str, Strength]] = []
    for segment in re.split(r"\s+/\s+|\s*\+\s*", body):
        found = _STRENGTH.findall(segment)
        if len(found) == 1 or (len(found) == 2 and _same_amount(found)):
            value, unit = found[0]
            strengths.append((segment.strip(), Strength(Decimal(value.replace(",", ".")), _UNITS[unit.lower()])))
    return ProductName(strengths, route_of_form(body), brand)


def route_of_form(text: str) -> str | None:
    """'oral', 'systemic' (parenteral), 'other' or None, from the words of a dose form or product name."""
    words = text.lower()
    for route, forms in _FORM_ROUTES:
        if forms.search(words) is not None:
            return route
    return None


def strength_of(names: list[str], ingredient_names: list[str]) -> Strength | None:
    """The strength a product name gives for this ingredient: the segment naming it, or the only strength."""
    for text in names:
        product = read_product_name(text)
        for segment, strength in product.strengths:
            lowered = segment.lower()
            if any(_has(lowered, n.lower()) for n in ingredient_names):
                return strength
        if len(product.strengths) == 1 and "/" not in text and "+" not in text:
            return product.strengths[0][1]
    return None


def _same_amount(found: list[tuple[str, str]]) -> bool:
    """'25MCG (1000IE)': a mass and its IU equivalent state one amount; the first is read."""
    units = {_UNITS[u.lower()] for _, u in found}
    return len(units) == 2 and "[iU]" in units


def _has(text: str, word: str) -> bool:
    return _word(word).search(text) is not None


def _words(*words: str) -> re.Pattern[str]:
    """Any of the words as a whole word (a plural s allowed): one pattern, matching where `_has` matches one."""
    return re.compile(rf"(?<![a-zà-ÿ])(?:{'|'.join(re.escape(w) for w in words)})s?(?![a-zà-ÿ])")


@lru_cache(maxsize=1024)
def _word(word: str) -> re.Pattern[str]:
    return _words(word)


# compiled once (issue 14): the facts step asks this for every name of every medication
_FORM_ROUTES = (
    ("systemic", _words(*_PARENTERAL_FORMS)),
    ("other", _words(*_OTHER_FORMS)),
    ("oral", _words(*_ORAL_FORMS)),
)
