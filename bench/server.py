"""The service as benchmarked: the real app plus a floor route on the same server.

The floor reads the same JSON body and answers {"cards": []}: no FHIR parsing, no rules. Run with
`uvicorn --factory bench.server:build`; the FHIR server for the prefetch-absent scenario with
`uvicorn --factory bench.server:build_fhir` (VITDMG_BENCH_RECORD names a JSON file of resources).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.applications import Starlette

from cds_service.app import create_app
from cds_service.fixture_fhir import FixtureFhirServer
from cds_service.settings import Settings


def build() -> FastAPI:
    app = create_app(Settings())

    @app.post("/bench/floor")
    async def floor(request: Request) -> JSONResponse:
        json.loads(await request.body())
        return JSONResponse({"cards": []})

    return app


def build_fhir() -> Starlette:
    resources = json.loads(Path(os.environ["VITDMG_BENCH_RECORD"]).read_text(encoding="utf-8"))
    return FixtureFhirServer(resources).app()
