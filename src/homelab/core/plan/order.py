"""The order a plan runs in, and the warnings that depend on it.

Phases: control planes first (create, update, replace, no-op, in spec order), then workers (spec
order), then destroys last: workers before control planes, by name. New capacity joins before
old capacity leaves, and a cluster never loses its control plane before its workers. A replace
is one action (destroy then create of the same VM) in its role's phase, so a replaced control
plane is back before any worker is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

from homelab.core.plan.actions import Action, DestroyVm

CONTROL_PLANE = "control-plane"


def order_key(action: Action, position: dict[str, int]) -> tuple[int, int, str]:
    control_plane = action.role == CONTROL_PLANE
    if isinstance(action, DestroyVm):
        return (3 if control_plane else 2, 0, action.vm)
    return (0 if control_plane else 1, position.get(action.vm, len(position)), action.vm)


def order_actions(actions: Sequence[Action], spec_order: Sequence[str]) -> tuple[Action, ...]:
    """Stable, deterministic order (independent of the order actions were found in)."""
    position = {name: index for index, name in enumerate(spec_order)}
    return tuple(sorted(actions, key=lambda action: order_key(action, position)))
