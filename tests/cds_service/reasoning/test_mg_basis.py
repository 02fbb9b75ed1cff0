"""Magnesium dose basis (issue 11): elemental unless the product says the mass is the salt's.

NL/BE supplement labels and US Supplement Facts give elemental magnesium; a medicinal product names the salt with its
mass. End to end: scenarios sg-nl-h11-* (fhir_fixtures/make_scenarios.py build_profiles).
"""

from __future__ import annotations

import pytest

from cds_service.reasoning._mg_basis import mg_dose_basis


@pytest.mark.parametrize(
    ("text", "basis"),
    [
        ("Magnesium citraat 400 mg elementair", "elemental-stated"),
        ("Magnesium bisglycinaat 100 mg (als magnesium)", "elemental-stated"),
        ("Magnesium 250 mg (elemental) as citrate", "elemental-stated"),
        ("MAGNESIUMOXIDE 500MG KAUWTABLET", "salt-stated"),  # G-Standaard: a salt name with its mass
        ("magnesium oxide 400 MG Oral Tablet", "salt-stated"),  # RxNorm SCD: strength of the named salt
        ("Magnesiumcitraat", "elemental-by-label"),  # no amount, no statement: the label convention
        ("Magnesium 250 mg (as magnesium oxide)", "elemental-by-label"),  # Supplement Facts: amount is elemental
        ("magnesium (als citraat) 200 mg", "elemental-by-label"),
    ],
)
def test_dose_basis_from_the_product_text(text: str, basis: str) -> None:
    assert mg_dose_basis([text]) == basis


def test_an_elemental_statement_wins_over_a_salt_amount() -> None:
    assert mg_dose_basis(["Magnesiumoxide 500 mg", "= 300 mg elementair magnesium"]) == "elemental-stated"
