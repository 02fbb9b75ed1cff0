"""Graceful stop: on SIGTERM the process first says it is not ready, keeps serving, then stops.

A load balancer (HAProxy's health check, a Kubernetes readiness probe) sees `/readyz` answer 503 and stops
sending new requests; `drain_seconds` later the server is told to stop as usual: uvicorn closes its socket,
lets the requests in flight finish (each queues its audit rows before it answers) and then runs the lifespan
shutdown, which writes the audit queue (app.drain_audit). A second SIGTERM stops at once. SIGINT (Ctrl-C) is
left to uvicorn.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from cds_service.api.logs import log_event

Handler = Callable[[int, FrameType | None], Any]


class Drain:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.draining = False
        self._server_handler: Handler | None = None

    def install(self) -> None:
        """Put this in front of the server's SIGTERM handler; only in the main thread of a real server."""
        if threading.current_thread() is not threading.main_thread():
            return  # a server run in a thread (tests) has no signal handler of its own
        current = signal.getsignal(signal.SIGTERM)
        if not callable(current):
            return  # no server handler to hand the signal to: keep the default
        self._server_handler = current
        loop = asyncio.get_running_loop()
        handler = current

        def on_sigterm(sig: int, frame: FrameType | None) -> None:
            if self.draining:
                handler(sig, frame)  # asked twice: stop now
                return
            self.draining = True
            log_event("draining", seconds=self.seconds)
            loop.call_soon_threadsafe(loop.call_later, self.seconds, handler, sig, None)

        signal.signal(signal.SIGTERM, on_sigterm)

    def uninstall(self) -> None:
        if self._server_handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._server_handler)
            self._server_handler = None
