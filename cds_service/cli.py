"""The `vitdmg-cds` command line: serve, evaluate request files in-process, turn a FHIR Bundle into a request."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cds_service.api.config_check import ConfigProblems, check_configuration, load_settings, unknown_variables
from cds_service.cdshooks.services import HOOK_CONTEXT, prefetch_templates
from cds_service.knowledge.loader import load_knowledge, shipped_profiles
from cds_service.offline.bundle_import import BundleError
from cds_service.offline.bundle_import import bundle_to_request as bundle_to_request_body
from cds_service.offline.evaluation import Evaluation, Evaluator, InputError, find_requests, read_json
from cds_service.settings import Settings
from cds_service.store.database import open_store

cli = typer.Typer(
    help="vitdmg-cds: CDS Hooks service for vitamin D and magnesium.", no_args_is_help=True, add_completion=False
)
out = Console()
err = Console(stderr=True, soft_wrap=True)  # messages stay one line each, whatever the width
INDICATOR_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
EXIT_MISMATCH, EXIT_INPUT = 1, 2


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(EXIT_INPUT)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (one per core is a good start).")] = 1,
    graceful_timeout: Annotated[
        int, typer.Option(min=0, help="Seconds requests in flight get to finish once the server stops.")
    ] = 30,
) -> None:
    """Run the CDS Hooks service (discovery at /cds-services); SIGTERM drains, then stops (README: Deploy)."""
    from cds_service.api.serving import serve as run_server

    for line in unknown_variables(os.environ):
        err.print(f"[yellow]warning:[/] {line}", highlight=False)
    settings = _settings_or_exit()
    try:
        version = run_server(settings, host, port, workers, graceful_timeout, announce=_announce)
    except ConfigProblems as problems:
        raise _config_exit(problems) from None
    err.print(f"vitdmg-cds knowledge {version} stopped", highlight=False)


def _announce(version: str, settings: Settings, url: str, workers: int) -> None:
    err.print(
        f"[bold]vitdmg-cds[/] knowledge {version}, profile {settings.profile}, locale {settings.locale}, "
        f"{workers} worker(s): {url}/cds-services",
        highlight=False,
    )
    if settings.auth == "disabled":
        err.print("[bold yellow]authentication disabled[/] (VITDMG_AUTH=disabled): a local demo, not for patient data")


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigProblems as problems:
        raise _config_exit(problems) from None


def _config_exit(problems: ConfigProblems) -> typer.Exit:
    for line in problems.lines:
        err.print(f"[bold red]config:[/] {line}", highlight=False)
    return typer.Exit(EXIT_INPUT)


@cli.command()
def evaluate(
    paths: Annotated[list[Path], typer.Argument(help="Request files, or folders searched for them.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the CDS Hooks response(s) as JSON.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Compare with expected.yaml beside each request; exit 1 on a mismatch.")
    ] = False,
    profile: Annotated[
        str | None, typer.Option(help=f"Guideline profile: {', '.join(shipped_profiles())} (rules/profiles.yaml).")
    ] = None,
    locale: Annotated[str | None, typer.Option(help="Card language: nl or en.")] = None,
) -> None:
    """Run CDS Hooks request files through the service's pipeline, in-process, and show the cards."""
    knowledge = load_knowledge()
    unknown_profile = knowledge.profile_problem(profile) if profile is not None else None
    if unknown_profile:
        raise _fail(unknown_profile)
    if locale is not None and locale not in ("nl", "en"):
        raise _fail(f"unknown locale {locale!r}; choose nl or en")
    try:
        files, skipped = find_requests(paths)
        if not files:
            raise InputError(f"no CDS Hooks request files in {', '.join(map(str, paths))}")
        evaluator = Evaluator(Settings(), knowledge)
        results = asyncio.run(_evaluate_all(evaluator, files, profile, locale))
    except InputError as error:
        raise _fail(str(error)) from None
    if as_json:
        bodies: Any = (
            results[0].body
            if len(results) == 1
            else [{"file": str(r.path), "status": r.status, "response": r.body} for r in results]
        )
        sys.stdout.write(json.dumps(bodies, indent=2, ensure_ascii=False) + "\n")
    elif not check:  # --check prints what failed and the count, not every card
        _print_cards(results)
        if skipped:
            err.print(f"{skipped} JSON file(s) in the folders were not CDS Hooks requests and were skipped")
    if check:
        _print_check(results)
        if any(r.problems for r in results):
            raise typer.Exit(EXIT_MISMATCH)


async def _evaluate_all(
    evaluator: Evaluator, files: list[Path], profile: str | None, locale: str | None
) -> list[Evaluation]:
    results = []
    with Progress(console=err, transient=True, disable=len(files) < 5) as progress:
        task = progress.add_task("evaluating", total=len(files))
        for path in files:
            results.append(await evaluator.evaluate(path, profile=profile, locale=locale))
            progress.advance(task)
    return results


def _print_cards(results: list[Evaluation]) -> None:
    for result in results:
        name = result.path.parent.name if result.path.name == "request.json" else result.path.name
        title = f"{name} — HTTP {result.status}"
        if result.status != 200:
            issues = "; ".join(i.get("diagnostics", "") for i in result.body.get("issue", []))
            out.print(f"[bold]{title}[/]: {issues}", highlight=False)
            continue
        table = Table(title=title, title_justify="left", show_lines=False, expand=False)
        for column in ("indicator", "code", "summary", "suggestions"):
            table.add_column(column, overflow="fold")
        for card in result.cards:
            suggestions = "; ".join(s["label"] for s in card.get("suggestions", []))
            indicator = card["indicator"]
            table.add_row(
                f"[{INDICATOR_STYLE[indicator]}]{indicator}[/]",
                card["source"]["topic"]["code"],
                card["summary"],
                suggestions,
            )
        if not result.cards:
            table.add_row("", "", "(no cards)", "")
        out.print(table)
        for report in result.left_out:
            out.print(f"  left out: {report['where']}: {report['reason']}", highlight=False)


def _print_check(results: list[Evaluation]) -> None:
    failed = [r for r in results if r.problems]
    unchecked = [r for r in results if r.expectations is None]
    for result in failed:
        err.print(f"[red]FAIL[/] {result.path}: " + "; ".join(result.problems), highlight=False)
    if unchecked:
        err.print(f"{len(unchecked)} request(s) have no expected.yaml and were not checked")
    out.print(
        f"{len(results) - len(failed) - len(unchecked)} passed, {len(failed)} failed", highlight=False, soft_wrap=True
    )


@cli.command("bundle-to-request")
def bundle_to_request(
    bundle: Annotated[Path, typer.Argument(help="A FHIR R4 Bundle (an EHR or Synthea patient export).")],
    hook: Annotated[str, typer.Option(help="patient-view, order-select or order-sign.")] = "patient-view",
    patient: Annotated[
        str | None, typer.Option(help="Patient id, when the Bundle holds more than one Patient.")
    ] = None,
    user: Annotated[str, typer.Option(help="context.userId")] = "Practitioner/example",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
    ] = None,
) -> None:
    """Turn a FHIR Bundle into a CDS Hooks request, prefetch filled as the service's templates ask.

    References between entries (`urn:uuid:` and `fullUrl`) are resolved as a FHIR server would on import;
    a warning names each prefetch key left empty although the Bundle had resources of its type.
    For order-select and order-sign, MedicationRequests and ServiceRequests with status `draft` become
    `context.draftOrders` (all of them selected for order-select).
    """
    if hook not in HOOK_CONTEXT:
        raise _fail(f"unknown hook {hook!r}; choose one of {', '.join(HOOK_CONTEXT)}")
    try:
        body = read_json(bundle)
    except InputError as error:
        raise _fail(str(error)) from None
    if not isinstance(body, dict):
        raise _fail(f"{bundle}: not a FHIR Bundle")
    try:
        imported = bundle_to_request_body(
            body, prefetch_templates(load_knowledge()), hook=hook, patient=patient, user=user
        )
    except BundleError as error:
        raise _fail(f"{bundle}: {error}") from None
    for warning in imported.warnings:
        err.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    request = imported.request
    text = json.dumps(request, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")


@cli.command("review-report")
def review_report(
    paths: Annotated[list[Path], typer.Argument(help="Scenario folders or request files (e.g. fhir_fixtures).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")],
    profile: Annotated[
        list[str] | None, typer.Option(help="Run every scenario in this profile (repeatable); default: its own.")
    ] = None,
    locale: Annotated[list[str] | None, typer.Option(help="Card languages (repeatable); default: nl and en.")] = None,
    pdf: Annotated[Path | None, typer.Option(help="Also write the report as PDF here (WeasyPrint).")] = None,
) -> None:
    """Write one self-contained HTML file for a clinical review, with a sign-off table.

    Every scenario's cards by catalog code, and the knowledge behind each code: texts, rules, exclusions,
    thresholds per profile, citations.
    """
    from cds_service.offline.review_report import PdfUnavailable, render_report, run_scenarios, write_pdf

    locales = locale or ["nl", "en"]
    if any(name not in ("nl", "en") for name in locales):
        raise _fail(f"unknown locale in {locales}; choose nl and/or en")
    settings = Settings()
    try:
        files, _ = find_requests(paths)
        if not files:
            raise InputError(f"no CDS Hooks request files in {', '.join(map(str, paths))}")
        evaluator = Evaluator(settings, load_knowledge(settings.rules_dir))
        for name in profile or []:
            unknown_profile = evaluator.knowledge.profile_problem(name)
            if unknown_profile:
                raise InputError(unknown_profile)
        runs = asyncio.run(run_scenarios(evaluator, files, profile, locales))
    except InputError as error:
        raise _fail(str(error)) from None
    html = render_report(evaluator.knowledge, runs, locales, rules_dir=settings.rules_dir)
    output.write_text(html, encoding="utf-8")
    err.print(f"wrote {output}: {len(runs)} scenario run(s), knowledge {evaluator.knowledge.version}")
    if pdf is not None:
        try:
            pages = write_pdf(html, pdf)
        except PdfUnavailable as error:
            raise _fail(str(error)) from None
        err.print(f"wrote {pdf}: {pages} page(s)")


db = typer.Typer(help="The store: migrations and retention.", no_args_is_help=True)
cli.add_typer(db, name="db")


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (idempotent)."""
    store = open_store(Settings(), migrate=True)
    err.print(f"store at {store.engine.url.render_as_string(hide_password=True)} is up to date")


@db.command("prune")
def db_prune() -> None:
    """Remove audit rows older than VITDMG_RETENTION_DAYS, and expired token ids."""
    from datetime import UTC, datetime

    settings = Settings()
    store = open_store(settings, migrate=True)
    removed = store.prune(settings.retention_days, datetime.now(UTC))
    days = settings.retention_days
    out.print(f"removed {removed['cards']} card(s) older than {days} days and {removed['tokens']} expired token id(s)")


config = typer.Typer(help="The configuration: check it before serving.", no_args_is_help=True)
cli.add_typer(config, name="config")


@config.command("check")
def config_check(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each JWKS URL.")] = 5.0,
) -> None:
    """Check the settings, the trusted-issuers file, each issuer's key set and the store, without serving."""
    settings = _settings_or_exit()
    warnings = unknown_variables(os.environ)
    checks = check_configuration(settings, timeout)
    for check in checks:
        mark = "[green]ok[/]  " if check.ok else "[bold red]FAIL[/]"
        out.print(f"{mark} {check.what}: {check.detail}", highlight=False, soft_wrap=True)
    for line in warnings:
        out.print(f"[yellow]warn[/] {line}", highlight=False, soft_wrap=True)
    failed = [c for c in checks if not c.ok]
    out.print(f"config check: {len(checks) - len(failed)} ok, {len(failed)} failed", highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(EXIT_MISMATCH)


@cli.command()
def report() -> None:
    """Per card code: issued, accepted, overridden (by reason), acceptance rate."""
    store = open_store(Settings(), migrate=True)
    table = Table(title="vitdmg-cds cards and feedback", title_justify="left")
    for column in ("code", "issued", "accepted", "overridden", "override reasons", "acceptance rate"):
        table.add_column(column, justify="left" if column in ("code", "override reasons") else "right")
    rows = store.report()
    for row in rows:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(row["reasons"].items()))
        rate = "—" if row["acceptance_rate"] is None else f"{row['acceptance_rate']:.0%}"
        table.add_row(row["code"], str(row["issued"]), str(row["accepted"]), str(row["overridden"]), reasons, rate)
    if not rows:
        table.add_row("(no cards issued yet)", "", "", "", "", "")
    out.print(table)


def main() -> None:
    cli()
