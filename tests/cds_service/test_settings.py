"""Settings: typed, validated, and documented in the README (the table cannot drift)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cds_service.api.app import create_app
from cds_service.knowledge.loader import Knowledge
from cds_service.settings import Settings, settings_markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_settings_table_matches_the_code() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- settings-table:start -->\n")[1].split("\n<!-- settings-table:end -->")[0]
    assert table == settings_markdown_table()


def test_environment_is_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITDMG_PROFILE", "dach")
    monkeypatch.setenv("VITDMG_CORS_ORIGINS", '["https://sandbox.cds-hooks.org"]')
    settings = Settings()
    assert settings.profile == "dach" and settings.cors_origins == ["https://sandbox.cds-hooks.org"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VITDMG_FHIR_MAX_PAGES", "0"),
        ("VITDMG_LOCALE", "de"),
        ("VITDMG_SUPPRESSION_DAYS", '{"already-addressed": 36500}'),  # issue 13: suppression has a maximum
        ("VITDMG_SUPPRESSION_DAYS", '{"already-addressed": 0}'),
    ],
)
def test_bad_values_stop_startup(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_a_profile_is_checked_against_the_knowledge(monkeypatch: pytest.MonkeyPatch, knowledge: Knowledge) -> None:
    """Issue 17: profile ids are the knowledge's (rules/profiles.yaml): an unknown one stops startup, naming the valid
    ones (tests/cds_service/knowledge/test_knowledge_ids.py: a renamed profile is served)."""
    monkeypatch.setenv("VITDMG_PROFILE", "fr")
    monkeypatch.setenv("VITDMG_AUTH", "disabled")
    settings = Settings()
    with pytest.raises(ValueError, match=r"^VITDMG_PROFILE: unknown profile 'fr'; choose one of nl-be, dach, us-nam"):
        create_app(settings, knowledge=knowledge)


def test_lists_take_commas_as_well_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: operators write `a,b`; JSON keeps working; an object takes `key=value,…`."""
    monkeypatch.setenv("VITDMG_CORS_ORIGINS", "https://a.example.org, https://b.example.org")
    monkeypatch.setenv("VITDMG_FHIR_ALLOWED_SERVERS", '["https://ehr.example.org/fhir"]')
    monkeypatch.setenv("VITDMG_FHIR_HTTP_HOSTS", "localhost")
    monkeypatch.setenv("VITDMG_SUPPRESSION_DAYS", "already-addressed=30, patient-declined=7")
    settings = Settings()
    assert settings.cors_origins == ["https://a.example.org", "https://b.example.org"]
    assert settings.fhir_allowed_servers == ["https://ehr.example.org/fhir"]
    assert settings.fhir_http_hosts == ["localhost"]
    assert settings.suppression_days == {"already-addressed": 30, "patient-declined": 7}
    monkeypatch.setenv("VITDMG_SUPPRESSION_DAYS", '{"already-addressed": 5}')
    monkeypatch.setenv("VITDMG_CORS_ORIGINS", "")
    assert Settings().suppression_days == {"already-addressed": 5} and Settings().cors_origins == []


def test_bad_list_json_is_a_validation_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITDMG_CORS_ORIGINS", '["unclosed')
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert [e["loc"] for e in caught.value.errors()] == [("cors_origins",)]


def test_serving_refusals_name_each_missing_piece_of_required_auth(tmp_path: Path) -> None:
    """Issue 17: the serving refusals are the settings' own (create_app and `config check` both ask them)."""
    assert Settings(auth="disabled").serving_refusals() == []
    variables = [line.split(":")[0] for line in Settings(auth="required").serving_refusals()]
    assert variables == ["VITDMG_TRUSTED_ISSUERS_FILE", "VITDMG_PUBLIC_BASE_URL", "VITDMG_PSEUDONYM_KEY"]
    complete = Settings(
        auth="required",
        trusted_issuers_file=tmp_path / "issuers.yaml",
        public_base_url="https://cds.example.org",
        pseudonym_key="an-operator-secret",
    )
    assert complete.serving_refusals() == []
    assert [r.split(":")[0] for r in complete.model_copy(update={"public_base_url": ""}).serving_refusals()] == [
        "VITDMG_PUBLIC_BASE_URL"
    ]
