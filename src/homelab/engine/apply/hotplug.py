"""CPU and memory hotplug on a running VM: the refusal made clear, the growth confirmed.

The plan marks a growth Proxmox plugs into the running VM with a ``(hotplug)`` key
(``homelab.core.plan.diff.hot_growth``): apply writes it like any other key, no drain, no
restart. qemu-server collects a hotplug failure per key and answers the whole update with
``400 Parameter verification failed.`` (``vcpus: hotplug problem - you can't add more vcpus
than maxcpus``); the other keys are written and the refused one stays pending, so the next plan
sees it pending and makes it a restart with drain. Nothing here restarts a VM by itself: a
refused or unconfirmed hotplug is an error naming the VM and the key.

The guest must bring what is plugged online. Ubuntu's ``40-vm-hotadd.rules`` does it only on
Hyper-V and Xen (it matches their DMI vendor), and PVE's documentation gives a udev rule for
Linux guests; so before a hotplug, apply writes that rule (CPUs and memory blocks onlined as
they appear) into the guest through the guest agent. It is not in the seed: the seed's digest
would change, and with it, for a VM that exists, its instance (a replace instead of a restart).
udevd reads a changed rules directory before the next event, so no reload is needed.
"""

from __future__ import annotations

from homelab.core.desired import DesiredVm
from homelab.core.plan.actions import UpdateVm
from homelab.core.plan.diff import HOT
from homelab.engine.apply import steps
from homelab.engine.apply.runtime import Runtime
from homelab.engine.apply.steps import VmRef
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.proxmox.errors import ApiError
from homelab.errors import LabError

__all__ = ["ONLINE_RULE", "RULES_FILE", "configure", "holds_back", "hot_keys"]

MIB = 1024 * 1024
HOTPLUG_PROBLEM = "hotplug problem"
NEXT_RUN = (
    "the new value stays pending in Proxmox, so the next run plans it as a restart with drain"
)


RULES_FILE = "/etc/udev/rules.d/80-homelab-hotplug.rules"
ONLINE_RULE = (
    "# homelab: bring CPUs and memory that Proxmox VE hotplugs online\n"
    'SUBSYSTEM=="cpu", ACTION=="add", TEST=="online", ATTR{online}=="0", ATTR{online}="1"\n'
    'SUBSYSTEM=="memory", ACTION=="add", TEST=="state", ATTR{state}=="offline", '
    'ATTR{state}="online"\n'
)


def hot_keys(action: UpdateVm) -> tuple[str, ...]:
    """The config keys the plan hotplugs (``vcpus``, ``memory``)."""
    return tuple(c.key.removesuffix(HOT) for c in action.changes if c.key.endswith(HOT))


def holds_back(action: UpdateVm) -> bool:
    """Whether ``configure_vm`` may have held back vcpus or memory of this restart (a VM with
    CPU or memory hotplug whose vcpus or memory change): ``restart_vm`` writes them then."""
    hotplug = action.desired.hotplug or any(c.key == "hotplug" for c in action.changes)
    return bool(hotplug) and any(c.key in ("vcpus", "memory") for c in action.changes)


def configure(rt: Runtime, ref: VmRef, action: UpdateVm) -> None:
    """Write the VM's managed keys (a hot-unplug held back until the VM is stopped), then check
    that what the plan hotplugs runs in the VM."""
    keys = hot_keys(action)
    if keys:
        write_online_rule(rt, ref)
    try:
        steps.configure_vm(rt, ref, action.desired, action.config_digest, hold_back=action.restart)
    except ApiError as exc:
        refused = {k: v for k, v in exc.errors.items() if HOTPLUG_PROBLEM in v}
        if not refused:
            raise
        texts = "; ".join(f"{key}: {text}" for key, text in sorted(refused.items()))
        raise LabError(
            f"vm {ref.name}: Proxmox refused to hotplug {', '.join(sorted(refused))} ({texts}); "
            f"{NEXT_RUN}"
        ) from exc
    if keys:
        confirm(rt, ref, action.desired, keys)


def write_online_rule(rt: Runtime, ref: VmRef) -> None:
    """The udev rule that onlines hot-added CPUs and memory, written into the guest."""
    channel = GuestChannel(rt.client, rt.clock, log=rt.guest_log)
    try:
        channel.write_file(
            ref.node, ref.vmid, RULES_FILE, ONLINE_RULE.encode(), timeout=rt.limits.agent_timeout
        )
    except LabError as exc:
        raise LabError(
            f"vm {ref.name}: the udev rule that brings hotplugged CPUs and memory online could "
            f"not be written in the guest ({exc.message}); nothing was plugged"
        ) from exc


def confirm(rt: Runtime, ref: VmRef, desired: DesiredVm, keys: tuple[str, ...]) -> None:
    """The VM's /status/current shows the hotplugged CPUs and memory, or an error."""
    status = rt.client.vm_status(ref.node, ref.vmid)
    missing = []
    if "vcpus" in keys and status.cpus != desired.cores:
        missing.append(f"vcpus: it runs {status.cpus} CPUs, not {desired.cores}")
    if "memory" in keys and status.maxmem != desired.memory_mib * MIB:
        runs = "?" if status.maxmem is None else str(status.maxmem // MIB)
        missing.append(f"memory: it runs {runs} MiB, not {desired.memory_mib}")
    if missing:
        raise LabError(
            f"vm {ref.name}: the hotplug did not take effect ({'; '.join(missing)}); {NEXT_RUN}"
        )
