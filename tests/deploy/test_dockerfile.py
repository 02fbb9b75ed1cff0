"""deploy/Dockerfile (issue 15), read with the official Dockerfile parser: no Docker engine runs here.

The runtime stage must carry no compiler (gcc is only needed to build durable-rules), run as a non-root user,
start from an exact base tag, check its health on /readyz and label the knowledge version.
"""

from __future__ import annotations

import re
from pathlib import Path

import dockerfile
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPILERS = re.compile(r"\b(gcc|g\+\+|cc|c\+\+|clang|build-essential|make|libc6?-dev|python3?-dev|cmake)\b")
INSTALLS = re.compile(r"\b(apt-get|apt|apk|dnf|yum|microdnf)\b[^&;|]*\binstall\b([^&;|]*)")


def _stages() -> list[list[dockerfile.Command]]:
    stages: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(ROOT / "deploy" / "Dockerfile")):
        if command.cmd.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(command)
    return stages


def _installed_packages(stage: list[dockerfile.Command]) -> list[str]:
    found = []
    for command in stage:
        if command.cmd.upper() == "RUN":
            for _, packages in INSTALLS.findall(" ".join(command.value)):
                found += packages.split()
    return found


def test_two_stages_and_the_build_stage_has_the_compiler() -> None:
    """The test below would see a compiler: the build stage's gcc is found by the same reading."""
    stages = _stages()
    assert len(stages) == 2
    assert any(COMPILERS.search(p) for p in _installed_packages(stages[0]))


def test_runtime_stage_has_no_compiler() -> None:
    build, runtime = _stages()
    base = runtime[0].value
    assert base[0] == build[0].value[0], "the runtime starts from the clean base image, not from the build stage"
    assert not [p for p in _installed_packages(runtime) if COMPILERS.search(p)]
    copies = [c for c in runtime if c.cmd.upper() == "COPY"]
    assert all(c.flags == ("--from=build",) and c.value[:-1] == ("/wheels",) for c in copies), copies
    pip = [c for c in runtime if c.cmd.upper() == "RUN" and "pip install" in c.value[0]]
    assert pip and all("--no-index" in c.value[0] for c in pip), "only the wheels built in the build stage"


def test_runtime_runs_as_a_numeric_non_root_user_matching_kubernetes() -> None:
    _, runtime = _stages()
    users = [(i, c.value[0]) for i, c in enumerate(runtime) if c.cmd.upper() == "USER"]
    assert users, "the runtime stage sets a user"
    index, user = users[-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric, so Kubernetes' runAsNonRoot can check it"
    assert all(c.cmd.upper() != "RUN" for c in runtime[index:]), "nothing runs as root after USER"
    deployment = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "base" / "deployment.yaml").read_text())
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid)


def test_exact_base_tag_healthcheck_and_knowledge_label() -> None:
    build, runtime = _stages()
    for stage in (build, runtime):
        image = stage[0].value[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", image), image
    commands = {c.cmd.upper(): c for c in runtime}
    assert "/readyz" in " ".join(commands["HEALTHCHECK"].value)
    label = dict(zip(commands["LABEL"].value[::2], commands["LABEL"].value[1::2], strict=True))
    assert label["org.vitdmg.knowledge-version"] == '"${KNOWLEDGE_VERSION}"'
    assert commands["ARG"].value == ("KNOWLEDGE_VERSION",)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--build-arg KNOWLEDGE_VERSION=" in makefile and "rules/manifest.yaml" in makefile


@pytest.mark.parametrize("variable", ["VITDMG_DATA_DIR", "PROMETHEUS_MULTIPROC_DIR"])
def test_writable_paths_suit_a_read_only_root(variable: str) -> None:
    """Only the data folder and /tmp are written: Kubernetes mounts /tmp, the image owns the data folder."""
    _, runtime = _stages()
    env = next(c for c in runtime if c.cmd.upper() == "ENV").value
    values = dict(zip(env[::2], env[1::2], strict=True))
    assert values[variable].startswith(("/tmp/", "/var/lib/vitdmg"))
