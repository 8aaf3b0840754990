"""SSH keys on a running lab: pushed through the guest agent, never by replacing a node.

The seed carries ``access.ssh_authorized_keys`` for cloud-init's first boot only; a node keeps
the seed it was born with (``verbs.lab.first_boot_seeds``), so a key change alone plans no
replace. Instead:

- ``ensure_keys``: a running node the store has no record of (a lab made before the record
  existed, a lost or restored store) has what it holds read from its ``authorized_keys`` and
  what it was born with from cloud-init's copy of its user-data (``engine.guest.userdata``),
  both through the guest agent: after a push the two differ, and the seed is rendered with the
  born ones. A node whose user-data cannot be read is taken to have been born with what it holds
  (a warning in the plan says what that may get wrong); one whose ``authorized_keys`` cannot
  be read keeps no record: its seed is then the spec's, as before;
- ``key_pushes``: the plan's running nodes whose recorded keys differ from the spec's;
- ``push_keys``: apply writes the spec's keys to each of them (``~/.ssh`` 0700 and
  ``authorized_keys`` 0600, the user's own, as cloud-init writes them), then records them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from homelab.core.observed import Observed, ObservedVm
from homelab.core.ownership import lab_vms
from homelab.core.plan.actions import CreateVm, DestroyVm, Plan, ReplaceVm
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.guest.userdata import BornFacts
from homelab.engine.state.access import NodeKeys, NodeKeysRecord
from homelab.errors import LabError
from homelab.verbs.connection import Connection
from homelab.verbs.guest_log import lab_channel
from homelab.verbs.lab import LabContext, read_born_facts

__all__ = ["ensure_keys", "key_pushes", "push_keys", "read_keys", "record_new_keys"]

TIMEOUT = 60.0


def _home(ctx: LabContext) -> str:
    return f"/home/{ctx.spec.access.user}"


def _running(ctx: LabContext, observed: Observed) -> list[tuple[str, str, int]]:
    return [(vm.name or "", vm.node, vm.vmid) for vm in _running_vms(ctx, observed)]


def _running_vms(ctx: LabContext, observed: Observed) -> list[ObservedVm]:
    return [
        vm
        for vm in lab_vms(ctx.lab, observed.vms)
        if vm.name in ctx.spec.vms and vm.status == "running"
    ]


def ensure_keys(conn: Connection, ctx: LabContext, observed: Observed) -> bool:
    """Record the keys of running nodes the store does not know yet; True if it recorded any
    (their first-boot seeds must then be rendered again)."""
    record = NodeKeysRecord(ctx.store, ctx.lab)
    known = record.all()
    unknown = [vm for vm in _running_vms(ctx, observed) if vm.name not in known]
    found = read_keys(
        conn, ctx.spec.access.user, unknown, lambda vm: read_born_facts(conn, ctx, vm)
    )
    if found:
        record.read_back(found)
    return bool(found)


def read_keys(
    conn: Connection,
    user: str,
    vms: Iterable[ObservedVm],
    born_facts: Callable[[ObservedVm], BornFacts | None],
) -> dict[str, NodeKeys]:
    """What each running VM holds (its ``authorized_keys``) and was born with (its user-data,
    ``born_facts``; what it holds when that cannot be read); VMs whose ``authorized_keys``
    cannot be read are left out."""
    channel = GuestChannel(conn.client, conn.clock)
    found: dict[str, NodeKeys] = {}
    for vm in vms:
        name = vm.name or str(vm.vmid)
        path = f"/home/{user}/.ssh/authorized_keys"
        try:
            data = channel.read_file(vm.node, vm.vmid, path, timeout=5)
        except LabError:
            continue  # no agent (yet), no privilege, no file: nothing to go on
        held = _keys(data.decode("utf-8", "replace"))
        facts = born_facts(vm)
        born = facts.keys if facts is not None and facts.keys is not None else held
        found[name] = NodeKeys(born, held)
    return found


def _keys(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def key_pushes(ctx: LabContext, plan: Plan, observed: Observed) -> tuple[str, ...]:
    """The running nodes (left in place by the plan) whose keys differ from the spec's."""
    moving = {a.vm for a in plan.actions if isinstance(a, CreateVm | ReplaceVm | DestroyVm)}
    wanted = tuple(ctx.spec.access.ssh_authorized_keys)
    known = NodeKeysRecord(ctx.store, ctx.lab).all()
    return tuple(
        name
        for name, _node, _vmid in _running(ctx, observed)
        if name not in moving and name in known and known[name].current != wanted
    )


def push_keys(
    conn: Connection, ctx: LabContext, observed: Observed, vms: Iterable[str]
) -> list[str]:
    """Write the spec's keys to each VM's ``authorized_keys``; the VMs done."""
    where = {name: (node, vmid) for name, node, vmid in _running(ctx, observed)}
    user, home = ctx.spec.access.user, _home(ctx)
    keys = tuple(ctx.spec.access.ssh_authorized_keys)
    channel = lab_channel(conn, ctx)
    record = NodeKeysRecord(ctx.store, ctx.lab)
    done = []
    for name in vms:
        node, vmid = where[name]
        staged = f"{home}/.ssh/.authorized_keys.homelab"

        def run(*argv: str, vm: str = name, on: str = node, at: int = vmid) -> None:
            result = channel.run(on, at, list(argv), timeout=TIMEOUT)
            if not result.ok:
                said = (result.stderr or result.stdout).strip().splitlines()
                raise LabError(
                    f"vm {vm}: `{' '.join(argv)}` failed (exit {result.exitcode})"
                    + (f": {said[-1]}" if said else ""),
                    hint="the guest agent runs it as root; is the user there?",
                )

        run("install", "-d", "-m", "700", "-o", user, "-g", user, f"{home}/.ssh")
        channel.write_file(node, vmid, staged, "".join(f"{k}\n" for k in keys).encode())
        run("install", "-m", "600", "-o", user, "-g", user, staged, f"{home}/.ssh/authorized_keys")
        run("rm", "-f", staged)
        record.pushed(name, keys)
        done.append(name)
    return done


def record_new_keys(ctx: LabContext, plan: Plan, done: set[str]) -> None:
    """VMs apply created or replaced were born with the spec's keys; gone ones are forgotten."""
    record = NodeKeysRecord(ctx.store, ctx.lab)
    keys = tuple(ctx.spec.access.ssh_authorized_keys)
    born = [a.vm for a in plan.actions if isinstance(a, CreateVm | ReplaceVm) and a.vm in done]
    gone = [a.vm for a in plan.actions if isinstance(a, DestroyVm) and a.vm in done]
    if born or gone:
        record.forget([*born, *gone])
    for vm in born:
        record.pushed(vm, keys)
