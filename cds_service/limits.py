"""Input limits: body size, JSON nesting, string length and resource count, each a setting."""

from __future__ import annotations

import json
from typing import Any

from .errors import Issue, ServiceError
from .settings import Settings


def decode_body(raw: bytes, settings: Settings) -> Any:
    """The JSON body within the limits, or a 4xx that says which limit and where."""
    if len(raw) > settings.max_body_bytes:
        raise ServiceError(
            413,
            [Issue("too-costly", f"the body is larger than {settings.max_body_bytes} bytes (VITDMG_MAX_BODY_BYTES)")],
        )
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        where = f"line {error.lineno}, column {error.colno}" if isinstance(error, json.JSONDecodeError) else "body"
        raise ServiceError(400, [Issue("structure", f"the body is not valid JSON ({where})")]) from None
    except RecursionError:
        raise ServiceError(
            400, [Issue("structure", f"the JSON nests deeper than {settings.max_json_depth} (VITDMG_MAX_JSON_DEPTH)")]
        ) from None
    check_shape(body, settings)
    return body


def check_shape(body: Any, settings: Settings) -> None:
    """Walk the decoded JSON once (iteratively): nesting, string length, number of FHIR resources."""
    resources = 0
    stack: list[tuple[Any, int, str]] = [(body, 1, "$")]
    while stack:
        value, depth, path = stack.pop()
        if depth > settings.max_json_depth:
            raise ServiceError(
                400,
                [
                    Issue(
                        "structure",
                        f"the JSON nests deeper than {settings.max_json_depth} (VITDMG_MAX_JSON_DEPTH)",
                        path,
                    )
                ],
            )
        if isinstance(value, dict):
            if "resourceType" in value:
                resources += 1
                if resources > settings.max_resources:
                    raise ServiceError(
                        413,
                        [
                            Issue(
                                "too-costly",
                                f"more than {settings.max_resources} FHIR resources (VITDMG_MAX_RESOURCES)",
                            )
                        ],
                    )
            for key, item in value.items():
                if isinstance(item, dict | list) or (isinstance(item, str) and len(item) > settings.max_string_length):
                    stack.append((item, depth + 1, f"{path}.{key}"))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict | list) or (isinstance(item, str) and len(item) > settings.max_string_length):
                    stack.append((item, depth + 1, f"{path}[{index}]"))
        elif isinstance(value, str) and len(value) > settings.max_string_length:
            raise ServiceError(
                400,
                [
                    Issue(
                        "too-long",
                        f"a string is longer than {settings.max_string_length} characters (VITDMG_MAX_STRING_LENGTH)",
                        path,
                    )
                ],
            )
