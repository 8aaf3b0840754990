"""The shell steps of a node's first boot that cloud-init's modules cannot express.

Each function returns one runcmd entry (``["sh", "-c", script]``). Values are quoted with
``shlex.quote``. The ordering rules from kubeadm's issue trackers live here:

- a node waits (bounded) for the API before joining, because kubeadm does not retry discovery;
- control planes join one at a time: master-N waits until master-(N-1)'s own API server is
  ready (its ``/readyz`` needs its etcd member, so a ready server means its join is through
  etcd), which orders the joins in the guests whatever order the VMs boot in;
- a failed ``kubeadm init``/``join`` is reset and retried. ``kubeadm reset`` empties
  /etc/kubernetes/pki, so a control plane keeps a copy of its CA material in /run (tmpfs,
  gone at reboot) for the attempts, and puts it back before each retry;
- kube-vip (1.29 pitfall): the init node runs it with super-admin.conf during ``kubeadm init``
  and switches to admin.conf right after; other control planes get it only after their join
  (join preflight wants an empty /etc/kubernetes/manifests).
"""

from __future__ import annotations

import shlex

KUBEADM_CONFIG = "/etc/homelab/kubeadm.yaml"
KUBE_VIP_STAGED = "/etc/homelab/kube-vip.yaml"
KUBE_VIP_INIT_STAGED = "/etc/homelab/kube-vip-init.yaml"
KUBE_VIP_MANIFEST = "/etc/kubernetes/manifests/kube-vip.yaml"
PKI_DIR = "/etc/kubernetes/pki"
PKI_KEEP = "/run/homelab/pki"
WAIT_TRIES = 360  # x 5 s: give the control plane 30 minutes to come up
CONTROL_PLANE_TRIES = 3
WORKER_TRIES = 5


def wait_for_api(url: str, ca_file: str, *, what: str) -> list[str]:
    """Poll ``url`` (a /healthz or /readyz) checked against ``ca_file``; give up after 30 min."""
    curl = shlex.join(["curl", "-fsS", "--max-time", "5", "--cacert", ca_file, url])
    script = "\n".join(
        [
            f"for try in $(seq {WAIT_TRIES}); do",
            f"  if {curl} >/dev/null 2>&1; then exit 0; fi",
            "  sleep 5",
            "done",
            f"echo {shlex.quote('homelab: gave up waiting for ' + what)} >&2",
            "exit 1",
        ]
    )
    return ["sh", "-c", script + "\n"]


def control_plane_bootstrap(kubeadm_args: list[str], *, kube_vip: bool, init: bool) -> list[str]:
    """``kubeadm init`` or a control-plane ``kubeadm join`` with reset-and-retry."""
    lines = [
        f"rm -rf {PKI_KEEP} && mkdir -p -m 0700 /run/homelab && cp -a {PKI_DIR} {PKI_KEEP}",
        "ok=0",
        f"for try in $(seq {CONTROL_PLANE_TRIES}); do",
    ]
    if kube_vip and init:
        lines.append(f"  install -D -m 0600 {KUBE_VIP_INIT_STAGED} {KUBE_VIP_MANIFEST}")
    lines += [
        f"  if {shlex.join(kubeadm_args)}; then ok=1; break; fi",
        "  kubeadm reset -f",
        f"  rm -rf {PKI_DIR} && cp -a {PKI_KEEP} {PKI_DIR}",
        "  sleep 20",
        "done",
        f"rm -rf {PKI_KEEP}",
        'if [ "$ok" != 1 ]; then echo "homelab: kubeadm failed" >&2; exit 1; fi',
    ]
    if kube_vip:
        lines.append(f"install -D -m 0600 {KUBE_VIP_STAGED} {KUBE_VIP_MANIFEST}")
    return ["sh", "-c", "\n".join(lines) + "\n"]


def worker_bootstrap(kubeadm_args: list[str]) -> list[str]:
    """A worker's ``kubeadm join`` with reset-and-retry."""
    lines = [
        "ok=0",
        f"for try in $(seq {WORKER_TRIES}); do",
        f"  if {shlex.join(kubeadm_args)}; then ok=1; break; fi",
        "  kubeadm reset -f",
        "  sleep 15",
        "done",
        'if [ "$ok" != 1 ]; then echo "homelab: kubeadm join failed" >&2; exit 1; fi',
    ]
    return ["sh", "-c", "\n".join(lines) + "\n"]


def install_apt_key(key_url: str, keyring: str) -> list[str]:
    """Fetch the pkgs.k8s.io signing key over HTTPS into a dearmored keyring."""
    curl = shlex.join(["curl", "-fsSL", "--retry", "5", key_url])
    gpg = shlex.join(["gpg", "--batch", "--yes", "--dearmor", "-o", keyring])
    return ["sh", "-c", f"{curl} | {gpg}"]
