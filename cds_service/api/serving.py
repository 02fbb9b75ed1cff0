"""The production server: one process, or N uvicorn workers sharing one socket.

The parent builds the app once before any worker starts: every configuration problem is reported there, one
line each, and the database migrations run there, once (the workers are told not to run them). With several
workers, prometheus-client's multiprocess mode adds up their metrics: each worker writes under
PROMETHEUS_MULTIPROC_DIR (a fresh temporary folder unless the operator names one; emptied at start).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

from cds_service.api.config_check import build_app
from cds_service.metrics import MULTIPROC_ENV
from cds_service.settings import Settings

APP_FACTORY = "cds_service.api.app:create_app"
# A worker imports the FHIR models and compiles the rulesets before it answers uvicorn's health ping: seconds
# on a busy machine. uvicorn's default (5 s) kills and restarts such a worker over and over.
WORKER_START_SECONDS = 60
Announce = Callable[[str, Settings, str, int], None]


def serve(settings: Settings, host: str, port: int, workers: int, graceful_timeout: int, announce: Announce) -> str:
    """Serve until stopped; returns the knowledge version served. Raises ConfigProblems before serving."""
    app = build_app(settings)  # validates everything; runs the migrations when VITDMG_MIGRATE_ON_START
    version: str = app.state.knowledge.version
    with _metrics_folder(workers):
        announce(version, settings, f"http://{host}:{port}", workers)
        if workers == 1:
            uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=graceful_timeout)
            return version
        app.state.store.dispose()
        del app
        os.environ["VITDMG_MIGRATE_ON_START"] = "false"  # done above, once: the workers do not race for it
        run_workers(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            timeout_graceful_shutdown=graceful_timeout,
            timeout_worker_healthcheck=WORKER_START_SECONDS,
        )
    return version


def run_workers(app: str, **options: Any) -> None:
    """`uvicorn.run(app, workers=N, ...)`, but the workers' connections get TCP_NODELAY.

    uvicorn opens the shared socket as `socket(AF_INET)`, protocol 0; asyncio sets TCP_NODELAY on accepted
    connections only when that protocol says IPPROTO_TCP. Without it a response written in two parts (headers,
    body) waits for the client's delayed ACK: about 40 ms on every call with several workers, none with one
    (issue 14; bench/README.md). The socket is re-opened on its descriptor, the protocol read from the kernel.
    """
    config = uvicorn.Config(app, **options)
    sock = listening_socket(config)
    Multiprocess(config, sockets=[sock]).run()


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """Uvicorn's bound socket, re-opened so that it reports IPPROTO_TCP (see `run_workers`)."""
    bound = config.bind_socket()
    sock = socket.socket(fileno=bound.detach())  # family, type and protocol read from the descriptor
    sock.set_inheritable(True)
    return sock


@contextmanager
def _metrics_folder(workers: int) -> Iterator[None]:
    """The multiprocess metrics folder: the operator's (emptied of a previous run's files) or a temporary one."""
    named = os.environ.get(MULTIPROC_ENV)
    if named:
        folder = Path(named)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        yield
        return
    if workers == 1:
        yield  # one process: its own registry is the whole truth
        return
    temporary = tempfile.mkdtemp(prefix="vitdmg-metrics-")
    os.environ[MULTIPROC_ENV] = temporary
    try:
        yield
    finally:
        del os.environ[MULTIPROC_ENV]
        shutil.rmtree(temporary, ignore_errors=True)
