"""Product names (issue 12): ingredient strengths and dose form read from RxNorm and G-Standaard names."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cds_service.knowledge.product_names import Strength, read_product_name, route_of_form, strength_of


@pytest.mark.parametrize(
    ("name", "strengths", "route", "brand"),
    [
        ("Cholecalciferol 2000 UNT Oral Capsule", [("2000", "[iU]")], "oral", None),
        ("Furosemide 40 MG Oral Tablet [Lasix]", [("40", "mg")], "oral", "Lasix"),
        ("Lisinopril 10 MG / Hydrochlorothiazide 12.5 MG Oral Tablet", [("10", "mg"), ("12.5", "mg")], "oral", None),
        ("OMEPRAZOL CAPSULE MSR 20MG", [("20", "mg")], "oral", None),
        ("Colecalciferol 800 IE tablet", [("800", "[iU]")], "oral", None),
        ("COLECALCIFEROL TABLET 25MCG (1000IE)", [("25", "ug")], "oral", None),  # one amount, two units
        ("MAGNESIUMOXIDE KAUWTABLET 500MG", [("500", "mg")], "oral", None),
        ("colecalciferol druppels 0,5 mg/ml", [], None, None),  # a concentration is not a per-piece strength
        ("1 ML Cyanocobalamin 1 MG/ML Injection", [], "systemic", None),
        ("Fluticasone 0.05 MG/ACTUAT Nasal Spray", [], "other", None),
        ("Hydrocortisone 10 MG/ML Topical Cream", [], "other", None),
        ("prednisolon 5 mg", [("5", "mg")], None, None),  # no dose form: the route stays unknown
    ],
)
def test_read_product_name(name: str, strengths: list[tuple[str, str]], route: str | None, brand: str | None) -> None:
    product = read_product_name(name)
    assert [(str(s.value), s.unit) for _, s in product.strengths] == strengths
    assert product.route == route
    assert product.brand == brand


def test_the_strength_of_the_named_ingredient_in_a_combination() -> None:
    names = ["Calcium Carbonate 1250 MG / Cholecalciferol 400 UNT Chewable Tablet"]
    assert strength_of(names, ["cholecalciferol", "colecalciferol"]) == Strength(Decimal("400"), "[iU]")
    assert strength_of(names, ["ergocalciferol"]) is None  # a combination's only strength is never borrowed


@pytest.mark.parametrize(
    ("form", "route"),
    [
        ("Tablet", "oral"),
        ("gelatin capsule", "oral"),
        ("Bruistablet", "oral"),
        ("Zalf", "other"),
        ("Gel", "other"),
        ("Oplossing", None),
    ],
)
def test_route_of_dose_form(form: str, route: str | None) -> None:
    assert route_of_form(form) == route


def _route_word_by_word(text: str) -> str | None:
    """The route as it was found before issue 14: one search per form word, in the order parenteral, other, oral."""
    import re

    from cds_service.knowledge import product_names as p

    def has(words: str, word: str) -> bool:
        return re.search(rf"(?<![a-zà-ÿ]){re.escape(word)}s?(?![a-zà-ÿ])", words) is not None

    words = text.lower()
    for route, forms in (
        ("systemic", p._PARENTERAL_FORMS),
        ("other", p._OTHER_FORMS),
        ("oral", p._ORAL_FORMS),
    ):
        if any(has(words, w) for w in forms):
            return route
    return None


def test_route_of_form_with_one_pattern_per_route_finds_what_each_word_found() -> None:
    """Issue 14 item 2: the form words compiled once per route; every form word, plural, inside a longer word,
    beside punctuation, and two routes in one name give the route a search per word gave."""
    from cds_service.knowledge import product_names as p

    forms = [*p._PARENTERAL_FORMS, *p._OTHER_FORMS, *p._ORAL_FORMS]
    texts = ["", "Omeprazol 20 mg", "zalf/tablet", "Tabletten", "injectables", "gelatine capsule", "xtablet", "tablety"]
    for form in forms:
        texts += [form, form.upper(), f"{form}s", f"{form}es", f"x{form}", f"{form}x", f"Product ({form})", f"é{form}"]
        texts += [f"{form} / {other}" for other in forms[::5]]
    assert len({route_of_form(t) for t in texts}) == 4  # every route and None occur
    for text in texts:
        assert route_of_form(text) == _route_word_by_word(text), text
