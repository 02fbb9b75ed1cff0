"""Caller errors as OperationOutcome-shaped JSON bodies that say what is wrong and where."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One problem: a FHIR issue-type code, a human message and the JSON path it concerns."""

    code: str
    diagnostics: str
    expression: str | None = None

    def to_json(self, severity: str = "error") -> dict[str, Any]:
        body: dict[str, Any] = {"severity": severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            body["expression"] = [self.expression]
        return body


@dataclass
class ServiceError(Exception):
    """Raised anywhere in the pipeline for a problem the caller can fix; rendered as a 4xx."""

    status: int
    issues: list[Issue] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(i.diagnostics for i in self.issues)


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


def json_path(loc: tuple[int | str, ...]) -> str:
    """Pydantic's error location as a readable JSON path: ('context', 'draftOrders') -> context.draftOrders."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path
