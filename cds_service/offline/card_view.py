"""Cards as an EHR shows them, for people: the CDS Hooks response JSON turned into HTML.

Used by the preview page and the review report. It reads only the response the pipeline produced (and the
knowledge, for the citations behind a catalog code), so what reviewers see is what an EHR receives.
The `detail` Markdown is rendered with markdown-it-py (raw HTML off) and the result sanitised with nh3.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2
import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

from cds_service.knowledge.loader import Knowledge
from cds_service.reports import EXTENSION_KEY

INDICATORS = ("critical", "warning", "info")
WORDS: dict[str, dict[str, str]] = {
    "nl": {
        "suggestions": "Voorstellen",
        "links": "Bronnen en links",
        "source": "Bron",
        "override": "Redenen om te negeren",
        "left_out": "Buiten beschouwing gelaten",
        "nothing_left_out": "Niets buiten beschouwing gelaten.",
        "no_cards": "Geen kaarten.",
        "profile": "Profiel",
        "language": "Taal",
        "card": "kaart",
        "cards": "kaarten",
    },
    "en": {
        "suggestions": "Suggestions",
        "links": "Sources and links",
        "source": "Source",
        "override": "Override reasons",
        "left_out": "Left out of the reasoning",
        "nothing_left_out": "Nothing was left out.",
        "no_cards": "No cards.",
        "profile": "Profile",
        "language": "Language",
        "card": "card",
        "cards": "cards",
    },
}
"""The pages' own labels around the cards, in the cards' language."""
_ALLOWED_TAGS = {"p", "br", "ul", "ol", "li", "strong", "em", "code", "pre", "a", "blockquote", "h4", "h5", "h6"}
_markdown = MarkdownIt("commonmark", {"html": False})


def render_markdown(text: str) -> Markup:
    """CommonMark to HTML without raw HTML, then sanitised: only text formatting and http(s) links survive."""
    html = _markdown.render(text)
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer",
    )
    return Markup(clean)


@dataclass(frozen=True)
class ActionView:
    type: str
    description: str
    resource_type: str
    resource_json: str


@dataclass(frozen=True)
class SuggestionView:
    label: str
    recommended: bool
    actions: list[ActionView]


@dataclass(frozen=True)
class LinkView:
    label: str
    url: str


@dataclass(frozen=True)
class CardView:
    """One card, every part an EHR may show: the fields of the wire card, nothing invented."""

    code: str
    title: str
    indicator: str
    summary: str
    detail: Markup
    source_label: str
    source_url: str | None
    suggestions: list[SuggestionView]
    selection_behavior: str | None
    override_reasons: list[str]
    links: list[LinkView]
    citations: list[LinkView] = field(default_factory=list)


@dataclass(frozen=True)
class ResponseView:
    """One pipeline run as shown: the cards, what was left out, or the error the service answered."""

    profile: str
    locale: str
    status: int
    cards: list[CardView]
    left_out: list[dict[str, str]]
    errors: list[str]


def card_view(card: dict[str, Any], knowledge: Knowledge, profile: str) -> CardView:
    topic = card.get("source", {}).get("topic") or {}
    code = str(topic.get("code", ""))
    suggestions = [
        SuggestionView(
            label=str(s.get("label", "")),
            recommended=bool(s.get("isRecommended")),
            actions=[_action_view(a) for a in s.get("actions", [])],
        )
        for s in card.get("suggestions", [])
    ]
    links = [LinkView(str(link["label"]), str(link["url"])) for link in card.get("links", []) if _http(link)]
    definition = knowledge.cards.get(code)
    linked = {link.url for link in links}
    citations = [  # the catalog code's citations with a URL the card does not link to already
        LinkView(knowledge.citations[c].title, knowledge.citations[c].url or "")
        for c in (knowledge.card_citations(definition, profile) if definition else [])
        if c in knowledge.citations and knowledge.citations[c].url and knowledge.citations[c].url not in linked
    ]
    return CardView(
        code=code,
        title=str(topic.get("display", code)),
        indicator=str(card.get("indicator", "info")),
        summary=str(card.get("summary", "")),
        detail=render_markdown(str(card.get("detail", ""))),
        source_label=str(card.get("source", {}).get("label", "")),
        source_url=card.get("source", {}).get("url"),
        suggestions=suggestions,
        selection_behavior=card.get("selectionBehavior"),
        override_reasons=[str(r.get("display") or r.get("code")) for r in card.get("overrideReasons", [])],
        links=links,
        citations=citations,
    )


def response_view(status: int, body: dict[str, Any], knowledge: Knowledge, profile: str, locale: str) -> ResponseView:
    """A CDS Hooks response (200) or an OperationOutcome (4xx) as shown on a page."""
    if status != 200:
        errors = [
            f"{i.get('diagnostics', '')}" + (f" ({', '.join(i['expression'])})" if i.get("expression") else "")
            for i in body.get("issue", [])
        ]
        return ResponseView(profile, locale, status, [], [], errors or [f"HTTP {status}"])
    cards = [card_view(c, knowledge, profile) for c in body.get("cards", [])]
    left_out = list(body.get("extension", {}).get(EXTENSION_KEY, []))
    return ResponseView(profile, locale, status, cards, left_out, [])


def _action_view(action: dict[str, Any]) -> ActionView:
    resource = action.get("resource")
    if isinstance(resource, dict):
        shown, kind = json.dumps(resource, indent=2, ensure_ascii=False), str(resource.get("resourceType", ""))
    else:
        shown, kind = str(action.get("resourceId", "")), str(action.get("resourceId", "")).split("/")[0]
    return ActionView(str(action.get("type", "")), str(action.get("description", "")), kind, shown)


def _http(link: dict[str, Any]) -> bool:
    return isinstance(link.get("url"), str) and str(link["url"]).startswith(("https://", "http://"))


@cache
def templates() -> jinja2.Environment:
    """The page templates (packaged under cds_service/templates), HTML-escaped by default."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cds_service", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["INDICATORS"] = INDICATORS
    return env


@cache
def stylesheet() -> str:
    """The one stylesheet, inlined in every page (no file to fetch; the CSP names its hash)."""
    return templates().loader.get_source(templates(), "cards.css")[0]  # type: ignore[union-attr]


def style_hash() -> str:
    """CSP source for the inlined stylesheet: `'sha256-…'`."""
    digest = hashlib.sha256(stylesheet().encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"
