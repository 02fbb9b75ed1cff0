"""Cards as HTML (issue 16): the detail Markdown is rendered and sanitised; every wire field is shown."""

from __future__ import annotations

from cds_service.knowledge.loader import Knowledge
from cds_service.offline.card_view import card_view, render_markdown, response_view


def test_markdown_is_rendered_and_hostile_html_removed() -> None:
    html = str(
        render_markdown(
            "**Waarom**\n\n- Mg 0,62 mmol/L\n\n<script>alert(1)</script> <img src=x onerror=alert(1)>"
            " [bad](javascript:alert(1)) [ok](https://doi.org/10.2903/j.efsa.2023.8145)"
        )
    )
    assert "<strong>Waarom</strong>" in html and "<li>Mg 0,62 mmol/L</li>" in html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html, "raw HTML in the Markdown is shown as text, not run"
    assert '<a href="https://doi.org/10.2903/j.efsa.2023.8145" rel="noopener noreferrer">ok</a>' in html


def test_card_view_keeps_every_part_of_the_wire_card(knowledge: Knowledge) -> None:
    code = next(iter(knowledge.cards))
    card = {
        "uuid": "u",
        "summary": "S <b>",
        "detail": "text",
        "indicator": "warning",
        "source": {
            "label": "L",
            "url": "https://example.org/s",
            "topic": {"system": "x", "code": code, "display": "T"},
        },
        "suggestions": [
            {
                "label": "Order",
                "uuid": "s",
                "isRecommended": True,
                "actions": [
                    {"type": "create", "description": "d", "resource": {"resourceType": "ServiceRequest"}},
                    {"type": "delete", "description": "x", "resourceId": "MedicationRequest/1"},
                ],
            }
        ],
        "selectionBehavior": "at-most-one",
        "overrideReasons": [{"system": "x", "code": "c", "display": "Because"}],
        "links": [{"label": "Guideline", "url": "https://example.org/g", "type": "absolute"}],
    }
    view = card_view(card, knowledge, "nl-be")
    assert (view.code, view.indicator, view.summary, view.title) == (code, "warning", "S <b>", "T")
    assert view.source_url == "https://example.org/s" and view.override_reasons == ["Because"]
    assert [(a.type, a.resource_type) for a in view.suggestions[0].actions] == [
        ("create", "ServiceRequest"),
        ("delete", "MedicationRequest"),
    ]
    assert view.suggestions[0].recommended and view.links[0].url == "https://example.org/g"
    cited = [knowledge.citations[c] for c in knowledge.card_citations(knowledge.cards[code], "nl-be")]
    assert [c.label for c in view.citations] == [c.title for c in cited if c.url]
    card["links"] = [{"label": c.title, "url": c.url, "type": "absolute"} for c in cited if c.url]
    assert card_view(card, knowledge, "nl-be").citations == [], "a citation the card links to is not listed twice"


def test_an_error_response_is_shown_with_where(knowledge: Knowledge) -> None:
    body = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "needs x", "expression": ["prefetch.x"]}]}
    view = response_view(412, body, knowledge, "nl-be", "nl")
    assert view.errors == ["needs x (prefetch.x)"] and view.cards == []
