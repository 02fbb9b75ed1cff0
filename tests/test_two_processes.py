"""Two server processes sharing one PostgreSQL database see each other's feedback and JWT ids (issue 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from .builders import request
from .stores import postgres_or_skip
from .test_e2e import _free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent
BASE = "https://cds.example.org"  # both processes sit behind one public URL, as behind a load balancer
ISS = "https://ehr.example.org"
KEY = ec.generate_private_key(ec.SECP384R1())


def _token(path: str) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": BASE + path, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, KEY, algorithm="ES384", headers={"kid": "k1"})


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[str, str]]:
    database = postgres_or_skip()
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1", "alg": "ES384"}
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    (tmp_path / "issuers.yaml").write_text(yaml.safe_dump({"issuers": [{"iss": ISS, "jwks_file": "jwks.json"}]}))
    env = {
        **os.environ,
        "VITDMG_DATABASE_URL": database,
        "VITDMG_AUTH": "required",
        "VITDMG_TRUSTED_ISSUERS_FILE": str(tmp_path / "issuers.yaml"),
        "VITDMG_PUBLIC_BASE_URL": BASE,
        "VITDMG_PSEUDONYM_KEY": "two-process-test-key",
        "VITDMG_LOG_LEVEL": "WARNING",
    }
    processes, urls = [], []
    for _ in range(2):
        port = _free_port()
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "cds_service.api.app:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        for url, process in zip(urls, processes, strict=True):
            while True:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else "exited"
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        yield urls[0], urls[1]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)
            if process.stderr is not None:
                process.stderr.close()


def test_feedback_and_jti_are_shared(two_servers: tuple[str, str]) -> None:
    a, b = two_servers
    path = "/cds-services/vitd-mg-patient-view"
    once = _token(path)
    first = httpx.post(a + path, json=request(), headers={"Authorization": f"Bearer {once}"}, timeout=30)
    assert first.status_code == 200, first.text
    replay = httpx.post(b + path, json=request(), headers={"Authorization": f"Bearer {once}"}, timeout=30)
    assert replay.status_code == 401 and "replayed" in replay.json()["issue"][0]["diagnostics"]
    card = next(c for c in first.json()["cards"] if c["source"]["topic"]["code"] == "mg-loss-ppi")
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-22T12:05:00Z",
                "overrideReason": {"reason": {"code": "already-addressed"}},
            }
        ]
    }
    stored = httpx.post(
        b + path + "/feedback",
        json=feedback,
        headers={"Authorization": f"Bearer {_token(path + '/feedback')}"},
        timeout=30,
    )
    assert stored.json() == {"stored": 1, "duplicates": 0}  # B knows the card A issued
    again = httpx.post(
        a + path + "/feedback",
        json=feedback,
        headers={"Authorization": f"Bearer {_token(path + '/feedback')}"},
        timeout=30,
    )
    assert again.json() == {"stored": 0, "duplicates": 1}  # A sees what B stored
    later = httpx.post(a + path, json=request(), headers={"Authorization": f"Bearer {_token(path)}"}, timeout=30)
    assert later.json()["extension"]["org.vitdmg.suppressed"]["codes"] == ["mg-loss-ppi"]
