"""/cluster/options: the datacenter options (datacenter.cfg) the simulator models, the ones
guest tags depend on: ``user-tag-access`` and ``registered-tags``.

GET answers every option to a user with ``Sys.Audit`` on ``/`` (property strings parsed, tag
lists split, as PVE does) plus ``allowed-tags``: the tags this user may set. PUT (``Sys.Modify``
on ``/``, checked by the schema's permissions) sets or deletes them.
"""

from __future__ import annotations

from typing import Any

from homelab_sim.pve import tags
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import param_fail

MODELLED = ("user-tag-access", "registered-tags")


def get_options(ctx: Ctx, p: dict[str, Any]) -> Any:
    options = ctx.state.datacenter
    out: dict[str, Any] = {}
    if ctx.can("/", "Sys.Audit"):
        if "user-tag-access" in options:
            out["user-tag-access"] = tags.user_tag_access(options)
        if "registered-tags" in options:
            out["registered-tags"] = tags.registered_tags(options)
    allowed, _, _ = tags.allowed_tags(ctx)
    out["allowed-tags"] = sorted(allowed)
    return out


def set_options(ctx: Ctx, p: dict[str, Any]) -> Any:
    deletes = tags.split_tags(p.get("delete"))
    unknown = [
        key
        for key in (*deletes, *(k for k in p if k not in ("delete", "digest")))
        if key not in MODELLED
    ]
    if unknown:
        raise param_fail(
            {key: "the simulator does not model this datacenter option" for key in unknown}
        )
    access = p.get("user-tag-access")
    if access is not None:
        allow = tags.user_tag_access({"user-tag-access": str(access)}).get("user-allow", "free")
        if allow not in tags.USER_ALLOW:
            raise param_fail(
                {
                    "user-tag-access": f"invalid format - user-allow: value '{allow}' "
                    f"does not have a value in the enumeration "
                    f"'{', '.join(tags.USER_ALLOW)}'"
                }
            )
    for key in deletes:
        ctx.state.datacenter.pop(key, None)
    for key in MODELLED:
        if key in p:
            ctx.state.datacenter[key] = str(p[key])
    ctx.changed = True
    return None


ROUTES = {
    ("GET", "/cluster/options"): get_options,
    ("PUT", "/cluster/options"): set_options,
}
