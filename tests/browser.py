"""Headless Debian Chromium driven by Playwright, kept off the network: only 127.0.0.1 is reachable.

Two locks: Chromium is told to send everything but loopback to a closed proxy port, and every request the page
makes is routed through `LoopbackOnly`, which aborts and records any request to another host (tests assert
that list is empty). Used by the preview tests and to make the README's screenshot.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, sync_playwright

CHROMIUM = os.environ.get("VITDMG_CHROMIUM", "/usr/bin/chromium")
README_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "preview-page.png"
CHROMIUM_ARGS = [
    "--proxy-server=http://127.0.0.1:9",  # nothing listens there; loopback bypasses proxies by default
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]


def chromium_or_skip() -> str:
    """The Chromium binary; where it is not installed the test is skipped saying why, and fails under CI."""
    path = CHROMIUM if os.path.isfile(CHROMIUM) else shutil.which("chromium")
    if not path:
        why = f"Debian chromium is not installed at {CHROMIUM} (.ci/run installs it: apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return path


class LoopbackOnly:
    """A Playwright route handler: requests to 127.0.0.1 (and local files) go through, any other is aborted and recorded."""

    def __init__(self) -> None:
        self.blocked: list[str] = []
        self.seen: list[str] = []
        self.console_errors: list[str] = []  # e.g. a style refused by the Content-Security-Policy

    def __call__(self, route: Route) -> None:
        url = route.request.url
        self.seen.append(url)
        host = urlsplit(url).hostname
        if url.startswith(("data:", "about:", "file:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


@contextmanager
def chromium_page(width: int = 1400, height: int = 1000) -> Iterator[tuple[Page, LoopbackOnly]]:
    """A fresh page in headless Chromium with the loopback-only route installed."""
    executable = chromium_or_skip()
    guard = LoopbackOnly()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB")
            context.route("**/*", guard)
            page = context.new_page()
            page.on("console", lambda m: guard.console_errors.append(m.text) if m.type == "error" else None)
            yield page, guard
            context.close()
        finally:
            browser.close()
