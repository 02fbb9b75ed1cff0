"""The cache of validated resources (issue 14): a hit gives exactly the cards of a miss, on every fixture scenario;
cached models are never changed by the pipeline; the cache is bounded and keyed on the content."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from cds_service.api.app import create_app
from cds_service.fhir.validated_cache import ValidatedCache
from cds_service.knowledge.loader import Knowledge
from cds_service.offline.evaluation import read_expectations
from cds_service.settings import Settings
from tests.fhir_server import FIXTURES

SCENARIOS = sorted(
    p
    for p in (FIXTURES / "scenarios").iterdir()
    if (p / "request.json").is_file() and not (p / "fhir.json").is_file()  # prefetch only: no FHIR server needed
)


def _without_ids(body: Any) -> Any:
    """The answer with the card and suggestion ids (new uuids every call) taken out."""
    if isinstance(body, dict):
        return {k: _without_ids(v) for k, v in body.items() if k != "uuid"}
    if isinstance(body, list):
        return [_without_ids(v) for v in body]
    return body


async def test_a_hit_gives_exactly_the_cards_of_a_miss(knowledge: Knowledge, tmp_path: Path) -> None:
    assert len(SCENARIOS) >= 20
    now: list[datetime] = []
    apps: dict[str, Any] = {}  # one app per profile (compiling the rulesets is the slow part of building one)
    async with AsyncExitStack() as stack:
        for folder in SCENARIOS:
            expected = read_expectations(folder / "request.json")
            assert expected is not None and expected.service and expected.now
            profile = expected.profile or "nl-be"
            if profile not in apps:
                settings = Settings(profile=profile, auth="disabled", data_dir=tmp_path / profile)
                app = create_app(settings, knowledge=knowledge, clock=lambda: now[-1])
                await stack.enter_async_context(app.router.lifespan_context(app))
                transport = httpx.ASGITransport(app=app)
                client = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://t"))
                apps[profile] = (app, client)
            app, client = apps[profile]
            cache: ValidatedCache = app.state.validated
            cache._entries.clear()  # the first call is a miss for every resource
            now.append(expected.now)

            async def call() -> tuple[int, Any]:
                response = await client.post(
                    f"/cds-services/{expected.service}",
                    content=(folder / "request.json").read_bytes(),
                    headers={"content-type": "application/json", "accept-language": expected.locale or "nl"},
                )
                return response.status_code, _without_ids(response.json())

            miss = await call()
            dumps = {key: model.model_dump_json() for key, model in cache._entries.items()}
            hits_before = cache.hits
            hit = await call()
            assert hit == miss, folder.name
            assert cache.hits - hits_before == len(dumps), folder.name  # every resource came from the cache
            assert {key: model.model_dump_json() for key, model in cache._entries.items()} == dumps, folder.name


def test_the_key_is_the_content_and_the_cache_is_bounded() -> None:
    class Observation:  # stands in for a model class: only its name is read
        pass

    raw = {"resourceType": "Observation", "id": "a", "status": "final"}
    same = {"status": "final", "id": "a", "resourceType": "Observation"}  # other key order, same content
    assert ValidatedCache.key(Observation, raw) == ValidatedCache.key(Observation, same)
    assert ValidatedCache.key(Observation, raw) != ValidatedCache.key(Observation, {**raw, "status": "amended"})
    cache = ValidatedCache(2)
    for n in range(3):
        cache.put(bytes([n]), n)
    assert len(cache) == 2 and cache.get(bytes([0])) is None and cache.get(bytes([2])) == 2
