"""A firewall plan as text (the VM plan's markers) and as JSON.

    + rule mgmt reaches SSH on the lab VMs (mgmt: mgmt -> lab_home_lab_vms tcp/22 pass)
    ~ alias lab_home_lab_vms: content 10.0.20.10 -> 10.0.20.10\\n10.0.20.23
    - DNS override old-vm (uuid ...): not in the spec

    Firewall plan: 1 to add, 1 to change, 1 to destroy (reconfigure: alias, rule).

Errors (``!``) and the lockout verdict come before the summary. Pure.
"""

from __future__ import annotations

from typing import Any

from homelab.core.network.objects import MODULE_NAMES
from homelab.core.network.plan import NetChange, NetPlan

NO_CHANGES = "No changes. The firewall matches the spec."
MARKERS = {"create": "+", "update": "~", "delete": "-"}


def change_line(change: NetChange) -> tuple[str, str]:
    """(marker, text) of one change."""
    name = f"{MODULE_NAMES[change.module]} {change.label}"
    if change.op == "create":
        return "+", f"{name} ({change.summary})" if change.summary else name
    if change.op == "delete":
        return "-", f"{name} (uuid {change.uuid}): {change.summary}"
    diffs = ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in change.changed.items())
    return "~", f"{name}: {diffs}"


def plan_lines(plan: NetPlan) -> list[tuple[str, str]]:
    """Every line of the plan as (marker, text); the CLI colours by marker."""
    lines = [change_line(change) for change in plan.changes]
    lines += [("!", error) for error in plan.errors]
    lines += [("*", warning) for warning in plan.warnings]
    if plan.reassigns_tool_interface:
        lines.append(
            (
                "!",
                f"this plan changes the assignment of {plan.tool_interface}, the interface "
                "homelab reaches the API through (--force to apply anyway)",
            )
        )
    if plan.lockout is not None and plan.blocks_tool_path:
        lines.append(
            ("!", f"this plan blocks homelab's own path to the API: {plan.lockout.text()}")
        )
    lines.append(("", summary(plan)))
    return lines


def summary(plan: NetPlan) -> str:
    if plan.is_noop:
        return NO_CHANGES
    counts = {op: sum(1 for c in plan.changes if c.op == op) for op in MARKERS}
    modules = ", ".join(plan.modules)
    return (
        f"Firewall plan: {counts['create']} to add, {counts['update']} to change, "
        f"{counts['delete']} to destroy (apply: {modules})."
    )


def plan_text(plan: NetPlan) -> str:
    return "\n".join(f"{marker} {text}" if marker else text for marker, text in plan_lines(plan))


def plan_to_dict(plan: NetPlan) -> dict[str, Any]:
    return {
        "lab": plan.lab,
        "opnsense_version": plan.version,
        "dhcp_server": plan.dhcp,
        "changes": [
            {
                "op": change.op,
                "module": change.module,
                "label": change.label,
                "uuid": change.uuid,
                "fields": change.fields,
                "changed": {k: {"old": o, "new": n} for k, (o, n) in change.changed.items()},
                "summary": change.summary,
            }
            for change in plan.changes
        ],
        "unchanged": plan.unchanged,
        "modules": plan.modules,
        "errors": list(plan.errors),
        "warnings": list(plan.warnings),
        "tool_path": None
        if plan.lockout is None
        else {"allowed": plan.lockout.allowed, "rule": plan.lockout.rule},
        "locks_out": plan.locks_out,
        "reassigns_tool_interface": plan.reassigns_tool_interface,
    }
