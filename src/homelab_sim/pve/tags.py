"""Who may set which guest tags: datacenter.cfg's ``user-tag-access`` and ``registered-tags``,
checked as pve-guest-common's ``PVE::GuestHelpers::assert_tag_permissions`` does.

A user with ``Sys.Modify`` on ``/`` may set any tag. Anyone else may add or remove a tag only if
``user-allow`` permits it (``free``: any tag; ``existing``: tags already on a guest the user may
audit, plus the allow list; ``list``: the allow list; ``none``: nothing) and it is not one of
the ``registered-tags``; otherwise the write fails with 403 ``Permission check failed (/,
Sys.Modify for modifying tag 'x')`` and changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import ApiError

USER_ALLOW = ("none", "list", "existing", "free")


def split_tags(value: object) -> list[str]:
    """PVE's ``split_list``: tags separated by ``;``, ``,`` or white space."""
    return [tag for tag in re.split(r"[;,\s]+", str(value or "")) if tag]


def user_tag_access(state_options: dict[str, str]) -> dict[str, Any]:
    """``user-tag-access`` as GET /cluster/options returns it (allow list split)."""
    raw = state_options.get("user-tag-access", "")
    out: dict[str, Any] = {}
    for part in (p for p in raw.split(",") if p):
        key, _, value = part.partition("=")
        out[key] = split_tags(value) if key == "user-allow-list" else value
    return out


def registered_tags(state_options: dict[str, str]) -> list[str]:
    return split_tags(state_options.get("registered-tags", ""))


def allowed_tags(ctx: Ctx) -> tuple[set[str], set[str], bool]:
    """``get_allowed_tags``: (allowed, privileged, freeform) for the request's user."""
    options = ctx.state.datacenter
    privileged_user = ctx.can("/", "Sys.Modify")
    privileged = set(registered_tags(options))
    access = user_tag_access(options)
    user_allow = access.get("user-allow", "free")
    allowed: set[str] = set()
    if user_allow != "none" or privileged_user:
        allowed |= set(access.get("user-allow-list", []))
    if user_allow in ("free", "existing") or privileged_user:
        for vm in ctx.state.vms.values():
            if privileged_user or ctx.can(f"/vms/{vm.vmid}", "VM.Audit"):
                allowed |= set(split_tags(vm.config.get("tags")))
        for ct in ctx.state.containers.values():
            if privileged_user or ctx.can(f"/vms/{ct.vmid}", "VM.Audit"):
                allowed |= set(split_tags(ct.tags))
    if privileged_user:
        allowed |= privileged
    else:
        allowed -= privileged
    return allowed, privileged, user_allow == "free"


def assert_tag_permissions(ctx: Ctx, old: object, new: object) -> None:
    """Raise 403 unless the user may make every tag change from ``old`` to ``new``."""
    if ctx.can("/", "Sys.Modify"):
        return
    before, after = Counter(split_tags(old)), Counter(split_tags(new))
    changed = sorted(tag for tag in before | after if before[tag] != after[tag])
    if not changed:
        return
    allowed, privileged, freeform = allowed_tags(ctx)
    for tag in changed:
        if (tag not in allowed and not freeform) or tag in privileged:
            raise ApiError(
                403, f"Permission check failed (/, Sys.Modify for modifying tag '{tag}')"
            )
