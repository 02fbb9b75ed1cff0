"""The service as benchmarked: the real app plus a floor route on the same server.

The floor reads the same JSON body and answers {"cards": []}: no FHIR parsing, no rules. Run with
`python -m bench.server PORT WORKERS`: one worker as `uvicorn --factory bench.server:build`, several as
`vitdmg-cds serve --workers N` runs them (`serving.run_workers`: one socket, TCP_NODELAY on the connections).
The FHIR server for the prefetch-absent scenario: `uvicorn --factory bench.server:build_fhir`
(VITDMG_BENCH_RECORD names a JSON file of resources).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.applications import Starlette

from cds_service.api import serving
from cds_service.api.app import create_app
from cds_service.offline.fixture_fhir import FixtureFhirServer
from cds_service.settings import Settings


def build() -> FastAPI:
    app = create_app(Settings())

    @app.post("/bench/floor")
    async def floor(request: Request) -> JSONResponse:
        json.loads(await request.body())
        return JSONResponse({"cards": []})

    return app


def main() -> None:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    options: dict[str, Any] = {
        "factory": True,
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "timeout_worker_healthcheck": serving.WORKER_START_SECONDS,
    }
    if workers == 1:
        uvicorn.run("bench.server:build", **options)
    else:
        serving.run_workers("bench.server:build", workers=workers, **options)


def build_fhir() -> Starlette:
    resources = json.loads(Path(os.environ["VITDMG_BENCH_RECORD"]).read_text(encoding="utf-8"))
    return FixtureFhirServer(resources).app()


if __name__ == "__main__":
    main()
