"""`/preview`: the cards as an EHR shows them, for reviewers, from a fixture scenario or a pasted request/Bundle.

Every column is one run of the service's own pipeline (`Evaluator.run`: request checks, prefetch, parsing,
facts, rules, cards) with the app's compiled rule engine; nothing is recorded in the audit store and no
FHIR server is ever called for pasted input (a pasted request must carry its prefetch).
Served when authentication is disabled, or when `VITDMG_PREVIEW=true`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from cds_service.api.limits import check_shape
from cds_service.cdshooks.services import HOOK_CONTEXT, prefetch_templates
from cds_service.errors import ServiceError
from cds_service.knowledge.loader import Knowledge, default_rules_dir
from cds_service.offline.bundle_import import BundleError, bundle_to_request
from cds_service.offline.card_view import WORDS, ResponseView, response_view, style_hash, stylesheet, templates
from cds_service.offline.evaluation import Evaluator, InputError, find_requests, read_expectations, read_json
from cds_service.reasoning.engine import RuleEngine
from cds_service.settings import Settings

PREVIEW_PATH = "/preview"
LOCALES = ("nl", "en")


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    hook: str
    description: str


def default_scenarios_dir() -> Path | None:
    """`fhir_fixtures/scenarios` of a checkout, when there is one (the wheel ships no fixtures)."""
    folder = default_rules_dir().parent / "fhir_fixtures" / "scenarios"
    return folder if folder.is_dir() else None


def list_scenarios(folder: Path | None) -> list[Scenario]:
    """Every scenario folder holding a request.json, by name; its hook and description for the picker."""
    if folder is None or not folder.is_dir():
        return []
    found: list[Scenario] = []
    for path in find_requests([folder])[0]:
        if path.name != "request.json":
            continue
        expectations = read_expectations(path)
        hook = str(read_json(path).get("hook", ""))
        found.append(Scenario(path.parent.name, path, hook, expectations.description if expectations else ""))
    return sorted(found, key=lambda s: (list(HOOK_CONTEXT).index(s.hook) if s.hook in HOOK_CONTEXT else 9, s.name))


class FormError(Exception):
    """What the reviewer chose or pasted cannot be used; shown on the page with a 400."""


@dataclass(frozen=True)
class Choice:
    """The form's values, checked: one scenario or one pasted text, and one or two (profile, language) columns."""

    scenario: str
    text: str
    hook: str
    patient: str
    profile: str
    locale: str
    compare_profile: str
    compare_locale: str
    now: str

    @classmethod
    def from_form(cls, form: dict[str, str], scenarios: dict[str, Scenario], knowledge: Knowledge) -> Choice:
        choice = cls(**{name: form.get(name, "").strip() for name in cls.__dataclass_fields__})
        problems = []
        if choice.scenario and choice.scenario not in scenarios:
            problems.append(f"unknown scenario {choice.scenario!r}")
        for name in ("profile", "compare_profile"):
            value = getattr(choice, name)
            unknown_profile = knowledge.profile_problem(value) if value else None
            if unknown_profile:
                problems.append(f"{name}: {unknown_profile}")
        for name in ("locale", "compare_locale"):
            value = getattr(choice, name)
            if value and value not in LOCALES:
                problems.append(f"{name}: unknown language {value!r}; choose nl or en")
        if choice.hook and choice.hook not in HOOK_CONTEXT:
            problems.append(f"hook: unknown hook {choice.hook!r}")
        if choice.now:
            try:
                datetime.fromisoformat(choice.now)
            except ValueError:
                problems.append(f"reference date {choice.now!r} is not a date (YYYY-MM-DD)")
        if problems:
            raise FormError("; ".join(problems))
        return choice

    @property
    def chosen(self) -> bool:
        return bool(self.scenario or self.text)

    def columns(self) -> list[tuple[str, str]]:
        """(profile, language) per column; '' = the scenario's own, else the setting's. Two when comparing."""
        first = (self.profile, self.locale)
        if not (self.compare_profile or self.compare_locale):
            return [first]
        return [first, (self.compare_profile or self.profile, self.compare_locale or self.locale)]

    def reference_time(self) -> datetime | None:
        if not self.now:
            return None
        moment = datetime.fromisoformat(self.now)
        return moment if moment.tzinfo else moment.replace(hour=12, tzinfo=UTC)


class Preview:
    """The page: the scenario list (read once), the form, and the pipeline runs behind each column."""

    def __init__(self, settings: Settings, knowledge: Knowledge, engine: RuleEngine) -> None:
        self.settings = settings
        self.knowledge = knowledge
        self.evaluator = Evaluator(settings, knowledge, engine)
        folder = settings.preview_scenarios_dir or default_scenarios_dir()
        self.scenarios = {s.name: s for s in list_scenarios(folder)}

    async def page(self, form: dict[str, str]) -> tuple[int, str]:
        """The HTML page and its status: 200, or 400 when the form cannot be used."""
        status, error = 200, ""
        views: list[ResponseView] = []
        notes: list[str] = []
        try:
            choice = Choice.from_form(form, self.scenarios, self.knowledge)
            pasted = None
            if choice.text and not choice.scenario:
                pasted, notes = self._pasted(choice)
            if choice.chosen:
                views = [await self._run(choice, pasted, p, loc) for p, loc in choice.columns()]
        except (FormError, InputError, BundleError, ServiceError) as problem:
            status, error = 400, _message(problem)
        html = (
            templates()
            .get_template("preview.html.j2")
            .render(
                css=stylesheet(),
                knowledge_version=self.knowledge.version,
                scenarios=list(self.scenarios.values()),
                profiles={
                    p: _label(self.knowledge.profiles.profiles[p].label) for p in self.knowledge.profiles.profiles
                },
                hooks=list(HOOK_CONTEXT),
                form=form,
                error=error,
                notes=notes,
                views=views,
                words=WORDS,
                default_profile=self.settings.profile,
                default_locale=self.settings.locale,
            )
        )
        return status, html

    async def _run(self, choice: Choice, pasted: Any, profile: str, locale: str) -> ResponseView:
        if choice.scenario:
            scenario = self.scenarios[choice.scenario]
            result = await self.evaluator.evaluate(scenario.path, profile=profile or None, locale=locale or None)
        else:
            result = await self.evaluator.run(
                pasted,
                Path("pasted request"),
                offline=True,
                profile=profile or None,
                locale=locale or None,
                now=choice.reference_time(),
            )
        expected = result.expectations
        shown_profile = profile or (expected.profile if expected and expected.profile else self.settings.profile)
        shown_locale = locale or (expected.locale if expected and expected.locale else self.settings.locale)
        return response_view(result.status, result.body, self.knowledge, shown_profile, shown_locale)

    def _pasted(self, choice: Choice) -> tuple[Any, list[str]]:
        """The pasted JSON as a request, and the import's warnings.

        A CDS Hooks request is taken as it is, a FHIR Bundle goes through bundle-to-request for the chosen hook.
        """
        try:
            body = json.loads(choice.text)
        except json.JSONDecodeError as error:
            raise FormError(f"the pasted text is not JSON (line {error.lineno}, column {error.colno})") from None
        except RecursionError:
            raise FormError("the pasted JSON nests too deeply") from None
        check_shape(body, self.settings)
        if isinstance(body, dict) and body.get("resourceType") == "Bundle":
            imported = bundle_to_request(
                body,
                prefetch_templates(self.knowledge),
                hook=choice.hook or "patient-view",
                patient=choice.patient or None,
            )
            return imported.request, imported.warnings
        if not isinstance(body, dict) or "hook" not in body:
            raise FormError("the pasted JSON is neither a CDS Hooks request (no `hook`) nor a FHIR Bundle")
        return body, []


def _label(label: Any) -> str:
    """A profile's name in the page's language (English); the knowledge may give one text or one per language."""
    return str(label.get("en") or next(iter(label.values()))) if isinstance(label, dict) else str(label)


def _message(problem: Exception) -> str:
    if isinstance(problem, ServiceError):
        return "; ".join(i.diagnostics + (f" ({i.expression})" if i.expression else "") for i in problem.issues)
    return str(problem)


def add_preview(app: FastAPI, settings: Settings, knowledge: Knowledge, engine: RuleEngine) -> None:
    """Register GET and POST /preview, when authentication is disabled or the preview setting is on."""
    if not (settings.auth == "disabled" or settings.preview):
        return
    preview = Preview(settings, knowledge, engine)
    policy = (
        f"default-src 'none'; style-src {style_hash()}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )

    def answer(status: int, html: str) -> HTMLResponse:
        return HTMLResponse(html, status_code=status, headers={"content-security-policy": policy})

    @app.get(PREVIEW_PATH, include_in_schema=False)
    async def preview_get(request: Request) -> HTMLResponse:
        return answer(*await preview.page(dict(request.query_params)))

    @app.post(PREVIEW_PATH, include_in_schema=False)
    async def preview_post(request: Request) -> HTMLResponse:
        limit = settings.max_body_bytes * 3  # URL-encoding at most triples the pasted JSON
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limit:
                return answer(413, f"the form is larger than {limit} bytes (VITDMG_MAX_BODY_BYTES x 3)")
        try:
            fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            return answer(400, "the form is not UTF-8")
        return answer(*await preview.page({k: v[0] for k, v in fields.items()}))
