"""Issue 17: what the code, the tests and the README cite as documents is in the repository (docs/)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITED = re.compile(r"\bdocs/[\w.-]+\.(?:md|png)\b")


def test_every_cited_document_exists() -> None:
    sources = [*ROOT.glob("cds_service/**/*.py"), *ROOT.glob("tests/**/*.py"), ROOT / "README.md"]
    cited = {(m.group(0), p.relative_to(ROOT)) for p in sources for m in CITED.finditer(p.read_text())}
    assert {c for c, _ in cited} >= {"docs/engine.md", "docs/cds-hooks-conformance.md"}
    missing = sorted((str(where), doc) for doc, where in cited if not (ROOT / doc).is_file())
    assert not missing, missing


def test_no_document_outside_the_repository_is_cited() -> None:
    """The shared reference folder of the development machines is not part of the project."""
    sources = [*ROOT.glob("cds_service/**/*.py"), *ROOT.glob("tests/**/*.py")]
    outside = sorted(str(p.relative_to(ROOT)) for p in sources if "shared/" + "reference/" in p.read_text())
    assert not outside, outside


def test_the_checklist_numbers_every_item_of_its_sections() -> None:
    text = (ROOT / "docs" / "cds-hooks-conformance.md").read_text()
    for section in "ABCDEFGHIJKLMNOP":
        numbers = [int(n) for n in re.findall(rf"^- \*\*{section}(\d+)\*\*", text, flags=re.M)]
        assert numbers == list(range(1, len(numbers) + 1)) and numbers, section
