"""The wheel the Dockerfile installs carries the knowledge; the CLI entry point is declared."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from cds_service.knowledge.loader import RECOMMENDATION_FILES

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_package_and_rules(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("vitdmg_cds-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "cds_service/api/app.py" in names
    assert "cds_service/_rules/manifest.yaml" in names
    assert "cds_service/_rules/findings.yaml" in names
    # issue 17: every recommendation folder whole (the installed loader requires all three files)
    assert {f"cds_service/_rules/recommendations/mg-loss-ppi/{f}" for f in RECOMMENDATION_FILES} <= names
    assert "cds_service/templates/preview.html.j2" in names and "cds_service/templates/cards.css" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "vitdmg-cds = cds_service.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
