"""The simulated guests' ``kubeadm upgrade``, driven through the guest agent as the tool does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from homelab.engine.guest.channel import ExecResult, GuestChannel
from tests.up.simlab import Upped, copy_example, upped

REPO = (
    "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] "
    "https://pkgs.k8s.io/core:/stable:/v1.30/deb/ /\n"
)


def runner(lab: Upped, name: str) -> tuple[Callable[..., ExecResult], Callable[[str, str], None]]:
    vm = next(v for v in lab.conn.client.cluster_vms() if v.name == name)
    channel = GuestChannel(lab.conn.client, lab.conn.clock)

    def run(*argv: str) -> ExecResult:
        return channel.run(vm.node, vm.vmid, list(argv), timeout=900)

    def write(path: str, text: str) -> None:
        channel.write_file(vm.node, vm.vmid, path, text.encode())

    return run, write


def test_kubeadm_upgrade_refuses_what_kubeadm_refuses_and_applies(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        run, write = runner(lab, "k8s-master-1")
        plan = run("kubeadm", "upgrade", "plan")
        assert plan.ok and "Cluster version: v1.29.15" in plan.stdout
        assert "you're up-to-date" in plan.stdout
        skipped = run("kubeadm", "upgrade", "apply", "-y", "v1.31.0")
        assert skipped.exitcode == 1
        assert (
            "[upgrade/version] FATAL: the --version argument is invalid due to these fatal "
            'errors:\n\n\t- Specified version to upgrade to "v1.31.0" is too high; kubeadm can '
            "upgrade only 1 minor version at a time\n"
        ) in skipped.stderr
        assert "higher than the kubeadm minor release (31 > 29)" in skipped.stderr
        newer = run("kubeadm", "upgrade", "apply", "-y", "v1.30.14")
        assert "(30 > 29). Such an upgrade is not supported" in newer.stderr
        write("/etc/apt/sources.list.d/kubernetes.list", REPO)
        assert run("apt-get", "update").ok
        assert run("apt-mark", "unhold", "kubeadm").ok
        assert run("apt-get", "install", "-y", "kubeadm=1.30.14-1.1").ok
        assert run("kubeadm", "version").stdout.strip() == "v1.30.14"
        assert run("kubeadm", "version").ok
        offered = run("kubeadm", "upgrade", "plan")
        assert "kubeadm upgrade apply v1.30.14" in offered.stdout
        asked = run("kubeadm", "upgrade", "apply", "v1.30.14")
        assert asked.exitcode == 1 and "won't proceed" in asked.stderr
        patch = run("kubeadm", "upgrade", "apply", "-y", "v1.30.20")
        assert "Upgrade kubeadm first" in patch.stderr and "--force flag" in patch.stderr
        # every node cordoned: the health-check Job has nowhere to run (kubeadm#3050)
        for node in api.nodes():
            api.set_unschedulable(node["metadata"]["name"], True)
        drained = run("kubeadm", "upgrade", "apply", "-y", "v1.30.14")
        assert '[ERROR CreateJob]: Job "upgrade-health-check-' in drained.stderr
        for node in api.nodes():
            api.set_unschedulable(node["metadata"]["name"], False)
        applied = run("kubeadm", "upgrade", "apply", "-y", "v1.30.14")
        assert applied.ok, applied.stderr
        assert 'SUCCESS! Your cluster was upgraded to "v1.30.14"' in applied.stdout
        assert api.version()["gitVersion"] == "v1.30.14"
        manifest = run("cat", "/etc/kubernetes/manifests/kube-apiserver.yaml").stdout
        assert "registry.k8s.io/kube-apiserver:v1.30.14" in manifest
        assert run("ls", "/etc/kubernetes/tmp").stdout.startswith("kubeadm-backup-manifests-")
        # the kubelet still runs 1.29 until its package is upgraded and it restarts
        master = api.find("v1", "Node", "k8s-master-1")
        assert master["status"]["nodeInfo"]["kubeletVersion"] == "v1.29.15"
        assert run("apt-mark", "unhold", "kubelet").ok
        assert run("apt-get", "install", "-y", "kubelet=1.30.14-1.1").ok
        assert run("systemctl", "restart", "kubelet").ok
        master = api.find("v1", "Node", "k8s-master-1")
        assert master["status"]["nodeInfo"]["kubeletVersion"] == "v1.30.14"
        worker_run, _ = runner(lab, "k8s-worker-2")
        old_tool = worker_run("kubeadm", "upgrade", "node")
        assert old_tool.exitcode == 1 and "upgrade kubeadm first" in old_tool.stderr
        assert worker_run("kubeadm", "upgrade", "plan").exitcode == 1
        assert "Skipping phase. Not a control plane node." not in old_tool.stdout
        bad = worker_run("kubeadm", "upgrade", "rollback")
        assert 'unknown command "rollback" for "kubeadm upgrade"' in bad.stderr
