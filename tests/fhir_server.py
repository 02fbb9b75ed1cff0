"""Fixture records for tests; the FHIR server itself is cds_service.offline.fixture_fhir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cds_service.offline.fixture_fhir import FixtureFhirServer, medications_for, search, searchset

__all__ = ["FIXTURES", "FixtureFhirServer", "load_record", "medications_for", "search", "searchset"]

FIXTURES = Path(__file__).resolve().parent.parent / "fhir_fixtures"


def load_record(name: str) -> list[dict[str, Any]]:
    """Every resource of one fixture record (fhir_fixtures/records/<name>/*.json)."""
    folder = FIXTURES / "records" / name
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
