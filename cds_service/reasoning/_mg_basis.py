"""Whether a magnesium dose in mg is elemental magnesium or the mass of a salt (issue 11).

NL/BE supplement labels (Warenwet) and US Supplement Facts state elemental magnesium ("magnesium 250 mg (as
citrate)"); medicinal products name the salt with its mass ("magnesiumoxide 500 mg", RxNorm "magnesium oxide
400 MG Oral Tablet"). So a salt mass is converted to elemental magnesium only when the product says the mass is the
salt's: a salt name directly followed by an amount, or a strength recorded on the salt. Anything else is read as
elemental magnesium, and the card says so.
"""

from __future__ import annotations

import re
from typing import Any, Literal

Basis = Literal["elemental-stated", "salt-stated", "elemental-by-label"]

_ELEMENTAL = re.compile(
    r"element(?:air|al|aire)|\bmg\s?2\+|\b(?:als|as)\s+(?:elementair\s+)?magnesium\b(?!\s?-?\w*(?:oxid|citra|glucon))",
    re.I,
)
_SALT = (
    r"(?:oxide|oxyde|hydroxide|citra(?:te|at)|glucona(?:te|at)|lacta(?:te|at)|asparta(?:te|at)|pidola(?:te|at)"
    r"|chloride|sulfa(?:te|at)|sulpha(?:te)|carbona(?:te|at)|(?:bis)?glycina(?:te|at)|mala(?:te|at)|orota(?:te|at))"
)
_SALT_AMOUNT = re.compile(rf"magnesium\s?-?{_SALT}\b[^0-9|]{{0,20}}\d+(?:[.,]\d+)?\s*(?:mg|g)\b", re.I)


def mg_dose_basis(texts: list[str]) -> Basis:
    """The basis of a magnesium dose given in mass, from the texts of the product and its dosage."""
    joined = " | ".join(t for t in texts if t)
    if _ELEMENTAL.search(joined):
        return "elemental-stated"
    if _SALT_AMOUNT.search(joined):
        return "salt-stated"
    return "elemental-by-label"


def product_texts(concepts: list[Any], dosages: list[Any]) -> list[str]:
    """Every text a product and its dosage carry: concept texts, coding displays, dosage texts."""
    out: list[str] = []
    for concept in concepts:
        if concept is None:
            continue
        out.append(getattr(concept, "text", None) or "")
        out += [getattr(c, "display", None) or "" for c in getattr(concept, "coding", None) or []]
    out += [getattr(d, "text", None) or "" for d in dosages if d is not None]
    return [t for t in out if t]
