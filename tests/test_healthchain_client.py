"""Client compatibility (issue 12): HealthChain 0.16.1, a real Python CDS client, parses discovery and every
hook's response from the real server (uvicorn, real HTTP) in its own models.

HealthChain pins fastapi < 0.138, fhir.resources < 8.2 and httpx < 0.28, which conflict with this project's
pins, so it lives in its own virtual environment (`make test` builds `.venv-healthchain` from
tests/clients/healthchain-requirements.txt) and runs tests/clients/healthchain_check.py there.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cds_service.api.app import create_app
from cds_service.settings import Settings

from .builders import request
from .conftest import NOW
from .test_e2e import serve

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(os.environ.get("VITDMG_HEALTHCHAIN_PYTHON", ROOT / ".venv-healthchain" / "bin" / "python"))
CHECK = ROOT / "tests" / "clients" / "healthchain_check.py"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not PYTHON.is_file(), reason=f"HealthChain's environment is not built ({PYTHON}); `make test` builds it"
    ),
]


def _requests() -> dict[str, dict[str, Any]]:
    """One request per service, each giving cards with suggestions (so isRecommended is exercised)."""
    return {
        "vitd-mg-patient-view": request(),
        "vitd-mg-order-select": request("order-select", drafts="mg-oxide-and-cipro"),
        "vitd-mg-order-sign": request("order-sign", drafts="test-125d"),
    }


def test_healthchain_models_parse_discovery_and_every_hook(tmp_path: Path) -> None:
    version = subprocess.run(
        [str(PYTHON), "-c", "import importlib.metadata as m; print(m.version('healthchain'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == "0.16.1"
    bodies = tmp_path / "requests.json"
    bodies.write_text(json.dumps(_requests()), encoding="utf-8")
    app = create_app(Settings(auth="disabled", data_dir=tmp_path / "store"), clock=lambda: NOW)
    with serve(app) as base:
        run = subprocess.run([str(PYTHON), str(CHECK), base, str(bodies)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["errors"] == []
    assert summary["services"] == ["vitd-mg-patient-view", "vitd-mg-order-select", "vitd-mg-order-sign"]
    responses = summary["responses"]
    assert set(responses) == set(_requests())
    assert all(r["cards"] > 0 for r in responses.values()), responses
    assert responses["vitd-mg-patient-view"]["suggestions"] > 0
    for r in responses.values():  # one recommended suggestion per card that has suggestions
        assert r["recommended"] <= r["cards"] and (r["suggestions"] == 0 or r["recommended"] > 0)
