"""Input limits (issue 5): each a setting; exceeding one is a 413 or 400 that names the limit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import httpx
import pytest
from starlette.responses import JSONResponse

from cds_service.api import limits
from cds_service.api.limits import ORJSON_MAX_BYTES, decode_json_body
from cds_service.errors import ServiceError
from cds_service.settings import Settings
from tests.builders import request
from tests.conftest import AppClient
from tests.fhir_server import FIXTURES

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


# --- issue 14 item 1: orjson decodes the body whenever it reads it as the standard library does ---------------

TRICKY = [
    b'{"a": 123456789012345678901234567890, "b": -9223372036854775809, "c": 18446744073709551616}',
    b'{"id": "1234567890123456789012", "n": 9223372036854775807, "m": -9223372036854775808}',
    b'{"x": 1e400, "y": -1e400}',  # the standard library reads infinity; orjson refuses
    b'{"x": 5e-324, "y": 2.2250738585072014e-308, "z": 0.1, "w": 1E5, "v": -0, "u": -0.0, "t": 1.0}',
    b'{"a": 1, "a": 2, "b": [1, 2.5, true, false, null, "\\u00e9\\ud83d\\ude00"]}',
    b'\xef\xbb\xbf{"bom": true}',
    '{"é": "ë 😀"}'.encode(),
]


def _strict(value: object) -> str:
    """JSON text that tells an int from a float (1 == 1.0 in Python)."""
    return json.dumps(value)


@pytest.mark.parametrize("raw", TRICKY)
def test_the_fast_decoder_reads_what_the_standard_library_reads(raw: bytes) -> None:
    assert _strict(decode_json_body(raw, Settings())) == _strict(json.loads(raw))


def test_every_fixture_request_decodes_as_the_standard_library_decodes_it() -> None:
    paths = sorted(FIXTURES.rglob("request.json"))
    assert len(paths) > 50
    for path in paths:
        raw = path.read_bytes()
        assert _strict(decode_json_body(raw, Settings())) == _strict(json.loads(raw)), path


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (b'{"a": "\\ud800"}', 400, "lone UTF-16 surrogate"),
        (b'{"a": "\xed\xa0\x80"}', 400, "lone UTF-16 surrogate"),
        (b'{"a": NaN}', 400, "NaN is not a JSON number"),
        (b'{"a": [1,]}', 400, "not valid JSON (line 1, column 10)"),
        (b"[" * 2000 + b"]" * 2000, 400, "nests deeper than 64"),
        (b'{"a": ' + b"1" * 5000 + b"}", 400, "not valid JSON"),
    ],
)
def test_what_the_fast_decoder_refuses_gets_the_standard_message(raw: bytes, status: int, words: str) -> None:
    with pytest.raises(ServiceError) as error:
        decode_json_body(raw, Settings())
    assert error.value.status == status and words in str(error.value.issues[0].diagnostics)


def test_a_body_above_the_fast_decoders_bound_is_read_the_same() -> None:
    body = {"values": list(range(120_000)), "text": "x" * 300_000}
    raw = json.dumps(body).encode()
    assert len(raw) > ORJSON_MAX_BYTES
    assert decode_json_body(raw, Settings()) == body


async def test_service_responses_are_the_bytes_starlette_would_send(client: httpx.AsyncClient) -> None:
    """Issue 14 item 1: responses written by orjson are byte for byte what JSONResponse wrote, on every scenario."""
    compared = 0
    for path in sorted((FIXTURES / "scenarios").rglob("request.json")):
        body = json.loads(path.read_bytes())
        if (path.parent / "fhir.json").exists() or not isinstance(body.get("prefetch"), dict):
            continue
        service = {"patient-view": "vitd-mg-patient-view", "order-select": "vitd-mg-order-select"}.get(
            body["hook"], "vitd-mg-order-sign"
        )
        response = await client.post(f"/cds-services/{service}", json=body)
        if response.status_code != 200:
            continue
        assert response.content == JSONResponse(response.json()).body, path
        compared += 1
    assert compared > 50


async def test_a_small_body_is_decoded_on_the_event_loop_a_large_one_in_a_thread(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: the trip to a worker thread costs more than decoding a typical record; a large body still goes."""
    decoded_in_thread: list[int] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        if func is limits.decode_json_body:
            decoded_in_thread.append(len(args[0]))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    small = request()
    assert len(json.dumps(small)) <= limits.INLINE_DECODE_BYTES
    assert (await client.post(PV, json=small)).status_code == 200 and decoded_in_thread == []
    large = request()
    large["extension"] = {"org.example.padding": "x" * (limits.INLINE_DECODE_BYTES + 1)}
    assert (await client.post(PV, json=large)).status_code == 200
    assert len(decoded_in_thread) == 1 and decoded_in_thread[0] > limits.INLINE_DECODE_BYTES
