"""The shell steps of a node's first boot that cloud-init's modules cannot express.

Each function returns one runcmd entry (``["sh", "-c", script]``). Values are quoted with
``shlex.quote``. The ordering rules from kubeadm's issue trackers live here:

- a node waits (bounded) for the API before joining, because kubeadm does not retry discovery;
- control planes join one at a time: master-N waits until master-(N-1)'s own API server is
  ready (its ``/readyz`` needs its etcd member, so a ready server means its join is through
  etcd), which orders the joins in the guests whatever order the VMs boot in;
- a node that already holds a kubelet or admin configuration belongs to a cluster (cloud-init
  ran again over a live node: a new instance-id on an adopted or restored VM): the script stops
  and says so, and never runs ``kubeadm`` (whose failure would lead to ``kubeadm reset``);
- a failed ``kubeadm init``/``join`` is reset and retried. ``kubeadm reset`` empties
  /etc/kubernetes/pki, so a control plane keeps a copy of its CA material in /run (tmpfs,
  gone at reboot) for the attempts, and puts it back before each retry;
- kube-vip (1.29 pitfall): the init node runs it with super-admin.conf during ``kubeadm init``
  and switches to admin.conf right after; other control planes get it only after their join
  (join preflight wants an empty /etc/kubernetes/manifests).
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass

KUBEADM_CONFIG = "/etc/homelab/kubeadm.yaml"
KUBE_VIP_STAGED = "/etc/homelab/kube-vip.yaml"
KUBE_VIP_INIT_STAGED = "/etc/homelab/kube-vip-init.yaml"
KUBE_VIP_MANIFEST = "/etc/kubernetes/manifests/kube-vip.yaml"
PKI_DIR = "/etc/kubernetes/pki"
PKI_KEEP = "/run/homelab/pki"
WAIT_TRIES = 360  # x 5 s: give the control plane 30 minutes to come up
CONTROL_PLANE_TRIES = 3
WORKER_TRIES = 5
CLUSTER_CONFIGS = ("/etc/kubernetes/kubelet.conf", "/etc/kubernetes/admin.conf")
UPDATE_TRIES = 30  # x 10 s: apt-daily's own update may hold the lists lock for a while


@dataclass(frozen=True)
class ControlPlanePaths:
    """Where a control plane's bootstrap script finds things (the defaults are the real ones)."""

    pki: str = PKI_DIR
    pki_keep: str = PKI_KEEP
    kube_vip_staged: str = KUBE_VIP_STAGED
    kube_vip_init_staged: str = KUBE_VIP_INIT_STAGED
    kube_vip_manifest: str = KUBE_VIP_MANIFEST
    cluster_configs: tuple[str, ...] = CLUSTER_CONFIGS


def wait_for_api(url: str, ca_file: str, *, what: str, tries: int = WAIT_TRIES) -> list[str]:
    """Poll ``url`` (a /healthz or /readyz) checked against ``ca_file``; give up after 30 min."""
    curl = shlex.join(["curl", "-fsS", "--max-time", "5", "--cacert", ca_file, url])
    script = "\n".join(
        [
            f"for try in $(seq {tries}); do",
            f"  if {curl} >/dev/null 2>&1; then exit 0; fi",
            "  sleep 5",
            "done",
            f"echo {shlex.quote('homelab: gave up waiting for ' + what)} >&2",
            "exit 1",
        ]
    )
    return ["sh", "-c", script + "\n"]


def refuse_a_member(configs: tuple[str, ...] = CLUSTER_CONFIGS) -> list[str]:
    """Script lines that stop (exit 1) before kubeadm when the node is already in a cluster."""
    return [
        f"for conf in {shlex.join(configs)}; do",
        '  if [ -e "$conf" ]; then',
        '    echo "homelab: $conf exists: this node already belongs to a cluster; not running'
        ' kubeadm (nothing reset). To rebuild it, remove the VM or run kubeadm reset yourself" >&2',
        "    exit 1",
        "  fi",
        "done",
    ]


def control_plane_bootstrap(
    kubeadm_args: list[str],
    *,
    kube_vip: bool,
    init: bool,
    paths: ControlPlanePaths = ControlPlanePaths(),
) -> list[str]:
    """``kubeadm init`` or a control-plane ``kubeadm join`` with reset-and-retry."""
    q = {name: shlex.quote(value) for name, value in vars(paths).items() if isinstance(value, str)}
    keep_parent = shlex.quote(posixpath.dirname(paths.pki_keep))
    lines = [
        *refuse_a_member(paths.cluster_configs),
        f"rm -rf {q['pki_keep']} && mkdir -p -m 0700 {keep_parent}"
        f" && cp -a {q['pki']} {q['pki_keep']}",
        "ok=0",
        f"for try in $(seq {CONTROL_PLANE_TRIES}); do",
    ]
    if kube_vip and init:
        lines.append(f"  install -D -m 0600 {q['kube_vip_init_staged']} {q['kube_vip_manifest']}")
    lines += [
        f"  if {shlex.join(kubeadm_args)}; then ok=1; break; fi",
        "  kubeadm reset -f",
        f"  rm -rf {q['pki']} && cp -a {q['pki_keep']} {q['pki']}",
        "  sleep 20",
        "done",
        f"rm -rf {q['pki_keep']}",
        'if [ "$ok" != 1 ]; then echo "homelab: kubeadm failed" >&2; exit 1; fi',
    ]
    if kube_vip:
        lines.append(f"install -D -m 0600 {q['kube_vip_staged']} {q['kube_vip_manifest']}")
    return ["sh", "-c", "\n".join(lines) + "\n"]


def worker_bootstrap(
    kubeadm_args: list[str], *, cluster_configs: tuple[str, ...] = CLUSTER_CONFIGS
) -> list[str]:
    """A worker's ``kubeadm join`` with reset-and-retry."""
    lines = [
        *refuse_a_member(cluster_configs),
        "ok=0",
        f"for try in $(seq {WORKER_TRIES}); do",
        f"  if {shlex.join(kubeadm_args)}; then ok=1; break; fi",
        "  kubeadm reset -f",
        "  sleep 15",
        "done",
        'if [ "$ok" != 1 ]; then echo "homelab: kubeadm join failed" >&2; exit 1; fi',
    ]
    return ["sh", "-c", "\n".join(lines) + "\n"]


def apt_update(apt_get: list[str], tries: int = UPDATE_TRIES) -> list[str]:
    """``apt-get update``, retried: apt waits for dpkg's locks (``DPkg::Lock::Timeout``) but
    never for ``/var/lib/apt/lists/lock``, which apt-daily holds while it updates at first
    boot (``E: Could not get lock /var/lib/apt/lists/lock``, exit 100)."""
    update = shlex.join([*apt_get, "update"])
    script = "\n".join(
        [
            f"for try in $(seq {tries}); do",
            f"  if {update}; then exit 0; fi",
            "  sleep 10",
            "done",
            "echo 'homelab: apt-get update kept failing' >&2",
            "exit 1",
        ]
    )
    return ["sh", "-c", script + "\n"]


def install_apt_key(key_url: str, keyring: str) -> list[str]:
    """Fetch the pkgs.k8s.io signing key over HTTPS into a dearmored keyring."""
    curl = shlex.join(["curl", "-fsSL", "--retry", "5", key_url])
    gpg = shlex.join(["gpg", "--batch", "--yes", "--dearmor", "-o", keyring])
    return ["sh", "-c", f"{curl} | {gpg}"]


def control_plane_rejoin(
    join_args: list[str], *, kube_vip: bool, paths: ControlPlanePaths = ControlPlanePaths()
) -> list[str]:
    """A control plane leaves whatever etcd cluster it was in and joins again (after the
    first control plane's etcd was restored from a snapshot: the others' members belong to a
    cluster that no longer exists). ``kubeadm reset`` empties the PKI directory, so the shared
    CA material is kept aside in /run and put back before the join."""
    keep = shlex.quote(paths.pki_keep + "-rejoin")
    pki = shlex.quote(paths.pki)
    keep_parent = shlex.quote(posixpath.dirname(paths.pki_keep))
    prologue = [
        f"mkdir -p -m 0700 {keep_parent} && rm -rf {keep} && cp -a {pki} {keep} || exit 1",
        "kubeadm reset -f",
        f"rm -rf {pki} && cp -a {keep} {pki} && rm -rf {keep} || exit 1",
    ]
    body = control_plane_bootstrap(join_args, kube_vip=kube_vip, init=False, paths=paths)[2]
    return ["sh", "-c", "\n".join(prologue) + "\n" + body]
