"""The deployment files say what the agent needs: the container file (parsed: there is no container engine here, so
the image itself is not built by the tests), the systemd unit's hardening, the Kubernetes manifests and the
configuration they carry, and the example configs, each validated by the real settings model."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.agent.settings import AgentSettings
from controlplane.config import load_settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Containerfile, continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        found.append((word.upper(), rest.strip()))
    return found


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last:]


def test_container_file_is_debian_slim_non_root_and_runs_the_agent() -> None:
    """Final stage: Debian slim with python3 and libvirt's client library, a non-root USER that exists, the agent as
    the exec-form entrypoint, the API port exposed, SIGTERM as the stop signal; every COPY source exists."""
    steps = instructions(DEPLOY / "Containerfile")
    stage = final_stage(steps)
    assert re.fullmatch(r"debian:[a-z]+-slim", stage[0][1]), stage[0]
    run = " ".join(args for word, args in stage if word == "RUN")
    installed = set(re.findall(r"--no-install-recommends ([^&]+)", run)[0].split())
    assert {"python3", "libvirt0", "ca-certificates"} <= installed
    users = [args for word, args in stage if word == "USER"]
    assert len(users) == 1
    uid = users[0].split(":")[0]
    assert uid not in ("root", "0")
    assert f"--uid {uid}" in run  # the user is created in the image
    entry = json.loads(next(args for word, args in stage if word == "ENTRYPOINT"))
    assert entry == ["/opt/yunguan/venv/bin/python", "-m", "agent"]
    assert json.loads(next(args for word, args in stage if word == "CMD")) == ["--config", "/etc/yunguan/yunguan.yaml"]
    assert ("EXPOSE", "8443") in stage and ("STOPSIGNAL", "SIGTERM") in stage
    for word, args in steps:
        if word == "COPY" and not args.startswith("--from"):
            for source in shlex.split(args)[:-1]:
                assert (REPO / source).exists(), source


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read(DEPLOY / "systemd" / "yunguan-agent.service", encoding="utf-8")
    return parser


def test_systemd_unit_is_hardened_and_outlasts_the_drain() -> None:
    """A dedicated user, read-only system, its own state directory, no new privileges, no capabilities, a restart
    policy, and a stop timeout longer than the agent's drain."""
    service = unit()["Service"]
    assert service["User"] == "yunguan" and service["Group"] == "yunguan"
    assert service["ProtectSystem"] == "strict"
    assert service["StateDirectory"] == "yunguan" and service["ReadWritePaths"] == "/var/lib/yunguan"
    assert service["NoNewPrivileges"] == "yes" and service["PrivateTmp"] == "yes"
    assert service["CapabilityBoundingSet"] == "" and service["AmbientCapabilities"] == ""
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    timeout = int(service["TimeoutStopSec"])
    assert timeout > AgentSettings().drain_timeout_s
    assert service["ExecStart"].endswith("yunguan agent")
    sysusers = (DEPLOY / "systemd" / "yunguan.sysusers.conf").read_text(encoding="utf-8")
    assert re.search(r"^u yunguan - .* /var/lib/yunguan ", sysusers, re.MULTILINE)


def manifests() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    listed = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text(encoding="utf-8"))
    for name in listed["resources"]:
        for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text(encoding="utf-8")):
            found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def test_kubernetes_deployment_is_locked_down_and_probed() -> None:
    """Non-root, read-only root, no capabilities, RuntimeDefault seccomp, the ServiceAccount of rbac.yaml, probes
    on /livez and /readyz, a grace period longer than the drain, and every Secret and ConfigMap it mounts named."""
    docs = manifests()
    deployment = docs["Deployment/yunguan-agent"]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    assert f"ServiceAccount/{pod['serviceAccountName']}" in docs
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["terminationGracePeriodSeconds"] > AgentSettings().drain_timeout_s
    (container,) = pod["containers"]
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    mounted = {v["name"]: v for v in pod["volumes"]}
    assert mounted["config"]["configMap"]["name"] == "yunguan-config" and "ConfigMap/yunguan-config" in docs
    secrets = sorted(v["secret"]["secretName"] for v in mounted.values() if "secret" in v)
    assert secrets == ["yunguan-api-tls", "yunguan-audit-key", "yunguan-database", "yunguan-openstack"]
    service = docs["Service/yunguan-agent"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    policy = docs["NetworkPolicy/yunguan-agent"]
    assert policy["spec"]["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8443}]
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}


def test_the_configmap_config_is_valid(tmp_path: Path) -> None:
    """The ConfigMap's yunguan.yaml loads with the real settings model (the Secret files stood in by temp files)."""
    text = stand_ins(manifests()["ConfigMap/yunguan-config"]["data"]["yunguan.yaml"], tmp_path)
    config = tmp_path / "yunguan.yaml"
    config.write_text(text.replace("/var/lib/yunguan", str(tmp_path / "state")), encoding="utf-8")
    settings = load_settings(config)
    assert settings.api.host == "0.0.0.0" and settings.api.tls.enabled  # noqa: S104 - in-cluster, behind TLS
    assert settings.agent.reconcile_every_s == 900
    assert [c.kind.value for c in settings.clouds] == ["kubernetes", "openstack"]


def stand_ins(text: str, tmp_path: Path) -> str:
    """``text`` with every /etc/yunguan file replaced by a temp file (the settings check that they exist)."""
    for path in sorted(set(re.findall(r"/etc/yunguan/[\w/.-]+", text))):
        stand_in = tmp_path / path.lstrip("/")
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text("x\n", encoding="utf-8")
        text = text.replace(path, str(stand_in))
    return text


@pytest.mark.parametrize("name", ["yunguan.yaml", "yunguan-postgresql.yaml"])
def test_example_configs_have_the_agent_and_api_sections(name: str, tmp_path: Path) -> None:
    """Both examples configure the agent and the API and load as they are (their secret files stood in)."""
    text = (DEPLOY / "examples" / name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert {"agent", "api"} <= set(data)
    config = tmp_path / name
    config.write_text(stand_ins(text, tmp_path), encoding="utf-8")
    settings = load_settings(config, state_dir=tmp_path / "state")
    assert settings.agent == AgentSettings.model_validate(data["agent"])
