"""The chain, one minor at a time, on the reference lab: 1.29 -> 1.37 (etcd 3.6 at 1.34,
containerd.io 2 replacing Ubuntu's containerd 1.7 at 1.34, which 1.36's kubelet requires)."""

from __future__ import annotations

import itertools
from pathlib import Path

from homelab.engine.guest.channel import GuestChannel
from homelab.verbs.lab import make_plan
from tests.up.simlab import copy_example, upped
from tests.up.workload import apply, respec, start_workload, watched

STEPS = (
    "1.29.15",
    "1.30.14",
    "1.31.14",
    "1.32.13",
    "1.33.13",
    "1.34.10",
    "1.35.5",
    "1.36.2",
    "1.37.0",
)


def test_the_reference_lab_goes_up_the_chain_within_the_budget(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        start_workload(lab, api, min_available=2)
        with watched(api) as counts:
            for old, new in itertools.pairwise(STEPS):
                ctx = respec(spec, f"version: {old}", f"version: {new}")
                try:
                    plan, _ = make_plan(lab.conn, ctx)
                    assert plan.changes == () and len(plan.upgrades) == 3, plan
                    outcome = apply(lab, ctx)
                    assert outcome.report is not None and outcome.report.ok
                finally:
                    ctx.close()
                versions = {n["status"]["nodeInfo"]["kubeletVersion"] for n in api.nodes()}
                assert versions == {f"v{new}"}
                assert api.version()["gitVersion"] == f"v{new}"
        assert counts and min(counts) >= 2, f"the budget was violated: {counts}"
        etcd = {
            p["spec"]["containers"][0]["image"]
            for p in api.pods("kube-system")
            if p["metadata"].get("labels", {}).get("component") == "etcd"
        }
        assert etcd == {"registry.k8s.io/etcd:3.6.9-0"}
        operator = api.find("apps/v1", "Deployment", "tigera-operator", "tigera-operator")
        image = operator["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == "quay.io/tigera/operator:v1.42.3", "Calico moved with the minors"
        channel = GuestChannel(lab.conn.client, lab.conn.clock)
        for vm in lab.conn.client.cluster_vms():
            if vm.name in lab.ctx.spec.vms:
                config = channel.read_file(vm.node, vm.vmid, "/etc/containerd/config.toml")
                assert config.startswith(b"version = 3"), vm.name
