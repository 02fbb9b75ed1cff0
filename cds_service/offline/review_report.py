"""`vitdmg-cds review-report`: one self-contained HTML file for a clinical governance committee.

Every scenario runs through the service's pipeline (`Evaluator`) in each language; its cards are shown as an
EHR shows them, grouped by catalog code beside that code's knowledge: the card texts per variant, the rules
that emit it and the findings rules behind them, exclusions, the thresholds they use per profile, and the
citations. Then the thresholds per profile, every citation, and a sign-off table. Nothing is loaded from
anywhere when the file is opened (inline CSS, no script, no image); it prints with its own print CSS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from cds_service.knowledge.loader import HOOK_GROUPS, CardDefinition, Knowledge, Rule, default_rules_dir
from cds_service.offline.card_view import WORDS, CardView, ResponseView, response_view, stylesheet, templates
from cds_service.offline.evaluation import Evaluator, read_expectations, read_json

_SHOWN_RULE_KEYS = {"id", "when", "then", "cite", "enabled_if"}


@dataclass
class Run:
    """One scenario in one profile: its response in each language."""

    name: str
    description: str
    hook: str
    profile: str
    views: dict[str, ResponseView] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return next(iter(self.views.values())).status

    def cards(self, locale: str) -> list[CardView]:
        return self.views[locale].cards


@dataclass
class RuleView:
    id: str
    group: str
    when: list[str]
    then: str
    enabled_if: str | None
    extra: dict[str, list[str]]
    thresholds: dict[str, dict[str, str]]
    cite: list[str]


@dataclass
class CodeSection:
    code: str
    title: dict[str, str]
    cite: list[tuple[str, dict[str, list[str]]]]
    variants: dict[str, dict[str, dict[str, str]]]
    rules: list[RuleView]
    findings: list[RuleView]
    shown: list[tuple[Run, dict[str, CardView]]]


def scenario_name(path: Path) -> str:
    return path.parent.name if path.name == "request.json" else path.stem


async def run_scenarios(
    evaluator: Evaluator, files: Iterable[Path], profiles: list[str] | None, locales: list[str]
) -> list[Run]:
    """Each request file in each chosen profile (default: the scenario's own) and each language."""
    runs: list[Run] = []
    for path in files:
        expectations = read_expectations(path)
        body = read_json(path)
        own = (expectations.profile if expectations else None) or evaluator.settings.profile
        for profile in profiles or [own]:
            hook = str(body.get("hook", "")) if isinstance(body, dict) else ""
            run = Run(scenario_name(path), expectations.description if expectations else "", hook, profile)
            for locale in locales:
                result = await evaluator.evaluate(path, profile=profile, locale=locale)
                run.views[locale] = response_view(result.status, result.body, evaluator.knowledge, profile, locale)
            runs.append(run)
    return runs


def render_report(knowledge: Knowledge, runs: list[Run], locales: list[str], *, rules_dir: Path | None = None) -> str:
    """The report as one HTML document."""
    sections = [_code_section(knowledge, code, runs) for code in _catalog_order(knowledge)]
    under_codes = {(r.group, r.id) for s in sections for r in s.rules + s.findings}
    other_rules = [
        _rule_view(knowledge, group, rule)
        for group, rules in knowledge.rulesets.items()
        for rule in rules
        if (group, rule.id) not in under_codes
    ]
    unknown = sorted({c.code for r in runs for v in r.views.values() for c in v.cards} - set(knowledge.cards))
    return (
        templates()
        .get_template("review_report.html.j2")
        .render(
            css=stylesheet(),
            knowledge=knowledge,
            rules_digest=rules_digest(rules_dir or default_rules_dir()),
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            runs=runs,
            locales=locales,
            words=WORDS,
            sections=sections,
            other_rules=other_rules,
            unknown_codes=unknown,
            profiles=list(knowledge.profiles.profiles),
            profile_rows=_profile_rows(knowledge),
            common_rows=_common_rows(knowledge),
            citations=knowledge.citations,
        )
    )


def rules_digest(rules_dir: Path) -> str:
    """SHA-256 over every file under rules/ (path and bytes): what exactly the committee signed off."""
    digest = hashlib.sha256()
    for path in sorted(p for p in rules_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(rules_dir).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _catalog_order(knowledge: Knowledge) -> list[str]:
    """Catalog codes in the order the rulesets emit them (patient-view, then orders), then any other card."""
    order: list[str] = []
    for group in HOOK_GROUPS:
        for rule in knowledge.rulesets.get(group, []):
            code = rule.then.get("card")
            if isinstance(code, str) and code not in order:
                order.append(code)
    return order + sorted(set(knowledge.cards) - set(order))


def _code_section(knowledge: Knowledge, code: str, runs: list[Run]) -> CodeSection:
    definition = knowledge.cards[code]
    rules = [
        _rule_view(knowledge, group, rule)
        for group, group_rules in knowledge.rulesets.items()
        for rule in group_rules
        if rule.then.get("card") == code
    ]
    wanted = _findings_used(knowledge, code)
    findings = [
        _rule_view(knowledge, group, rule)
        for group, group_rules in knowledge.rulesets.items()
        for rule in group_rules
        if _produces(rule, wanted)
    ]
    shown = []
    for run in runs:
        cards = {locale: c for locale, view in run.views.items() for c in view.cards if c.code == code}
        if cards:
            shown.append((run, cards))
    variants = {
        name: {
            "summary": dict(variant.summary),
            "advice": dict(variant.advice),
            **{f"suggestion {i + 1}": dict(s.label) for i, s in enumerate(variant.suggestions)},
            # a variant's own sources, after the card's
            **({"sources": dict.fromkeys(("nl", "en"), ", ".join(variant.cite))} if variant.cite else {}),
        }
        for name, variant in definition.variants.items()
    }
    cite = [
        (
            entry,
            {}
            if entry in knowledge.citations
            else {p: _resolved(knowledge, definition, entry, p) for p in knowledge.profiles.profiles},
        )
        for entry in definition.cite
    ]
    return CodeSection(code, dict(definition.title), cite, variants, rules, findings, shown)


def _resolved(knowledge: Knowledge, definition: CardDefinition, entry: str, profile: str) -> list[str]:
    """What a `profile:*` cite entry stands for in one profile (the knowledge resolves it)."""
    return knowledge.card_citations(definition.model_copy(update={"cite": [entry]}), profile)


def _findings_used(knowledge: Knowledge, code: str) -> list[tuple[str, Any]]:
    """The findings (code, value or condition) the rules emitting `code` join on, exclusions included."""
    used: list[tuple[str, Any]] = []
    for group_rules in knowledge.rulesets.values():
        for rule in group_rules:
            if rule.then.get("card") != code:
                continue
            for join in [*rule.when, *rule.unless]:
                spec = join.get("finding")
                if isinstance(spec, dict) and isinstance(spec.get("code"), str):
                    used.append((spec["code"], spec.get("value")))
    return used


def _produces(rule: Rule, wanted: list[tuple[str, Any]]) -> bool:
    """Whether a findings rule's output is one a card rule joins on (same code; same value, or one of `in`)."""
    finding, value = rule.then.get("finding"), rule.then.get("value")
    for code, condition in wanted:
        if finding != code:
            continue
        if condition is None or condition == value:
            return True
        if isinstance(condition, dict) and value in (condition.get("in") or []):
            return True
        if isinstance(condition, dict) and "in" not in condition:
            return True  # another operator: shown rather than guessed away
    return False


def _rule_view(knowledge: Knowledge, group: str, rule: Rule) -> RuleView:
    dumped = rule.model_dump(exclude_none=True, exclude_defaults=True)
    extra = {
        k: [_compact(item) for item in v] if isinstance(v, list) else [_compact(v)]
        for k, v in dumped.items()
        if k not in _SHOWN_RULE_KEYS
    }
    references = sorted(set(_references(dumped)) | ({rule.enabled_if} if rule.enabled_if else set()))
    thresholds = {
        ref: {p: _compact(_lookup(knowledge.thresholds(p), ref.lstrip("$"))) for p in knowledge.profiles.profiles}
        for ref in references
    }
    return RuleView(
        rule.id,
        group,
        [_compact(join) for join in rule.when],
        _compact(rule.then),
        rule.enabled_if,
        extra,
        thresholds,
        list(rule.cite),
    )


def _references(value: Any) -> Iterable[str]:
    """Every `$name.path` threshold reference anywhere in a rule."""
    if isinstance(value, str) and value.startswith("$"):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _references(item)


def _lookup(values: dict[str, Any], path: str) -> Any:
    current: Any = values
    for part in path.split("."):
        if isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            return "(not set)"
    if isinstance(current, dict):
        return {k: v for k, v in current.items() if k != "cite"}
    return current


def _compact(value: Any) -> str:
    """A rule part as one line of YAML flow style (as it is written in rules/)."""
    if isinstance(value, str | int | float | bool):
        return str(value)
    text: str = yaml.safe_dump(json.loads(json.dumps(value)), default_flow_style=True, sort_keys=False, width=10_000)
    return text.strip()


def _profile_rows(knowledge: Knowledge) -> list[tuple[str, dict[str, str]]]:
    """One row per profile field (vitd25 thresholds, limits, switches), one column per profile."""
    profiles = list(knowledge.profiles.profiles)
    dumped = {p: knowledge.profiles.profiles[p].model_dump() for p in profiles}
    rows: list[tuple[str, dict[str, str]]] = []
    for key in dumped[profiles[0]]:
        value = dumped[profiles[0]][key]
        if isinstance(value, dict):
            rows += [(f"{key}.{sub}", {p: _compact(dumped[p][key].get(sub)) for p in profiles}) for sub in value]
        else:
            rows.append((key, {p: _compact(dumped[p][key]) for p in profiles}))
    return rows


def _common_rows(knowledge: Knowledge) -> list[tuple[str, str, str]]:
    """The thresholds all profiles share: name, value, citations."""
    rows = []
    for key, value in knowledge.profiles.common.items():
        cite = ", ".join(value.get("cite", [])) if isinstance(value, dict) else ""
        shown = {k: v for k, v in value.items() if k != "cite"} if isinstance(value, dict) else value
        rows.append((key, _compact(shown), cite))
    return rows


class PdfUnavailable(RuntimeError):
    """WeasyPrint (the `pdf` extra) is not installed."""


def write_pdf(html: str, target: Path) -> int:
    """The report as PDF, rendered by WeasyPrint with the print CSS; any attempt to fetch a URL stops it.

    Returns the number of pages.
    """
    try:
        from weasyprint import HTML
        from weasyprint.urls import FatalURLFetchingError, URLFetcher
    except ImportError:
        raise PdfUnavailable("--pdf needs WeasyPrint: pip install 'vitdmg-cds[pdf]'") from None

    class NoFetching(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            raise FatalURLFetchingError(f"the report must load nothing, yet asked for {url}")

    document = HTML(string=html, url_fetcher=NoFetching()).render()
    document.write_pdf(target)
    return len(document.pages)
