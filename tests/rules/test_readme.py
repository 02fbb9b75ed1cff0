"""rules/README.md carries the catalog table generated from the knowledge; they cannot drift.

To regenerate: python -c "from cds_service.knowledge import load_knowledge, catalog_markdown; print(catalog_markdown(load_knowledge()))"
"""

from __future__ import annotations

from cds_service.knowledge import Knowledge, catalog_markdown, default_rules_dir


def test_rules_readme_catalog_matches_the_rulesets(knowledge: Knowledge) -> None:
    text = (default_rules_dir() / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- catalog:start -->\n")[1].split("\n<!-- catalog:end -->")[0]
    assert table == catalog_markdown(knowledge)
