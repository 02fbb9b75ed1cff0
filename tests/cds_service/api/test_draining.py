"""SIGTERM drains (issue 15): not ready at once, the server's own handler only after the drain; twice: at once."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from types import FrameType

from cds_service.api.draining import Drain


async def test_sigterm_marks_draining_then_hands_over_to_the_server() -> None:
    assert threading.current_thread() is threading.main_thread()
    handed: list[float] = []
    loop = asyncio.get_running_loop()

    def server_handler(sig: int, frame: FrameType | None) -> None:  # what uvicorn's handle_exit is
        handed.append(loop.time())

    original = signal.signal(signal.SIGTERM, server_handler)
    drain = Drain(0.3)
    try:
        drain.install()
        started = loop.time()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert drain.draining and handed == []  # not ready any more, still serving
        await asyncio.sleep(0.5)
        assert len(handed) == 1 and handed[0] - started >= 0.3  # then the server is told to stop
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert len(handed) == 2  # asked again: at once
        drain.uninstall()
        assert signal.getsignal(signal.SIGTERM) is server_handler
    finally:
        signal.signal(signal.SIGTERM, original)


def test_outside_the_main_thread_nothing_is_installed() -> None:
    """A server run in a thread (as the tests do) keeps its signals: the drain stays off."""
    before = signal.getsignal(signal.SIGTERM)
    drain = Drain(5)
    worker = threading.Thread(target=drain.install)
    worker.start()
    worker.join()
    assert signal.getsignal(signal.SIGTERM) is before and not drain.draining
