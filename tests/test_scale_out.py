"""Scale-out on this machine (issue 15): three service processes behind HAProxy sharing one PostgreSQL.

Migrations run once (`vitdmg-cds db upgrade`, as the Kubernetes Job does); three `vitdmg-cds serve` backends
start with VITDMG_MIGRATE_ON_START=false; Debian's haproxy balances them round-robin and health-checks /readyz.
A bounded load (a few client threads, each a fixed number of service calls plus feedback) goes through HAProxy
and one backend is killed (SIGKILL) in the middle of it. Then: every acknowledged feedback row is in the database,
and every acknowledged audit row but those the killed backend acknowledged within its audit flush window, only requests in flight on the killed backend failed, HAProxy's health check marked it DOWN
and sent nothing more to it, a `jti` used on one backend is refused on another, and a card overridden through
one backend stays quiet on the others.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine, text

from .builders import request
from .stores import postgres_or_skip
from .test_e2e import _free_port

pytestmark = pytest.mark.e2e
CLI = Path(sys.executable).parent / "vitdmg-cds"
BASE = "https://cds.example.org"  # the public URL in front of HAProxy: the JWT audience every backend checks
ISS = "https://ehr.example.org"
KEY = ec.generate_private_key(ec.SECP384R1())
PATH = "/cds-services/vitd-mg-patient-view"
CLIENTS, CALLS_PER_CLIENT = 4, 15  # bounded load: 60 service calls and up to 60 feedback posts
KILLED = "b2"


def _token(path: str) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": BASE + path, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, KEY, algorithm="ES384", headers={"kid": "k1"})


def _auth(path: str, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or _token(path)}"}


def _haproxy_or_skip() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if found is None:
        message = "haproxy is not installed (bash .ci/run installs it: apt-get install haproxy)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass
class Cluster:
    front: str
    stats: str
    backends: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]]
    database: str

    def states(self) -> dict[str, str]:
        """HAProxy's view of each backend server (UP, DOWN, …), from its stats page."""
        page = httpx.get(f"{self.stats}/stats;csv", timeout=5).text.lstrip("# ")
        return {
            row["svname"]: row["status"].split(" ")[0]
            for row in csv.DictReader(io.StringIO(page))
            if row["pxname"] == "vitdmg" and row["svname"] in self.backends
        }


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    haproxy = _haproxy_or_skip()
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
        "VITDMG_PSEUDONYM_KEY": "scale-out-test-key",
        "VITDMG_LOG_LEVEL": "WARNING",
        "VITDMG_DRAIN_SECONDS": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    upgraded = subprocess.run([str(CLI), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr
    env["VITDMG_MIGRATE_ON_START"] = "false"  # migrated once above, as the Kubernetes Job does
    ports = {name: _free_port() for name in ("b1", "b2", "b3")}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    proxy: subprocess.Popen[bytes] | None = None
    try:
        for name, port in ports.items():
            processes[name] = subprocess.Popen(
                [str(CLI), "serve", "--port", str(port), "--workers", "1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        backends = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for name, url in backends.items():
            _wait_ready(url, processes[name])
        front, stats = _free_port(), _free_port()
        config = tmp_path / "haproxy.cfg"
        config.write_text(_haproxy_config(front, stats, ports), encoding="utf-8")
        check = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        proxy = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        result = Cluster(f"http://127.0.0.1:{front}", f"http://127.0.0.1:{stats}", backends, processes, database)

        def all_up() -> bool:
            assert proxy is not None and proxy.poll() is None, (
                proxy.stderr.read().decode() if proxy and proxy.stderr else ""
            )
            try:
                states = result.states()
            except httpx.TransportError:
                return False  # not listening yet
            return len(states) == len(backends) and set(states.values()) == {"UP"}

        _wait_until(all_up, 30, "HAProxy sees every backend UP")
        yield result
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=15)
            if proxy.stderr is not None:
                proxy.stderr.close()
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()


def _haproxy_config(front: int, stats: int, ports: dict[str, int]) -> str:
    servers = "\n".join(f"    server {name} 127.0.0.1:{port} check" for name, port in ports.items())
    return f"""global
    maxconn 256

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1

frontend cds
    bind 127.0.0.1:{front}
    default_backend vitdmg

backend vitdmg
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 250ms fall 2 rise 2
    http-response set-header X-Served-By %[srv_name]
{servers}

listen stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
"""


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode() if process.stderr else "backend exited")
        try:
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    _wait_until(ready, 180, f"{url} ready")


def _wait_until(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {what}")


@dataclass
class Load:
    """What the clients were told: acknowledged card uuids and feedback, failures, and who served what when."""

    cards: list[str] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)
    served: list[tuple[float, str]] = field(default_factory=list)
    cards_by: dict[str, tuple[float, str]] = field(default_factory=dict)  # card uuid -> (received at, backend)
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(front: str, load: Load) -> None:
    with httpx.Client(base_url=front, timeout=60) as client:
        for _ in range(CALLS_PER_CLIENT):
            body = request()
            body["hookInstance"] = str(uuid.uuid4())
            try:
                response = client.post(PATH, json=body, headers=_auth(PATH))
            except httpx.TransportError as error:
                with load.lock:
                    load.failures.append((time.monotonic(), type(error).__name__))
                continue
            with load.lock:
                load.done += 1
                if response.status_code != 200:
                    load.failures.append((time.monotonic(), str(response.status_code)))
                    continue
                received = (time.monotonic(), response.headers["x-served-by"])
                load.served.append(received)
                cards = response.json()["cards"]
                load.cards += [c["uuid"] for c in cards]
                load.cards_by.update({c["uuid"]: received for c in cards})
            card = next((c for c in cards if c.get("suggestions")), None)  # accepted feedback names what was taken up
            if card is None:
                continue
            feedback = {
                "feedback": [
                    {
                        "card": card["uuid"],
                        "outcome": "accepted",
                        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                        "outcomeTimestamp": datetime.now(UTC).isoformat(),
                    }
                ]
            }
            try:
                stored = client.post(PATH + "/feedback", json=feedback, headers=_auth(PATH + "/feedback"))
            except httpx.TransportError as error:
                with load.lock:
                    load.failures.append((time.monotonic(), type(error).__name__))
                continue
            with load.lock:
                if stored.status_code == 200 and stored.json() == {"stored": 1, "duplicates": 0}:
                    load.feedback.append(card["uuid"])
                else:
                    load.failures.append((time.monotonic(), f"feedback {stored.status_code}"))


def test_three_backends_behind_haproxy_survive_losing_one(cluster: Cluster) -> None:
    b1, b3 = cluster.backends["b1"], cluster.backends["b3"]

    # A jti used on one backend is refused on another.
    once = _token(PATH)
    assert httpx.post(b1 + PATH, json=request(), headers=_auth(PATH, once), timeout=60).status_code == 200
    replay = httpx.post(b3 + PATH, json=request(), headers=_auth(PATH, once), timeout=60)
    assert replay.status_code == 401 and "replayed" in replay.json()["issue"][0]["diagnostics"]

    # A card overridden through one backend stays quiet on the others.
    shown = httpx.post(b1 + PATH, json=request(), headers=_auth(PATH), timeout=60).json()
    card = next(c for c in shown["cards"] if c["source"]["topic"]["code"] == "mg-loss-ppi")
    override = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": datetime.now(UTC).isoformat(),
                "overrideReason": {"reason": {"code": "already-addressed"}},
            }
        ]
    }
    stored = httpx.post(b3 + PATH + "/feedback", json=override, headers=_auth(PATH + "/feedback"), timeout=60)
    assert stored.json() == {"stored": 1, "duplicates": 0}
    for backend in cluster.backends.values():
        later = httpx.post(backend + PATH, json=request(), headers=_auth(PATH), timeout=60).json()
        assert later["extension"]["org.vitdmg.suppressed"]["codes"] == ["mg-loss-ppi"], backend

    # Bounded load through HAProxy; one backend killed a third of the way through.
    load = Load()
    clients = [threading.Thread(target=_client, args=(cluster.front, load)) for _ in range(CLIENTS)]
    for thread in clients:
        thread.start()
    _wait_until(lambda: load.done >= CLIENTS * CALLS_PER_CLIENT // 3, 300, "a third of the load")
    killed_at = time.monotonic()
    cluster.processes[KILLED].send_signal(signal.SIGKILL)
    _wait_until(lambda: cluster.states()[KILLED] == "DOWN", 30, f"HAProxy marks {KILLED} DOWN")
    down_at = time.monotonic()
    for thread in clients:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in clients)

    assert cluster.states() == {"b1": "UP", KILLED: "DOWN", "b3": "UP"}
    served_by = {name for _, name in load.served}
    assert served_by == {"b1", "b2", "b3"}, "round-robin reached every backend before the kill"
    assert not [name for when, name in load.served if when > down_at + 1 and name == KILLED]
    # Only what was in flight on the killed backend may fail: at most one request per client, around the kill.
    assert len(load.failures) <= CLIENTS, load.failures
    assert all(killed_at - 1 <= when <= down_at + 5 for when, _ in load.failures), load.failures
    assert len(load.served) >= CLIENTS * CALLS_PER_CLIENT - CLIENTS

    # Nothing acknowledged is lost: every card a client received is in the audit, every stored feedback too.
    engine = create_engine(cluster.database)
    try:
        with engine.connect() as connection:
            issued = set(connection.execute(text("SELECT uuid FROM issued_card")).scalars())
            accepted = set(
                connection.execute(text("SELECT card_uuid FROM feedback WHERE outcome = 'accepted'")).scalars()
            )
    finally:
        engine.dispose()
    # The audit writer batches rows (VITDMG_AUDIT_FLUSH_SECONDS, README "Performance"): a SIGKILL may lose the rows
    # the killed backend acknowledged in its last moments, and nothing else. On a loaded two-core machine the
    # writer's transaction can take longer than the flush interval, so "last moments" is 2 s before the kill.
    missing = set(load.cards) - issued
    in_window = {u for u in missing if load.cards_by[u][1] == KILLED and load.cards_by[u][0] >= killed_at - 2.0}
    assert len(load.cards) > 0 and missing == in_window, {u: load.cards_by[u] for u in missing - in_window}
    assert len(load.feedback) > 0 and set(load.feedback) <= accepted, set(load.feedback) - accepted

    # The override still holds on the survivors, through HAProxy.
    through = httpx.post(cluster.front + PATH, json=request(), headers=_auth(PATH), timeout=60).json()
    assert through["extension"]["org.vitdmg.suppressed"]["codes"] == ["mg-loss-ppi"]
