"""What was left out of the reasoning, and why: reported in the response `extension`, never silently dropped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXTENSION_KEY = "org.vitdmg.left-out"


@dataclass(frozen=True)
class Report:
    """One thing not used: which step, which resource or JSON path, and why (never the data itself)."""

    step: str
    where: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "where": self.where, "reason": self.reason}
