"""`vitdmg-cds review-report` (issue 16): one self-contained HTML file for the clinical governance committee.

The report is rendered once for every fixture scenario; what it must contain is read from the knowledge and
from the pipeline's own output, never listed here.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cds_service.cli import cli
from cds_service.knowledge.loader import Knowledge, shipped_profiles
from tests.browser import chromium_page
from tests.fhir_server import FIXTURES

PROFILES = shipped_profiles()  # the knowledge's profile ids (issue 17: none in code)

SCENARIOS = FIXTURES / "scenarios"
LOADING_ATTRIBUTES = {"src", "srcset", "data", "poster", "background"}


class Loads(HTMLParser):
    """Everything in a document that would make a browser fetch something, and every element id."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.scripts = 0
        self.ids: set[str] = set()
        self.rules: set[str] = set()
        self.hrefs: list[str] = []
        self._in_style = False
        self.styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if values.get("data-rule"):
            self.rules.add(str(values["data-rule"]))
        if tag == "script":
            self.scripts += 1
        if tag == "link":  # stylesheet, preload, icon, …: all fetch
            self.loads.append(f"<link href={values.get('href')}>")
        for name in LOADING_ATTRIBUTES & set(values):
            self.loads.append(f"<{tag} {name}={values[name]}>")
        if tag == "a" and values.get("href"):
            self.hrefs.append(str(values["href"]))
        if values.get("style"):
            self.styles.append(str(values["style"]))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    target = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(cli, ["review-report", str(FIXTURES), "-o", str(target)])
    assert result.exit_code == 0, result.output
    return target, target.read_text(encoding="utf-8")


def test_report_covers_every_catalog_code_rule_citation_and_scenario(
    report: tuple[Path, str], knowledge: Knowledge
) -> None:
    _, text = report
    parsed = Loads()
    parsed.feed(text)
    assert knowledge.version in text
    assert "(not set)" not in text, "every threshold a rule refers to is shown with its value per profile"
    signoff = text.split('<section class="signoff" id="signoff"', 1)[1]
    for code in knowledge.cards:
        assert f"code-{code}" in parsed.ids, f"catalog code {code} has no section"
        assert f'<tr><th scope="row"><code>{code}</code></th>' in signoff, f"{code} is not in the sign-off table"
    for group, rules in knowledge.rulesets.items():
        for rule in rules:
            assert f"{group}/{rule.id}" in parsed.rules, f"rule {group}/{rule.id} is not in the report"
            if rule.unless:  # exclusions are shown with the rule, wherever it appears
                for table in text.split(f'data-rule="{group}/{rule.id}"')[1:]:
                    shown = table.split("</table>", 1)[0]
                    assert "exclusions (unless any of)" in shown and shown.count("<li><code>{") >= len(rule.unless)
            for cite in rule.cite:
                assert f"cite-{cite}" in parsed.ids and f"#cite-{cite}" in parsed.hrefs, f"{rule.id}: {cite}"
                assert _escaped(knowledge.citations[cite].title) in text
    for code, card in knowledge.cards.items():
        for profile in PROFILES:  # `profile:*` entries resolved in every profile
            for cite in knowledge.card_citations(card, profile):
                assert f"cite-{cite}" in parsed.ids and f"#cite-{cite}" in parsed.hrefs, f"{code} ({profile}): {cite}"
    for scenario in (d for d in SCENARIOS.iterdir() if (d / "request.json").is_file()):
        assert f"<code>{scenario.name}</code>" in text, f"scenario {scenario.name} missing"


def test_cards_are_grouped_under_their_catalog_code(report: tuple[Path, str], knowledge: Knowledge) -> None:
    _, text = report
    sections = re.split(r'<section class="catalog-code" id="code-', text)[1:]
    assert len(sections) == len(knowledge.cards)
    shown = 0
    for section in sections:
        code = section.split('"', 1)[0]
        cards = re.findall(r'<article class="card [a-z]+" data-code="([^"]+)"', section)
        assert set(cards) <= {code}, f"section {code} holds cards of {set(cards) - {code}}"
        shown += len(cards)
    assert shown > 0
    assert shown == len(re.findall(r"<article class=\"card ", text)), "every card sits under its own code"


def test_report_loads_nothing_from_the_network(report: tuple[Path, str]) -> None:
    path, text = report
    parsed = Loads()
    parsed.feed(text)
    assert parsed.scripts == 0, "no script at all, inline or loaded"
    assert parsed.loads == []
    assert all("url(" not in s and "@import" not in s for s in parsed.styles)
    with chromium_page() as (page, guard):  # and a real browser, opening the file, asks for nothing else
        page.goto(path.as_uri())
        assert page.locator("section.catalog-code").count() == len(re.findall('class="catalog-code"', text))
        page.emulate_media(media="print")
        page.screenshot(path=str(path.with_suffix(".print.png")))
    assert guard.blocked == [] and guard.console_errors == []
    assert guard.seen == [path.as_uri()]


def _escaped(text: str) -> str:
    return html.escape(text, quote=True)


def test_pdf_is_rendered_by_weasyprint_without_fetching(tmp_path: Path, knowledge: Knowledge) -> None:
    """`--pdf` on one scenario (the whole report renders the same way, only longer)."""
    pytest.importorskip("weasyprint", reason="the pdf extra (WeasyPrint) is not installed")
    scenario = next(d for d in sorted(SCENARIOS.iterdir()) if (d / "request.json").is_file())
    html_path, pdf_path = tmp_path / "one.html", tmp_path / "one.pdf"
    result = CliRunner().invoke(cli, ["review-report", str(scenario), "-o", str(html_path), "--pdf", str(pdf_path)])
    assert result.exit_code == 0, result.output
    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    pages = int(re.findall(r"wrote .*one\.pdf: (\d+) page", result.output)[0])
    assert pages > len(knowledge.cards), f"{pages} pages: every catalog code starts on a new page"
