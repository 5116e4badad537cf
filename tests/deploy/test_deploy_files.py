"""The deployment files are valid: the Dockerfile passes hadolint, every Kubernetes manifest
validates (strictly: no unknown field) against the Kubernetes 1.37 schemas that
kubernetes-validate ships, the kustomizations name files that exist, the probes point at
the gateway's real health endpoints, and the compose file builds from this repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from engine.http.routes import Endpoints

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "examples" / "deploy"
K8S = DEPLOY / "kubernetes"
K8S_VERSION = "1.37.0"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _base_resources() -> list[tuple[Path, dict[str, Any]]]:
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    return [
        (K8S / "base" / name, doc) for name in kustomization["resources"] for doc in _documents(K8S / "base" / name)
    ]


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", sorted(K8S.rglob("kustomization.yaml")), ids=lambda p: str(p.relative_to(K8S)))
def test_kustomizations_name_files_that_exist(path: Path) -> None:
    kustomization = yaml.safe_load(path.read_text())
    named = [*kustomization.get("resources", []), *(p["path"] for p in kustomization.get("patches", []))]
    assert named
    for name in named:
        assert (path.parent / name).exists(), f"{path}: {name}"


def test_every_base_manifest_is_valid_for_kubernetes() -> None:
    resources = _base_resources()
    kinds = sorted(doc["kind"] for _, doc in resources)
    assert kinds == sorted(["Secret", "Job", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"])
    for path, doc in resources:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{path.name}: {exc.message} at {list(exc.path)}") from None


def test_the_git_sync_containers_are_valid_in_a_pod() -> None:
    """The overlay is a strategic-merge patch (not a whole object): its new containers are
    checked inside a minimal Pod."""
    [patch] = _documents(K8S / "git-sync" / "git-sync.yaml")
    spec = patch["spec"]["template"]["spec"]
    sidecars = [c for c in spec["containers"] if c["name"] == "git-sync"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "check"},
        "spec": {
            "initContainers": spec["initContainers"],
            "containers": sidecars,
            "volumes": [{"name": "git", "emptyDir": {}}],
        },
    }
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    turnout = next(c for c in spec["containers"] if c["name"] == "turnout")
    assert {"name": "TURNOUT_POLICY_DIR", "value": "/git/current/policies"} in turnout["env"]


def test_the_probes_and_the_drain_match_the_gateway() -> None:
    [deployment] = [doc for _, doc in _base_resources() if doc["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    paths = {route.path for route in Endpoints(None, 1, ()).routes()}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz" in paths
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz" in paths
    drain = next(float(e["value"]) for e in container["env"] if e["name"] == "TURNOUT_DRAIN_TIMEOUT")
    assert pod["terminationGracePeriodSeconds"] > drain
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    for kind in ("Service", "PodDisruptionBudget"):
        [doc] = [d for _, d in _base_resources() if d["kind"] == kind]
        selector = doc["spec"]["selector"]
        assert selector.get("matchLabels", selector) == labels, kind


def test_compose_builds_this_repository_and_prometheus_scrapes_it() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"turnout", "migrate", "postgres", "redis", "prometheus"} <= set(services)
    context = (DEPLOY / "compose" / services["turnout"]["build"]).resolve()
    assert context == ROOT and (context / "Dockerfile").is_file()
    assert services["migrate"]["command"] == ["db", "upgrade"]
    prometheus = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    [job] = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics" and job["static_configs"][0]["targets"] == ["turnout:8080"]


def test_the_grafana_dashboard_queries_series_the_gateway_exports() -> None:
    """Every series a panel queries is one /metrics exposes (a renamed metric would leave a
    panel silently empty), and every metric family has a panel."""
    import json
    import re

    from engine.observability.metrics import Metrics

    exported = {
        re.sub(r"_total$", "", line.split()[2])
        for line in Metrics().exposition().decode().splitlines()
        if line.startswith("# TYPE") and not line.split()[2].endswith("_created")  # a counter's start time
    }
    dashboard = json.loads((DEPLOY / "grafana" / "turnout-dashboard.json").read_text())
    queried = {
        re.sub(r"_(total|bucket|sum|count)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bturnout_[a-z_]+", target["expr"])
    }
    assert queried and queried <= exported, queried - exported
    assert exported <= queried, exported - queried
