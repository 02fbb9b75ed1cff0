"""Card wording from the pharmacist review (issue 11, /work/review/findings.md T4-T17, N7): what a GP reads.

Each test renders one card from facts shaped like the review's probe and checks the words the finding was about.
"""

from __future__ import annotations

import pytest

from cds_service.cdshooks.models import Card
from cds_service.knowledge.loader import Knowledge, age_band_words
from cds_service.reasoning.cards import RenderContext, _number, render_cards
from cds_service.reasoning.engine import Derived
from cds_service.reasoning.facts import Evidence, FactSet


def _render(
    knowledge: Knowledge,
    code: str,
    variant: str,
    evidence: dict[str, Evidence],
    locale: str = "nl",
    profile: str = "nl-be",
) -> Card:
    facts = FactSet()
    facts.evidence.update(LABS | evidence)
    intent = Derived(
        "card", {"code": code, "variant": variant, "indicator": "info"}, tuple(LABS | evidence), "rule", "intent"
    )
    (card,) = render_cards([intent], facts, knowledge, RenderContext(locale, profile, "p"))
    return card


# the labs every card text may name ({mg_value}, {ca_value})
LABS = {
    "lab-mg": Evidence("lab", "Observation/mg", analyte="mg", value=0.62, unit="mmol/L", date="2026-11-01"),
    "lab-ca": Evidence("lab", "Observation/ca", analyte="ca", value=2.05, unit="mmol/L", date="2026-11-01"),
}


def _advice(card: Card) -> str:
    return (card.detail or "").split("**")[0]


ADULT = Evidence("patient", "Patient/p", value=66.0, months=66 * 12.0)
CALCIUM_D_TABLET = Evidence(
    "med",
    "MedicationStatement/cad",
    name="CALCIUMCARBONAAT/COLECALCIFEROL KAUWTABLET 1,25G/800IE",
    med_class="calcium-supplement",
    matched_on="atc",
)
CIPRO = Evidence(
    "order", "MedicationRequest/c", name="ciprofloxacine", med_class="fluoroquinolone", ingredient="ciprofloxacin"
)


@pytest.mark.parametrize(
    ("locale", "binder"), [("nl", "calciumcarbonaat/colecalciferol"), ("en", "calcium carbonate/colecalciferol")]
)
def test_a_product_in_running_text_is_named_by_its_ingredients_in_the_cards_language(
    knowledge: Knowledge, locale: str, binder: str
) -> None:
    """T7 (p44, also for ciprofloxacin): "…6 uur na CALCIUMCARBONAAT/COLECALCIFEROL KAUWTABLET 1,25G/800IE innemen", also on English cards."""
    card = _render(knowledge, "mg-chelation-spacing", "ciprofloxacin", {"d": CIPRO, "c": CALCIUM_D_TABLET}, locale)
    assert binder in card.summary and binder in _advice(card)
    assert "KAUWTABLET" not in card.summary + _advice(card)
    assert card.summary.startswith("Ciprofloxacin")
    # the "why" lines keep the product as the record names it
    assert "CALCIUMCARBONAAT/COLECALCIFEROL KAUWTABLET 1,25G/800IE" in (card.detail or "")


def test_an_antacid_without_a_known_ingredient_is_named_by_its_class(knowledge: Knowledge) -> None:
    """T7: a magnesium antacid whose text names no ingredient the value sets know: its kind, never the capitals."""
    antacid = Evidence("med", "MedicationStatement/a", name="ANTACIDUM SUSPENSIE X", med_class="mg-antacid")
    card = _render(knowledge, "mg-chelation-spacing", "ciprofloxacin", {"c": CIPRO, "a": antacid})
    assert "na magnesiumhoudend antacidum innemen" in card.summary


def test_an_english_card_names_the_order_in_english(knowledge: Knowledge) -> None:
    """T7 (p32 en): "The daily dose of magnesiumcitraat could not be computed"."""
    order = Evidence(
        "order",
        "MedicationRequest/o",
        name="magnesiumcitraat",
        med_class="mg-supplement",
        ingredient="magnesium-citrate",
        dose_reason="salt",
    )
    card = _render(knowledge, "dose-not-checked", "not-computed", {"o": order}, "en")
    assert "The daily dose of magnesium citrate could not be computed" in _advice(card)


@pytest.mark.parametrize(
    ("value", "locale", "text"),
    [(7500.0, "nl", "7.500"), (300000.0, "nl", "300.000"), (300000.0, "en", "300,000"), (1234.5, "nl", "1.234,5")],
)
def test_large_numbers_are_grouped_as_each_language_writes_them(value: float, locale: str, text: str) -> None:
    """T8 (p19): "Eenmalige dosis 7500 µg (300000 IE)"."""
    assert _number(value, locale) == text


def test_a_one_off_megadose_reads_in_dutch_number_format(knowledge: Knowledge) -> None:
    """T8 (p19)."""
    order = Evidence(
        "order", "MedicationRequest/o", name="colecalciferol", med_class="vitd-native", unit="ug", single_dose=7500.0
    )
    card = _render(knowledge, "dose-not-checked", "one-off", {"o": order})
    assert card.summary.startswith("Eenmalige dosis 7.500 µg (300.000 IE)")
    assert _advice(card).startswith("Colecalciferol is een eenmalige dosis")


def _mg_order(value: float) -> Evidence:
    return Evidence(
        "order",
        "MedicationRequest/o",
        name="magnesiumoxide",
        med_class="mg-supplement",
        ingredient="magnesium-oxide",
        value=value,
        unit="mg",
        dose_basis="salt-stated",
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [(301.5, "Magnesium 302 mg elementair"), (250.4, "Magnesium 250,4 mg elementair"), (600.0, "Magnesium 600 mg")],
)
def test_a_dose_is_whole_unless_it_is_near_the_limit(knowledge: Knowledge, value: float, shown: str) -> None:
    """T8 (p20): "Magnesium 301,5 mg" where a whole number is meant; one decimal only near the 250 mg cut-off."""
    card = _render(knowledge, "mg-dose-above-ul", "default", {"o": _mg_order(value), "p": ADULT})
    assert card.summary.startswith(shown)


@pytest.mark.parametrize(("locale", "band"), [("nl", "250 mg (vanaf 4 jaar)"), ("en", "250 mg (from 4 years)")])
def test_the_eu_magnesium_limit_shows_its_band_as_the_source_states_it(
    knowledge: Knowledge, locale: str, band: str
) -> None:
    """T10 (p20): "(9 jaar en ouder)" on an adult card is an artefact of the table's split band."""
    card = _render(knowledge, "mg-dose-above-ul", "default", {"o": _mg_order(301.5), "p": ADULT}, locale)
    assert band in card.summary and band in _advice(card)
    assert "9" not in card.summary.split("(")[-1]


def test_open_bands_read_from_an_age() -> None:
    """T10: the words of an open-ended band."""
    assert age_band_words(132, 1800, "nl") == "vanaf 11 jaar"
    assert age_band_words(108, 1800, "en") == "from 9 years"


def test_the_cancel_suggestion_of_a_prescription_says_prescription(knowledge: Knowledge) -> None:
    """T9: "Aanvraag annuleren" is for a lab or referral request; a prescription is a "voorschrift"."""
    order = Evidence(
        "order", "MedicationRequest/o", name="colecalciferol", med_class="vitd-native", value=200.0, unit="ug"
    )
    for code, evidence in (("vitd-dose-above-ul", order), ("mg-dose-above-ul", _mg_order(400.0))):
        card = _render(knowledge, code, "default", {"o": evidence, "p": ADULT})
        labels = [s.label for s in card.suggestions or []]
        assert labels == ["Voorschrift annuleren (opnieuw voorschrijven in lagere dosis)"]
    lab = _render(knowledge, "test-125d-not-status", "default", {})
    assert all("Voorschrift" not in s.label for s in lab.suggestions or [])


@pytest.mark.parametrize(
    ("course_days", "words"),
    [(365.0, "kuur van 365 dagen, langer dan een behandelkuur"), (None, "zonder kuurduur")],
)
def test_a_stated_course_longer_than_a_treatment_course_is_not_called_open(
    knowledge: Knowledge, course_days: float | None, words: str
) -> None:
    """T12 (p99): a stated 365-day course was summarised "… zonder kuurduur"."""
    order = Evidence(
        "order",
        "MedicationRequest/o",
        name="colecalciferol",
        med_class="vitd-native",
        value=140.0,
        unit="ug",
        course_days=course_days,
    )
    vitd = _render(knowledge, "vitd-dose-above-ul", "deficient-open", {"o": order, "p": ADULT})
    assert vitd.summary.endswith(words)
    mg = _render(knowledge, "mg-dose-above-ul", "deficient-open", {"o": _mg_order(400.0), "p": ADULT})
    assert mg.summary.endswith("zonder kuurduur")


def test_local_policy_is_said_once(knowledge: Knowledge) -> None:
    """T15: "Lokaal beleid (geen richtlijngrens) … Let op: dit is lokaal beleid, geen richtlijnadvies."."""
    for locale, word in (("nl", "okaal beleid"), ("en", "ocal policy")):
        card = _render(knowledge, "renal-caution-mg", "severe", {}, locale)
        assert _advice(card).count(word) == 1


@pytest.mark.parametrize(
    ("locale", "summary"),
    [
        ("nl", "Magnesiumhoudend laxeermiddel (magnesiumoxide) bij ernstig verminderde nierfunctie"),
        ("en", "Magnesium-containing laxative (magnesium oxide) with severely reduced kidney function"),
    ],
)
def test_a_magnesium_laxative_is_not_called_a_supplement(knowledge: Knowledge, locale: str, summary: str) -> None:
    """T16 (p119): a magnesium oxide laxative in ESRD was called "Magnesiumsupplement"."""
    laxative = Evidence(
        "med", "MedicationStatement/l", name="MAGNESIUMOXIDE TABLET 500MG (laxans)", med_class="mg-laxative"
    )
    card = _render(knowledge, "renal-caution-mg", "severe", {"l": laxative}, locale)
    assert card.summary == summary


def test_summaries_name_the_drug_and_the_condition_present(knowledge: Knowledge) -> None:
    """T17 (p28, p90): "Anti-epilepticum/corticosteroïd…", "Alcoholgebruik, chronische diarree of malabsorptie…"."""
    steroid = Evidence(
        "med",
        "MedicationStatement/s",
        name="PREDNISOLON TABLET 5MG",
        med_class="systemic-corticosteroid",
        ingredient="prednisolone",
    )
    card = _render(knowledge, "glucocorticoid-bone", "default", {"s": steroid})
    assert card.summary == "Langdurig prednisolon: calcium, vitamine D en fractuurrisico"
    aed = Evidence(
        "med", "MedicationStatement/a", name="CARBAMAZEPINE 200MG", med_class="enzyme-inducing-antiepileptic"
    )
    missing = Evidence("lab-missing", analyte="vitd25")
    card = _render(knowledge, "vitd-lowering-medication", "unmeasured", {"a": aed, "m": missing}, "en")
    assert card.summary == "Carbamazepine without a recent 25(OH)D"
    alcohol = Evidence("condition", "Condition/c", name="Alcoholafhankelijkheid", med_class="alcohol-use-disorder")
    card = _render(knowledge, "mg-loss-condition", "unmeasured", {"c": alcohol}, "en")
    assert card.summary == "Alcohol use disorder without a recent magnesium"


def test_the_thiazide_card_says_above_as_its_rule_fires(knowledge: Knowledge) -> None:
    """T17: "aan of boven de bovengrens" though the rule fires only above the range."""
    for locale in ("nl", "en"):
        advice = _advice(_render(knowledge, "thiazide-hypercalcaemia", "high", {}, locale))
        assert "aan of boven" not in advice and "at or above" not in advice
        assert "boven het referentiegebied" in advice or "above the lab's reference range" in advice


def test_pth_is_shown_in_the_labs_unit_first(knowledge: Knowledge) -> None:
    """T6 (p33): PTH reported in pmol/L was shown only as "127,3 pg/mL"."""
    pth = Evidence(
        "lab",
        "Observation/pth",
        analyte="pth",
        value=127.27,
        unit="pg/mL",
        date="2026-11-01",
        reported_value=14.0,
        reported_unit="pmol/L",
    )
    ca = Evidence("lab", "Observation/ca", analyte="ca", value=2.8, unit="mmol/L", date="2026-11-01")
    card = _render(knowledge, "pth-high-calcium-high", "default", {"pth": pth, "ca": ca})
    assert card.summary.startswith("Verhoogd PTH (14 pmol/L = 127,3 pg/mL)")


def test_low_calcium_text_asks_for_albumin_correction(knowledge: Knowledge) -> None:
    """N7 (p15, p88): a total calcium without albumin is often pseudo-hypocalcaemia."""
    nl = _advice(_render(knowledge, "hypocalcemia-check-mg-vitd", "default", {}))
    en = _advice(_render(knowledge, "hypocalcemia-check-mg-vitd", "default", {}, "en"))
    assert "Corrigeer het totaal calcium voor albumine of bepaal geïoniseerd calcium" in nl
    assert "Correct total calcium for albumin or measure ionised calcium" in en


def test_primary_hyperparathyroidism_cites_a_phpt_source_not_a_ckd_guideline(knowledge: Knowledge) -> None:
    """T4: the card cited KDOQI 2003 (bone disease in CKD) for primary hyperparathyroidism."""
    assert knowledge.cards["pth-high-calcium-high"].cite == ["khan-2017-phpt"]
    assert knowledge.citations["khan-2017-phpt"].kind == "guideline"
    diuretic = _render(knowledge, "mg-loss-diuretic", "order-low", {})
    assert "FDA" not in _advice(diuretic)  # the FDA communication is about PPIs, not diuretics


def test_vitamin_d_spacing_says_voor_with_its_accents(knowledge: Knowledge) -> None:
    """T5: "voor" and "vóór" mixed; the patient-view card gave colestyramine orlistat's advice."""
    for variant in knowledge.cards["vitd-absorption-interaction"].variants.values():
        assert " uur voor " not in variant.advice["nl"]
    assert "default" not in knowledge.cards["vitd-absorption-interaction"].variants
