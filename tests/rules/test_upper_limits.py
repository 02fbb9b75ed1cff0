"""Upper intake levels by age band (issue 11): every band of the vitamin D tables (EFSA 2012/2018 for the European
profiles, IOM/NAM 2011 for the US ones) and of the supplemental magnesium tables (SCF/EFSA via BfR 2017 from 4 years,
IOM 1997 1-3 and 4-8 years and from 9), at both age edges of each band and exactly at the limit.

The expected values are written out from the sources (rules/citations.yaml notes), not read from profiles.yaml.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from cds_service.knowledge.loader import Knowledge, shipped_profiles
from cds_service.reasoning.cards import RenderContext, render_cards
from cds_service.reasoning.engine import RuleEngine
from cds_service.reasoning.facts import Evidence, FactSet

PROFILES = shipped_profiles()  # the knowledge's profile ids (issue 17: none in code)

ORD = "orders"
Band = tuple[tuple[str, ...], int, int, float | None]
EU, US = ("nl-be", "dach"), ("us-nam-2011", "us-endocrine-2011")

# (profiles, first month of the band, last month of the band, µg/day)
VITD_BANDS: list[Band] = [
    (EU, 0, 5, 25.0),  # EFSA 2018: up to 6 months
    (EU, 6, 11, 35.0),  # EFSA 2018: 6-12 months
    (EU, 12, 131, 50.0),  # EFSA 2012/2023: 1-10 years
    (EU, 132, 1200, 100.0),  # EFSA 2012/2023: 11-17 years and adults
    (US, 0, 5, 25.0),  # IOM 2011: 1,000 IU 0-6 months
    (US, 6, 11, 38.0),  # 1,500 IU 6-12 months
    (US, 12, 47, 63.0),  # 2,500 IU 1-3 years
    (US, 48, 107, 75.0),  # 3,000 IU 4-8 years
    (US, 108, 1200, 100.0),  # 4,000 IU from 9 years
]
# (profiles, first month, last month, mg/day elemental; None = no upper level set)
MG_BANDS: list[Band] = [
    (EU + US, 0, 11, None),  # no upper level for infants (SCF/EFSA none below 4 y, IOM none for infants)
    (EU, 12, 47, 65.0),  # below 4 years EFSA sets none: IOM's 65 mg serves
    (EU, 48, 1200, 250.0),  # SCF/EFSA 250 mg from 4 years (BfR 2017)
    (US, 12, 47, 65.0),  # IOM 1997 1-3 years
    (US, 48, 107, 110.0),  # 4-8 years
    (US, 108, 1200, 350.0),  # from 9 years
]


@pytest.fixture(scope="module")
def engine(knowledge: Knowledge) -> RuleEngine:
    return RuleEngine(knowledge, PROFILES)


def _card(engine: RuleEngine, profile: str, med_class: str, dose: float, months: int) -> str | None:
    facts: list[dict[str, Any]] = [
        {"kind": "order", "type": "medication", "class": med_class, "daily_dose": dose, "id": "o"},
        {"kind": "med", "class": med_class, "draft": "yes", "route": "oral", "id": "m"},
        {"kind": "patient", "age_years": float(months // 12), "age_months": float(months), "id": "p"},
    ]
    code = {"vitd-native": "vitd-dose-above-ul", "mg-supplement": "mg-dose-above-ul"}[med_class]
    found = [d for d in engine.evaluate(ORD, profile, facts) if d.kind == "card" and d.fields["code"] == code]
    return str(found[0].fields["indicator"]) if found else None


def _rows(bands: Sequence[Band]) -> list[tuple[str, int, float | None]]:
    return [(p, m, limit) for profiles, first, last, limit in bands for p in profiles for m in (first, last)]


@pytest.mark.parametrize(("profile", "months", "limit"), _rows(VITD_BANDS), ids=str)
def test_vitamin_d_band_at_both_age_edges(engine: RuleEngine, profile: str, months: int, limit: float) -> None:
    assert _card(engine, profile, "vitd-native", limit, months) is None
    assert _card(engine, profile, "vitd-native", limit + 0.1, months) == "warning"


@pytest.mark.parametrize(("profile", "months", "limit"), _rows(MG_BANDS), ids=str)
def test_magnesium_band_at_both_age_edges(engine: RuleEngine, profile: str, months: int, limit: float | None) -> None:
    if limit is None:
        assert _card(engine, profile, "mg-supplement", 1000, months) is None
        return
    assert _card(engine, profile, "mg-supplement", limit, months) is None
    # review N1/N2: up to twice the level info without a cancel suggestion, a warning above it
    assert _card(engine, profile, "mg-supplement", limit + 0.1, months) == "info"
    assert _card(engine, profile, "mg-supplement", 2 * limit, months) == "info"
    assert _card(engine, profile, "mg-supplement", 2 * limit + 0.1, months) == "warning"


def test_the_tables_above_cover_every_band_of_every_profile(knowledge: Knowledge) -> None:
    for name, profile in knowledge.profiles.profiles.items():
        for table, expected in ((profile.vitd_ul, VITD_BANDS), (profile.mg_ul, MG_BANDS)):
            for band in table.bands:
                value = band.ug_per_day if band.ug_per_day is not None else band.mg_per_day
                assert any(
                    name in p
                    and first <= band.from_months
                    and (band.below_months - 1 <= last or last == 1200)
                    and v == value
                    for p, first, last, v in expected
                ), (name, band)


@pytest.mark.parametrize(
    ("profile", "locale", "months", "text"),
    [
        ("nl-be", "nl", 240, "100 µg = 4.000 IE (vanaf 11 jaar)"),
        ("nl-be", "nl", 60, "50 µg = 2.000 IE (1-10 jaar)"),  # EFSA 1-10 years, split at 4 years in the table (T10)
        ("nl-be", "nl", 7, "35 µg = 1.400 IE (6-11 maanden)"),
        ("us-nam-2011", "en", 60, "75 µg = 3,000 IU (4-8 years)"),
        ("us-nam-2011", "en", 3, "25 µg = 1,000 IU (under 6 months)"),
    ],
)
def test_the_card_names_the_numeric_limit_and_its_age_band(
    knowledge: Knowledge, profile: str, locale: str, months: int, text: str
) -> None:
    from cds_service.reasoning.engine import Derived

    facts = FactSet()
    facts.evidence["o"] = Evidence(
        "order",
        "MedicationRequest/o",
        name="colecalciferol",
        med_class="vitd-native",
        matched_on="atc",
        value=200.0,
        unit="ug",
    )
    facts.evidence["p"] = Evidence("patient", "Patient/p", value=float(months // 12), months=float(months))
    intent = Derived(
        "card", {"code": "vitd-dose-above-ul", "variant": "default", "indicator": "warning"}, ("o", "p"), "r", "c"
    )
    (card,) = render_cards([intent], facts, knowledge, RenderContext(locale, profile, "p"))
    assert text in card.summary
