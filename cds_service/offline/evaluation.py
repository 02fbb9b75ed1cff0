"""Run CDS Hooks request files through the pipeline in-process, and check them against expectations.

A scenario is a folder (or any place) holding `request.json`; beside it, optionally, `expected.yaml`
(profile, locale, reference time, cards that must and must not appear) and `fhir.json` (a Bundle the
request's `fhirServer` answers from, for prefetch that is partial or absent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field

from cds_service.cdshooks.models import to_wire
from cds_service.cdshooks.services import ServiceDefinition, build_services
from cds_service.errors import ServiceError, operation_outcome
from cds_service.fhir.client import bundle_resources
from cds_service.fhir.prefetch import fhir_access, fhir_http_client
from cds_service.knowledge.loader import Knowledge
from cds_service.offline.fixture_fhir import FixtureFhirServer
from cds_service.reasoning.engine import RuleEngine
from cds_service.reasoning.invocation import invoke, parse_request
from cds_service.reports import EXTENSION_KEY
from cds_service.settings import Settings


class Expectations(BaseModel):
    """expected.yaml: what a scenario must give."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    service: str | None = None
    profile: str | None = None
    locale: str | None = None
    now: datetime | None = None
    must: dict[str, str] = Field(default_factory=dict)
    must_not: list[str] = Field(default_factory=list)
    left_out: list[str] = Field(default_factory=list)
    status: int = 200
    shaped_on: str = ""


class InputError(Exception):
    """A file that cannot be used: unreadable, not JSON, not a CDS Hooks request, unknown hook."""


@dataclass
class Evaluation:
    path: Path
    status: int
    body: dict[str, Any]
    expectations: Expectations | None
    problems: list[str] = field(default_factory=list)

    @property
    def cards(self) -> list[dict[str, Any]]:
        cards: list[dict[str, Any]] = self.body.get("cards", [])
        return cards

    @property
    def left_out(self) -> list[dict[str, str]]:
        reports: list[dict[str, str]] = self.body.get("extension", {}).get(EXTENSION_KEY, [])
        return reports


def read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read ({type(error).__name__}: {error})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None


def read_expectations(request_path: Path) -> Expectations | None:
    path = request_path.parent / "expected.yaml"
    if request_path.name != "request.json" or not path.is_file():
        return None
    try:
        return Expectations.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (OSError, yaml.YAMLError, ValueError) as error:
        raise InputError(f"{path}: unusable expectations: {error}") from None


def find_requests(paths: list[Path]) -> tuple[list[Path], int]:
    """Request files under the given files/folders, and how many JSON files in folders were not requests."""
    found: list[Path] = []
    skipped = 0
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_file():
            found.append(path)
            continue
        for candidate in sorted(path.rglob("*.json")):
            try:
                body = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                skipped += 1
                continue
            if isinstance(body, dict) and "hook" in body and "context" in body:
                found.append(candidate)
            else:
                skipped += 1
    return found, skipped


class Evaluator:
    """The service's pipeline without HTTP: same request checks, prefetch, facts, rules and cards."""

    def __init__(self, settings: Settings, knowledge: Knowledge, engine: RuleEngine | None = None) -> None:
        self.settings = settings
        self.knowledge = knowledge
        unknown_profile = knowledge.profile_problem(settings.profile)
        if unknown_profile:
            raise InputError(f"VITDMG_PROFILE: {unknown_profile}")
        self.engine = engine or RuleEngine(knowledge, knowledge.profiles.profiles)
        self.services = build_services(knowledge)
        self._by_hook: dict[str, ServiceDefinition] = {s.hook: s for s in self.services.values()}

    async def evaluate(self, path: Path, *, profile: str | None = None, locale: str | None = None) -> Evaluation:
        body = read_json(path)
        fhir_file = path.parent / "fhir.json"
        fhir = bundle_resources(read_json(fhir_file)) if fhir_file.is_file() else None
        return await self.run(body, path, read_expectations(path), fhir=fhir, profile=profile, locale=locale)

    async def run(
        self,
        body: Any,
        path: Path,
        expectations: Expectations | None = None,
        *,
        fhir: list[dict[str, Any]] | None = None,
        offline: bool = False,
        profile: str | None = None,
        locale: str | None = None,
        now: datetime | None = None,
    ) -> Evaluation:
        """One request body through the pipeline; `fhir` answers its FHIR queries, `offline` refuses every one."""
        if not isinstance(body, dict) or not isinstance(body.get("hook"), str):
            raise InputError(f"{path}: not a CDS Hooks request (no `hook`)")
        service = self._by_hook.get(body["hook"])
        if expectations is not None and expectations.service:
            service = self.services.get(expectations.service, service)
        if service is None:
            known = ", ".join(sorted(self._by_hook))
            raise InputError(f"{path}: unknown hook {body['hook']!r} (this service answers {known})")
        chosen_profile = profile or (expectations.profile if expectations else None) or self.settings.profile
        chosen_locale = locale or (expectations.locale if expectations else None) or self.settings.locale
        unknown_profile = self.knowledge.profile_problem(chosen_profile)
        if unknown_profile:
            raise InputError(f"{path}: {unknown_profile}")
        now = now or (expectations.now if expectations and expectations.now else None) or datetime.now(UTC)
        async with self._fhir_client(fhir) as http:
            # fixture resources answer instead of the network: no server to allow-list
            access = fhir_access(http, self.settings, any_server=fhir is not None)
            if offline:
                access = replace(access, allowed_servers=[])
            try:
                request = parse_request(body, service)
                outcome = await invoke(
                    request,
                    service,
                    knowledge=self.knowledge,
                    engine=self.engine,
                    settings=self.settings,
                    locale=chosen_locale,
                    access=access,
                    profile=chosen_profile,
                    now=now,
                )
            except ServiceError as error:
                return self._checked(Evaluation(path, error.status, operation_outcome(error.issues), expectations))
        return self._checked(Evaluation(path, 200, to_wire(outcome.response), expectations))

    def _fhir_client(self, fhir: list[dict[str, Any]] | None) -> httpx.AsyncClient:
        if fhir is not None:
            return httpx.AsyncClient(transport=httpx.ASGITransport(app=FixtureFhirServer(fhir).app()))
        return fhir_http_client(self.settings)

    @staticmethod
    def _checked(evaluation: Evaluation) -> Evaluation:
        evaluation.problems = check(evaluation)
        return evaluation


def check(evaluation: Evaluation) -> list[str]:
    """Every difference between what came back and the expectations, in words."""
    expected = evaluation.expectations
    if expected is None:
        return []
    problems: list[str] = []
    if evaluation.status != expected.status:
        problems.append(f"status {evaluation.status}, expected {expected.status}")
    got = {c["source"]["topic"]["code"]: c["indicator"] for c in evaluation.cards}
    for code, indicator in expected.must.items():
        if code not in got:
            problems.append(f"missing card {code} ({indicator})")
        elif got[code] != indicator:
            problems.append(f"card {code} is {got[code]}, expected {indicator}")
    problems += [f"unexpected card {code}" for code in expected.must_not if code in got]
    reasons = [r["reason"] for r in evaluation.left_out]
    problems += [
        f"nothing reported as left out with {text!r}"
        for text in expected.left_out
        if not any(text in r for r in reasons)
    ]
    return problems
