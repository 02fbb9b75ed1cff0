"""rules/README.md carries the catalog table generated from the knowledge; they cannot drift.

To regenerate: .venv/bin/python -m tests.rules.test_readme (rewrites both generated blocks in place).
"""

from __future__ import annotations

from cds_service.knowledge.loader import (
    Knowledge,
    catalog_markdown,
    default_rules_dir,
    load_knowledge,
    profiles_markdown,
)


def test_rules_readme_catalog_matches_the_rulesets(knowledge: Knowledge) -> None:
    text = (default_rules_dir() / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- catalog:start -->\n")[1].split("\n<!-- catalog:end -->")[0]
    assert table == catalog_markdown(knowledge)


def test_rules_readme_profiles_match_profiles_yaml(knowledge: Knowledge) -> None:
    """Each profile's table with its citations (issue 11)."""
    text = (default_rules_dir() / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- profiles:start -->\n")[1].split("\n<!-- profiles:end -->")[0]
    assert table == profiles_markdown(knowledge)


def _regenerate() -> None:
    knowledge = load_knowledge()
    path = default_rules_dir() / "README.md"
    text = path.read_text(encoding="utf-8")
    for marker, block in (("catalog", catalog_markdown(knowledge)), ("profiles", profiles_markdown(knowledge))):
        head, rest = text.split(f"<!-- {marker}:start -->")
        tail = rest.split(f"<!-- {marker}:end -->")[1]
        text = f"{head}<!-- {marker}:start -->\n{block}\n<!-- {marker}:end -->{tail}"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    _regenerate()
