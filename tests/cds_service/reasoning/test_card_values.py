"""How a card writes a result and its date (issue 11 "Texts"): the lab's own value and unit beside the value in the
unit we compare in (a US lab's magnesium in mg/dL too, as the 25(OH)D cards already do); one more decimal where
rounding would land on a cut-off; Dutch dates dd-mm-jjjj, English dates "1 Oct 2026"."""

from __future__ import annotations

import pytest

from cds_service.knowledge.loader import Knowledge, normalise_unit, shipped_profiles
from cds_service.reasoning.cards import RenderContext, render_cards
from cds_service.reasoning.engine import Derived
from cds_service.reasoning.facts import Evidence, FactSet

PROFILES = shipped_profiles()  # the knowledge's profile ids (issue 17: none in code)


def _mg_facts(
    knowledge: Knowledge,
    value: float,
    unit: str,
    date: str = "2026-10-01",
    lab_range: tuple[float, float] | None = None,
) -> FactSet:
    """One magnesium result as facts.py makes it: converted to mmol/L, the lab's value and unit kept; the range the
    lab's own (in its unit) or else the profile's default."""
    factor = knowledge.labs.analytes["mg"].normalised_units[normalise_unit(unit)]
    facts = FactSet()
    facts.evidence["lab:mg"] = Evidence(
        "lab",
        "Observation/mg",
        analyte="mg",
        value=value * factor,
        unit="mmol/L",
        date=date,
        range=(lab_range[0] * factor, lab_range[1] * factor) if lab_range else (0.70, 1.00),
        range_source="lab" if lab_range else "profile",
        reported_value=value,
        reported_unit=unit,
    )
    return facts


def _render(knowledge: Knowledge, facts: FactSet, variant: str, locale: str, profile: str) -> tuple[str, str]:
    intent = Derived(
        "card", {"code": "mg-deficiency", "variant": variant, "indicator": "warning"}, tuple(facts.evidence), "r", "c"
    )
    (card,) = render_cards([intent], facts, knowledge, RenderContext(locale, profile, "p"))
    return card.summary, card.detail or ""


@pytest.mark.parametrize("profile", PROFILES)
def test_a_magnesium_in_mg_per_dl_shows_the_labs_value_and_the_converted_one(
    knowledge: Knowledge, profile: str
) -> None:
    """1.5 mg/dL x 0.4114 = 0.6171 mmol/L: the summary and the "why" line show both, in every profile."""
    facts = _mg_facts(knowledge, 1.5, "mg/dL")
    summary, detail = _render(knowledge, facts, "default", "en", profile)
    assert summary == "Low serum magnesium: 1.5 mg/dL = 0.62 mmol/L (ref. 0.70-1.00 mmol/L)"
    assert "- magnesium 1.5 mg/dL (= 0.62 mmol/L) on 1 Oct 2026" in detail
    summary, detail = _render(knowledge, facts, "default", "nl", profile)
    assert summary == "Laag serummagnesium: 1,5 mg/dL = 0,62 mmol/L (ref. 0,70-1,00 mmol/L)"
    assert "- magnesium 1,5 mg/dL (= 0,62 mmol/L) op 01-10-2026" in detail


@pytest.mark.parametrize("profile", PROFILES)
def test_the_labs_own_range_is_shown_in_its_unit_and_converted(knowledge: Knowledge, profile: str) -> None:
    """A US lab's 1.7-2.4 mg/dL: shown as sent, then in mmol/L (0.6994-0.9874, printed whole)."""
    facts = _mg_facts(knowledge, 1.5, "mg/dL", lab_range=(1.7, 2.4))
    summary, detail = _render(knowledge, facts, "default", "en", profile)
    assert summary == "Low serum magnesium: 1.5 mg/dL = 0.62 mmol/L (ref. 1.7-2.4 mg/dL = 0.70-0.99 mmol/L)"
    assert "(ref. 1.7-2.4 mg/dL = 0.70-0.99 mmol/L, lab)" in detail
    summary, _ = _render(knowledge, facts, "default", "nl", profile)
    assert summary.endswith("(ref. 1,7-2,4 mg/dL = 0,70-0,99 mmol/L)")


def test_a_magnesium_in_mmol_per_l_is_shown_once(knowledge: Knowledge) -> None:
    summary, _ = _render(knowledge, _mg_facts(knowledge, 0.62, "mmol/L"), "default", "en", "us-nam-2011")
    assert summary == "Low serum magnesium: 0.62 mmol/L (ref. 0.70-1.00 mmol/L)"


@pytest.mark.parametrize(
    ("value", "unit", "variant", "shown"),
    [
        # 1.7 mg/dL = 0.6994 mmol/L: low, so not "0.70" (the lower reference limit)
        (1.7, "mg/dL", "default", "1.7 mg/dL = 0.699 mmol/L"),
        # 1.2 mg/dL = 0.4937 mmol/L: rounds to 0.49, no cut-off, so the usual two decimals
        (1.2, "mg/dL", "critical", "1.2 mg/dL = 0.49 mmol/L"),
        # 0.499 mmol/L: below the critical 0.50, never shown as "0.50"
        (0.499, "mmol/L", "critical", "0.499 mmol/L"),
        (0.5, "mmol/L", "default", "0.50 mmol/L"),  # exactly at the cut-off: two decimals as usual
    ],
)
def test_a_value_next_to_a_cut_off_never_rounds_onto_it(
    knowledge: Knowledge, value: float, unit: str, variant: str, shown: str
) -> None:
    summary, _ = _render(knowledge, _mg_facts(knowledge, value, unit), variant, "en", "us-nam-2011")
    assert shown in summary, summary


@pytest.mark.parametrize(
    ("iso", "nl", "en"),
    [
        ("2026-10-01", "01-10-2026", "1 Oct 2026"),
        ("2026-01-31", "31-01-2026", "31 Jan 2026"),
        ("2025-12-09", "09-12-2025", "9 Dec 2025"),
    ],
)
def test_dates_dutch_dd_mm_jjjj_english_day_month_year(knowledge: Knowledge, iso: str, nl: str, en: str) -> None:
    facts = _mg_facts(knowledge, 0.62, "mmol/L", date=iso)
    intent = Derived("card", {"code": "retest-too-early", "variant": "mg", "indicator": "info"}, ("lab:mg",), "r", "c")
    for locale, expected in (("nl", nl), ("en", en)):
        (card,) = render_cards([intent], facts, knowledge, RenderContext(locale, "nl-be", "p"))
        assert expected in card.summary and expected in (card.detail or ""), (locale, card.summary)
        assert iso not in card.summary + (card.detail or "")
