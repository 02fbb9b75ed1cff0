"""The hostile-input suite (issue 13): one real server process (uvicorn on a free port, auth required) for the
whole folder, a hostile FHIR server beside it, and after every test the check that the process is still alive.

Every response any test here receives must be below 500. The server's log is read at the end: no caller
text (the PHI marker every hostile request carries) and no traceback.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..builders import request

ISS = "https://ehr.hostile.example"
EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PHI_MARKER = "PHI-MARKER-Jansen-999911120"  # caller text that must never reach a log line
PV = "/cds-services/vitd-mg-patient-view"
SIGN = "/cds-services/vitd-mg-order-sign"
ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.ECAlgorithm if alg.startswith("ES") else jwt.algorithms.RSAAlgorithm
    return {**algorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": alg, "use": "sig"}


Handler = Callable[[Request], Response]


@dataclass
class HostileFhir:
    """A FHIR server that answers whatever the test sets in `handler`; records every request it gets."""

    base: str = ""
    handler: Handler | None = None
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    async def _any(self, request: Request) -> Response:
        self.seen.append((request.url.path, request.headers.get("authorization")))
        if self.handler is None:
            return JSONResponse({"resourceType": "Bundle", "type": "searchset", "entry": []})
        return self.handler(request)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._any)])


@dataclass
class Hostile:
    """The running service: `call` signs a fresh token for the path and checks that no answer is a 5xx."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path
    fhir: HostileFhir
    http: httpx.Client

    def token(self, path: str, *, key: Any = EC_KEY, alg: str = "ES384", kid: str = "ec-1") -> str:
        now = int(time.time())
        claims = {"iss": ISS, "aud": self.base + path, "exp": now + 120, "iat": now, "jti": str(uuid.uuid4())}
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})

    def call(
        self, path: str, body: Any = None, *, content: bytes | None = None, token: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token(path)}", "Content-Type": "application/json"}
        data = content if content is not None else json.dumps(body).encode()
        response = self.http.post(path, content=data, headers=headers)
        assert response.status_code < 500, f"{path}: {response.status_code} {response.text[:300]}"
        if response.status_code >= 400:
            outcome = response.json()
            assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["diagnostics"]
        return response

    def alive(self) -> bool:
        return self.process.poll() is None


def serve_in_thread(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the hostile FHIR server did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "jwks.json").write_text(
        json.dumps({"keys": [_jwk(EC_KEY, "ec-1", "ES384"), _jwk(RSA_KEY, "rsa-1", "RS384")]})
    )
    (folder / "issuers.yaml").write_text(
        yaml.safe_dump({"issuers": [{"iss": ISS, "jwks_file": "jwks.json", "algorithms": ["ES384", "RS384"]}]})
    )
    fhir = HostileFhir()
    fhir_base, fhir_server, fhir_thread = serve_in_thread(fhir.app())
    fhir.base = f"{fhir_base}/fhir"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "VITDMG_AUTH": "required",
        "VITDMG_TRUSTED_ISSUERS_FILE": str(folder / "issuers.yaml"),
        "VITDMG_PUBLIC_BASE_URL": base,
        "VITDMG_PSEUDONYM_KEY": "hostile-suite-key",
        "VITDMG_DATA_DIR": str(folder / "data"),
        "VITDMG_FHIR_ALLOWED_SERVERS": json.dumps([fhir.base]),
        "VITDMG_FHIR_HTTP_HOSTS": '["127.0.0.1"]',
        "VITDMG_FHIR_BUDGET_SECONDS": "20",
        "VITDMG_FHIR_READ_TIMEOUT": "15",
    }
    env.pop("VITDMG_DATABASE_URL", None)
    log = folder / "server.log"
    command = [str(Path(sys.executable).parent / "vitdmg-cds"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the service did not start: {log.read_text()[-2000:]}")
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the service did not answer /healthz within 60 s")
                time.sleep(0.1)
            yield Hostile(base, process, log, fhir, http)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        fhir_server.should_exit = True
        fhir_thread.join(timeout=10)


@pytest.fixture(autouse=True)
def _still_alive(hostile: Hostile) -> Iterator[None]:
    """After every probe: the same process is alive and answers (the probe that kills it is named)."""
    hostile.fhir.handler = None
    hostile.fhir.seen.clear()
    yield
    assert hostile.alive(), f"the server process died (exit {hostile.process.returncode})"
    assert hostile.http.get("/healthz").status_code == 200


def base_request(hook: str = "patient-view", drafts: str | None = None) -> dict[str, Any]:
    """A well-formed request on the nl-ppi-low-mg record, with the PHI marker in a medication text."""
    body = request(hook, drafts=drafts)
    for entry in body["prefetch"]["medicationStatements"]["entry"]:
        entry["resource"].setdefault("note", []).append({"text": PHI_MARKER})
    return copy.deepcopy(body)


def observation(analyte_code: str, value: Any, unit: str, *, index: int = 0, **extra: Any) -> dict[str, Any]:
    """A final lab result for patient nl-1, dated today."""
    return {
        "resourceType": "Observation",
        "id": f"hostile-{analyte_code}-{index}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": analyte_code}]},
        "subject": {"reference": "Patient/nl-1"},
        "effectiveDateTime": time.strftime("%Y-%m-%d", time.gmtime()),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        **extra,
    }


def with_labs(body: dict[str, Any], labs: list[dict[str, Any]]) -> dict[str, Any]:
    body["prefetch"]["labResults"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": lab} for lab in labs],
    }
    return body


def left_out(response: httpx.Response) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = response.json().get("extension", {}).get("org.vitdmg.left-out", [])
    return entries
