"""etcd's commands on a control plane, through its guest agent: the etcd container found with
``crictl``, ``etcdctl`` run inside it with the server certificate kubeadm made.

``EtcdHost`` runs a command and fails with the caller's error type naming the VM and the step;
``members`` lists the cluster's members (``etcdctl member list -w json``) and ``remove_member``
takes one out by name (``etcdctl member remove <hex ID>``): etcd refuses a removal that would
leave fewer started members than the smaller cluster's quorum (its strict reconfiguration
check), and the refusal is passed on as it is. ``wait_healthy`` waits until every member
commits proposals (``etcdctl endpoint health --cluster``: a linearizable read, which a restarted
member answers only once it has caught up with the leader), the gate between two control planes
of a rolling change: with three members, a second one down while the first is behind loses the
quorum. A Ready node and a Running etcd pod do not say it (the pod's probe reads
``/health?serializable=true``, the member's own view).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from homelab.engine.clock import Clock
from homelab.engine.guest.channel import GuestChannel
from homelab.errors import LabError

__all__ = ["ETCDCTL", "PKI", "TIMEOUT", "EtcdHost", "EtcdMember"]

PKI = "/etc/kubernetes/pki/etcd"
ETCDCTL = [
    "etcdctl",
    "--endpoints=https://127.0.0.1:2379",
    f"--cacert={PKI}/ca.crt",
    f"--cert={PKI}/server.crt",
    f"--key={PKI}/server.key",
]
TIMEOUT = 300.0


@dataclass(frozen=True)
class EtcdMember:
    id: int
    name: str


@dataclass
class EtcdHost:
    """A control plane's guest agent, for etcd's commands; a failure is ``error`` naming the
    VM and the step."""

    channel: GuestChannel
    name: str
    node: str
    vmid: int
    error: type[LabError] = LabError

    def run(self, argv: list[str], what: str, *, timeout: float = TIMEOUT) -> str:
        result = self.channel.run(self.node, self.vmid, argv, timeout=timeout)
        if result.exitcode != 0:
            detail = result.stderr.strip()[-400:] or result.stdout.strip()[-400:]
            raise self.error(f"vm {self.name}: {what} failed (exit {result.exitcode}): {detail}")
        return result.stdout

    def sh(self, script: str, what: str, *, timeout: float = TIMEOUT) -> str:
        return self.run(["sh", "-c", script], what, timeout=timeout)

    def container(self, name: str) -> str | None:
        """The id of the running container ``name`` (etcd, kube-apiserver), if any."""
        ids = self.run(
            ["crictl", "ps", "--name", name, "--state", "running", "-q"],
            f"crictl ps --name {name}",
        ).split()
        return ids[0] if ids else None

    def etcd(self) -> str:
        """The etcd container's id (the error when none runs)."""
        found = self.container("etcd")
        if found is None:
            raise self.error(f"vm {self.name}: no etcd container runs (crictl ps --name etcd)")
        return found

    def etcdctl(self, *args: str, what: str) -> str:
        """``etcdctl ARGS`` inside the etcd container."""
        return self.run(["crictl", "exec", self.etcd(), *ETCDCTL, *args], what)

    def members(self) -> list[EtcdMember]:
        """The etcd cluster's members, as this node's etcd sees them."""
        out = self.etcdctl("member", "list", "-w", "json", what="etcdctl member list")
        try:
            listed = json.loads(out).get("members") or []
            return [EtcdMember(int(m["ID"]), str(m.get("name", ""))) for m in listed]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self.error(f"vm {self.name}: etcdctl member list gave {out[:200]!r}") from exc

    def remove_member(self, name: str) -> bool:
        """Remove the member named ``name``; False if it is not (or no longer) a member."""
        found = [m for m in self.members() if m.name == name]
        if not found:
            return False
        self.etcdctl("member", "remove", f"{found[0].id:x}", what=f"etcdctl member remove {name}")
        return True

    def wait_healthy(self, clock: Clock, timeout: float, *, poll: float = 5.0) -> int:
        """Wait until every member is healthy; the number of members (``error`` naming the
        unhealthy ones once ``timeout`` passed)."""
        members: list[EtcdMember] = []

        def problem() -> str | None:
            try:
                members[:] = self.members()
                self.etcdctl("endpoint", "health", "--cluster", what="etcdctl endpoint health")
            except LabError as exc:
                lines = exc.message.splitlines()
                sick = [
                    line.split(" is unhealthy")[0].split()[-1]  # its endpoint's URL
                    for line in lines
                    if " is unhealthy" in line
                ]
                return f"{', '.join(sick)} unhealthy" if sick else lines[0]
            return None

        last = clock.wait_for(problem, timeout, poll)
        if last is not None:
            raise self.error(
                f"vm {self.name}: etcd not healthy after {timeout:.0f} s (a member down or "
                f"behind the leader): {last}"
            )
        return len(members)
