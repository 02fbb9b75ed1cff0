"""Issue 17: no medication class id or profile id is written in code.

What code does with a class is a flag on it in rules/valuesets/medications.yaml (`dose_unit`, `upper_limit`,
`daily_total`, `named_as_drug`, `chelation_binder`, ...); the profiles are those of rules/profiles.yaml. So the
knowledge may rename a class or a profile and the service behaves the same.
"""

from __future__ import annotations

import ast
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cds_service
from cds_service.api.app import create_app
from cds_service.knowledge.loader import Knowledge, default_rules_dir, load_knowledge
from cds_service.offline.evaluation import Evaluator
from cds_service.settings import Settings
from tests.fhir_server import FIXTURES

CODE = Path(cds_service.__file__).parent
SCENARIOS = sorted(p / "request.json" for p in (FIXTURES / "scenarios").iterdir() if (p / "request.json").is_file())
# The one id code may name: the default of VITDMG_PROFILE (a setting's default, like locale `nl`); create_app
# refuses it when the knowledge has no such profile.
ALLOWED = {("settings.py", "nl-be")}
# Every class a flag replaced a hard-coded id of, renamed in a copy of the knowledge.
RENAMED = {
    "vitd-native": "renamed-vitamin-d",
    "mg-supplement": "renamed-magnesium",
    "systemic-corticosteroid": "renamed-steroid",
    "enzyme-inducing-antiepileptic": "renamed-antiepileptic",
}


def _string_constants(root: Path) -> Iterator[tuple[Path, int, str]]:
    """Every string literal in the Python files under `root` (comments and names are not literals)."""
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield path, node.lineno, node.value


def _ids_in_code(root: Path, knowledge: Knowledge) -> list[str]:
    ids = set(knowledge.medications.classes) | set(knowledge.profiles.profiles)
    return [
        f"{path.relative_to(root)}:{line}: {value!r}"
        for path, line, value in _string_constants(root)
        if value in ids and (path.name, value) not in ALLOWED
    ]


def test_no_class_or_profile_id_in_code(knowledge: Knowledge) -> None:
    assert _ids_in_code(CODE, knowledge) == []


def test_the_search_finds_a_planted_id(tmp_path: Path, knowledge: Knowledge) -> None:
    """The check above can fail: an id compared in code is found, the same id in a comment is not."""
    (tmp_path / "module.py").write_text('# mg-supplement\nDOSED = ("vitd-native",)\n', encoding="utf-8")
    assert _ids_in_code(tmp_path, knowledge) == ["module.py:2: 'vitd-native'"]


def _copy_rules(target: Path, renames: dict[str, str]) -> Path:
    """The shipped knowledge with each id renamed wherever the YAML names it (whole ids only)."""
    shutil.copytree(default_rules_dir(), target)
    for path in target.rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        for old, new in renames.items():
            text = re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w-])", new, text)
        path.write_text(text, encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> Knowledge:
    rules = _copy_rules(tmp_path_factory.mktemp("knowledge") / "rules", RENAMED)
    loaded = load_knowledge(rules)
    assert not set(RENAMED) & set(loaded.medications.classes)
    assert set(RENAMED.values()) <= set(loaded.medications.classes)
    return loaded


def _cards(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What a clinician reads of each card (its uuid aside)."""
    return [
        (
            card.get("indicator"),
            card.get("summary"),
            card.get("detail"),
            [s.get("label") for s in card.get("suggestions", [])],
            [s.get("actions") for s in card.get("suggestions", [])],
        )
        for card in body.get("cards", [])
    ]


async def test_every_scenario_reads_the_same_with_classes_renamed(knowledge: Knowledge, renamed: Knowledge) -> None:
    """Dose units, upper levels, the vitamin D total and the drug named on a card follow the flags, not the ids."""
    settings = Settings(auth="disabled")
    shipped, copy = Evaluator(settings, knowledge), Evaluator(settings, renamed)
    differ = []
    for path in SCENARIOS:
        original, evaluation = await shipped.evaluate(path), await copy.evaluate(path)
        assert evaluation.problems == [], path.parent.name
        if _cards(evaluation.body) != _cards(original.body):
            differ.append(path.parent.name)
    assert differ == []


def test_a_profile_renamed_in_the_knowledge_is_served(tmp_path: Path) -> None:
    """A profile id is the knowledge's: the app serves a renamed one and refuses the old name, naming the valid ids."""
    knowledge = load_knowledge(_copy_rules(tmp_path / "rules", {"dach": "de-at-ch"}))
    app = create_app(Settings(profile="de-at-ch", auth="disabled"), knowledge=knowledge)
    app.state.store.dispose()
    with pytest.raises(ValueError) as refused:
        create_app(Settings(profile="dach", auth="disabled"), knowledge=knowledge)
    assert str(refused.value) == (
        "VITDMG_PROFILE: unknown profile 'dach'; choose one of nl-be, de-at-ch, us-nam-2011, us-endocrine-2011"
    )
