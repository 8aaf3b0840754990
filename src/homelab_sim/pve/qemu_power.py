"""Power state and the guest agent: /status/*, /agent/* (qemu-server).

Start checks run in the worker as on PVE, so they surface as the task's exit status:
templates cannot start, a running VM is not started twice, a lock refuses, and the node's CPUs
and memory are finite (more vCPUs than the node has: ``MAX <n> vcpus allowed per VM on this
node``; not enough free memory: QEMU cannot allocate guest RAM). At boot, pending changes are
applied and a ``cidata`` ISO in a CD-ROM drive is read and handed to the guest model.
"""

from __future__ import annotations

from typing import Any

from homelab_sim.guest.seed import (
    SeedDevice,
    SeedError,
    SeedFiles,
    cdrom_device_names,
    nocloud_pick,
    read_seed_iso,
)
from homelab_sim.guest.system import APT_BUSY
from homelab_sim.pve import drives, hotplug, latency
from homelab_sim.pve.cloudinit_drive import pve_cloudinit_seed
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import fail, locked_text, missing_vm_text
from homelab_sim.pve.faults import agent_timeout_text
from homelab_sim.pve.network import StartRefused, check_nics
from homelab_sim.pve.qemu_config import check_skiplock
from homelab_sim.pve.state import FlockHold, Task, Vm
from homelab_sim.pve.tasks import TaskFailed, acquire_flock, completion, start_task
from homelab_sim.pve.volumes import boot_disk_size, find_volume


def set_status(ctx: Ctx, vm: Vm, status: str) -> None:
    vm.prev_status = vm.status
    vm.status = "running" if status == "running" else "stopped"
    vm.status_since = ctx.now()
    ctx.changed = True


def vm_status(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    running = vm.status == "running"
    now = ctx.now()
    out: dict[str, Any] = {
        "vmid": vm.vmid,
        "name": vm.name(),
        "status": vm.status,
        "cpus": vm.vcpus(),
        "maxmem": vm.memory_bytes(),
        "mem": vm.memory_bytes() // 3 if running else 0,
        "cpu": 0.02 if running else 0,
        "maxdisk": boot_disk_size(ctx, vm),
        "disk": 0,
        "netin": 0,
        "netout": 0,
        "diskread": 0,
        "diskwrite": 0,
        "ha": {"managed": 0},
        "uptime": int(now - (vm.started_at or now)) if running else 0,
    }
    if _agent_option(vm) is not None:
        out["agent"] = 1 if _agent_option(vm) else 0
    if running:
        out.update(
            {
                "pid": 10000 + vm.vmid,
                "qmpstatus": "running",
                "running-machine": "pc-i440fx-8.1+pve0",
                "running-qemu": "8.1.5",
            }
        )
    if vm.is_template():
        out["template"] = 1
    if vm.lock():
        out["lock"] = vm.lock()
    if "tags" in vm.config:
        out["tags"] = vm.config["tags"]
    return out


def _power_task(ctx: Ctx, p: dict[str, Any], kind: str, duration: float) -> str:
    vm = ctx.vm(p["node"], p["vmid"])
    skiplock = check_skiplock(ctx, p)
    wait = acquire_flock(ctx, vm.vmid, shared=False, wait=latency.CONFIG_LOCK_WAIT)
    return start_task(
        ctx,
        node=vm.node,
        kind=kind,
        task_id=str(vm.vmid),
        duration=duration + wait,
        done=kind,
        args={"vmid": vm.vmid, "skiplock": skiplock, "force": bool(p.get("forceStop"))},
        flocks=[FlockHold(vmid=vm.vmid, shared=False)],
    )


def vm_start(ctx: Ctx, p: dict[str, Any]) -> Any:
    return _power_task(ctx, p, "qmstart", latency.START)


def vm_stop(ctx: Ctx, p: dict[str, Any]) -> Any:
    return _power_task(ctx, p, "qmstop", latency.STOP)


def vm_shutdown(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    return _power_task(ctx, p, "qmshutdown", latency.SHUTDOWN if vm.status == "running" else 0.5)


def vm_reboot(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    if vm.status != "running":
        raise fail(f"VM {vm.vmid} not running")
    return _power_task(ctx, p, "qmreboot", latency.reboot())


def _task_vm(ctx: Ctx, task: Task) -> Vm:
    vm = ctx.state.vms.get(int(task.args["vmid"]))
    if vm is None:
        raise TaskFailed(missing_vm_text(task.node, int(task.args["vmid"])))
    return vm


@completion("qmstart")
def _start_done(ctx: Ctx, task: Task, error: str | None) -> None:
    if error is not None:
        return
    vm = _task_vm(ctx, task)
    if vm.is_template():
        raise TaskFailed("you can't start a vm if it's a template")
    if vm.lock() and not task.args.get("skiplock"):
        raise TaskFailed(locked_text(str(vm.lock())))
    if vm.status == "running":
        raise TaskFailed(f"VM {vm.vmid} already running")
    if task.args.get(APT_BUSY):
        vm.guest[APT_BUSY] = float(task.args[APT_BUSY])
    boot_vm(ctx, vm, task.log)


def boot_vm(ctx: Ctx, vm: Vm, log: list[str]) -> None:
    """Start QEMU: check node resources, apply pending changes, hand the seed to the guest."""
    node = ctx.node(vm.node)
    if vm.maxcpus() > node.maxcpu:
        raise TaskFailed(f"MAX {node.maxcpu} vcpus allowed per VM on this node")
    apply_pending(vm)
    refusal = hotplug.start_refusal(vm)
    if refusal is not None:
        raise TaskFailed(refusal)
    _check_cicustom(ctx, vm)
    try:
        check_nics(node, vm)
    except StartRefused as exc:
        raise TaskFailed(str(exc)) from None
    used = sum(
        v.memory_bytes()
        for v in ctx.state.vms.values()
        if v.node == vm.node and v.status == "running"
    )
    if used + vm.memory_bytes() > node.maxmem:
        log.append("kvm: cannot set up guest memory 'pc.ram': Cannot allocate memory")
        raise TaskFailed("start failed: QEMU exited with code 1")
    _activate_volumes(ctx, vm)
    seed = attached_seed(ctx, vm, log)
    set_status(ctx, vm, "running")
    vm.started_at = ctx.now()
    if any(drives.is_cloudinit(drives.parse_drive(str(v))[0]) for v in vm.config.values()):
        log.append("generating cloud-init ISO")
    ctx.guest.on_boot(vm, seed, ctx.clock)


def _activate_volumes(ctx: Ctx, vm: Vm) -> None:
    """qemu-server's ``vm_start_nolock`` activates every volume of the config first
    (``get_current_vm_volumes``: each drive's storage volume, a CD-ROM's ISO included), and
    pve-storage's ``activate_volume`` dies for one that is not there: a VM whose CD-ROM names a
    deleted ISO does not start. ``none``, ``cdrom`` (the host's drive) and paths are no
    volumes."""
    for key, value in sorted(vm.config.items()):
        if not (isinstance(value, str) and drives.is_drive_key(key)):
            continue
        volid = drives.parse_drive(value)[0]
        if ":" not in volid or volid.startswith("/"):
            continue
        if find_volume(ctx, vm.node, volid) is None:
            raise TaskFailed(f"volume '{volid}' does not exist")


def _check_cicustom(ctx: Ctx, vm: Vm) -> None:
    """``cicustom`` snippets are read when the cloud-init image is generated, at start."""
    for part in str(vm.config.get("cicustom", "")).split(","):
        kind, _, volid = part.partition("=")
        if not volid:
            continue
        volume = find_volume(ctx, vm.node, volid)
        if volume is None:
            raise TaskFailed(f"volume '{volid}' does not exist")
        if volume.content != "snippets":
            raise TaskFailed(f"{kind} volume '{volid}' is not of content type 'snippets'")


def apply_pending(vm: Vm) -> None:
    vm.config.update(vm.pending)
    for key in vm.pending_delete:
        vm.config.pop(key, None)
    vm.pending.clear()
    vm.pending_delete.clear()


def attached_seed(ctx: Ctx, vm: Vm, log: list[str]) -> SeedFiles | None:
    """The seed the guest's cloud-init reads: of every ``cidata`` CD-ROM (ISOs read with
    pycdlib, PVE's own cloud-init drive as PVE generates it), the one NoCloud picks."""
    keys = [
        key
        for key, value in vm.config.items()
        if isinstance(value, str)
        and drives.is_drive_key(key)
        and (drives.is_cdrom(value) or drives.is_cloudinit(drives.parse_drive(value)[0]))
    ]
    names = cdrom_device_names(keys)
    found: list[SeedDevice] = []
    for key in keys:
        volid = drives.parse_drive(str(vm.config[key]))[0]
        if drives.is_cloudinit(volid):
            found.append(SeedDevice(key, names[key], pve_cloudinit_seed(vm.config, vm.vmid)))
            continue
        volume = find_volume(ctx, vm.node, volid)
        data = ctx.blobs.get(volume.blob) if volume and volume.blob else None
        if data is None:
            continue
        try:
            found.append(SeedDevice(key, names[key], read_seed_iso(data)))
        except SeedError as exc:
            log.append(f"WARN: {key}: {exc}")
    picked = nocloud_pick(found)
    return picked.seed if picked is not None else None


def _stop(ctx: Ctx, task: Task) -> Vm:
    vm = _task_vm(ctx, task)
    if vm.status == "running":
        if vm.lock() and not task.args.get("skiplock"):
            raise TaskFailed(locked_text(str(vm.lock())))
        set_status(ctx, vm, "stopped")
        vm.started_at = None
        ctx.guest.on_stop(vm)
    return vm


@completion("qmstop")
def _stop_done(ctx: Ctx, task: Task, error: str | None) -> None:
    if error is None:
        _stop(ctx, task)


@completion("qmshutdown")
def _shutdown_done(ctx: Ctx, task: Task, error: str | None) -> None:
    if error is None:
        _stop(ctx, task)


@completion("qmreboot")
def _reboot_done(ctx: Ctx, task: Task, error: str | None) -> None:
    if error is None:
        vm = _stop(ctx, task)
        boot_vm(ctx, vm, task.log)


def _agent_option(vm: Vm) -> bool | None:
    """None if ``agent`` is not set; else whether it is enabled."""
    raw = vm.config.get("agent")
    if raw is None:
        return None
    first = str(raw).split(",")[0]
    value = first.split("=", 1)[1] if first.startswith("enabled=") else first
    return value in {"1", "on", "yes", "true"}


def agent_vm(ctx: Ctx, p: dict[str, Any]) -> Vm:
    vm = ctx.vm(p["node"], p["vmid"])
    enabled = _agent_option(vm)
    if enabled is None:
        raise fail("No QEMU guest agent configured")
    if vm.status != "running":
        raise fail(f"VM {vm.vmid} is not running")
    if ctx.fault is not None and ctx.fault.kind == "agent_timeout":
        raise fail(agent_timeout_text(vm.vmid, ctx.fault.agent_command()))
    if not enabled or not ctx.guest.agent_ready(vm, ctx.now()):
        raise fail("QEMU guest agent is not running")
    return vm


def agent_ping(ctx: Ctx, p: dict[str, Any]) -> Any:
    agent_vm(ctx, p)
    return {"result": {}}


def agent_interfaces(ctx: Ctx, p: dict[str, Any]) -> Any:
    return {"result": ctx.guest.agent_interfaces(agent_vm(ctx, p))}


def agent_osinfo(ctx: Ctx, p: dict[str, Any]) -> Any:
    return {"result": ctx.guest.agent_osinfo(agent_vm(ctx, p))}


ROUTES = {
    ("GET", "/nodes/{node}/qemu/{vmid}/status/current"): vm_status,
    ("POST", "/nodes/{node}/qemu/{vmid}/status/start"): vm_start,
    ("POST", "/nodes/{node}/qemu/{vmid}/status/stop"): vm_stop,
    ("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown"): vm_shutdown,
    ("POST", "/nodes/{node}/qemu/{vmid}/status/reboot"): vm_reboot,
    ("POST", "/nodes/{node}/qemu/{vmid}/agent/ping"): agent_ping,
    ("GET", "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces"): agent_interfaces,
    ("GET", "/nodes/{node}/qemu/{vmid}/agent/get-osinfo"): agent_osinfo,
}
