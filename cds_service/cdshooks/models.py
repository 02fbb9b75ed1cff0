"""CDS Hooks 2.0 wire models: request, discovery, cards and response (conformance sections B, C, F-I)."""

from __future__ import annotations

import json
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

Indicator = Literal["info", "warning", "critical"]
INDICATOR_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FhirAuthorization(BaseModel):
    """C3. Lenient on purpose: real clients omit fields; only the token itself is used."""

    model_config = ConfigDict(extra="allow")

    access_token: str | None = None
    token_type: str | None = None
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None


class CDSRequest(BaseModel):
    """C2. Unknown top-level members are ignored, as clients add their own."""

    model_config = ConfigDict(extra="ignore")

    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @field_validator("fhirServer")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/") if value else value


class Coding(_Wire):
    system: str
    code: str
    display: str | None = None


class Source(_Wire):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Wire):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None


class Suggestion(_Wire):
    label: str
    uuid: str
    isRecommended: bool | None = None
    actions: list[Action] | None = None


class Link(_Wire):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    # Never auto-launched. `autolaunchable` is CDS Hooks 2.0.1's name; HealthChain 0.16.1's client models require
    # the camel-case `autoLaunchable` and reject a link without it (issue 12): both are sent.
    autolaunchable: bool = False
    autoLaunchable: bool = False


class Card(_Wire):
    uuid: str
    summary: str = Field(min_length=1, max_length=139)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None


class CDSResponse(_Wire):
    cards: list[Card]
    systemActions: list[Action] | None = None
    extension: dict[str, Any] | None = None


class CDSServiceDescription(_Wire):
    hook: str
    title: str
    description: str
    id: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None
    extension: dict[str, Any] | None = None


class DiscoveryResponse(_Wire):
    services: list[CDSServiceDescription]


def prune_empty(value: Any) -> Any:
    """A2/A3: drop `None`, `""`, `[]` and `{}` members recursively (the caller keeps `cards`)."""
    if isinstance(value, dict):
        pruned = {k: prune_empty(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        items = [prune_empty(v) for v in value]
        return [v for v in items if v not in (None, "", [], {})]
    return value


def to_wire(model: BaseModel) -> dict[str, Any]:
    """Serialise a response model without empty members, keeping a top-level `cards: []`."""
    body: dict[str, Any] = prune_empty(model.model_dump(mode="json", exclude_none=True))
    if isinstance(model, CDSResponse):
        body.setdefault("cards", [])
    return body


def wire_json(model: BaseModel) -> bytes:
    """`to_wire` as the JSON bytes of a response: what Starlette's JSONResponse sends (compact, UTF-8), by orjson.

    Issue 14: a third of the time. A number orjson cannot write (an integer beyond 64 bits) is written by the
    standard library, as before.
    """
    body = to_wire(model)
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


class FeedbackReason(BaseModel):
    """K3/K6: `reason` may come without `display` (the sandbox sends code and system only)."""

    model_config = ConfigDict(extra="ignore")

    reason: dict[str, Any] | None = None
    userComment: str | None = None


class AcceptedSuggestion(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)


class FeedbackEntry(BaseModel):
    """K3: one card's outcome."""

    model_config = ConfigDict(extra="ignore")

    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: FeedbackReason | None = None
    outcomeTimestamp: AwareDatetime

    @model_validator(mode="after")
    def _accepted_needs_suggestions(self) -> FeedbackEntry:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required when the outcome is accepted")
        return self

    def reason_code(self) -> str | None:
        reason = self.overrideReason.reason if self.overrideReason else None
        code = reason.get("code") if isinstance(reason, dict) else None
        return str(code)[:128] if code else None


class FeedbackRequest(BaseModel):
    """K2: `{"feedback": [...]}`."""

    model_config = ConfigDict(extra="ignore")

    feedback: list[FeedbackEntry] = Field(min_length=1)
