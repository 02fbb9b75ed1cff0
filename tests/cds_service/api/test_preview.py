"""The card preview page (issue 16), driven in headless Debian Chromium over real HTTP.

What the page must show is never written here: it is computed by running the same scenario through the
service's pipeline in-process (`Evaluator`), so card texts and rules can change without touching this file.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Page

from cds_service.api.app import create_app
from cds_service.api.preview import Scenario, default_scenarios_dir, list_scenarios
from cds_service.cdshooks.services import prefetch_templates
from cds_service.knowledge.loader import Knowledge, shipped_profiles
from cds_service.offline.bundle_import import bundle_to_request
from cds_service.offline.evaluation import Evaluator
from cds_service.settings import Settings
from tests.browser import README_SCREENSHOT, chromium_or_skip, chromium_page
from tests.test_e2e import serve

PROFILES = shipped_profiles()  # the knowledge's profile ids (issue 17: none in code)

EXPORT = Path(__file__).resolve().parents[3] / "fhir_fixtures" / "exports" / "nl-patient-export.json"
CONTROLS = "form select, form textarea, form input, form button"


@dataclass(frozen=True)
class Shown:
    """What one column must show: per card (code, indicator, summary, suggestion labels), and left-out count."""

    cards: list[tuple[str, str, str, list[str]]]
    left_out: int
    body: dict[str, Any]


def shown(body: dict[str, Any]) -> Shown:
    cards = [
        (c["source"]["topic"]["code"], c["indicator"], c["summary"], [s["label"] for s in c.get("suggestions", [])])
        for c in body.get("cards", [])
    ]
    return Shown(cards, len(body.get("extension", {}).get("org.vitdmg.left-out", [])), body)


@dataclass(frozen=True)
class Plan:
    """A scenario whose cards differ between two profiles and that has a suggestion, with what each shows."""

    scenario: Scenario
    first: str
    second: str
    expected: dict[tuple[str, str], Shown]


@pytest.fixture(scope="module")
def plan(knowledge: Knowledge, tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """Pick the scenario by running the pipeline, not by name: the first that shows a profile difference."""
    evaluator = Evaluator(Settings(data_dir=tmp_path_factory.mktemp("data")), knowledge)

    async def run(scenario: Scenario, profile: str, locale: str) -> Shown:
        return shown((await evaluator.evaluate(scenario.path, profile=profile, locale=locale)).body)

    async def pick() -> Plan:
        for scenario in list_scenarios(default_scenarios_dir()):
            results = {p: await run(scenario, p, "en") for p in PROFILES}
            with_suggestion = [p for p in PROFILES if any(card[3] for card in results[p].cards)]
            for first in with_suggestion:
                for second in PROFILES:
                    if [c[:2] for c in results[first].cards] != [c[:2] for c in results[second].cards]:
                        expected = {(p, "en"): r for p, r in results.items()}
                        for p in (first, second):
                            expected[(p, "nl")] = await run(scenario, p, "nl")
                        return Plan(scenario, first, second, expected)
        raise AssertionError("no scenario whose cards differ between profiles and that carries a suggestion")

    return asyncio.run(pick())


@pytest.fixture(scope="module")
def base_url(knowledge: Knowledge, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    chromium_or_skip()
    app = create_app(Settings(auth="disabled", data_dir=tmp_path_factory.mktemp("data")), knowledge=knowledge)
    with serve(app) as base:
        yield base


def submit(page: Page, **choices: str) -> None:
    for name, value in choices.items():
        page.select_option(f"#{name}", value)
    with page.expect_navigation():
        page.click("#show")
    assert page.locator("#form-error").count() == 0, page.locator("#form-error").inner_text()


def assert_column(page: Page, index: int, profile: str, locale: str, expected: Shown) -> None:
    """The column's cards, in order: code, indicator (attribute and visible badge), summary, suggestion buttons."""
    column = page.locator("section.column").nth(index)
    assert column.get_attribute("data-profile") == profile and column.get_attribute("lang") == locale
    cards = column.locator("article.card")
    assert cards.count() == len(expected.cards), f"{profile}/{locale}: {cards.count()} cards shown"
    for i, (code, indicator, summary, labels) in enumerate(expected.cards):
        card = cards.nth(i)
        assert card.get_attribute("data-code") == code
        assert card.get_attribute("data-indicator") == indicator
        assert card.locator(".indicator").inner_text().strip().lower() == indicator
        assert card.locator("h3.summary").inner_text().strip() == summary
        buttons = [
            b.strip().rstrip(" ★▸▾").strip() for b in card.locator("details.suggestion > summary").all_inner_texts()
        ]
        assert buttons == labels
        assert card.locator(".override li").count() >= 1, "override reasons are shown"
        assert card.locator(".detail").inner_html().strip(), "the detail is rendered"
    heading = column.locator(".left-out h3").inner_text()
    assert heading.endswith(f"({expected.left_out})"), heading


def screenshot(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000 and path.read_bytes().startswith(b"\x89PNG"), f"{path} is not a screenshot"


@pytest.mark.browser
def test_choose_scenario_switch_language_and_profile(base_url: str, plan: Plan, tmp_path: Path) -> None:
    name, first, second = plan.scenario.name, plan.first, plan.second
    with chromium_page() as (page, guard):
        page.goto(f"{base_url}/preview")
        assert page.title() == "vitdmg-cds card preview"
        options = page.locator("#scenario option").evaluate_all("os => os.map(o => o.value).filter(Boolean)")
        assert name in options and len(options) == len(list_scenarios(default_scenarios_dir()))
        profile_names = page.locator("#profile option").all_inner_texts()[1:]
        assert [t.split(" — ")[0] for t in profile_names] == list(PROFILES)
        assert all("{" not in t and len(t.split(" — ")) == 2 for t in profile_names), profile_names
        screenshot(page, tmp_path / "0-empty.png")

        submit(page, scenario=name, profile=first, locale="en")
        assert_column(page, 0, first, "en", plan.expected[(first, "en")])
        screenshot(page, tmp_path / f"1-{name}-{first}-en.png")

        submit(page, locale="nl")
        assert_column(page, 0, first, "nl", plan.expected[(first, "nl")])
        screenshot(page, tmp_path / f"2-{name}-{first}-nl.png")

        submit(page, profile=second)
        assert_column(page, 0, second, "nl", plan.expected[(second, "nl")])
        screenshot(page, tmp_path / f"3-{name}-{second}-nl.png")

        submit(page, profile=first, locale="en", compare_profile=second, compare_locale="nl")
        assert page.locator("section.column").count() == 2
        assert_column(page, 0, first, "en", plan.expected[(first, "en")])
        assert_column(page, 1, second, "nl", plan.expected[(second, "nl")])
        screenshot(page, tmp_path / f"4-{name}-{first}-en-beside-{second}-nl.png")

        open_suggestion_shows_its_resource(page, plan.expected[(first, "en")])
        screenshot(page, tmp_path / f"5-{name}-suggestion-open.png")
        if _update_readme_screenshot():
            shutil.copyfile(tmp_path / f"5-{name}-suggestion-open.png", README_SCREENSHOT)
    assert guard.blocked == [], f"the page tried to reach the network: {guard.blocked}"
    assert guard.console_errors == []
    assert guard.seen and all(u.startswith(base_url) for u in guard.seen)


def open_suggestion_shows_its_resource(page: Page, expected: Shown) -> None:
    """Opening a suggestion button shows what each action would create or delete, as the response has it."""
    card = next(c for c in expected.body["cards"] if c.get("suggestions"))
    position = expected.body["cards"].index(card)
    suggestion = card["suggestions"][0]
    button = page.locator("section.column").nth(0).locator("article.card").nth(position).locator("details.suggestion")
    details = button.nth(0)
    assert details.get_attribute("open") is None
    details.locator("summary").click()
    assert details.get_attribute("open") is not None
    shown_actions = details.locator("pre.resource").all_inner_texts()
    assert len(shown_actions) == len(suggestion["actions"])
    for text, action in zip(shown_actions, suggestion["actions"], strict=True):
        if "resource" in action:
            assert json.loads(text) == action["resource"]
        else:
            assert text.strip() == action["resourceId"]


def _update_readme_screenshot() -> bool:
    """VITDMG_UPDATE_SCREENSHOT=1 makes this test write the README's picture of the page too."""
    return os.environ.get("VITDMG_UPDATE_SCREENSHOT") == "1"


def _luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(foreground: str, background: str) -> float:
    high, low = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.browser
def test_labels_keyboard_and_indicator_contrast(base_url: str, plan: Plan, tmp_path: Path) -> None:
    with chromium_page() as (page, guard):
        page.goto(f"{base_url}/preview")
        # every control has a visible label
        unlabelled = page.locator(CONTROLS).evaluate_all(
            "els => els.filter(e => e.tagName !== 'BUTTON' && !(e.labels && e.labels.length && e.labels[0].innerText.trim())).map(e => e.id)"
        )
        assert unlabelled == []
        # Tab reaches every control, in document order, starting from the skip link
        ids = page.locator(CONTROLS).evaluate_all("els => els.map(e => e.id)")
        reached: list[str] = []
        for _ in range(3 * len(ids)):  # a date input takes one Tab per part (day, month, year)
            page.keyboard.press("Tab")
            focused = page.evaluate("document.activeElement.id")
            if focused in ids and (not reached or reached[-1] != focused):
                reached.append(focused)
        assert reached[: len(ids)] == ids
        # choose a scenario and submit with the keyboard alone
        page.focus("#scenario")
        target = plan.scenario.name
        for _ in range(len(ids) + 200):
            if page.eval_on_selector("#scenario", "e => e.value") == target:
                break
            page.keyboard.press("ArrowDown")
        assert page.eval_on_selector("#scenario", "e => e.value") == target
        # the profile in which the plan's scenario carries a suggestion (the default one may show none)
        page.focus("#profile")
        for _ in range(len(PROFILES) + 2):
            if page.eval_on_selector("#profile", "e => e.value") == plan.first:
                break
            page.keyboard.press("ArrowDown")
        assert page.eval_on_selector("#profile", "e => e.value") == plan.first
        page.focus("#show")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.locator("article.card").count() >= 1
        # a suggestion button opens with Enter
        summary = page.locator("details.suggestion > summary").first
        summary.focus()
        page.keyboard.press("Enter")
        assert page.locator("details.suggestion").first.get_attribute("open") is not None
        screenshot(page, tmp_path / "keyboard.png")
        # indicator badges: text contrast >= 4.5:1 (WCAG AA, small bold text); card edges >= 3:1 against white
        colours = page.evaluate(
            """() => ['critical', 'warning', 'info'].map(k => {
                 const badge = document.createElement('span'); badge.className = 'indicator ' + k;
                 const card = document.createElement('article'); card.className = 'card ' + k;
                 document.body.append(badge, card);
                 const b = getComputedStyle(badge), c = getComputedStyle(card);
                 return [k, b.color, b.backgroundColor, c.borderLeftColor, getComputedStyle(document.body).backgroundColor];
               })"""
        )
        for indicator, text, background, edge, page_background in colours:
            assert contrast(text, background) >= 4.5, (
                f"{indicator}: badge text contrast {contrast(text, background):.2f}"
            )
            assert contrast(edge, page_background) >= 3, (
                f"{indicator}: card edge contrast {contrast(edge, page_background):.2f}"
            )
    assert guard.blocked == [] and guard.console_errors == []


# --- the same page over ASGI, without a browser: who may see it, and what it does with bad input ---


@asynccontextmanager
async def preview_client(knowledge: Knowledge, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(**{"auth": "disabled", **overrides}), knowledge=knowledge)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        yield client


async def test_preview_is_off_when_auth_is_required_unless_the_setting_says(
    knowledge: Knowledge, tmp_path: Path
) -> None:
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text(yaml.safe_dump({"issuers": [{"iss": "https://ehr.example.org", "jwks_file": "jwks.json"}]}))
    (tmp_path / "jwks.json").write_text('{"keys": []}')
    secured = {
        "auth": "required",
        "trusted_issuers_file": issuers,
        "pseudonym_key": "a-test-secret",
        "public_base_url": "https://cds.example.org",  # required with auth (issue 13)
    }
    async with preview_client(knowledge, **secured) as client:
        assert (await client.get("/preview")).status_code == 404
    async with preview_client(knowledge, **secured, preview=True) as client:
        page = await client.get("/preview")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


async def test_the_inline_stylesheet_is_the_only_thing_the_policy_allows(knowledge: Knowledge) -> None:
    async with preview_client(knowledge) as client:
        page = await client.get("/preview")
    style = page.text.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = page.headers["content-security-policy"]
    assert f"style-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
    assert "<script" not in page.text


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"scenario": "../../etc"}, "unknown scenario '../../etc'"),
        ({"scenario": "", "profile": "fr"}, "profile: unknown profile 'fr'"),
        ({"locale": "de"}, "unknown language 'de'"),
        ({"text": "{not json"}, "the pasted text is not JSON (line 1, column 2)"),
        ({"text": "[1, 2]"}, "neither a CDS Hooks request"),
        ({"text": '{"resourceType": "Bundle", "entry": []}', "hook": "order-sign"}, "holds 0 Patient resources"),
        ({"text": "{}", "now": "next week"}, "is not a date"),
    ],
)
async def test_unusable_input_is_a_400_page_saying_what(
    knowledge: Knowledge, form: dict[str, str], message: str
) -> None:
    async with preview_client(knowledge) as client:
        page = await client.post("/preview", data=form)
    assert page.status_code == 400
    assert message in html.unescape(page.text.split('id="form-error"', 1)[1])


async def test_a_pasted_bundle_goes_through_bundle_to_request_and_the_pipeline(
    knowledge: Knowledge, tmp_path: Path
) -> None:
    bundle = json.loads(EXPORT.read_text(encoding="utf-8"))
    request = bundle_to_request(bundle, prefetch_templates(knowledge), hook="order-sign").request
    evaluator = Evaluator(Settings(data_dir=tmp_path), knowledge)
    expected = shown((await evaluator.run(request, Path("x"), offline=True, profile="dach", locale="en")).body)
    assert expected.cards, "the export should give at least one card at order-sign"
    async with preview_client(knowledge) as client:
        page = await client.post(
            "/preview",
            data={"text": EXPORT.read_text(encoding="utf-8"), "hook": "order-sign", "profile": "dach", "locale": "en"},
        )
    assert page.status_code == 200
    codes = re.findall(r'data-code="([^"]+)" data-indicator="([^"]+)"', page.text)
    assert codes == [card[:2] for card in expected.cards]
    for card in expected.cards:
        assert html.escape(card[2], quote=False) in page.text


async def test_a_pasted_request_never_reaches_its_fhir_server(knowledge: Knowledge) -> None:
    """The preview calls no FHIR server, even one on the allow-list: missing prefetch is the service's 412."""
    body = json.loads((default_scenarios_dir() or Path()).joinpath("pv-nl-ppi-mg-low", "request.json").read_text())
    body.pop("prefetch", None)
    body["fhirServer"] = "http://127.0.0.1:9/fhir"
    async with preview_client(
        knowledge, fhir_allowed_servers=["http://127.0.0.1:9/fhir"], fhir_http_hosts=["127.0.0.1"]
    ) as client:
        page = await client.post("/preview", data={"text": json.dumps(body)})
    assert page.status_code == 200
    alert = html.unescape(page.text.split('role="alert"', 1)[1])
    assert "HTTP 412" in alert and "it was not called" in alert


def test_readme_shows_the_page_as_the_browser_test_renders_it() -> None:
    readme = (README_SCREENSHOT.parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"]({README_SCREENSHOT.parent.name}/{README_SCREENSHOT.name})" in readme
    png = README_SCREENSHOT.read_bytes()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and width == 1400 and height > 800
