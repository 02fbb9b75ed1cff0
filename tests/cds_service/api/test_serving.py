"""`vitdmg-cds serve --workers N` (issue 15): migrations once in the parent, metrics added up across workers,
SIGTERM makes /readyz answer 503 first and lets requests in flight finish."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from cds_service.api import serving
from cds_service.metrics import MULTIPROC_ENV
from cds_service.settings import Settings
from tests.builders import request
from tests.test_e2e import _free_port

CLI = Path(sys.executable).parent / "vitdmg-cds"


def test_the_parent_migrates_once_and_the_workers_do_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the workers start, the store is at head; they are told not to migrate; metrics get a shared folder."""
    seen: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        with sqlite3.connect(tmp_path / "data" / "vitdmg.db") as db:
            seen["version"] = db.execute("SELECT version_num FROM alembic_version").fetchall()
        seen["app"], seen["options"] = app, options
        seen["migrate"] = os.environ.get("VITDMG_MIGRATE_ON_START")
        seen["metrics"] = os.environ.get(MULTIPROC_ENV)
        seen["metrics_exists"] = Path(seen["metrics"]).is_dir()

    monkeypatch.setattr("cds_service.api.serving.run_workers", fake_run)
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    monkeypatch.setenv("VITDMG_MIGRATE_ON_START", "true")
    settings = Settings(auth="disabled", data_dir=tmp_path / "data")
    serving.serve(settings, "127.0.0.1", 8080, 3, 30, announce=lambda *_: None)
    assert len(seen["version"]) == 1
    assert seen["app"] == "cds_service.api.app:create_app" and seen["options"]["factory"] is True
    assert seen["options"]["workers"] == 3 and seen["options"]["timeout_graceful_shutdown"] == 30
    assert seen["migrate"] == "false" and seen["metrics_exists"]
    assert not Path(seen["metrics"]).exists() and MULTIPROC_ENV not in os.environ  # removed after serving


async def test_the_workers_connections_get_tcp_nodelay() -> None:
    """Issue 14: uvicorn's multi-worker socket says protocol 0, so asyncio left Nagle on and every response waited
    ~40 ms for the client's delayed ACK; the socket `run_workers` shares makes asyncio set TCP_NODELAY."""

    async def nodelay(sock: socket.socket) -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                conn = transport.get_extra_info("socket")
                accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname())
        try:
            return await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()
            server.close()

    plain = uvicorn.Config("x:y", host="127.0.0.1", port=_free_port()).bind_socket()
    assert plain.proto == 0 and await nodelay(plain) == 0  # the cause, as uvicorn ships it
    ours = serving.listening_socket(uvicorn.Config("x:y", host="127.0.0.1", port=_free_port()))
    assert ours.proto == socket.IPPROTO_TCP and await nodelay(ours) == 1


@pytest.mark.e2e
def test_two_workers_drain_on_sigterm_and_share_metrics(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "VITDMG_AUTH": "disabled",
        "VITDMG_DATA_DIR": str(tmp_path / "data"),
        "VITDMG_DRAIN_SECONDS": "3",
        "VITDMG_LOG_LEVEL": "WARNING",
    }
    env.pop(MULTIPROC_ENV, None)
    server = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port), "--workers", "2", "--graceful-timeout", "20"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_ready(base, server)
        with httpx.Client(base_url=base, timeout=30) as client:
            calls = 8
            for _ in range(calls):
                assert client.post("/cds-services/vitd-mg-patient-view", json=request()).status_code == 200
            families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
            counted = sum(
                s.value
                for s in families["vitdmg_requests"].samples
                if s.name == "vitdmg_requests_total" and s.labels["status"] == "200"
            )
            assert counted == calls  # each scrape lands on one worker, yet counts every worker's calls

            results: list[int] = []
            slow = threading.Thread(target=lambda: results.extend(_calls(base, 6)))
            slow.start()
            time.sleep(0.3)
            server.send_signal(signal.SIGTERM)
            statuses = []
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                try:
                    statuses.append(client.get("/readyz").status_code)
                except httpx.TransportError:
                    statuses.append(0)
                time.sleep(0.2)
            slow.join(timeout=60)
        assert 503 in statuses and 0 not in statuses  # not ready, yet still answering while it drains
        assert server.wait(timeout=60) == 0
        assert results == [200] * 6, results  # requests under way when SIGTERM came all finished
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()


def _calls(base: str, count: int) -> list[int]:
    with httpx.Client(base_url=base, timeout=30) as client:
        return [client.post("/cds-services/vitd-mg-patient-view", json=request()).status_code for _ in range(count)]


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode() if process.stderr else "server exited")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("server did not become ready")
