"""What a crash costs the audit trail (issue 14; README "Feedback, audit and alert fatigue").

A real server (uvicorn, SQLite store) answers a first group of calls; once their batch is on disk a second group
is answered, and the process is killed (SIGKILL) inside the writer's flush interval, between two batches. The
rows that survive are exactly the first group's: the cost is the responses of the last flush interval, as the
README states. A normal stop (SIGTERM) after the same two groups keeps every row.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .builders import request
from .test_e2e import _free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent
PV = "/cds-services/vitd-mg-patient-view"
FLUSH_SECONDS = 4.0  # long enough to answer the second group and kill the server inside the interval


@contextmanager
def _server(data: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {
        **os.environ,
        "VITDMG_AUTH": "disabled",
        "VITDMG_DATA_DIR": str(data),
        "VITDMG_LOG_LEVEL": "WARNING",
        "VITDMG_AUDIT_FLUSH_SECONDS": str(FLUSH_SECONDS),
    }
    env.pop("VITDMG_DATABASE_URL", None)
    command = [sys.executable, "-m", "uvicorn", "--factory", "cds_service.api.app:create_app", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "server exited"
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=15)


def _cards(url: str, n: int) -> set[str]:
    uuids: set[str] = set()
    for i in range(n):
        body = {**request(), "hookInstance": f"d2a4c7f0-0000-4000-8000-{i:012d}"}
        response = httpx.post(url + PV, json=body, timeout=30)
        assert response.status_code == 200
        uuids |= {c["uuid"] for c in response.json()["cards"]}
    return uuids


def _stored(data: Path) -> set[str]:
    with sqlite3.connect(data / "vitdmg.db") as connection:
        return {row[0] for row in connection.execute("SELECT uuid FROM issued_card")}


def _wait_for(data: Path, wanted: set[str]) -> None:
    deadline = time.monotonic() + 3 * FLUSH_SECONDS + 10
    while not wanted <= _stored(data):
        assert time.monotonic() < deadline, "the first batch was never written"
        time.sleep(0.1)


def test_a_kill_between_batches_costs_only_the_last_flush_interval(tmp_path: Path) -> None:
    with _server(tmp_path) as (url, process):
        first = _cards(url, 3)
        _wait_for(tmp_path, first)  # the first group's batch is committed
        started = time.monotonic()
        second = _cards(url, 3)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=15)
        inside_interval = time.monotonic() - started < FLUSH_SECONDS
    survived = _stored(tmp_path)
    assert first and second and not first & second
    assert first <= survived <= first | second  # nothing acknowledged before the last batch is lost
    if inside_interval:  # the kill fell between two batches: exactly the last interval's responses are lost
        assert survived == first, f"{len(survived - first)} of the last interval's rows survived"


def test_a_normal_stop_writes_every_queued_row(tmp_path: Path) -> None:
    with _server(tmp_path) as (url, process):
        started = time.monotonic()
        first = _cards(url, 3)
        second = _cards(url, 3)
        if time.monotonic() - started < FLUSH_SECONDS:
            assert not _stored(tmp_path)  # all still queued when the stop begins
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after its shutdown
    assert _stored(tmp_path) == first | second
