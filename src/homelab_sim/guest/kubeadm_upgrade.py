"""``kubeadm upgrade plan|apply|node`` on a simulated guest, with kubeadm's refusals and texts.

From kubeadm's ``cmd/upgrade`` and ``phases/upgrade`` (policy.go, health.go) and the project's
notes (``k8s-bootstrap/UPGRADES.md`` §1, §4):

- the version policy (``EnforceVersionPolicies``): fatal when the target is more than one minor
  above the cluster ("is too high; kubeadm can upgrade only 1 minor version at a time"), more
  than one below ("is too low; kubeadm can downgrade only 1 minor version at a time"), or a
  minor above the kubeadm binary ("at least one minor release higher than the kubeadm minor
  release"); skippable with ``--force`` when the target is a newer patch than kubeadm ("Upgrade
  kubeadm first"), when kubeadm is a newer minor than the target, or when kubelets are more
  than 3 minors behind the target. Printed as ``[upgrade/version] FATAL: the --version argument
  is invalid due to these fatal errors: ...``;
- the health checks before apply: every control-plane node Ready (``[ERROR
  ControlPlaneNodesReady]``) and the ``upgrade-health-check`` Job, which needs a schedulable
  node: a cluster whose every node is cordoned (a single control plane drained before apply,
  kubeadm#3050) fails with ``[ERROR CreateJob] ... did not complete in 15s``;
- apply without ``-y``/``--yes``/``--force`` asks and, with no answer, does not proceed;
- apply rewrites the control-plane static pod manifests with the target's images (the old ones
  kept under ``/etc/kubernetes/tmp/kubeadm-backup-manifests-*``), moves etcd to the version the
  target pins (3.6 from 1.34), the API server's ``/version`` with it, then kube-proxy;
- ``upgrade node`` rewrites a control plane's manifests at the cluster's version and (on every
  node) the kubelet's configuration. The kubelet reports its new version once its package is
  upgraded and it restarted (``kubelet_restarted``).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Protocol

from homelab_sim import catalogue
from homelab_sim.guest.clusters import ADMIN_CONF
from homelab_sim.guest.kubeadm_checks import MANIFESTS, KubeadmFailure, Node, minor, package_version
from homelab_sim.guest.shell import Gen, Streams

__all__ = ["kubelet_restarted", "run"]

KUBELET_SKEW = 3
APPLY_SECONDS = 45.0
NODE_SECONDS = 20.0
BACKUPS = "/etc/kubernetes/tmp"
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
HELP_TRACE = "To see the stack trace of this error execute with --v=5 or higher"


class UpgradeNode(Node, Protocol):
    membership: dict[str, str]


def etcd_image(version: str) -> str:
    """The etcd image the kubeadm of ``version``'s minor pins (the catalogue's: 3.5 up to 1.33,
    3.6 from 1.34, UPGRADES.md section 4)."""
    known = catalogue.kubernetes_minor(version)
    if known is None or not known.etcd_image:
        raise KubeadmFailure(f'couldn\'t find the etcd version for Kubernetes "{version}"')
    return known.etcd_image


def _cluster(node: UpgradeNode) -> Any:
    if not node.membership or not node.system.exists(ADMIN_CONF):
        raise KubeadmFailure(
            f'couldn\'t create a Kubernetes client from file "{ADMIN_CONF}": failed to load '
            f"admin kubeconfig: open {ADMIN_CONF}: no such file or directory"
        )
    record = node.book.records.get(node.membership["cluster"])
    cluster = node.book.cluster(record) if record is not None else None
    if cluster is None:
        raise KubeadmFailure("unable to fetch the kubeadm-config ConfigMap: the cluster is gone")
    return cluster


def run(node: UpgradeNode, args: list[str], io: Streams) -> Gen:
    """``kubeadm upgrade ARGS`` (``args`` after ``upgrade``): exit 0, or 1 with kubeadm's error."""
    try:
        return (yield from _run(node, args, io))
    except KubeadmFailure as failure:
        io.err.write(f"{failure}\n{HELP_TRACE}\n")
        return 1


def _run(node: UpgradeNode, args: list[str], io: Streams) -> Gen:
    verb = args[0] if args else ""
    if verb == "plan":
        return (yield from _plan(node, args[1:], io))
    if verb == "apply":
        return (yield from _apply(node, args[1:], io))
    if verb == "node":
        return (yield from _node(node, io))
    raise KubeadmFailure(f'unknown command "{verb}" for "kubeadm upgrade"')


def _versions(cluster: Any) -> tuple[str, list[str]]:
    with cluster.lock:
        kubelets = [info.kubelet_version for info in cluster.nodes.values()]
        return cluster.version, kubelets


def policy_errors(
    cluster_version: str, kubeadm: str, target: str, kubelets: list[str]
) -> tuple[list[str], list[str]]:
    """(fatal, skippable) as kubeadm's EnforceVersionPolicies finds them."""
    fatal: list[str] = []
    skippable: list[str] = []
    have, new, tool = minor(cluster_version), minor(target), minor(kubeadm)
    if new[1] > have[1] + 1:
        fatal.append(
            f'Specified version to upgrade to "{target}" is too high; kubeadm can upgrade only '
            "1 minor version at a time"
        )
    if new[1] < have[1] - 1:
        fatal.append(
            f'Specified version to downgrade to "{target}" is too low; kubeadm can downgrade '
            "only 1 minor version at a time"
        )
    if _numbers(kubeadm) < _numbers(target):
        if new[1] > tool[1]:
            fatal.append(
                f'Specified version to upgrade to "{target}" is at least one minor release '
                f"higher than the kubeadm minor release ({new[1]} > {tool[1]}). Such an upgrade "
                "is not supported"
            )
        else:
            skippable.append(
                f'Specified version to upgrade to "{target}" is higher than the kubeadm version '
                f'"v{kubeadm}". Upgrade kubeadm first using the tool you used to install kubeadm'
            )
    if tool[1] > new[1]:
        skippable.append(
            f"Kubeadm version v{kubeadm} can only be used to upgrade to Kubernetes version "
            f"{tool[0]}.{tool[1]}"
        )
    old = sorted({k for k in kubelets if new[1] > minor(k)[1] + KUBELET_SKEW})
    if old:
        skippable.append(
            "There are kubelets in this cluster that are too old that have these versions "
            f"[{' '.join(old)}]"
        )
    return fatal, skippable


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.lstrip("v").split("."))


def _bullets(errors: list[str]) -> str:
    return "".join(f"\t- {e}\n" for e in errors)


def _plan(node: UpgradeNode, args: list[str], io: Streams) -> Gen:
    cluster = _cluster(node)
    version, _ = _versions(cluster)
    kubeadm = package_version(node.system, "kubeadm")
    yield 5.0
    io.out.write(
        "[upgrade/config] Reading configuration from the cluster...\n"
        "[preflight] Running pre-flight checks.\n"
        "[upgrade] Running cluster health checks\n"
        f"[upgrade] Fetching available versions to upgrade to\n"
        f"[upgrade/versions] Cluster version: {version}\n"
        f"[upgrade/versions] kubeadm version: v{kubeadm}\n"
    )
    if _numbers(kubeadm) <= _numbers(version):
        io.out.write("\nAwesome, you're up-to-date! Enjoy!\n")
        return 0
    io.out.write(
        "\nUpgrade to the latest stable version:\n\n"
        "COMPONENT                 NODE      CURRENT    TARGET\n"
        + "".join(f"{c:<25} {'':<9} {version:<10} v{kubeadm}\n" for c in COMPONENTS)
        + "\nYou can now apply the upgrade by executing the following command:\n\n"
        f"\tkubeadm upgrade apply v{kubeadm}\n\n"
    )
    return 0


def _apply(node: UpgradeNode, args: list[str], io: Streams) -> Gen:
    positional = [a for a in args if not a.startswith("-")]
    force = bool({"-f", "--force"} & set(args))
    yes = force or bool({"-y", "--yes"} & set(args))
    if not positional:
        raise KubeadmFailure(
            "[upgrade/version] FATAL: missing one or more required arguments. Required "
            "arguments: [version]"
        )
    target = positional[0]
    if not target.startswith("v"):
        target = "v" + target
    cluster = _cluster(node)
    version, kubelets = _versions(cluster)
    kubeadm = package_version(node.system, "kubeadm")
    io.out.write(
        "[upgrade/config] Reading configuration from the cluster...\n"
        "[preflight] Running pre-flight checks.\n"
        "[upgrade] Running cluster health checks\n"
    )
    yield 5.0
    _health(cluster)
    io.out.write(
        f'[upgrade/version] You have chosen to change the cluster version to "{target}"\n'
        f"[upgrade/versions] Cluster version: {version}\n"
        f"[upgrade/versions] kubeadm version: v{kubeadm}\n"
    )
    fatal, skippable = policy_errors(version, kubeadm, target, kubelets)
    if fatal:
        raise KubeadmFailure(
            "[upgrade/version] FATAL: the --version argument is invalid due to these fatal "
            f"errors:\n\n{_bullets(fatal)}\nPlease fix the misalignments highlighted above and "
            "try upgrading again"
        )
    if skippable and not force:
        raise KubeadmFailure(
            "[upgrade/version] FATAL: the --version argument is invalid due to these errors:\n\n"
            f"{_bullets(skippable)}\nCan be bypassed if you pass the --force flag"
        )
    if not yes:
        io.out.write("[upgrade/confirm] Are you sure you want to proceed? [y/N]: ")
        raise KubeadmFailure("won't proceed; the user didn't answer (Y|n) in order to continue")
    io.out.write(
        f'[upgrade/apply] Upgrading your Static Pod-hosted control plane to version "{target}"...\n'
    )
    yield APPLY_SECONDS
    _rewrite_manifests(node, target)
    with cluster.lock:
        state = cluster.state
        state.config = dataclasses.replace(state.config, version=target)
    # the ClusterConfiguration in kubeadm-config now says the new version: what a node that
    # joins later is judged against (kubeadm join's KubeletVersion preflight)
    record = node.book.records.get(node.membership["cluster"])
    if record is not None:
        record.version = target
    _remirror(cluster, node.membership["node"], target)
    io.out.write(
        f'\n[upgrade/successful] SUCCESS! Your cluster was upgraded to "{target}". Enjoy!\n\n'
        "[upgrade/kubelet] Now that your control plane is upgraded, please proceed with "
        "upgrading your kubelets if you haven't already done so.\n"
    )
    return 0


def _health(cluster: Any) -> None:
    with cluster.lock:
        nodes = cluster.state.items(cluster.state.rt("v1", "Node"))
    planes = [
        n for n in nodes if "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"]
    ]
    not_ready = sorted(n["metadata"]["name"] for n in planes if not _ready(n))
    if not_ready:
        raise KubeadmFailure(
            "[upgrade/health] FATAL: [preflight] Some fatal errors occurred:\n"
            "\t[ERROR ControlPlaneNodesReady]: there are NotReady control-planes in the cluster: "
            f"[{' '.join(not_ready)}]\n"
            "[preflight] If you know what you are doing, you can make a check non-fatal with "
            "`--ignore-preflight-errors=...`"
        )
    if not any(_ready(n) and not n["spec"].get("unschedulable") for n in nodes):
        raise KubeadmFailure(
            "[upgrade/health] FATAL: [preflight] Some fatal errors occurred:\n"
            '\t[ERROR CreateJob]: Job "upgrade-health-check-x8k2m" in the namespace '
            '"kube-system" did not complete in 15s: no condition of type Complete\n'
            "[preflight] If you know what you are doing, you can make a check non-fatal with "
            "`--ignore-preflight-errors=...`"
        )


def _ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _rewrite_manifests(node: UpgradeNode, version: str) -> None:
    """The static pod manifests at ``version`` (the old ones backed up, as kubeadm does)."""
    if not node.system.exists(f"{MANIFESTS}/kube-apiserver.yaml"):
        return
    stamp = f"{int(node.now()):010d}"
    for component in (*COMPONENTS, "etcd"):
        path = f"{MANIFESTS}/{component}.yaml"
        old = node.system.read(path)
        if old is not None:
            node.system.write(f"{BACKUPS}/kubeadm-backup-manifests-{stamp}/{component}.yaml", old)
        image = (
            etcd_image(version) if component == "etcd" else f"registry.k8s.io/{component}:{version}"
        )
        node.system.write(path, f"# static pod {component}\n# image: {image}\n".encode())


def _remirror(cluster: Any, name: str, version: str) -> None:
    """The kubelet restarts the static pods whose manifests changed: new images."""
    with cluster.lock:
        pods = [
            copy.deepcopy(p)
            for p in cluster.state.items(cluster.state.rt("v1", "Pod"), "kube-system")
        ]
        for pod in pods:
            if pod["spec"].get("nodeName") != name:
                continue
            component = pod["metadata"].get("labels", {}).get("component")
            if component not in (*COMPONENTS, "etcd"):
                continue
            image = (
                etcd_image(version)
                if component == "etcd"
                else f"registry.k8s.io/{component}:{version}"
            )
            pod["spec"]["containers"][0]["image"] = image
            cluster.state.ensure(pod, manager="kubelet")


def _node(node: UpgradeNode, io: Streams) -> Gen:
    cluster = _cluster_or_kubelet(node)
    version = cluster.version
    kubeadm = package_version(node.system, "kubeadm")
    if minor(kubeadm)[1] < minor(version)[1]:
        raise KubeadmFailure(
            f"error execution phase preflight: the kubeadm version v{kubeadm} is lower than the "
            f"cluster version {version}: upgrade kubeadm first"
        )
    io.out.write(
        "[upgrade] Reading configuration from the cluster...\n"
        "[preflight] Running pre-flight checks\n"
    )
    yield NODE_SECONDS
    if node.system.exists(f"{MANIFESTS}/kube-apiserver.yaml"):
        io.out.write(
            "[upgrade] Upgrading your Static Pod-hosted control plane instance to version "
            f'"{version}"...\n'
        )
        _rewrite_manifests(node, version)
        _remirror(cluster, node.membership["node"], version)
    else:
        io.out.write("[upgrade] Skipping phase. Not a control plane node.\n")
    node.system.write(
        "/var/lib/kubelet/config.yaml", f"# kubelet configuration for {version}\n".encode()
    )
    io.out.write(
        "[upgrade] The configuration for this node was successfully updated!\n"
        "[upgrade] Now you should go ahead and upgrade the kubelet package using your package "
        "manager.\n"
    )
    return 0


def _cluster_or_kubelet(node: UpgradeNode) -> Any:
    """A worker has no admin.conf: ``upgrade node`` reads the cluster with kubelet.conf."""
    if node.system.exists(ADMIN_CONF):
        return _cluster(node)
    if not node.membership or not node.system.exists("/etc/kubernetes/kubelet.conf"):
        raise KubeadmFailure(
            'couldn\'t create a Kubernetes client from file "/etc/kubernetes/kubelet.conf": '
            "open /etc/kubernetes/kubelet.conf: no such file or directory"
        )
    record = node.book.records.get(node.membership["cluster"])
    cluster = node.book.cluster(record) if record is not None else None
    if cluster is None:
        raise KubeadmFailure("unable to fetch the kubeadm-config ConfigMap: the cluster is gone")
    return cluster


def kubelet_restarted(cluster: Any, name: str, kubelet: str, containerd: str | None) -> bool:
    """A restarted kubelet runs the installed package: its Node reports that version. A kubelet
    whose minor needs a newer containerd than the installed one (1.36: 2.x, UPGRADES.md section
    4) exits at once: nothing changes (the Node goes stale); returns whether it runs."""
    known = catalogue.kubernetes_minor(kubelet)
    runtime = catalogue.containerd_version(containerd) if containerd is not None else None
    if known is not None and runtime is not None and runtime < known.min_containerd:
        return False
    version = "v" + kubelet
    with cluster.lock:
        info = cluster.nodes.get(name)
        if info is None or info.kubelet_version == version:
            return True
        info.kubelet_version = version
        node_type = cluster.state.rt("v1", "Node")
        live = copy.deepcopy(cluster.state.get(node_type, "", name))
        if live is not None:
            live["status"]["nodeInfo"]["kubeletVersion"] = version
            live["status"]["nodeInfo"]["kubeProxyVersion"] = version
            cluster.state.ensure(live, manager="kubelet")
    return True
