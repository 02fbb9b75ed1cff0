"""The README's single-machine example (Deploy) works as written (issue 15): its `config check` passes and its
`serve` line starts the service (on a free port), which then drains and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ..test_e2e import _free_port

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "vitdmg-cds")


def _example() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Single machine (SQLite).**", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0].strip().splitlines()


def test_single_machine_example_checks_and_starts(tmp_path: Path) -> None:
    lines = _example()
    assert lines[-1].startswith(".venv/bin/vitdmg-cds serve ") and "--port 8080" in lines[-1]
    port = _free_port()
    serve = "exec " + lines[-1].replace("--port 8080", f"--port {port}")
    script = "\n".join([*lines[:-1], serve]).replace(".venv/bin/vitdmg-cds", CLI)
    (tmp_path / "deploy").symlink_to(ROOT / "deploy")  # the example's paths are relative to the project root
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VITDMG_", "PROMETHEUS_"))}
    env["VITDMG_DRAIN_SECONDS"] = "1"  # the example leaves it at its default; this keeps the test short
    process = subprocess.Popen(
        ["bash", "-euc", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, (process.stdout.read() + process.stderr.read()).decode()  # type: ignore[union-attr]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the example did not start"
            time.sleep(0.5)
        unauthenticated = httpx.get(f"http://127.0.0.1:{port}/cds-services", timeout=10)
        assert unauthenticated.status_code == 401  # auth is on: the example trusts the sandbox, not us
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
        checked = process.stdout.read().decode()  # type: ignore[union-attr]
        assert checked.strip().splitlines()[-1].endswith(" ok, 0 failed"), checked
        assert (tmp_path / "data" / "vitdmg.db").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
