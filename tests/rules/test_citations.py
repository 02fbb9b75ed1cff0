"""Every card variant, in both languages and under every profile, cites only primary sources of the allowed kinds,
each with a URL, links to them, and carries no internal note (issue 11 "Citations")."""

from __future__ import annotations

import re

import pytest

from cds_service.cdshooks.models import Card
from cds_service.knowledge.loader import CARD_KINDS, Knowledge, shipped_profiles
from cds_service.reasoning.cards import RenderContext, render_cards
from cds_service.reasoning.engine import Derived

from .test_knowledge import LOCALES, _evidence

PROFILES = shipped_profiles()  # the knowledge's profile ids (issue 17: none in code)

# Internal provenance notes (issue 18: a citation title said "label section not opened here"). They belong in a
# citation's `note`, never in what a card shows.
INTERNAL = re.compile(
    r"seed|clinical-reference|not verified|shared/|\be\.2\b|blog|todo|xxx|worksheet|openfda"
    r"|not (?:opened|retrieved|seen|read)|summari[sz]ed by|(?:opened|read|seen|retrieved) here",
    re.IGNORECASE,
)


def every_variant(knowledge: Knowledge, locale: str, profile: str) -> list[tuple[str, str, Card]]:
    facts = _evidence()
    out = []
    for code, definition in knowledge.cards.items():
        for variant in definition.variants:
            intent = Derived(
                "card", {"code": code, "variant": variant, "indicator": "info"}, tuple(facts.evidence), "r", "c1"
            )
            (card,) = render_cards([intent], facts, knowledge, RenderContext(locale, profile, "p"))
            out.append((code, variant, card))
    return out


def _card_text(card: Card) -> list[str]:
    texts = [card.summary, card.detail or "", card.source.label]
    texts += [card.source.topic.display or ""] if card.source.topic else []
    texts += [f"{link.label} {link.url}" for link in card.links or []]
    for suggestion in card.suggestions or []:
        texts.append(suggestion.label)
        texts += [a.description for a in suggestion.actions or []]
    texts += [r.display or "" for r in card.overrideReasons or []]
    return texts


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("locale", LOCALES)
def test_no_internal_note_on_any_card(knowledge: Knowledge, locale: str, profile: str) -> None:
    notes = [c.note for c in knowledge.citations.values() if c.note]
    for code, variant, card in every_variant(knowledge, locale, profile):
        for text in _card_text(card):
            assert not INTERNAL.search(text), (code, variant, INTERNAL.search(text), text)
            assert not any(note in text for note in notes), (code, variant)


def test_no_internal_note_in_any_citation_a_card_may_show(knowledge: Knowledge) -> None:
    """Issue 18: every citation of a kind a card may show keeps its title and link text free of internal notes,
    whether or not a card cites it today (the next card to cite it would show them)."""
    for key, citation in knowledge.citations.items():
        if citation.kind in CARD_KINDS:
            for text in (citation.title, citation.label or ""):
                assert not INTERNAL.search(text), (key, INTERNAL.search(text), text)


@pytest.mark.parametrize(
    "title",
    [
        "Tivicay (dolutegravir) US prescribing information: take 2 hours before or 6 hours after cation-containing "
        "antacids (interval as summarised by UCSF HIV InSite; label section not opened here)",
        "Cipro label (quote as read in a public openFDA worksheet)",
        "ACR 2022 guideline (summary page; the ACR publication itself was not retrieved)",
    ],
)
def test_internal_note_pattern_catches_the_notes_found_on_cards(title: str) -> None:
    """The pattern fails on the dolutegravir title that was shown on cards until issue 18."""
    assert INTERNAL.search(title)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("locale", LOCALES)
def test_cards_cite_only_allowed_kinds_each_with_a_url_and_link_to_them(
    knowledge: Knowledge, locale: str, profile: str
) -> None:
    for code, variant, card in every_variant(knowledge, locale, profile):
        ids = knowledge.card_citations(knowledge.cards[code], profile, variant)  # the card's, then the variant's
        cited = [knowledge.citations[c] for c in ids]
        assert cited, (code, variant)
        for citation in cited:
            assert citation.kind in CARD_KINDS, (code, citation.title)
            if citation.kind != "local-policy":
                assert citation.url and citation.url.startswith("https://"), (code, citation.title)
                assert f"[{citation.title}]({citation.url})" in (card.detail or ""), (code, citation.title)
            else:
                assert citation.title in (card.detail or "")
        assert card.links, (code, variant, "a link to the primary source")
        assert {link.url for link in card.links} == {c.url for c in cited if c.url}
        assert all(link.type == "absolute" and link.label for link in card.links)


def test_seed_texts_stay_background(knowledge: Knowledge) -> None:
    """The blog posts the project started from are kept, as background, and are on no card under any profile."""
    seeds = {k for k, c in knowledge.citations.items() if c.where and c.where.startswith("shared/seeds/")}
    assert seeds and all(knowledge.citations[k].kind == "background" for k in seeds)
    for definition in knowledge.cards.values():
        for profile in PROFILES:
            for variant in definition.variants:
                assert not seeds & set(knowledge.card_citations(definition, profile, variant)), definition.code


def test_a_card_citing_background_is_refused(knowledge: Knowledge) -> None:
    card = knowledge.cards["mg-deficiency"]
    bare = {n: v.model_copy(update={"cite": []}) for n, v in card.variants.items()}  # no variant's own source either
    definition = card.model_copy(update={"cite": ["seed-vitdmg"], "variants": bare})
    problems = knowledge._card_source_problems(definition, "nl-be")
    assert any("not a source a card may show" in p for p in problems)
    assert any("no cited source with a url" in p for p in problems)


def test_a_variant_citing_background_is_refused(knowledge: Knowledge) -> None:
    definition = knowledge.cards["mg-deficiency"]
    variants = {**definition.variants}
    variants["critical"] = variants["critical"].model_copy(update={"cite": ["seed-vitdmg"]})
    problems = knowledge._card_source_problems(definition.model_copy(update={"variants": variants}), "nl-be")
    assert any("not a source a card may show" in p for p in problems)


@pytest.mark.parametrize("profile", PROFILES)
def test_critical_low_magnesium_cites_only_what_supports_it(knowledge: Knowledge, profile: str) -> None:
    """Issue 11 (review): the critical card advises parenteral magnesium below 0.50 mmol/L; the upper intake level
    of supplements does not support that, so it cites NTvG 2002 (the source of the 0.50 cut-off) only; the renal
    variant (no oral start) does not cite it either."""
    upper_levels = set(knowledge.profiles.profiles[profile].mg_ul.cite)
    definition = knowledge.cards["mg-deficiency"]
    critical = knowledge.card_citations(definition, profile, "critical")
    assert critical == knowledge.profiles.common["mg_critical_below"]["cite"]
    assert not upper_levels & set(critical)
    assert upper_levels <= set(knowledge.card_citations(definition, profile, "default")), "default quotes the UL"
    assert not upper_levels & set(knowledge.card_citations(definition, profile, "renal"))
    for locale in LOCALES:
        (card,) = [
            c for code, v, c in every_variant(knowledge, locale, profile) if (code, v) == (definition.code, "critical")
        ]
        assert {link.url for link in card.links or []} == {knowledge.citations[c].url for c in critical}


def test_superseded_profile_is_labelled_on_its_cards(knowledge: Knowledge) -> None:
    for locale in LOCALES:
        label = knowledge.profiles.profiles["us-endocrine-2011"].label[locale]
        for _, _, card in every_variant(knowledge, locale, "us-endocrine-2011"):
            assert label in card.source.label and label in (card.detail or "")
        for _, _, card in every_variant(knowledge, locale, "us-nam-2011"):
            assert label not in card.source.label
