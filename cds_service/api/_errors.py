"""The last line for our own bugs: a 500 OperationOutcome, logged as exception type and place only.

A traceback would carry caller data (pydantic's `input_value`, a medication text that can hold PHI), so none
is printed, and the exception is not re-raised to uvicorn (which would print its own).
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from cds_service.api._asgi import HttpMiddleware
from cds_service.errors import Issue, operation_outcome

logger = logging.getLogger("vitdmg_cds")
_PACKAGE = Path(__file__).resolve().parents[1]


def where(error: BaseException) -> dict[str, str]:
    """The innermost frame of this package, and the innermost frame at all, as `file:line in function`."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(_PACKAGE)]
    place: dict[str, str] = {}
    if ours:
        place["at"] = f"{Path(ours[-1].filename).name}:{ours[-1].lineno} in {ours[-1].name}"
    if frames:
        place["raised_in"] = f"{Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}"
    return place


class CatchInternalErrors(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            logger.error("internal error", extra={"event": {"error": type(error).__name__, **where(error)}})
            if not started:
                body = operation_outcome([Issue("exception", "internal error in the CDS service")])
                await JSONResponse(body, status_code=500)(scope, receive, send)
