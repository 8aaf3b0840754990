"""`homelab up --sim` end to end: the reference lab, the HA lab, refused joins, the no-op.

Every check of the cluster goes through the Kubernetes API the simulator serves on loopback:
with the Python client and with the real kubectl binary, both using the admin kubeconfig `up`
wrote (TLS verified against the lab CA, tls-server-name = the control-plane endpoint).
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from homelab.core.cluster import ClusterSecrets
from homelab.verbs.up import ClusterNotReady
from tests.support.tools import require
from tests.up.simlab import Upped, copy_example, upped


@pytest.fixture(scope="module")
def home_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upped]:
    spec = copy_example("home-lab.yaml", tmp_path_factory.mktemp("home"))
    with upped(spec) as lab:
        yield lab


def ready(node: dict[str, Any]) -> bool:
    conditions = node["status"]["conditions"]
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def kubectl_nodes(kubeconfig: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [require("kubectl"), "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    items: list[dict[str, Any]] = json.loads(done.stdout)["items"]
    return items


def test_reference_lab_every_node_ready_by_the_python_client(home_lab: Upped) -> None:
    outcome = home_lab.outcome
    assert outcome.health.ok, outcome.health.problems()
    assert [n.name for n in outcome.health.nodes] == [
        "k8s-master-1",
        "k8s-worker-2",
        "k8s-worker-3",
    ]
    with home_lab.api() as api:
        nodes = api.nodes()
    assert sorted(n["metadata"]["name"] for n in nodes) == [
        "k8s-master-1",
        "k8s-worker-2",
        "k8s-worker-3",
    ]
    assert all(ready(n) for n in nodes)


def test_reference_lab_every_node_ready_by_kubectl(home_lab: Upped) -> None:
    nodes = kubectl_nodes(home_lab.outcome.kubeconfig)
    assert len(nodes) == 3
    assert all(ready(n) for n in nodes)
    versions = {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes}
    assert versions == {"v1.29.15"}


def test_admin_kubeconfig_is_private_and_names_the_endpoint(home_lab: Upped) -> None:
    path = home_lab.outcome.kubeconfig
    assert path == home_lab.ctx.spec_path.parent / ".homelab" / "home-lab" / "admin.conf"
    assert path.stat().st_mode & 0o777 == 0o600
    cluster = yaml.safe_load(path.read_text())["clusters"][0]["cluster"]
    assert cluster["tls-server-name"] == "10.0.20.10"
    assert cluster["server"].startswith("https://127.0.0.1:")


def test_calico_pool_is_the_pod_cidr(home_lab: Upped) -> None:
    with home_lab.api() as api:
        installation = api.get("operator.tigera.io/v1", "Installation", "default")
    pools = installation["spec"]["calicoNetwork"]["ipPools"]
    assert [p["cidr"] for p in pools] == [str(home_lab.ctx.spec.kubernetes.pod_cidr)]


def test_metallb_pool_is_the_spec_range(home_lab: Upped) -> None:
    with home_lab.api() as api:
        pool = api.get("metallb.io/v1beta1", "IPAddressPool", "home-lab-pool", "metallb-system")
    assert pool["spec"]["addresses"] == ["10.0.20.200-10.0.20.250"]


def test_a_load_balancer_service_gets_an_address_from_the_pool(home_lab: Upped) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    clock = home_lab.conn.clock
    with home_lab.api() as api:
        api.apply(service)
        deadline = clock.monotonic() + 120
        ingress: list[dict[str, Any]] = []
        while not ingress and clock.monotonic() < deadline:
            found = api.get("v1", "Service", "web", "default")
            ingress = ((found.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if not ingress:
                clock.sleep(1)
    assert ingress, "the Service got no LoadBalancer address"
    address = ipaddress.IPv4Address(ingress[0]["ip"])
    assert ipaddress.IPv4Address("10.0.20.200") <= address <= ipaddress.IPv4Address("10.0.20.250")


def test_ha_lab_three_control_planes_behind_the_vip(tmp_path: Path) -> None:
    spec = copy_example("ha-lab.yaml", tmp_path)
    with upped(spec) as lab:
        assert lab.outcome.health.ok, lab.outcome.health.problems()
        assert lab.outcome.endpoint == "10.0.20.9"
        cluster = yaml.safe_load(lab.outcome.kubeconfig.read_text())["clusters"][0]["cluster"]
        assert cluster["tls-server-name"] == "10.0.20.9"
        nodes = kubectl_nodes(lab.outcome.kubeconfig)
        with lab.api() as api:
            roles = {
                n["metadata"]["name"]: "node-role.kubernetes.io/control-plane"
                in (n["metadata"].get("labels") or {})
                for n in api.nodes()
            }
    assert len(nodes) == 6 and all(ready(n) for n in nodes)
    assert sorted(name for name, cp in roles.items() if cp) == [
        "k8s-master-1",
        "k8s-master-2",
        "k8s-master-3",
    ]


def wrong_token(user_data: str, secrets: ClusterSecrets) -> str:
    return user_data.replace(secrets.bootstrap_token().reveal(), "abcdef.0123456789abcdef")


def wrong_ca_hash(user_data: str, secrets: ClusterSecrets) -> str:
    return user_data.replace(secrets.ca_cert_hash(), "sha256:" + "0" * 64)


@pytest.mark.parametrize(
    ("tamper", "cause"),
    [
        (wrong_token, "the bootstrap token in its join configuration is unknown or expired"),
        (wrong_ca_hash, "the ca hash in its join configuration is not the cluster ca's"),
    ],
    ids=["wrong-token", "wrong-ca-hash"],
)
def test_a_refused_join_names_the_node_and_the_cause(
    tmp_path: Path, tamper: Any, cause: str
) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with (
        pytest.raises(ClusterNotReady) as caught,
        upped(spec, timeout=900, tamper=("k8s-worker-3", tamper)),
    ):
        pass
    message = str(caught.value)
    assert "node k8s-worker-3 (10.0.20.22) did not join the cluster" in message
    assert "(VM running, guest agent answers)" in message  # what Proxmox says of the VM
    assert cause in message.lower()
    assert "k8s-worker-2" not in message
    assert "/var/log/cloud-init-output.log" in message


def test_an_api_server_not_up_in_time_names_the_control_plane_its_vm_and_phase(
    tmp_path: Path,
) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with pytest.raises(ClusterNotReady) as caught, upped(spec, timeout=1):
        pass
    message = str(caught.value)
    assert message.startswith("the API server at 10.0.20.10:6443 did not come up in time; ")
    assert (
        "node k8s-master-1 (10.0.20.10) did not join the cluster "
        "(VM running, guest agent answers); last phase: cloud-init running"
    ) in message
    assert "k8s-worker" not in message
    assert caught.value.hint == "run `homelab up` again to keep waiting, or raise --timeout"


def run_cli(spec: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(spec.parent / "kube" / "config")}
    return subprocess.run(
        [sys.executable, "-m", "homelab", "up", str(spec), "--sim", "--yes", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=spec.parent,
        env=env,
    )


def test_cli_up_then_a_second_up_is_a_noop(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    user_config = tmp_path / "kube" / "config"
    user_config.parent.mkdir()
    user_config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "work", "cluster": {"server": "https://work:6443"}}],
                "users": [],
                "contexts": [],
                "current-context": "work",
            }
        )
    )
    try:
        first = run_cli(spec, "--merge-kubeconfig")
        assert first.returncode == 0, first.stderr
        merged = yaml.safe_load(user_config.read_text())
        assert [c["name"] for c in merged["clusters"]] == ["work", "home-lab"]
        assert merged["current-context"] == "work"
        assert f"merged into:       {user_config} (context home-lab)" in first.stdout
        assert "Lab home-lab is up" in first.stdout
        assert first.stdout.count("Ready") == 3
        for text in ("https://10.0.20.10:6443", "10.0.20.200-10.0.20.250", "admin.conf", "elapsed"):
            assert text in first.stdout
        second = run_cli(spec)
        assert second.returncode == 0, second.stderr
        assert "No changes: the VMs match the spec and the addons are unchanged" in second.stdout
        assert second.stdout.count("Ready") == 3
    finally:
        subprocess.run(
            [sys.executable, "-m", "homelab", "sim", "stop", str(spec)],
            capture_output=True,
            check=True,
            timeout=60,
        )


def test_the_json_summary(home_lab: Upped) -> None:
    doc = json.loads(json.dumps(home_lab.outcome.to_dict()))
    assert doc["lab"] == "home-lab" and doc["changed"] is True
    assert sorted(v["vm"] for v in doc["vms"]) == ["k8s-master-1", "k8s-worker-2", "k8s-worker-3"]
    assert doc["api_endpoint"] == "https://10.0.20.10:6443"
    assert doc["load_balancer_pool"] == "10.0.20.200-10.0.20.250"
    assert doc["kubernetes_version"] == "v1.29.15"
    assert doc["health"]["ok"] is True
    assert {n["name"]: n["ready"] for n in doc["health"]["nodes"]} == {
        "k8s-master-1": True,
        "k8s-worker-2": True,
        "k8s-worker-3": True,
    }
    assert doc["addons"]["objects"] == len(doc["addons"]["changed"]) > 0
