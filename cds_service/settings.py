"""Service settings, read from `VITDMG_*` environment variables and validated at startup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, get_origin

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

DEV_PSEUDONYM_KEY = "dev-only-pseudonym-key"
Locale = Literal["nl", "en"]


class Settings(BaseSettings):
    """Typed configuration; every field is documented in the README table (checked by a test)."""

    model_config = SettingsConfigDict(env_prefix="VITDMG_", extra="ignore", frozen=True, use_attribute_docstrings=True)

    profile: str = "nl-be"
    """Guideline profile in `profiles.yaml`: `nl-be`, `dach`, `us-nam-2011` (US), `us-endocrine-2011` (superseded)."""
    locale: Locale = "nl"
    """Card language when the request sends no usable `Accept-Language`."""
    rules_dir: Path | None = None
    """Knowledge directory; default: the `rules/` shipped with the package."""
    lookback_status_months: int = Field(12, ge=1, le=120)
    """Look-back window for status labs (25(OH)D, magnesium)."""
    lookback_chemistry_months: int = Field(6, ge=1, le=120)
    """Look-back window for eGFR, creatinine, calcium, potassium, phosphate and PTH."""
    fhir_connect_timeout: float = Field(2.0, gt=0)
    """Seconds to connect to the EHR's FHIR server."""
    fhir_read_timeout: float = Field(5.0, gt=0)
    """Seconds to wait for one FHIR response."""
    fhir_budget_seconds: float = Field(8.0, gt=0)
    """Overall time for all FHIR calls of one request; past it the missing data is a 412."""
    fhir_max_pages: int = Field(10, ge=1, le=1000)
    """Most `next` pages followed per search."""
    cors_origins: list[str] = Field(default_factory=list)
    """Browser origins allowed by CORS, comma-separated or as a JSON list; empty = off."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level of the service's own logger."""
    auth: Literal["required", "disabled"] = "required"
    """Client authentication (CDS Hooks JWT). `disabled` only for local demos: logged as a warning."""
    trusted_issuers_file: Path | None = None
    """YAML/JSON list of trusted EHRs (issuer, JWKS URL or file, allowed `jku`); see the README."""
    public_base_url: str | None = None
    """Public base URL of the service; a JWT's `aud` must be this plus the path called. Required with auth."""
    jwt_leeway_seconds: int = Field(30, ge=0, le=300)
    """Clock skew allowed on `exp` and `iat`."""
    jwt_max_lifetime_seconds: int = Field(3600, ge=60)
    """Longest `exp - iat` accepted."""
    jwks_refresh_seconds: int = Field(300, ge=1)
    """An unknown `kid` re-fetches an issuer's JWKS URL at most this often."""
    fhir_allowed_servers: list[str] = Field(default_factory=list)
    """`fhirServer` base URLs the service may call (comma-separated or JSON); no other is called (412 if needed)."""
    fhir_http_hosts: list[str] = Field(default_factory=list)
    """Hosts that may be called over plain http (local testing); all others need https."""
    fhir_max_response_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    """Largest FHIR response read."""
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    """Largest request body (413 above)."""
    max_resources: int = Field(20_000, ge=1)
    """Most FHIR resources in one request (413 above)."""
    max_json_depth: int = Field(64, ge=8)
    """Deepest JSON nesting accepted (400 above)."""
    max_string_length: int = Field(1_000_000, ge=1024)
    """Longest JSON string accepted (400 above)."""
    data_dir: Path = Path("data")
    """Where the default SQLite store lives (created on first start)."""
    database_url: str | None = None
    """SQLAlchemy URL of the store, e.g. `postgresql+psycopg://user@host/db`; default SQLite in the data dir."""
    migrate_on_start: bool = True
    """Run the database migrations at startup (else: `vitdmg-cds db upgrade`)."""
    pseudonym_key: SecretStr = SecretStr(DEV_PSEUDONYM_KEY)
    """Key of the patient pseudonym (HMAC); the default is refused unless auth is disabled (dev mode)."""
    suppression: bool = True
    """Do not repeat a card a clinician overrode (same patient, not more severe, same data)."""
    suppression_days: dict[str, Annotated[int, Field(ge=1, le=365)]] = Field(
        default_factory=lambda: {"already-addressed": 30}
    )
    """Days (1-365) a card stays quiet after an override, per reason code (`already-addressed=30,…` or JSON)."""
    retention_days: int = Field(365, ge=1)
    """Audit rows older than this are removed by `vitdmg-cds db prune`."""
    metrics_token: SecretStr | None = None
    """Bearer token `/metrics` asks for; unset: open (keep it inside the cluster, e.g. by a NetworkPolicy)."""
    drain_seconds: float = Field(5.0, ge=0, le=300)
    """After SIGTERM, seconds `/readyz` answers 503 while requests are still served, so load balancers move away."""
    preview: bool = False
    """Serve `/preview` also with auth required (it takes no JWT: restrict who reaches it); on when auth is disabled."""
    preview_scenarios_dir: Path | None = None
    """Scenario folders the preview page offers; default: `fhir_fixtures/scenarios` of a checkout."""
    audit_flush_seconds: float = Field(0.05, ge=0, le=5)
    """Longest wait of an audit row in the queue before its batch is written; a killed process loses this window."""
    audit_queue_cards: int = Field(10_000, ge=1)
    """Most audit rows queued in memory; a full queue makes requests wait for the writer (nothing is dropped)."""
    validation_cache_entries: int = Field(1024, ge=0)
    """Validated resources (and the parsed prefetch of 64 records) kept for a session's next call; 0 = both off."""
    max_draft_orders: int = Field(100, ge=1)
    """Most draft orders in `context.draftOrders` (413 above)."""
    max_lab_candidates: int = Field(50, ge=1)
    """Most results per analyte examined, newest first, for a usable one; older ones are reported, not read."""
    max_feedback_entries: int = Field(500, ge=1)
    """Most entries in one feedback call (413 above)."""
    processing_budget_seconds: float = Field(10.0, gt=0)
    """Time for parsing, facts, rules and cards of one request (beside the FHIR budget); past it a 413."""
    worker_threads: int = Field(4, ge=1, le=64)
    """Threads that run requests' CPU work (parsing to cards) off the event loop."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _ListFriendlyEnv(settings_cls), dotenv_settings, file_secret_settings

    def serving_refusals(self) -> list[str]:
        """Why the service refuses to serve with these settings: one line each, naming the variable; [] if none.

        Required auth needs the EHRs to trust, the URL they call (a JWT's `aud` is checked against it, never
        against the caller's Host header) and a pseudonym key of the operator's own.
        """
        if self.auth == "disabled":
            return []
        refusals = []
        if self.trusted_issuers_file is None:
            refusals.append(
                "VITDMG_TRUSTED_ISSUERS_FILE: not set, and VITDMG_AUTH=required needs the EHRs to trust "
                "(a local demo: VITDMG_AUTH=disabled)"
            )
        if not self.public_base_url:
            refusals.append(
                "VITDMG_PUBLIC_BASE_URL: not set, and VITDMG_AUTH=required needs the URL EHRs call "
                "(a JWT's aud is checked against it)"
            )
        if self.pseudonym_key.get_secret_value() == DEV_PSEUDONYM_KEY:
            refusals.append(
                "VITDMG_PSEUDONYM_KEY: still the development default, refused with VITDMG_AUTH=required "
                "(dev mode: VITDMG_AUTH=disabled)"
            )
        return refusals

    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'vitdmg.db'}"


class _ListFriendlyEnv(EnvSettingsSource):
    """Lists also as `a,b`, objects also as `key=value,key=value` (operators write these); JSON still works."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        text = str(value).strip()
        if text.startswith(("[", "{")):
            try:
                return json.loads(text)
            except ValueError:
                return text  # validation then names the variable and what is wrong, in one line
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if get_origin(field.annotation) is dict:
            pairs = [part.partition("=") for part in parts]
            return {key.strip(): number.strip() for key, sep, number in pairs} if all(p[1] for p in pairs) else text
        return parts


def settings_markdown_table() -> str:
    """Render the settings as the Markdown table the README carries."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        if isinstance(default, dict):
            default = json.dumps(default)
        shown = "(none)" if default in (None, [], "") else f"`{default}`"
        rows.append(f"| `VITDMG_{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)
