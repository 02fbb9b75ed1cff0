"""Structured JSON logs: one line per event with ids, timings and card codes; never patient data or tokens."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "vitdmg_cds"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "message": record.getMessage(),
        }
        event = getattr(record, "event", None)
        if isinstance(event, dict):
            line.update(event)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, default=str)


# Libraries that log request URLs: a FHIR URL carries the patient id, so they only log warnings and up.
QUIET_LOGGERS = ("httpx", "httpcore")


class NoTraceback(logging.Filter):
    """uvicorn prints a traceback for an error that reaches it; a traceback can carry caller data: type only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.msg = f"{record.getMessage()} ({record.exc_info[0].__name__}; traceback not logged)"
            record.args = None
            record.exc_info, record.exc_text = None, None
        return True


def configure_logging(level: str) -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, NoTraceback) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(NoTraceback())
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    if not any(getattr(h, "_vitdmg", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._vitdmg = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = True


def log_event(message: str, **fields: Any) -> None:
    logging.getLogger(LOGGER_NAME).info(message, extra={"event": fields})
