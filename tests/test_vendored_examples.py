"""The vendored CDS Hooks examples are the published ones: byte-equal to the team's reference copy when present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .builders import SPEC_EXAMPLES

REFERENCE = Path(__file__).resolve().parent.parent.parent / "shared" / "reference" / "cds-hooks-examples"
VENDORED = sorted(p.relative_to(SPEC_EXAMPLES).as_posix() for p in SPEC_EXAMPLES.rglob("*.json"))


def test_every_vendored_example_has_its_provenance_row() -> None:
    readme = (SPEC_EXAMPLES / "README.md").read_text(encoding="utf-8")
    assert VENDORED, "no vendored examples"
    for name in VENDORED:
        assert f"| `{name}` |" in readme, f"{name} has no provenance row in README.md"
        json.loads((SPEC_EXAMPLES / name).read_text(encoding="utf-8"))


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"no reference copy at {REFERENCE} (a fresh clone has none)")
@pytest.mark.parametrize("name", VENDORED)
def test_vendored_example_is_byte_equal_to_the_reference_copy(name: str) -> None:
    assert (SPEC_EXAMPLES / name).read_bytes() == (REFERENCE / name).read_bytes()
