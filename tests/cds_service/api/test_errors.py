"""Our own bugs (issue 13 finding 6): a 500 OperationOutcome, logged as exception type and place, no traceback.

A traceback carried pydantic's `input_value` (medication text that can hold PHI) into uvicorn's log.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pydantic
import pytest

from cds_service.api import routes
from cds_service.api.app import create_app
from cds_service.api.logs import JsonFormatter
from cds_service.knowledge.loader import Knowledge
from cds_service.settings import Settings
from tests.builders import request
from tests.conftest import NOW
from tests.test_e2e import serve

MARKER = "PHI-MARKER-Gerda-Jansen"


def _failing_parse(body: Any, _service: Any) -> Any:
    """A bug that trips over caller text: pydantic puts the input value into its message."""
    return pydantic.TypeAdapter(int).validate_python(body["context"]["patientId"])


class _Lines(logging.Handler):
    """Every record as a handler would write it, tracebacks included (logging.Formatter appends them)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        if record.exc_info:
            line += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(line)


@pytest.mark.e2e
def test_a_500_logs_type_and_place_only(knowledge: Knowledge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "parse_request", _failing_parse)
    app = create_app(Settings(auth="disabled"), knowledge=knowledge, clock=lambda: NOW)
    body = request()
    body["context"]["patientId"] = MARKER
    lines = _Lines()
    watched = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn", "vitdmg_cds")]
    for logger in watched:
        logger.addHandler(lines)
    try:
        with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
            response = client.post("/cds-services/vitd-mg-patient-view", json=body)
            assert client.get("/healthz").status_code == 200
    finally:
        for logger in watched:
            logger.removeHandler(lines)
    assert response.status_code == 500
    assert response.json()["issue"][0]["code"] == "exception" and MARKER not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    logged = "\n".join(lines.lines)
    assert '"error": "ValidationError"' in logged and '"at": "routes.py:' in logged  # the type and the place
    assert MARKER not in logged and "Traceback" not in logged and "input_value" not in logged
