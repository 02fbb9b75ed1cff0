"""Published third-party FHIR records end to end (issue 12): bundle-to-request, then the real server over HTTP.

The records themselves may not be committed (workplace rule: nothing a developer fetched from a public
repository goes into the repository), so they live outside it: `VITDMG_REAL_FHIR`, else `../shared/real-fhir/`
beside the project, one folder per record. What a clinician reading each record expects is ours and is
committed: fhir_fixtures/real-expectations/<record>.yaml (provenance: repository, paths, commit, licence; the
cards expected as of the record's last date and as of the date the expectation was written). A record whose
folder is absent is skipped, saying where it was looked for and where to get it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cds_service.api.app import create_app
from cds_service.offline.bundle_import import bundle_to_request
from cds_service.settings import Settings

from .builders import TEMPLATES
from .fhir_server import FIXTURES
from .test_e2e import serve

EXPECTATIONS = sorted((FIXTURES / "real-expectations").glob("*.yaml"))
REAL_ROOT = Path(os.environ.get("VITDMG_REAL_FHIR", FIXTURES.parent.parent / "shared" / "real-fhir")).resolve()
LEFT_OUT = "org.vitdmg.left-out"


def load_expectation(path: Path) -> dict[str, Any]:
    expectation: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return expectation


def record_bundle(folder: Path) -> dict[str, Any]:
    """The record's files as one Bundle: a Bundle's entries as they are (fullUrl kept), loose resources added."""
    entries: list[dict[str, Any]] = []
    for file in sorted(folder.glob("*.json")):
        body = json.loads(file.read_text(encoding="utf-8"))
        if body.get("resourceType") == "Bundle":
            entries += [e for e in body.get("entry", []) if isinstance(e, dict)]
        else:
            entries.append({"resource": body})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _clock(now: datetime) -> Callable[[], datetime]:
    return lambda: now


def evaluate_record(expectation: dict[str, Any], folder: Path, data_dir: Path) -> list[dict[str, Any]]:
    """Each evaluation of the record: the cards (code -> indicator), the left-out count, the resources sent."""
    bundle = record_bundle(folder)
    imported = bundle_to_request(
        bundle, TEMPLATES, hook=expectation.get("hook", "patient-view"), patient=expectation.get("patient")
    )
    results = []
    for evaluation in expectation["evaluations"]:
        now = datetime.fromisoformat(str(evaluation["now"]))
        settings = Settings(
            auth="disabled",
            data_dir=data_dir / evaluation["name"].replace(" ", "-"),
            profile=expectation.get("profile", "nl-be"),
        )
        app = create_app(settings, clock=_clock(now))
        service = {"patient-view": "vitd-mg-patient-view"}.get(imported.request["hook"], "")
        with serve(app) as base, httpx.Client(base_url=base, timeout=120) as client:
            response = client.post(
                f"/cds-services/{service}",
                json=imported.request,
                headers={"Accept-Language": expectation.get("locale", "en")},
            )
        body = response.json()
        results.append(
            {
                "name": evaluation["name"],
                "status": response.status_code,
                "cards": {c["source"]["topic"]["code"]: c["indicator"] for c in body.get("cards", [])},
                "left_out": len(body.get("extension", {}).get(LEFT_OUT, [])),
                "reasons": [r["reason"] for r in body.get("extension", {}).get(LEFT_OUT, [])],
                "resources": len(bundle["entry"]),
                "warnings": imported.warnings,
            }
        )
    return results


def test_expectations_name_their_source() -> None:
    """Every expectation file is complete: provenance, and at least one evaluation with its date."""
    assert len(EXPECTATIONS) >= 15
    for path in EXPECTATIONS:
        expectation = load_expectation(path)
        assert expectation["record"] == path.stem
        source = expectation["source"]
        assert source["repository"] and source["commit"] and source["paths"] and source["licence"], path
        assert len(source["commit"]) == 40, path
        assert expectation["evaluations"], path
        for evaluation in expectation["evaluations"]:
            datetime.fromisoformat(str(evaluation["now"]))
            assert isinstance(evaluation.get("must", {}), dict) and isinstance(evaluation.get("must_not", []), list)


@pytest.mark.e2e
@pytest.mark.parametrize("path", EXPECTATIONS, ids=[p.stem for p in EXPECTATIONS])
def test_real_record_gives_the_expected_cards(path: Path, tmp_path: Path) -> None:
    expectation = load_expectation(path)
    folder = REAL_ROOT / expectation["record"]
    if not folder.is_dir():
        pytest.skip(
            f"third-party record not present at {folder} (set VITDMG_REAL_FHIR or place it at ../shared/real-fhir); "
            f"get it from {expectation['source']['repository']} @ {expectation['source']['commit'][:10]}"
        )
    results = evaluate_record(expectation, folder, tmp_path)
    for text in expectation.get("import_warnings", []):
        assert any(text in w for w in results[0]["warnings"]), f"no bundle-to-request warning with {text!r}"
    for evaluation, result in zip(expectation["evaluations"], results, strict=True):
        where = f"{expectation['record']} ({evaluation['name']})"
        assert result["status"] == evaluation.get("status", 200), f"{where}: HTTP {result['status']}"
        for code, indicator in evaluation.get("must", {}).items():
            assert result["cards"].get(code) == indicator, (
                f"{where}: {code} {indicator} expected, got {result['cards']}"
            )
        for code in evaluation.get("must_not", []):
            assert code not in result["cards"], f"{where}: {code} must not appear, got {result['cards']}"
        for text in evaluation.get("left_out", []):
            assert any(text in r for r in result["reasons"]), f"{where}: nothing left out with {text!r}"
