"""Runs last in the hostile suite (file order): the same server process that took every probe is alive,
answers, and its log holds no caller text and no traceback (issue 13 findings 1, 2 and 6)."""

from __future__ import annotations

from .conftest import PHI_MARKER, PV, Hostile, base_request


def test_the_same_process_survived_the_whole_suite(hostile: Hostile) -> None:
    assert hostile.alive()
    assert hostile.http.get("/healthz").status_code == 200
    assert hostile.call(PV, base_request()).status_code == 200


def test_the_log_holds_no_caller_text_and_no_traceback(hostile: Hostile) -> None:
    log = hostile.log.read_text(encoding="utf-8", errors="replace")
    assert '"message": "invocation"' in log  # the log is the server's (else this proves nothing)
    assert PHI_MARKER not in log and "Traceback" not in log and "input_value" not in log
    assert "hostile-bearer-token" not in log and "nl-1" not in log
