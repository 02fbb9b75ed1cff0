"""Operator experience (issue 15): one line per configuration problem, and `vitdmg-cds config check`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cds_service.api.config_check import ConfigProblems, load_settings, unknown_variables
from cds_service.cli import cli

EXAMPLE_ISSUERS = Path(__file__).resolve().parents[3] / "deploy" / "trusted-issuers.example.yaml"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_each_bad_variable_is_one_line_with_an_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITDMG_FHIR_MAX_PAGES", "0")
    monkeypatch.setenv("VITDMG_CORS_ORIGINS", "[oops")
    with pytest.raises(ConfigProblems) as caught:
        load_settings()
    lines = sorted(caught.value.lines)
    assert len(lines) == 2
    assert lines[0].startswith("VITDMG_CORS_ORIGINS: input should be a valid list (got '[oops')")
    assert lines[0].endswith("example: VITDMG_CORS_ORIGINS=https://sandbox.cds-hooks.org")
    assert lines[1] == (
        "VITDMG_FHIR_MAX_PAGES: input should be greater than or equal to 1 (got '0'); example: VITDMG_FHIR_MAX_PAGES=10"
    )


def test_an_unknown_profile_is_one_line_naming_the_knowledge_s_profiles(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: the profile is checked against the loaded knowledge, by `serve` and by `config check` alike."""
    monkeypatch.setenv("VITDMG_PROFILE", "fr")
    monkeypatch.setenv("VITDMG_AUTH", "disabled")
    line = "VITDMG_PROFILE: unknown profile 'fr'; choose one of nl-be, dach, us-nam-2011, us-endocrine-2011"
    served = runner.invoke(cli, ["serve", "--port", "1"])
    assert served.exit_code == 2 and served.stderr.strip().splitlines() == [f"config: {line}"], served.stderr
    checked = runner.invoke(cli, ["config", "check"])
    assert checked.exit_code != 0 and f"FAIL startup: {line}" in checked.stdout, checked.stdout


def test_a_misspelt_variable_is_named() -> None:
    assert unknown_variables({"VITDMG_PROFLE": "dach", "VITDMG_PROFILE": "dach", "PATH": "/bin"}) == [
        "VITDMG_PROFLE: not a setting of this service (ignored); check the spelling against the README's table"
    ]


def test_serve_refuses_a_bad_configuration_in_one_line_per_problem(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VITDMG_FHIR_MAX_PAGES", "0")
    monkeypatch.setenv("VITDMG_SUPPRESSION_DAYS", "already-addressed")
    result = runner.invoke(cli, ["serve", "--port", "1"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("config: VITDMG_") for line in lines), result.stderr
    assert "Traceback" not in result.output


def test_serve_lists_every_startup_problem_before_serving(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Auth required without issuers, public base URL and with the development pseudonym key: all three said
    (Settings.serving_refusals, issue 17), nothing served."""
    monkeypatch.delenv("VITDMG_AUTH", raising=False)
    result = runner.invoke(cli, ["serve", "--port", "1"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "VITDMG_TRUSTED_ISSUERS_FILE",
        "VITDMG_PUBLIC_BASE_URL",
        "VITDMG_PSEUDONYM_KEY",
    ]


def test_a_broken_issuers_file_is_named_with_the_entry(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text(yaml.safe_dump({"issuers": [{"iss": "https://ehr.example.org", "algorithms": ["HS256"]}]}))
    monkeypatch.setenv("VITDMG_TRUSTED_ISSUERS_FILE", str(issuers))
    monkeypatch.setenv("VITDMG_PSEUDONYM_KEY", "test-key")
    result = runner.invoke(cli, ["serve", "--port", "1"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"config: VITDMG_TRUSTED_ISSUERS_FILE: {issuers}: issuers.0.algorithms:")


def test_config_check_passes_on_a_working_configuration(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VITDMG_TRUSTED_ISSUERS_FILE", str(EXAMPLE_ISSUERS))
    monkeypatch.setenv("VITDMG_PSEUDONYM_KEY", "test-key")
    monkeypatch.setenv("VITDMG_PUBLIC_BASE_URL", "https://cds.example.org")
    (tmp_path / "data").mkdir()
    result = runner.invoke(cli, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "ok   keys of https://sandbox.cds-hooks.org: 1 key(s)" in result.stdout
    assert "ok   knowledge: version" in result.stdout
    assert "ok   metrics: /metrics is open: keep it on localhost or behind a NetworkPolicy" in result.stdout
    assert result.stdout.strip().endswith("0 failed")
    assert not (tmp_path / "data" / "vitdmg.db").exists()  # a check: nothing is created or migrated


def test_config_check_fails_on_each_broken_part(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jwks.json").write_text('{"keys": "not a list"}')
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text(yaml.safe_dump({"issuers": [{"iss": "https://ehr.example.org", "jwks_file": "jwks.json"}]}))
    monkeypatch.setenv("VITDMG_TRUSTED_ISSUERS_FILE", str(issuers))
    monkeypatch.setenv("VITDMG_DATABASE_URL", "postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    result = runner.invoke(cli, ["config", "check"])
    assert result.exit_code == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any("VITDMG_PSEUDONYM_KEY" in line for line in failed)
    assert any("keys of https://ehr.example.org" in line and "not a usable JWKS" in line for line in failed)
    assert any(line.startswith("FAIL store: VITDMG_DATABASE_URL: the store cannot be opened") for line in failed)
    assert "secret" not in result.stdout
