"""Issue 17: every knowledge file's version is checked against the release in rules/manifest.yaml."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from cds_service.knowledge.loader import check_versions, default_rules_dir, load_knowledge

VERSIONED = re.compile(r"^version: ", flags=re.M)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), target)
    return target


def _set_version(path: Path, version: str) -> None:
    path.write_text(VERSIONED.sub(f"version: {version!r} # ", path.read_text(), count=1))


def test_the_shipped_files_carry_versions_no_newer_than_the_release() -> None:
    release = yaml.safe_load((default_rules_dir() / "manifest.yaml").read_text())["version"]
    knowledge = load_knowledge()
    assert knowledge.version == release
    files = [p for p in default_rules_dir().rglob("*.yaml") if p.name != "manifest.yaml"]
    assert files and all(VERSIONED.search(p.read_text()) for p in files), "a knowledge file without a version"


@pytest.mark.parametrize(
    "name",
    [
        "recommendations/mg-loss-ppi/card.yaml",
        "recommendations/mg-loss-ppi/rules.yaml",
        "recommendations/mg-loss-ppi/cases.yaml",
        "findings.yaml",
        "valuesets/labs.yaml",
        "profiles.yaml",
        "citations.yaml",
    ],
)
def test_a_file_newer_than_the_release_is_refused(rules: Path, name: str) -> None:
    _set_version(rules / name, "2999.1.0")
    with pytest.raises(ValueError, match=rf"{re.escape(name)}: version 2999.1.0 is newer than the knowledge release"):
        load_knowledge(rules)


def test_a_version_not_year_minor_patch_is_refused(rules: Path) -> None:
    _set_version(rules / "card_common.yaml", "v1")
    with pytest.raises(ValueError, match=r"card_common.yaml: version 'v1' is not YEAR.MINOR.PATCH"):
        load_knowledge(rules)


def test_citations_without_a_version_are_refused(rules: Path) -> None:
    path = rules / "citations.yaml"
    path.write_text(VERSIONED.sub("# ", path.read_text(), count=1))
    with pytest.raises(ValueError, match=r"citations.yaml: version 'missing' is not YEAR.MINOR.PATCH"):
        load_knowledge(rules)


def test_versions_compare_by_number_not_text() -> None:
    check_versions("2026.10.0", {"a.yaml": "2026.9.3", "b.yaml": "2026.10.0"})  # 10 > 9, though "10" < "9"
    with pytest.raises(ValueError, match=r"b\.yaml"):
        check_versions("2026.9.0", {"a.yaml": "2026.9.0", "b.yaml": "2026.10.0"})
    with pytest.raises(ValueError, match=r"manifest\.yaml"):
        check_versions("2026.9", {})
