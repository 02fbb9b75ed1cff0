"""Input limits (issue 5): each a setting; exceeding one is a 413 or 400 that names the limit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.builders import request
from tests.conftest import AppClient

PV = "/cds-services/vitd-mg-patient-view"


def _nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


async def test_body_size_declared(make_client: AppClient) -> None:
    client = await make_client(max_body_bytes=2048)
    response = await client.post(PV, json=request())
    assert response.status_code == 413 and "VITDMG_MAX_BODY_BYTES" in response.json()["issue"][0]["diagnostics"]


async def test_body_size_streamed_without_length(make_client: AppClient) -> None:
    """A chunked body without Content-Length is cut off as soon as it passes the limit."""
    client = await make_client(max_body_bytes=2048)
    payload = json.dumps(request()).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 1000):
            yield payload[start : start + 1000]

    response = await client.post(PV, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


async def test_nesting_depth(make_client: AppClient) -> None:
    client = await make_client(max_json_depth=16)
    body = request()
    body["extension"] = {"org.example.deep": _nested(30)}
    response = await client.post(PV, json=body)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert "VITDMG_MAX_JSON_DEPTH" in issue["diagnostics"] and issue["expression"][0].startswith("$.extension")


async def test_nesting_beyond_the_json_parser(client: httpx.AsyncClient) -> None:
    """Thousands of levels would exhaust the parser's recursion: still a 400, never a 500."""
    response = await client.post(
        PV, content=b"[" * 100_000 + b"]" * 100_000, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


async def test_string_length(make_client: AppClient) -> None:
    client = await make_client(max_string_length=2048)
    body = request()
    body["context"]["note"] = "x" * 5000
    response = await client.post(PV, json=body)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert "VITDMG_MAX_STRING_LENGTH" in issue["diagnostics"] and issue["expression"] == ["$.context.note"]


async def test_resource_count(make_client: AppClient) -> None:
    client = await make_client(max_resources=5)
    response = await client.post(PV, json=request())
    assert response.status_code == 413 and "VITDMG_MAX_RESOURCES" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("limit", ["max_body_bytes", "max_resources", "max_json_depth", "max_string_length"])
async def test_a_normal_request_is_within_every_default_limit(client: httpx.AsyncClient, limit: str) -> None:
    assert (await client.post(PV, json=request())).status_code == 200
