"""Settings: typed, validated, and documented in the README (the table cannot drift)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

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
    ("name", "value"), [("VITDMG_PROFILE", "fr"), ("VITDMG_FHIR_MAX_PAGES", "0"), ("VITDMG_LOCALE", "de")]
)
def test_bad_values_stop_startup(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()
