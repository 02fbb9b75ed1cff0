"""The README's single-machine example (Deploy) works as written: its `config check` passes (issue 15)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_single_machine_example_passes_config_check() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Single machine (SQLite).**", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.strip().splitlines()
    assert lines[-1].startswith(".venv/bin/vitdmg-cds serve ") and "--workers" in lines[-1]
    script = "\n".join(lines[:-1]).replace(".venv/bin/vitdmg-cds", str(Path(sys.executable).parent / "vitdmg-cds"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITDMG_")}
    done = subprocess.run(["bash", "-euc", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].endswith(" ok, 0 failed")
