"""Whether the datacenter's tag rules let the API token write the tags homelab sets.

PVE (pve-guest-common ``assert_tag_permissions``) lets a user without ``Sys.Modify`` on ``/``
add or remove a tag only if ``user-tag-access`` allows it (``free``: any; ``existing``/``list``:
the tags ``/cluster/options`` lists as ``allowed-tags`` for that user; ``none``: nothing) and it
is not a ``registered-tags`` entry; any other tag write is a 403 that changes nothing. Pure:
the caller reads ``/cluster/options`` (``PveClient.tag_access``) and knows whether the token has
``Sys.Modify`` on ``/`` (``/access/permissions``).

    problem = tag_access_problem(client.tag_access(), managed_tags(lab, role), privileged=False)
"""

from __future__ import annotations

from collections.abc import Iterable

from homelab.core.pve_reply import TagAccess

__all__ = ["TAG_ACCESS_HINT", "refused_tags", "tag_access_problem"]

TAG_ACCESS_HINT = (
    "allow the tags in Datacenter > Options > User Tag Access (user-allow=free, or a list "
    "holding them) and keep them out of Registered Tags, or give the token's user (and the "
    "token) Sys.Modify on /"
)


def refused_tags(access: TagAccess, tags: Iterable[str], *, privileged: bool) -> tuple[str, ...]:
    """The tags of ``tags`` PVE would refuse to let this user set or remove, sorted."""
    if privileged:
        return ()
    allowed, registered = set(access.allowed), set(access.registered)
    freeform = access.user_allow == "free"
    return tuple(
        sorted(
            tag for tag in set(tags) if tag in registered or (not freeform and tag not in allowed)
        )
    )


def tag_access_problem(access: TagAccess, tags: Iterable[str], *, privileged: bool) -> str | None:
    """One line saying which tags the token may not write and why; None when it may."""
    refused = refused_tags(access, tags, privileged=privileged)
    if not refused:
        return None
    registered = [tag for tag in refused if tag in access.registered]
    rule = (
        f"registered tags ({', '.join(registered)}) need Sys.Modify on /"
        if registered
        else f"user-tag-access is user-allow={access.user_allow}"
    )
    return (
        f"the datacenter's tag rules keep the token from writing tag(s) {', '.join(refused)} "
        f"that homelab sets on its VMs: {rule}"
    )
