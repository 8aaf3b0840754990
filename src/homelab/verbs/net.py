"""The firewall verbs: ``net plan``, ``net apply``, ``net status``, ``net test``.

Each takes the valid spec and a ``Firewall`` (a client to OPNsense, the sleep its waits use, and
where a configuration kept for console recovery goes); the CLI opens the real firewall or the
simulated one. A spec without an ``opnsense:`` section, an unsupported version, a plan with
errors, or one that would close homelab's own path (without ``force``) stop before any write.
An object OPNsense refuses is reported at the spec line it comes from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from homelab.core.network import desired
from homelab.core.network.objects import Inventory, Module
from homelab.core.network.plan import NetPlan, plan_network, rollback_mode, tool_packet
from homelab.core.network.verdicts import Packet, Verdict, alias_table, evaluate
from homelab.core.spec.findings import SpecPath, format_path
from homelab.core.spec.load import load_text
from homelab.core.spec.models import LabSpec
from homelab.core.spec.opnsense import API_HOSTNAME
from homelab.engine.opnsense.apply import ApplyReport, Sleep, apply_plan
from homelab.engine.opnsense.client import OpnsenseClient
from homelab.engine.opnsense.errors import (
    LockoutRefused,
    OpnsenseValidationError,
    UnsupportedFirewall,
)
from homelab.engine.opnsense.observe import read_inventory
from homelab.errors import SpecError
from homelab.verbs.provision import Aborted, PlanRefused

__all__ = [
    "Firewall",
    "NetApplyOutcome",
    "net_apply",
    "net_plan",
    "net_status",
    "net_test",
    "object_path",
    "require_opnsense",
]


@dataclass
class Firewall:
    """An open connection to the lab's OPNsense."""

    client: OpnsenseClient
    sleep: Sleep
    recovery_dir: Path


@dataclass(frozen=True)
class NetApplyOutcome:
    plan: NetPlan
    report: ApplyReport | None  # None: nothing to do


def require_opnsense(spec: LabSpec, spec_path: Path) -> None:
    if spec.opnsense is None:
        raise SpecError(
            f"{spec_path}: the spec has no opnsense: section",
            hint="see examples/home-lab-opnsense.yaml and docs/opnsense.md",
        )


def net_plan(spec: LabSpec, firewall: Firewall) -> tuple[Inventory, NetPlan]:
    """Read the firewall once and plan; the plan's errors are in it, not raised."""
    inventory = read_inventory(firewall.client)
    return inventory, plan_network(spec, inventory)


def net_apply(
    spec: LabSpec,
    spec_path: Path,
    firewall: Firewall,
    *,
    force: bool = False,
    confirm: Callable[[NetPlan], bool] | None = None,
) -> NetApplyOutcome:
    """Plan, check, confirm, then apply with one reconfigure per module."""
    inventory, plan = net_plan(spec, firewall)
    mode = rollback_mode(inventory.version)
    if mode is None:
        raise UnsupportedFirewall(plan.errors[0])
    if plan.errors:
        raise PlanRefused(
            f"the firewall plan has {len(plan.errors)} error(s): {plan.errors[0]}",
            hint=f"run homelab net plan {spec_path}",
        )
    if plan.reassigns_tool_interface and not force:
        raise LockoutRefused(
            f"this plan changes the assignment of {plan.tool_interface}, the interface "
            f"homelab reaches the OPNsense API through ({_tool_path(spec)})",
            hint="change it from another network or the console, or pass --force if you reach "
            "the firewall another way",
        )
    if plan.blocks_tool_path and not force:
        assert plan.lockout is not None
        raise LockoutRefused(
            f"this plan would block homelab's own path to the OPNsense API "
            f"({_tool_path(spec)}): {plan.lockout.text()}",
            hint="change the rules, or pass --force if you reach the firewall another way",
        )
    if plan.is_noop:
        return NetApplyOutcome(plan, None)
    if confirm is not None and not confirm(plan):
        raise Aborted("nothing applied")
    try:
        report = apply_plan(
            firewall.client,
            plan,
            mode=mode,
            dhcp=inventory.dhcp,
            recovery_dir=firewall.recovery_dir,
            sleep=firewall.sleep,
            inventory=inventory,
        )
    except OpnsenseValidationError as exc:
        raise _at_spec_line(spec, spec_path, exc) from exc
    return NetApplyOutcome(plan, report)


def _tool_path(spec: LabSpec) -> str:
    assert spec.opnsense is not None
    return f"{spec.opnsense.source} to {spec.opnsense.host}:{spec.opnsense.port}"


@dataclass(frozen=True)
class NetStatus:
    plan: NetPlan
    tool_path: Verdict

    @property
    def in_sync(self) -> bool:
        return self.plan.is_noop and not self.plan.errors


def net_status(spec: LabSpec, firewall: Firewall) -> NetStatus:
    """In sync or drift (the changes a plan would make), and the tool's path now."""
    inventory, plan = net_plan(spec, firewall)
    rules = inventory.of("rule")
    verdict = evaluate(rules, alias_table(inventory.of("alias")), tool_packet(spec))
    return NetStatus(plan, verdict)


def resolve_place(spec: LabSpec, text: str) -> IPv4Address:
    """A VM name, ``api``, or an address, as an address."""
    if text in spec.vms:
        return spec.vms[text].ip
    if text == API_HOSTNAME:
        return spec.api_endpoint()
    try:
        return IPv4Address(text)
    except ValueError:
        known = ", ".join([*spec.vms, API_HOSTNAME])
        raise SpecError(f"'{text}' is no VM of the lab ({known}) nor an IPv4 address") from None


def net_test(
    spec: LabSpec, firewall: Firewall, source: str, to: str, port: int, protocol: str = "tcp"
) -> tuple[Packet, Verdict]:
    """What the rules on the firewall now do to a connection from ``source`` to ``to``:port."""
    assert spec.opnsense is not None
    src = resolve_place(spec, source)
    dst = resolve_place(spec, to)
    interface = next(
        (
            routed.interface
            for name, routed in spec.opnsense.networks.items()
            if src in spec.networks[name].cidr
        ),
        None,
    )
    if interface is None:
        raise SpecError(f"{src} is in none of the networks OPNsense routes (opnsense.networks)")
    inventory = read_inventory(firewall.client)
    packet = Packet(interface, src, dst, port, protocol)
    rules = inventory.of("rule")
    return packet, evaluate(rules, alias_table(inventory.of("alias")), packet)


def object_path(spec: LabSpec, module: str, label: str) -> SpecPath:
    """Where in the spec an object of the firewall plan comes from."""
    assert spec.opnsense is not None
    prefix = desired.alias_prefix(spec.name)
    own: dict[str, SpecPath] = {
        f"{prefix}_vms": ("vms",),
        f"{prefix}_api": ("kubernetes",),
        f"{prefix}_lb": ("kubernetes", "load_balancer"),
    }
    kinds: dict[str, Callable[[], SpecPath]] = {
        "vlan": lambda: ("opnsense", "networks", label),
        "assign": lambda: ("opnsense", "networks", label, "interface"),
        "alias": lambda: own.get(label, ("opnsense", "aliases", label)),
        "rule": lambda: _rule_path(spec, label),
        "host": lambda: ("vms", label) if label in spec.vms else ("kubernetes",),
        "dhcp": lambda: ("vms", label),
    }
    return kinds.get(module, lambda: ("opnsense",))()


def _rule_path(spec: LabSpec, label: str) -> SpecPath:
    assert spec.opnsense is not None
    for index, rule in enumerate(spec.opnsense.rules):
        if label == rule.description or label.startswith(f"{rule.description} (port "):
            return ("opnsense", "rules", index)
    return ("opnsense", "default_rules")


def _at_spec_line(spec: LabSpec, spec_path: Path, exc: OpnsenseValidationError) -> SpecError:
    module: Module | str = exc.module or ""
    path = object_path(spec, module, exc.label or "")
    where = str(spec_path)
    try:
        spot = load_text(spec_path.read_bytes(), str(spec_path)).index.locate(path)
        where = f"{spec_path}:{spot.line}:{spot.col}"
    except OSError:
        pass
    return SpecError(
        f"{where}: {format_path(path)}: OPNsense refused {module} {exc.label}: {exc.message}",
        hint="fix the spec and run homelab net plan again; what was written before took effect",
    )
