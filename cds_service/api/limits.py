"""Input limits: body size, JSON nesting, string length and resource count, each a setting."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
import orjson
from starlette.requests import Request

from cds_service.errors import Issue, ServiceError
from cds_service.settings import Settings

# A UTF-16 surrogate written as an escape, or as the bytes UTF-8 forbids (json.loads reads those as well)
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\xed[\xa0-\xbf]")
# A body up to this size is decoded on the event loop (issue 14: a typical or busy record, ~1 ms of CPU at most);
# a larger one in a worker thread
INLINE_DECODE_BYTES = 128 * 1024
# orjson holds the GIL for the whole document; above this the standard library's decoder, with its switch points
ORJSON_MAX_BYTES = 1024 * 1024
# 19 digits in a row (a number, or digits inside a string): orjson reads an integer beyond 64 bits as a float.
# Found by mapping every digit to 0 and the rest to a space (a regular expression takes ten times longer).
_DIGITS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_NUMBER = b"0" * 19


async def read_json_body(request: Request, settings: Settings) -> Any:
    """The JSON body within every limit, or a 4xx that says which limit and where.

    The size is refused early: on the declared Content-Length, else as soon as the stream passes it.
    """
    limit = settings.max_body_bytes
    too_large = ServiceError(
        413, [Issue("too-costly", f"the body is larger than {limit} bytes (VITDMG_MAX_BODY_BYTES)")]
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise too_large
    raw = b"".join(chunks)
    if len(raw) <= INLINE_DECODE_BYTES:  # about a millisecond at most: less than the trip to a worker thread
        return decode_json_body(raw, settings)
    # decoding and walking megabytes is CPU work: off the event loop, so other callers are not held up
    return await anyio.to_thread.run_sync(decode_json_body, raw, settings)


def decode_json_body(raw: bytes, settings: Settings) -> Any:
    """The decoded body within the nesting, string, resource and Unicode limits, or a 400/413."""
    body, checked_unicode = load_json(raw, settings)
    check_shape(body, settings)
    if not checked_unicode and _SURROGATE.search(raw):
        _check_unicode(body)
    return body


def load_json(raw: bytes, settings: Settings) -> tuple[Any, bool]:
    """The body decoded, or a 400; and whether it is known to hold no lone surrogate.

    orjson decodes a body of up to `ORJSON_MAX_BYTES` (issue 14: in about half the time) whenever it reads the
    body exactly as the standard library would; anything it refuses or might read otherwise (an integer beyond
    64 bits, which it reads as a float) takes the standard library's path, whose errors say what and where.
    orjson refuses lone surrogates, so what it decodes needs no Unicode check.
    """
    if len(raw) <= ORJSON_MAX_BYTES and _LONG_NUMBER not in raw.translate(_DIGITS):
        try:
            return orjson.loads(raw), True
        except orjson.JSONDecodeError:  # invalid JSON, a lone surrogate, a BOM, NaN, too deep: said below
            pass
    try:
        return json.loads(raw, parse_constant=_not_json, object_hook=switch_point), False
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        where = f"line {error.lineno}, column {error.colno}" if isinstance(error, json.JSONDecodeError) else "body"
        raise ServiceError(400, [Issue("structure", f"the body is not valid JSON ({where})")]) from None
    except ValueError as error:  # an integer of more digits than Python converts, NaN or Infinity
        raise ServiceError(400, [Issue("structure", f"the body is not valid JSON: {str(error)[:120]}")]) from None
    except RecursionError:
        raise ServiceError(
            400, [Issue("structure", f"the JSON nests deeper than {settings.max_json_depth} (VITDMG_MAX_JSON_DEPTH)")]
        ) from None


def switch_point(value: dict[str, Any]) -> dict[str, Any]:
    """Called per JSON object: Python code, where the interpreter may hand the GIL to the event loop.

    json.loads is C code that holds the GIL for the whole document (about a second for 5 MB on a busy
    machine); decoding in a worker thread alone would still stall every other caller for that long.
    """
    return value


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON number")


def _check_unicode(body: Any) -> None:
    """A lone UTF-16 surrogate is not text: no key, string or pseudonym can be made from it (400, with where)."""
    stack: list[tuple[Any, str]] = [(body, "$")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                _encodable(key, path)
                stack.append((item, f"{path}.{key}"))
        elif isinstance(value, list):
            stack += [(item, f"{path}[{index}]") for index, item in enumerate(value)]
        elif isinstance(value, str):
            _encodable(value, path)


def _encodable(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        where = path.encode("utf-8", "backslashreplace").decode("ascii", "replace")
        raise ServiceError(400, [Issue("structure", "a string holds a lone UTF-16 surrogate", where)]) from None


def check_shape(body: Any, settings: Settings) -> None:
    """Walk the decoded JSON once (iteratively): nesting, string length, number of FHIR resources.

    Paths are worked out only for the error message: building one per node would cost more than the walk.
    """
    max_depth, max_length, max_resources = settings.max_json_depth, settings.max_string_length, settings.max_resources
    resources = 0
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            message = f"the JSON nests deeper than {max_depth} (VITDMG_MAX_JSON_DEPTH)"
            raise ServiceError(400, [Issue("structure", message, _path_to(body, value))])
        if type(value) is dict:
            if "resourceType" in value:
                resources += 1
                if resources > max_resources:
                    message = f"more than {max_resources} FHIR resources (VITDMG_MAX_RESOURCES)"
                    raise ServiceError(413, [Issue("too-costly", message)])
            items: Any = value.values()
        elif type(value) is list:
            items = value
        else:
            if type(value) is str and len(value) > max_length:
                message = f"a string is longer than {max_length} characters (VITDMG_MAX_STRING_LENGTH)"
                raise ServiceError(400, [Issue("too-long", message, _path_to(body, value))])
            continue
        for item in items:
            kind = type(item)
            if kind is dict or kind is list or (kind is str and len(item) > max_length):
                stack.append((item, depth + 1))


def _path_to(root: Any, target: Any) -> str:
    """The JSON path of `target` (by identity) inside `root`, for an error message."""
    stack: list[tuple[Any, str]] = [(root, "$")]
    while stack:
        value, path = stack.pop()
        if value is target:
            return path
        if isinstance(value, dict):
            stack += [(item, f"{path}.{key}") for key, item in value.items()]
        elif isinstance(value, list):
            stack += [(item, f"{path}[{index}]") for index, item in enumerate(value)]
    return "$"
