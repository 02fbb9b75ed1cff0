"""The session target in-process: CPU of a whole ordering session against one cold busy patient-view.

Both go through the real app (`create_app`, over httpx's ASGI transport: no sockets, no uvicorn), the way the
bench's HTTP cells call it: cold patient-views on an app with the validated-resource cache off, sessions on an
app with the cache as shipped, 20 patients rotated. Each figure is the median over rounds of process CPU per
unit, so it holds on a loaded machine. uvicorn's and the client's HTTP cost, paid once per call, is not in it
(it weighs five times on a session): the bench's floor route, called the same way, is printed beside it.

.venv/bin/python bench/session_profile.py [rounds]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import httpx
from fastapi import Request
from fastapi.responses import JSONResponse

from bench import scenarios
from cds_service.api.app import create_app
from cds_service.knowledge.loader import load_knowledge
from cds_service.settings import Settings


async def _units(client: httpx.AsyncClient, units: list[list[scenarios.Call]], bodies: dict[int, bytes]) -> float:
    """Median CPU µs per unit over the rotation."""
    spent = []
    for unit in units:
        started = time.process_time()
        for call in unit:
            response = await client.post(
                f"/cds-services/{call.service}",
                content=bodies[id(call)],
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 200, response.text[:300]
        spent.append((time.process_time() - started) * 1e6)
    return statistics.median(spent)


async def _floor(client: httpx.AsyncClient, units: list[list[scenarios.Call]], bodies: dict[int, bytes]) -> float:
    spent = []
    for unit in units:
        started = time.process_time()
        for call in unit:
            response = await client.post("/bench/floor", content=bodies[id(call)])
            assert response.status_code == 200
        spent.append((time.process_time() - started) * 1e6 / len(unit))
    return statistics.median(spent)


async def measure(rounds: int) -> dict[str, float]:
    now = scenarios.now()
    knowledge = load_knowledge()

    def busy(patient_id: str, seed: int) -> list[dict[str, Any]]:
        return scenarios.busy_record(now, seed, patient_id)

    cold = scenarios.rotation("patient-view", busy, "busy")
    sessions = scenarios.session(busy, "session")
    bodies = {id(call): json.dumps(call.body).encode() for units in (cold, sessions) for unit in units for call in unit}
    figures: dict[str, list[float]] = {"cold patient-view": [], "session (5 calls)": [], "floor per call": []}
    with tempfile.TemporaryDirectory() as tmp:
        apps = {}
        for name, entries in (("cold", 0), ("session", 1024)):
            settings = Settings(
                data_dir=Path(tmp) / name, auth="disabled", validation_cache_entries=entries, log_level="ERROR"
            )
            app = create_app(settings, knowledge=knowledge)

            @app.post("/bench/floor")
            async def floor(request: Request) -> JSONResponse:  # the bench's floor route, as in bench/server.py
                json.loads(await request.body())
                return JSONResponse({"cards": []})

            apps[name] = app
        async with (
            apps["cold"].router.lifespan_context(apps["cold"]),
            apps["session"].router.lifespan_context(apps["session"]),
        ):
            transports = {n: httpx.ASGITransport(app=a) for n, a in apps.items()}
            async with (
                httpx.AsyncClient(transport=transports["cold"], base_url="http://bench") as cold_client,
                httpx.AsyncClient(transport=transports["session"], base_url="http://bench") as session_client,
            ):
                await _units(cold_client, cold, bodies)  # warm-up
                await _units(session_client, sessions, bodies)
                for _ in range(rounds):
                    figures["cold patient-view"].append(await _units(cold_client, cold, bodies))
                    figures["session (5 calls)"].append(await _units(session_client, sessions, bodies))
                    figures["floor per call"].append(await _floor(cold_client, cold, bodies))
    result = {k: statistics.median(v) for k, v in figures.items()}
    result["ratio"] = result["session (5 calls)"] / result["cold patient-view"]
    return result


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    result = asyncio.run(measure(rounds))
    print("session vs cold busy patient-view, in-process CPU (median µs per unit, 20 patients rotated):")
    for name, value in result.items():
        print(f"  {name:<28} {value:>10,.2f}" if "ratio" in name else f"  {name:<28} {value:>10,.0f}")


if __name__ == "__main__":
    main()
