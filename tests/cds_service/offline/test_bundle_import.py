"""bundle-to-request on export shapes (issue 12): references resolved as a FHIR server would, ids from fullUrl,
a warning for every prefetch key left empty although the Bundle had that type."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cds_service.cli import cli
from cds_service.offline.bundle_import import BundleError, bundle_to_request, resolve_references
from tests.builders import TEMPLATES
from tests.fhir_server import FIXTURES

SYNTHEA = FIXTURES / "exports" / "us-synthea-shaped.json"
NOTHING = FIXTURES / "exports" / "us-synthea-shaped-nothing-usable.json"
MP9 = FIXTURES / "exports" / "nl-mp9-shaped-dispenses.json"
PATIENT_UUID = "7d3a9c52-1f4e-4b8a-9c0d-2e6f8a1b3c45"


def _bundle(path: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return body


def _matches(prefetch: dict[str, Any], key: str) -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in prefetch[key]["entry"]
        if e["search"]["mode"] == "match"
    ]


def test_urn_uuid_references_reach_every_prefetch_key() -> None:
    """A Synthea-shaped transaction Bundle: the Patient has no id, every reference is a urn:uuid."""
    imported = bundle_to_request(_bundle(SYNTHEA), TEMPLATES)
    request = imported.request
    assert request["context"]["patientId"] == PATIENT_UUID
    assert request["prefetch"]["patient"]["id"] == PATIENT_UUID
    assert len(_matches(request["prefetch"], "labResults")) == 2  # Mg and creatinine; BMI is not ours
    assert _matches(request["prefetch"], "medicationRequests") == [
        "MedicationRequest/0a1b2c3d-0000-4000-8000-0000000000d1"
    ]
    assert len(_matches(request["prefetch"], "conditions")) == 1
    lab = request["prefetch"]["labResults"]["entry"][0]["resource"]
    assert lab["subject"] == {"reference": f"Patient/{PATIENT_UUID}"}
    assert lab["encounter"] == {"reference": "Encounter/0a1b2c3d-0000-4000-8000-00000000e001"}
    # a conditional reference (no entry of the Bundle) is left as it was
    medication = request["prefetch"]["medicationRequests"]["entry"][0]["resource"]
    assert medication["requester"]["reference"].startswith("Practitioner?identifier=")
    assert imported.warnings == []  # no MedicationStatement in the Bundle: an empty key is no surprise


def test_a_warning_names_each_key_left_empty_although_the_bundle_had_that_type() -> None:
    imported = bundle_to_request(_bundle(NOTHING), TEMPLATES)
    assert imported.warnings == [
        "prefetch.labResults is empty although the Bundle has 1 Observation resource(s) (1 of this patient): "
        "none has one of the codes the rules read",
        "prefetch.medicationRequests is empty although the Bundle has 1 MedicationRequest resource(s) "
        "(1 of this patient): none has status active (found: stopped)",
    ]


@pytest.mark.parametrize(
    ("full_url", "expected_id"),
    [
        ("urn:uuid:abc-1", "abc-1"),
        ("https://ehr.example.org/fhir/Patient/p-9", "p-9"),
        ("https://ehr.example.org/fhir/Patient/p-9/_history/4", "p-9"),
        ("https://ehr.example.org/fhir/Observation/p-9", None),  # another type: no id taken
    ],
)
def test_id_from_full_url(full_url: str, expected_id: str | None) -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"fullUrl": full_url, "resource": {"resourceType": "Patient"}}]}
    assert resolve_references(bundle)[0].get("id") == expected_id


def test_absolute_references_become_relative_and_the_bundle_is_not_changed() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "https://ehr.example.org/fhir/Patient/p1", "resource": {"resourceType": "Patient", "id": "p1"}},
            {
                "fullUrl": "https://ehr.example.org/fhir/Observation/o1",
                "resource": {
                    "resourceType": "Observation",
                    "id": "o1",
                    "subject": {"reference": "https://ehr.example.org/fhir/Patient/p1"},
                    "hasMember": [{"reference": "https://other.example.org/fhir/Observation/o2"}],
                },
            },
        ],
    }
    before = json.dumps(bundle)
    observation = resolve_references(bundle)[1]
    assert observation["subject"]["reference"] == "Patient/p1"
    assert observation["hasMember"][0]["reference"] == "Observation/o2"
    assert json.dumps(bundle) == before


def test_a_patient_without_id_or_full_url_is_a_clear_error() -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient"}}]}
    with pytest.raises(BundleError, match="neither an id nor a fullUrl"):
        bundle_to_request(bundle, TEMPLATES)


def test_synthea_shaped_export_end_to_end_gives_the_cards(tmp_path: Path) -> None:
    """bundle-to-request -> evaluate --check: low Mg (mg/dL) on a thiazide product gives both Mg cards."""
    runner = CliRunner()
    folder = tmp_path / "synthea"
    folder.mkdir()
    made = runner.invoke(cli, ["bundle-to-request", str(SYNTHEA), "-o", str(folder / "request.json")])
    assert made.exit_code == 0, made.output
    expected = {
        "service": "vitd-mg-patient-view",
        "profile": "us-endocrine-2011",
        "locale": "en",
        "now": datetime(2026, 11, 22, 12, tzinfo=UTC).isoformat(),
        "must": {"mg-deficiency": "warning", "mg-loss-diuretic": "warning"},
    }
    (folder / "expected.yaml").write_text(yaml.safe_dump(expected), encoding="utf-8")
    result = runner.invoke(cli, ["evaluate", str(folder), "--check"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("1 passed, 0 failed")


def test_cli_prints_the_warnings(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bundle-to-request", str(NOTHING), "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 0
    assert "warning: prefetch.labResults is empty although the Bundle has 1 Observation" in result.stderr


def test_mp9_shaped_dispenses_end_to_end(tmp_path: Path) -> None:
    """Made-up data shaped like the Nictiz MP9 transaction Bundles: a Patient without id, pharmacy dispenses of a
    product coded by HPK/PRK only ("OMEPRAZOL CAPSULE MSR 20MG"), daysSupply in weeks, magnesium in mmol/l. The
    dispense of 2026-10-20 (4 weeks) implies PPI use on 2026-11-22; magnesium 0.61 mmol/L is low."""
    runner = CliRunner()
    folder = tmp_path / "mp9"
    folder.mkdir()
    made = runner.invoke(cli, ["bundle-to-request", str(MP9), "-o", str(folder / "request.json")])
    assert made.exit_code == 0, made.output
    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    assert request["context"]["patientId"] == "11111111-2222-4333-8444-000000000001"
    assert len(_matches(request["prefetch"], "medicationDispenses")) == 2
    expected = {
        "service": "vitd-mg-patient-view",
        "profile": "nl-be",
        "locale": "nl",
        "now": datetime(2026, 11, 22, 12, tzinfo=UTC).isoformat(),
        "must": {"mg-deficiency": "warning", "mg-loss-ppi": "warning"},
    }
    (folder / "expected.yaml").write_text(yaml.safe_dump(expected), encoding="utf-8")
    result = runner.invoke(cli, ["evaluate", str(folder), "--check"])
    assert result.exit_code == 0, result.output
