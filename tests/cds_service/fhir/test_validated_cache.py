"""The cache of validated resources (issue 14): a hit gives exactly the cards of a miss, on every fixture scenario;
cached models are never changed by the pipeline; the cache is bounded and keyed on the content."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from cds_service.api.app import create_app
from cds_service.fhir._dates import DAYS_PER_MONTH
from cds_service.fhir.validated_cache import RECORD_MAX_RESOURCES, ValidatedCache
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
            cache.records.clear()
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
            cache.records.clear()  # the prefetch parsed again: its resources come from the cache of resources
            hit = await call()
            assert hit == miss, folder.name
            assert cache.hits - hits_before == len(dumps), folder.name  # every resource came from the cache
            assert {key: model.model_dump_json() for key, model in cache._entries.items()} == dumps, folder.name
            # issue 14: the prefetch's parsed part (identity, selection, validation) used again as a whole
            records_before = cache.records.hits
            record_hit = await call()
            assert record_hit == miss, folder.name
            assert cache.records.hits - records_before == 1, folder.name
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


async def test_a_parsed_prefetch_is_used_again_only_while_now_compares_the_same(
    knowledge: Knowledge, tmp_path: Path
) -> None:
    """Issue 14: the same record called again after its only magnesium result left the look-back window (or a
    medication ended) is parsed again, and answers what an app without any cache answers at that moment."""
    folder = next(p for p in SCENARIOS if p.name == "pv-nl-ppi-mg-low")
    body = json.loads((folder / "request.json").read_bytes())
    expected = read_expectations(folder / "request.json")
    assert expected is not None and expected.now and expected.service
    labs = [r for r in _resources(body) if r.get("resourceType") == "Observation"]
    mg = [r for r in labs if any(c.get("code") == "2601-3" for c in r["code"]["coding"])]
    assert len(mg) == 1, "one magnesium result: leaving the window changes the cards"
    taken = datetime.fromisoformat(mg[0]["effectiveDateTime"]).replace(tzinfo=UTC)  # a date: its midnight, UTC
    settings = Settings()
    months = knowledge.lookback_months("mg", settings.lookback_status_months, settings.lookback_chemistry_months)
    later = taken + timedelta(days=DAYS_PER_MONTH * months + 1)
    now = [expected.now]
    async with AsyncExitStack() as stack:
        clients = []
        for entries in (1024, 0):
            settings = Settings(auth="disabled", data_dir=tmp_path / str(entries), validation_cache_entries=entries)
            app = create_app(settings, knowledge=knowledge, clock=lambda: now[-1])
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients.append(await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://t")))
        cache: ValidatedCache = clients[0]._transport.app.state.validated  # type: ignore[attr-defined]

        async def call(client: httpx.AsyncClient) -> Any:
            response = await client.post(f"/cds-services/{expected.service}", json=body)
            assert response.status_code == 200
            return _without_ids(response.json())

        def parts() -> list[Any]:
            return [part for _, part in cache.records._entries.values()]

        first = await call(clients[0])
        earlier = parts()
        assert await call(clients[0]) == first and cache.records.hits == 1 and parts() == earlier
        now.append(later)
        moved = await call(clients[0])
        assert len(parts()) == 1 and parts()[0] is not earlier[0], "the part of the earlier now was not used"
        assert moved == await call(clients[1]) and moved != first
        again = parts()
        assert await call(clients[0]) == moved and parts() == again and cache.records.hits == 3


def test_the_record_key_is_the_prefetch_and_the_patient() -> None:
    resources = {"patient": [{"resourceType": "Patient", "id": "p1"}], "labs": []}
    key = ValidatedCache.record_key(resources, "p1")
    assert key is not None and key == ValidatedCache.record_key(json.loads(json.dumps(resources)), "p1")
    assert key != ValidatedCache.record_key(resources, "p2")
    assert key != ValidatedCache.record_key({"labs": [], "patient": resources["patient"]}, "p1")  # key order
    assert key != ValidatedCache.record_key({**resources, "labs": [{"resourceType": "Observation"}]}, "p1")
    assert ValidatedCache.record_key({"x": [{"n": 2**70}]}, "p1") is None  # not written by orjson: not kept
    # a prefetch larger than a session's record is not kept (the records' memory stays bounded)
    many = {"labs": [{"resourceType": "Observation", "id": str(n)} for n in range(RECORD_MAX_RESOURCES)]}
    assert ValidatedCache.record_key(many, "p1") is not None
    many["labs"].append({"resourceType": "Observation", "id": "one more"})
    assert ValidatedCache.record_key(many, "p1") is None


def _resources(body: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for value in body["prefetch"].values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            found += [e["resource"] for e in value.get("entry", [])]
        elif isinstance(value, dict):
            found.append(value)
    return found
