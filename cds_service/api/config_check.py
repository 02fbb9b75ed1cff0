"""Configuration problems as one line each (which variable, what is wrong, an example), and `config check`.

An operator configuring the service for a client should read what to fix, not a 30-100 line traceback.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pydantic
import yaml
from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cds_service.cdshooks.auth import AuthError, JwksStore, TrustedIssuer, load_trusted_issuers
from cds_service.settings import Settings
from cds_service.store.database import MIGRATIONS, Store

PREFIX = "VITDMG_"
# Examples for settings whose default is empty; the others take their default as the example.
EXAMPLES: dict[str, str] = {
    "rules_dir": "/etc/vitdmg/rules",
    "cors_origins": "https://sandbox.cds-hooks.org",
    "trusted_issuers_file": "/etc/vitdmg/trusted-issuers.yaml",
    "public_base_url": "https://cds.example-hospital.nl",
    "fhir_allowed_servers": "https://ehr.example-hospital.nl/fhir,https://ehr2.example-hospital.nl/fhir",
    "fhir_http_hosts": "localhost",
    "database_url": "postgresql+psycopg://vitdmg@db.example-hospital.nl:5432/vitdmg",
    "pseudonym_key": "$(openssl rand -hex 32)",
    "metrics_token": "$(openssl rand -hex 24)",
    "suppression_days": "already-addressed=30,patient-declined=7",
}
SECRET = {"pseudonym_key", "metrics_token", "database_url"}  # never echoed back
# What stops startup, in the order said, with the name of its line in `config check`.
STARTUP_CHECKS = {
    "VITDMG_TRUSTED_ISSUERS_FILE": "trusted issuers",
    "VITDMG_PUBLIC_BASE_URL": "public base URL",
    "VITDMG_PSEUDONYM_KEY": "pseudonym key",
}


class ConfigProblems(Exception):
    """The configuration cannot start the service; `lines` says why, one problem a line."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


def load_settings() -> Settings:
    """Settings from the environment, or ConfigProblems with one line per bad variable."""
    try:
        return Settings()
    except pydantic.ValidationError as error:
        raise ConfigProblems([_settings_line(e) for e in error.errors()]) from None


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """VITDMG_ variables no setting reads (a typo is otherwise silently ignored)."""
    known = {PREFIX + name.upper() for name in Settings.model_fields}
    return [
        f"{name}: not a setting of this service (ignored); check the spelling against the README's table"
        for name in sorted(environ)
        if name.startswith(PREFIX) and name not in known and not name.startswith(PREFIX + "TEST_")
    ]


def build_app(settings: Settings) -> FastAPI:
    """`create_app(settings)`, with whatever stops it (issuers file, pseudonym key, store) as ConfigProblems."""
    from cds_service.api.app import create_app

    problems = _startup_problems(settings)
    if problems:
        raise ConfigProblems(problems)
    try:
        return create_app(settings)
    except SQLAlchemyError as error:
        raise ConfigProblems([_store_line(settings, error)]) from None
    except (ValueError, OSError) as error:
        raise ConfigProblems([str(error).splitlines()[0]]) from None


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str


def check_configuration(settings: Settings, timeout: float = 5.0) -> list[Check]:
    """Everything `serve` needs, checked without serving and without changing the database."""
    checks = [Check("settings", True, f"profile {settings.profile}, locale {settings.locale}, auth {settings.auth}")]
    issuers: dict[str, TrustedIssuer] = {}
    problems = _startup_problems(settings)
    checks += [Check(STARTUP_CHECKS[p.split(":")[0]], False, p) for p in problems]
    if not any(p.startswith("VITDMG_TRUSTED_ISSUERS_FILE") for p in problems) and settings.trusted_issuers_file:
        issuers = load_trusted_issuers(settings.trusted_issuers_file)
        checks.append(Check("trusted issuers", True, f"{len(issuers)} issuer(s) in {settings.trusted_issuers_file}"))
    checks += asyncio.run(_key_set_checks(issuers, timeout))
    checks.append(_store_check(settings))
    checks.append(
        Check("metrics", True, "/metrics wants VITDMG_METRICS_TOKEN as a bearer token")
        if settings.metrics_token
        else Check("metrics", True, "/metrics is open: keep it on localhost or behind a NetworkPolicy")
    )
    try:  # the app on an in-memory store: the real one was checked above and is neither created nor migrated
        app = build_app(settings.model_copy(update={"migrate_on_start": False, "database_url": "sqlite://"}))
        app.state.store.dispose()
        checks.append(Check("knowledge", True, f"version {app.state.knowledge.version}, every ruleset compiled"))
    except ConfigProblems as error:
        checks += [Check("startup", False, line) for line in error.lines if line not in {c.detail for c in checks}]
    return checks


def _settings_line(error: Any) -> str:
    location = [str(part) for part in error["loc"]]
    name = location[0] if location else ""
    variable = PREFIX + name.upper()
    where = variable + "".join(f"[{part}]" for part in location[1:])
    message = str(error["msg"])
    given = error.get("input")
    got = ""
    if name not in SECRET and isinstance(given, str | int | float) and not isinstance(given, bool):
        shown = str(given)
        got = f" (got {shown[:60]!r}{'…' if len(shown) > 60 else ''})"
    return f"{where}: {message[0].lower() + message[1:]}{got}; example: {variable}={_example(name)}"


def _example(name: str) -> str:
    if name in EXAMPLES:
        return EXAMPLES[name]
    field = Settings.model_fields.get(name)
    if field is None:
        return "…"
    default = field.get_default(call_default_factory=True)
    if isinstance(default, SecretStr):
        return "…"
    if isinstance(default, bool):
        return "true" if default else "false"
    return str(default)


def _startup_problems(settings: Settings) -> list[str]:
    """`Settings.serving_refusals` with an example each, and an issuers file that does not load; in one order."""
    refusals = [
        f"{r}; example: {r.split(':')[0]}={_example(r.split(':')[0].removeprefix(PREFIX).lower())}"
        for r in settings.serving_refusals()
    ]
    problems = refusals + _issuer_file_problems(settings)
    return sorted(problems, key=lambda p: list(STARTUP_CHECKS).index(p.split(":")[0]))


def _issuer_file_problems(settings: Settings) -> list[str]:
    """What stops a named trusted-issuers file from loading, one line per problem."""
    variable = "VITDMG_TRUSTED_ISSUERS_FILE"
    if settings.auth == "disabled" or settings.trusted_issuers_file is None:
        return []
    path = settings.trusted_issuers_file
    try:
        load_trusted_issuers(path)
    except OSError as error:
        return [f"{variable}: {path} cannot be read ({error.strerror or type(error).__name__})"]
    except yaml.YAMLError as error:
        return [f"{variable}: {path} is not YAML/JSON ({str(error).splitlines()[0]})"]
    except pydantic.ValidationError as error:
        return [
            f"{variable}: {path}: {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}; "
            "see deploy/trusted-issuers.example.yaml"
            for e in error.errors()
        ]
    except ValueError as error:
        return [f"{variable}: {path}: {error}"]
    return []


async def _key_set_checks(issuers: dict[str, TrustedIssuer], timeout: float) -> list[Check]:
    """Each issuer's JWKS file or URL loads as a key set (a listed `jku` is fetched only when a token names it)."""
    checks = []
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
        keys = JwksStore(http, refresh_seconds=0)
        for issuer in issuers.values():
            source = issuer.jwks_url or (str(issuer.jwks_file) if issuer.jwks_file else None)
            if source is None:
                checks.append(Check(f"keys of {issuer.iss}", True, "only via the allowed jku (not fetched here)"))
                continue
            try:
                found = len(await keys.load(source))
                checks.append(Check(f"keys of {issuer.iss}", found > 0, f"{found} key(s) with a kid from {source}"))
            except (AuthError, OSError, ValueError) as error:
                checks.append(Check(f"keys of {issuer.iss}", False, f"{source}: {error}"))
    return checks


def _store_check(settings: Settings) -> Check:
    if not settings.database_url and not (settings.data_dir / "vitdmg.db").exists():
        folder = next(p for p in (settings.data_dir.resolve(), *settings.data_dir.resolve().parents) if p.exists())
        writable = os.access(folder, os.W_OK)
        file = settings.data_dir.resolve() / "vitdmg.db"
        detail = f"SQLite {file} is created on first start" if writable else f"{folder} is not writable"
        return Check("store", writable, detail if writable else f"VITDMG_DATA_DIR: {detail}")
    store = Store(settings.store_url())
    try:
        with store.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
            has_version = store.engine.dialect.has_table(connection, "alembic_version")
            current = (
                connection.execute(text("SELECT version_num FROM alembic_version")).scalar() if has_version else None
            )
    except SQLAlchemyError as error:
        return Check("store", False, _store_line(settings, error))
    finally:
        store.dispose()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    where = store.engine.url.render_as_string(hide_password=True)
    if current == head:
        return Check("store", True, f"{where} reachable, schema at {head}")
    return Check(
        "store", True, f"{where} reachable, schema at {current or 'nothing'} (head {head}): `vitdmg-cds db upgrade`"
    )


def _store_line(settings: Settings, error: Exception) -> str:
    variable = "VITDMG_DATABASE_URL" if settings.database_url else "VITDMG_DATA_DIR"
    reason = str(getattr(error, "orig", None) or error).splitlines()[0]
    return f"{variable}: the store cannot be opened ({type(error).__name__}: {reason})"
