"""deploy/kubernetes (issue 15): every manifest valid for Kubernetes 1.32 (kubernetes-validate, strict), each
overlay rendered by `kubectl kustomize` and checked for what the issue asks of it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cds_service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
VERSION = "1.32.0"  # the kubectl Debian installs here is 1.32; a cluster older than that is not supported
BASE_FILES = sorted(p for p in (KUBERNETES / "base").glob("*.yaml") if p.name != "kustomization.yaml")
OVERLAYS = ["dev", "prod"]


def _documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def _render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        message = "kubectl is not installed (bash .ci/run installs it with apt-get: apt-get install kubectl)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / "overlays" / overlay)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return _documents(done.stdout)


def _validate(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, VERSION, strict=True)


@pytest.mark.parametrize("path", BASE_FILES, ids=lambda p: p.name)
def test_every_base_manifest_is_valid(path: Path) -> None:
    for resource in _documents(path.read_text(encoding="utf-8")):
        _validate(resource)


def test_a_broken_manifest_is_refused() -> None:
    """The validation can fail: a Deployment with a misspelt field does."""
    deployment = yaml.safe_load((KUBERNETES / "base" / "deployment.yaml").read_text(encoding="utf-8"))
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_renders_valid_manifests(overlay: str) -> None:
    resources = _render(overlay)
    kinds = sorted(r["kind"] for r in resources)
    expected = [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Job",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
    ]
    assert sorted(set(kinds)) == sorted(set(expected) | ({"Secret"} if overlay == "dev" else set()))
    for resource in resources:
        _validate(resource)
        assert resource["metadata"]["namespace"] == {"dev": "vitdmg-dev", "prod": "vitdmg"}[overlay]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_deployment_is_probed_locked_down_spread_and_drained(overlay: str) -> None:
    resources = {(r["kind"], r["metadata"]["name"]): r for r in _render(overlay)}
    pod = resources[("Deployment", "vitdmg-cds")]["spec"]["template"]
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert set(container["resources"]) == {"requests", "limits"}
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {c["topologyKey"] for c in spec["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    settings = resources[("ConfigMap", _name(resources, "ConfigMap", "vitdmg-cds-settings"))]["data"]
    graceful = int(container["args"][container["args"].index("--graceful-timeout") + 1])
    assert spec["terminationGracePeriodSeconds"] > sleep + float(settings["VITDMG_DRAIN_SECONDS"]) + graceful
    assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp", "/etc/vitdmg/issuers"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_and_secrets_are_wired(overlay: str) -> None:
    """Every ConfigMap key is a real setting; secrets are referenced, and migrations run in the Job only."""
    resources = {(r["kind"], r["metadata"]["name"]): r for r in _render(overlay)}
    settings = resources[("ConfigMap", _name(resources, "ConfigMap", "vitdmg-cds-settings"))]["data"]
    known = {f"VITDMG_{name.upper()}" for name in Settings.model_fields}
    assert set(settings) <= known, set(settings) - known
    assert settings["VITDMG_MIGRATE_ON_START"] == "false" and settings["VITDMG_AUTH"] == "required"
    container = resources[("Deployment", "vitdmg-cds")]["spec"]["template"]["spec"]["containers"][0]
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]}
    assert secret_env == {
        "VITDMG_DATABASE_URL": "database-url",
        "VITDMG_PSEUDONYM_KEY": "pseudonym-key",
        "VITDMG_METRICS_TOKEN": "metrics-token",
    }
    volumes = resources[("Deployment", "vitdmg-cds")]["spec"]["template"]["spec"]["volumes"]
    assert any(v.get("secret", {}).get("secretName", "").startswith("vitdmg-cds-trusted-issuers") for v in volumes)
    job = resources[("Job", "vitdmg-cds-migrate")]["spec"]["template"]["spec"]["containers"][0]
    assert job["args"] == ["db", "upgrade"]
    hpa = resources[("HorizontalPodAutoscaler", "vitdmg-cds")]["spec"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu" and hpa["minReplicas"] >= 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_lets_in_the_engine_and_out_only_dns_postgres_and_fhir(overlay: str) -> None:
    resources = {(r["kind"], r["metadata"]["name"]): r for r in _render(overlay)}
    policy = resources[("NetworkPolicy", "vitdmg-cds")]["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    sources = {
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in policy["ingress"][0]["from"]
    }
    assert sources == {"integration-engine", "monitoring"}
    ports = sorted({p["port"] for rule in policy["egress"] for p in rule["ports"]})
    assert ports == [53, 443, 5432]
    dns = policy["egress"][0]["to"][0]["podSelector"]["matchLabels"]
    assert dns == {"k8s-app": "kube-dns"}, "no label of ours may leak into the DNS peer selector"


def _name(resources: dict[tuple[str, str], Any], kind: str, prefix: str) -> str:
    """A generated ConfigMap or Secret carries a content hash after its name."""
    return next(name for k, name in resources if k == kind and name.startswith(prefix))
