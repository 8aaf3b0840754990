"""A monitored lab on the simulator: what kubeadm made of the metrics settings, read back
through the Kubernetes API with the real kubectl."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.tools import needs, require
from tests.up.simlab import copy_example, upped


def kubectl(conf: Path, *args: str) -> Any:
    done = subprocess.run(
        [require("kubectl"), "--kubeconfig", str(conf), *args, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs("kubectl")
def test_a_monitored_lab_exposes_its_metrics_endpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the stack's secrets, which up reads from the environment with monitoring.enabled
    for name in ("HOMELAB_GRAFANA_PASSWORD", "PVE_USER", "PVE_TOKEN_NAME", "PVE_TOKEN_VALUE"):
        monkeypatch.setenv(name, f"test-{name.lower()}")
    spec = copy_example("home-lab.yaml", tmp_path)
    spec.write_text(spec.read_text() + "monitoring: {enabled: true}\n")
    with upped(spec) as lab:
        conf = lab.outcome.kubeconfig
        cm = kubectl(conf, "-n", "kube-system", "get", "configmap", "kubeadm-config")
        cluster = yaml.safe_load(cm["data"]["ClusterConfiguration"])
        assert cluster["scheduler"]["extraArgs"] == {"bind-address": "0.0.0.0"}
        assert cluster["etcd"]["local"]["extraArgs"]["listen-metrics-urls"] == (
            "http://0.0.0.0:2381"
        )
        proxy = kubectl(conf, "-n", "kube-system", "get", "configmap", "kube-proxy")
        assert yaml.safe_load(proxy["data"]["config.conf"])["metricsBindAddress"] == (
            "0.0.0.0:10249"
        )
        pod = kubectl(
            conf, "-n", "kube-system", "get", "pod", "kube-controller-manager-k8s-master-1"
        )
        assert "--bind-address=0.0.0.0" in pod["spec"]["containers"][0]["command"]
        felix = kubectl(conf, "get", "felixconfigurations.crd.projectcalico.org", "default")
        assert felix["spec"]["prometheusMetricsEnabled"] is True
