"""Issue 17: the package shows the pipeline, and no module imports a later step (DEVELOPERS.md, Style).

request -> prefetch -> FHIR parsing -> facts -> rules -> cards -> audit -> response: each module gets a place
on that line (its subpackage, then its step inside the subpackage) and may import only modules at or before
its place. A new module must be given its place here, so the layout stays a decision, not an accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "cds_service"

# The subpackages in pipeline order; inside each, the modules that are steps of the line in their order
# (a module not named is a helper at the subpackage's start).
LINE: list[tuple[str, list[str]]] = [
    ("", ["settings", "errors", "reports", "metrics"]),  # shared by every step; import nothing of ours
    ("knowledge", ["loader", "medication_classes"]),
    ("cdshooks", ["models", "services"]),
    ("fhir", ["client", "prefetch", "identity", "parsing"]),
    ("reasoning", ["rule_language", "facts", "engine", "cards", "invocation"]),
    ("store", ["database", "audit_writer", "audit"]),
    ("offline", ["fixture_fhir", "bundle_import", "evaluation", "review_report"]),
    ("api", ["deps", "routes", "app", "config_check", "serving"]),
    ("", ["cli"]),  # the command line drives everything
]


def _place(module: str) -> tuple[int, int]:
    """(subpackage, step) of a module such as `fhir.parsing`; `store.migrations.env` sits with the store."""
    package, _, name = module.rpartition(".") if "." in module else ("", "", module)
    package = package.split(".")[0] if package else ""
    if package == "store" and module.startswith("store.migrations"):
        return _place("store.database")
    for rank, (pkg, steps) in enumerate(LINE):
        if pkg != package:
            continue
        if name in steps:
            return rank, steps.index(name) + 1
        if pkg:  # a helper of the subpackage
            return rank, 0
    raise AssertionError(f"cds_service.{module} has no place on the pipeline: add it to LINE in {__file__}")


def _modules() -> dict[str, set[str]]:
    """Every module of the package (dotted, without `cds_service.`) and the modules of ours it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            continue
        imports: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"{path}: relative import (imports are absolute, so a grep finds them)")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cds_service"):
                base = (node.module or "").removeprefix("cds_service").lstrip(".")
                for alias in node.names:  # `from cds_service.api import app` imports the module api.app
                    sub = f"{base}.{alias.name}" if base else alias.name
                    imports.add(sub if (PACKAGE / (sub.replace(".", "/") + ".py")).is_file() else base)
            elif isinstance(node, ast.Import):
                imports |= {
                    a.name.removeprefix("cds_service.") for a in node.names if a.name.startswith("cds_service.")
                }
        found[".".join(parts)] = {i for i in imports if i}
    return found


MODULES = _modules()


def test_every_subpackage_of_the_line_exists_and_the_top_holds_only_shared_modules() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == {pkg for pkg, _ in LINE if pkg}
    top = {m for m in MODULES if "." not in m}
    assert top == {"settings", "errors", "reports", "metrics", "cli"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_later_step(module: str) -> None:
    later = {i for i in MODULES[module] if _place(i) > _place(module)}
    assert not later, f"cds_service.{module} imports a later step of the pipeline: {sorted(later)}"


def test_the_check_can_fail() -> None:
    """A facts module importing the engine, or parsing importing facts, is caught."""
    assert _place("reasoning.engine") > _place("reasoning.facts")
    assert _place("reasoning.facts") > _place("fhir.parsing")
    assert _place("api.app") > _place("store.audit") > _place("reasoning.cards")
    assert _place("reasoning.facts") > _place("knowledge.product_names")  # terminology below both
    assert _place("fhir.parsing") > _place("knowledge.medication_classes")
