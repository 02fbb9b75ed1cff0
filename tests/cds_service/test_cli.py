"""The `vitdmg-cds` command line: success paths and each error message (issue 4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cds_service.cli import cli

from ..fhir_server import FIXTURES

SCENARIOS = FIXTURES / "scenarios"
EXPORT = FIXTURES / "exports" / "nl-patient-export.json"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_every_fixture_scenario_passes_its_check(runner: CliRunner) -> None:
    """`vitdmg-cds evaluate fhir_fixtures --check` is green (make test also runs it directly)."""
    result = runner.invoke(cli, ["evaluate", str(FIXTURES), "--check"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(f"{len([d for d in SCENARIOS.iterdir() if d.is_dir()])} passed, 0 failed")


def test_evaluate_prints_a_card_table(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["evaluate", str(SCENARIOS / "pv-nl-ppi-mg-low" / "request.json"), "--locale", "en"])
    assert result.exit_code == 0
    assert "mg-loss-ppi" in result.stdout and "PPI use and low magnesium" in result.stdout


def test_evaluate_shows_what_was_left_out(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["evaluate", str(SCENARIOS / "pv-nl-bad-data-left-out")])
    assert result.exit_code == 0
    assert "left out:" in result.stdout and "entered-in-error" in result.stdout


def test_evaluate_json_is_the_cds_hooks_response(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["evaluate", str(SCENARIOS / "sg-nl-vitd-5000iu" / "request.json"), "--json"])
    body = json.loads(result.stdout)
    assert [c["source"]["topic"]["code"] for c in body["cards"]] == ["vitd-dose-above-ul"]


def test_profile_option_overrides_the_scenario(runner: CliRunner) -> None:
    """The 15 ng/mL scenario is quiet under nl-be; --profile us-nam-2011 makes it insufficient (--check fails)."""
    path = str(SCENARIOS / "pv-us-vitd-ngml-nlbe" / "request.json")
    quiet = json.loads(runner.invoke(cli, ["evaluate", path, "--json"]).stdout)
    us = json.loads(runner.invoke(cli, ["evaluate", path, "--json", "--profile", "us-nam-2011"]).stdout)
    assert quiet["cards"] == [] and [c["source"]["topic"]["code"] for c in us["cards"]] == ["vitd-insufficiency"]
    failed = runner.invoke(cli, ["evaluate", path, "--check", "--profile", "us-nam-2011"])
    assert failed.exit_code == 1 and "unexpected card vitd-insufficiency" in failed.stderr


def test_check_reports_each_mismatch(runner: CliRunner, tmp_path: Path) -> None:
    scenario = tmp_path / "changed"
    shutil.copytree(SCENARIOS / "pv-nl-ppi-mg-low", scenario)
    expected = yaml.safe_load((scenario / "expected.yaml").read_text(encoding="utf-8"))
    expected["must"]["mg-loss-ppi"] = "critical"
    expected["must"]["vitd-deficiency"] = "warning"
    (scenario / "expected.yaml").write_text(yaml.safe_dump(expected), encoding="utf-8")
    result = runner.invoke(cli, ["evaluate", str(scenario), "--check"])
    assert result.exit_code == 1
    assert "card mg-loss-ppi is warning, expected critical" in result.stderr
    assert "missing card vitd-deficiency (warning)" in result.stderr
    assert result.stdout.strip().endswith("0 passed, 1 failed")


def test_bundle_to_request_round_trip(runner: CliRunner, tmp_path: Path) -> None:
    """A patient export becomes a request the service answers like the hand-built fixture."""
    target = tmp_path / "request.json"
    made = runner.invoke(cli, ["bundle-to-request", str(EXPORT), "--hook", "order-sign", "-o", str(target)])
    assert made.exit_code == 0, made.output
    request = json.loads(target.read_text(encoding="utf-8"))
    assert request["context"]["patientId"] == "nl-1"
    assert [e["resource"]["id"] for e in request["context"]["draftOrders"]["entry"]] == ["draft-vitd-5000"]
    assert {
        "patient",
        "labResults",
        "medicationStatements",
        "medicationRequests",
        "medicationDispenses",
        "medicationAdministrations",
        "conditions",
    } == set(request["prefetch"])
    result = runner.invoke(cli, ["evaluate", str(target), "--json"])
    codes = {c["source"]["topic"]["code"] for c in json.loads(result.stdout)["cards"]}
    assert codes == {"vitd-dose-above-ul", "mg-correct-before-vitd"}


def test_bundle_to_request_patient_view_to_stdout(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["bundle-to-request", str(EXPORT)])
    request = json.loads(result.stdout)
    assert request["hook"] == "patient-view" and "draftOrders" not in request["context"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "no/such/file.json"], "no/such/file.json: no such file or folder"),
        (["evaluate", "{bad_json}"], "invalid JSON at line 1, column 2"),
        (["evaluate", "{unknown_hook}"], "unknown hook 'medication-prescribe'"),
        (["evaluate", "{not_request}"], "not a CDS Hooks request"),
        (["evaluate", "{empty_dir}"], "no CDS Hooks request files"),
        (["evaluate", "{unreadable}"], "cannot read"),
        (["evaluate", str(SCENARIOS), "--profile", "fr"], "unknown profile 'fr'"),
        (["evaluate", str(SCENARIOS), "--locale", "de"], "unknown locale 'de'"),
        (["bundle-to-request", str(EXPORT), "--hook", "order-review"], "unknown hook 'order-review'"),
        (["bundle-to-request", "{bad_json}"], "invalid JSON"),
        (["bundle-to-request", "{not_request}"], "not a FHIR Bundle"),
        (["bundle-to-request", "{two_patients}"], "holds 2 Patient resources; name one with --patient"),
        (["bundle-to-request", "{no_drafts}", "--hook", "order-sign"], "no draft MedicationRequest or ServiceRequest"),
    ],
)
def test_clear_errors_and_exit_2(runner: CliRunner, tmp_path: Path, args: list[str], message: str) -> None:
    files = {
        "bad_json": tmp_path / "bad.json",
        "unknown_hook": tmp_path / "hook.json",
        "not_request": tmp_path / "other.json",
        "empty_dir": tmp_path / "empty",
        "unreadable": tmp_path / "latin1.json",
        "two_patients": tmp_path / "two.json",
        "no_drafts": tmp_path / "nodrafts.json",
    }
    files["bad_json"].write_text("{oops", encoding="utf-8")
    files["unknown_hook"].write_text(
        json.dumps({"hook": "medication-prescribe", "hookInstance": "x", "context": {}}), encoding="utf-8"
    )
    files["not_request"].write_text(json.dumps({"resourceType": "Patient", "id": "x"}), encoding="utf-8")
    files["empty_dir"].mkdir()
    files["unreadable"].write_bytes(b"\xff\xfe{\x00")
    patient = {"resourceType": "Patient", "id": "a"}
    files["two_patients"].write_text(
        json.dumps({"resourceType": "Bundle", "entry": [{"resource": patient}, {"resource": {**patient, "id": "b"}}]}),
        encoding="utf-8",
    )
    files["no_drafts"].write_text(
        json.dumps({"resourceType": "Bundle", "entry": [{"resource": patient}]}), encoding="utf-8"
    )
    result = runner.invoke(cli, [a.format(**files) for a in args])
    assert result.exit_code == 2
    assert message in result.stderr.replace("\n", " ")


def test_db_upgrade_prune_and_report(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`vitdmg-cds db upgrade`, `db prune` and `report` on the configured store."""
    from datetime import UTC, datetime, timedelta

    from cds_service.store.database import CardRecord, FeedbackItem, Store

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("VITDMG_DATABASE_URL", url)
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    store = Store(url)
    now = datetime.now(UTC)
    store.record_cards(
        "vitd-mg-patient-view",
        "h",
        "p",
        "v",
        "nl-be",
        [CardRecord("a", "mg-loss-ppi", "info", "s"), CardRecord("b", "mg-loss-ppi", "info", "s")],
        now,
    )
    store.record_cards(
        "vitd-mg-patient-view",
        "h",
        "p",
        "v",
        "nl-be",
        [CardRecord("old", "vitd-deficiency", "warning", "s")],
        now - timedelta(days=800),
    )
    store.add_feedback(
        [FeedbackItem("a", "overridden", "already-addressed", 0, now), FeedbackItem("b", "accepted", None, 1, now)], now
    )
    store.dispose()
    result = runner.invoke(cli, ["report"], env={"COLUMNS": "160"})
    assert result.exit_code == 0
    assert "mg-loss-ppi" in result.stdout and "already-addressed: 1" in result.stdout and "50%" in result.stdout
    pruned = runner.invoke(cli, ["db", "prune"])
    assert pruned.exit_code == 0 and "removed 1 card(s) older than 365 days" in pruned.stdout
