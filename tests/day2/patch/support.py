"""What the patch tests share: the lab's nodes and kernels, a patch run with short waits, a
command run in a guest."""

from __future__ import annotations

from homelab.engine.apply.runtime import Limits
from homelab.engine.guest.channel import GuestChannel
from homelab.verbs.patch import PatchOutcome, patch_lab
from tests.up.simlab import Upped

NODES = ("k8s-master-1", "k8s-worker-2", "k8s-worker-3")
OLD_KERNEL, NEW_KERNEL = "6.8.0-45-generic", "6.8.0-51-generic"


def patch(
    lab: Upped, agent_timeout: float = 180.0, ready_timeout: float = 600.0, **kw: object
) -> PatchOutcome:
    args: dict[str, object] = {"only": [], "reboot": "auto", "confirm": lambda _t: True}
    args.update(kw)
    limits = Limits(poll=0.5, agent_timeout=agent_timeout, ready_timeout=ready_timeout)
    return patch_lab(lab.conn, lab.ctx, limits=limits, **args)  # type: ignore[arg-type]


def run(lab: Upped, name: str, *argv: str) -> str:
    vm = next(v for v in lab.conn.client.cluster_vms() if v.name == name)
    result = GuestChannel(lab.conn.client, lab.conn.clock).run(vm.node, vm.vmid, list(argv))
    assert result.ok, result.stderr
    return result.stdout
