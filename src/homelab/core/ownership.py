"""Whose VM is this? The one rule every verb asks (plan, apply, reconcile, status, destroy, adopt,
up), so they can never disagree. Pure.

The marks homelab leaves on a VM it made (see ``desired``): the tags ``homelab``, ``lab-<lab>``,
``role-<role>`` and a description record naming the lab, and the state store that wrote it.
Tags are cheap to see (``/cluster/resources`` lists them) and cheap to forge (anyone may tag a
VM); the record needs the VM's config. So:

- the *tag* finds the lab's VMs; the *record* proves one is the lab's. A VM is the lab's when it
  carries this lab's record (a VM just cloned has it before its tags; a user may remove a tag:
  apply puts the tags back). Judging by ``/cluster/resources`` alone, a VM with the lab's tag,
  or with a spec VM's name, is ``UNPROVEN``: nothing may change or destroy it until its config
  was read (the planner asks for it). Leaving it alone (a no-op judged from
  ``/cluster/resources``) needs no proof, as it touches nothing;
- a VM without the tag and a name the spec does not have is ``FOREIGN`` (not looked at);
- a VM with the lab's tag but no homelab record was tagged by hand (``MARKED``): no verb changes
  or destroys it; ``adopt`` takes it over (writing the record) when its name is a spec VM's;
- a record written by another state store (``OTHER_STORE``: a second checkout, a laptop and
  CI) is left alone by every verb unless told ``--take-over``; a legacy record without a store
  is this store's;
- a VM of the lab (proven) whose name the spec no longer has is ``RETIRED``: ``apply`` destroys
  it, and so does ``destroy`` (both destroy every VM of the lab, and only those);
- another lab's tag or record (``OTHER_LAB``) wins over ours: nobody touches it; ``adopt`` takes it
  only with ``--from-other-lab``;
- a VM with no mark of any lab but a spec VM's name (``CLASH``) stops the plan; ``adopt``
  takes it;
- a VM with no name yet inside the lab's VMID range is being created (``UNNAMED``): the plan
  stops, as deciding without it could make a duplicate. Outside the range it is ``FOREIGN``;
- templates are never touched (they are only cloned from); anything else is ``FOREIGN``.

A store that never applied this lab while the lab's VMs exist (a fresh clone without
``.homelab/``) makes a new PKI: planning with it would replace every VM. ``store_problem`` says so
and the plan stops (``--take-over`` does not lift it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from homelab.core.desired import LAB_TAG_PREFIX, DescriptionRecord, lab_tag
from homelab.core.observed import ObservedVm

__all__ = [
    "NO_FLAGS",
    "NO_STEWARD",
    "Claimant",
    "Facts",
    "Flags",
    "Standing",
    "Steward",
    "Verb",
    "carries_mark",
    "classify",
    "lab_vms",
    "may",
    "other_lab_of",
    "standing_of",
    "store_problem",
    "tagged_for",
    "why_not",
]


@dataclass(frozen=True)
class Flags:
    """What the user allowed beyond the defaults."""

    take_over: bool = False
    from_other_lab: bool = False
    #: go on with a replace or removal the day-2 rule refuses (``core.plan.disruption``)
    recreate_cluster: bool = False
    #: go past a drain that cannot finish (a disruption budget, an API server that does not
    #: answer): the pods left are deleted, or the VM changed undrained
    force_drain: bool = False
    #: restart adopted VMs when a change needs it (their first boot was not homelab's)
    restart_adopted: bool = False


NO_FLAGS = Flags()


@dataclass(frozen=True)
class Steward:
    """The state store planning: its id, whether it ever applied the lab, what the user allowed.
    The defaults (no id, applied) are those of pure callers that have no store."""

    store: str = ""
    applied: bool = True
    flags: Flags = NO_FLAGS


NO_STEWARD = Steward()


class Standing(StrEnum):
    """What a VM is to one lab."""

    OURS = "ours"
    RETIRED = "retired"
    UNPROVEN = "unproven"
    MARKED = "marked"
    OTHER_STORE = "other-store"
    OTHER_LAB = "other-lab"
    CLASH = "clash"
    UNNAMED = "unnamed"
    TEMPLATE = "template"
    FOREIGN = "foreign"


class Verb(StrEnum):
    """The verbs that change a VM: apply (update, replace, destroy a retired VM), destroy, adopt."""

    APPLY = "apply"
    DESTROY = "destroy"
    ADOPT = "adopt"


@dataclass(frozen=True)
class Claimant:
    """The lab asking: its name, its spec's VM names, its VMID range, its state store's id."""

    lab: str
    names: frozenset[str]
    vmids: range
    store: str


@dataclass(frozen=True)
class Facts:
    """What is known of a VM: ``record_known`` is False until its config was read."""

    vmid: int
    name: str | None
    tags: tuple[str, ...]
    template: bool
    record: DescriptionRecord | None
    record_known: bool

    @classmethod
    def of(cls, vm: ObservedVm) -> Facts:
        config = vm.config
        return cls(
            vmid=vm.vmid,
            name=vm.name if config is None else config.name,
            tags=vm.tags if config is None else tuple(dict.fromkeys((*vm.tags, *config.tags))),
            template=vm.template,
            record=config.record if config is not None else None,
            record_known=config is not None,
        )


def other_lab_of(lab: str, facts: Facts) -> str | None:
    """The other lab a VM is marked for (tag or record), or None."""
    ours = lab_tag(lab)
    for tag in facts.tags:
        lower = tag.lower()
        if lower.startswith(LAB_TAG_PREFIX) and lower != ours:
            return lower[len(LAB_TAG_PREFIX) :]
    if facts.record is not None and facts.record.lab != lab:
        return facts.record.lab
    return None


def classify(who: Claimant, facts: Facts) -> Standing:
    """The one rule (see the module docstring), in order."""
    if facts.template:
        return Standing.TEMPLATE
    if facts.name is None:
        return Standing.UNNAMED if facts.vmid in who.vmids else Standing.FOREIGN
    if other_lab_of(who.lab, facts) is not None:
        return Standing.OTHER_LAB
    in_spec = facts.name in who.names
    tagged = lab_tag(who.lab) in {tag.lower() for tag in facts.tags}
    if not facts.record_known:
        return Standing.UNPROVEN if tagged or in_spec else Standing.FOREIGN
    if facts.record is None:
        if tagged:
            return Standing.MARKED
        return Standing.CLASH if in_spec else Standing.FOREIGN
    if facts.record.store and facts.record.store != who.store:
        return Standing.OTHER_STORE
    return Standing.OURS if in_spec else Standing.RETIRED


def standing_of(who: Claimant, vm: ObservedVm) -> Standing:
    return classify(who, Facts.of(vm))


def may(standing: Standing, verb: Verb, *, in_spec: bool, flags: Flags = NO_FLAGS) -> bool:
    """Whether ``verb`` may change a VM of this standing (``in_spec``: its name is a spec VM's)."""
    if standing is Standing.OTHER_STORE:
        return flags.take_over and (verb is not Verb.ADOPT or in_spec)
    if verb is Verb.ADOPT:
        if standing is Standing.OTHER_LAB:
            return flags.from_other_lab and in_spec
        return standing in (Standing.MARKED, Standing.CLASH) and in_spec
    return standing in (Standing.OURS, Standing.RETIRED)


def why_not(who: Claimant, facts: Facts, standing: Standing) -> str:
    """Why a VM is not the lab's, and what the user can do, for error messages."""
    if standing is Standing.OTHER_LAB:
        return (
            f"it belongs to {lab_tag(other_lab_of(who.lab, facts) or '?')}; rename the VM in the "
            "spec "
            "(taking another lab's VM needs `homelab adopt --from-other-lab`)"
        )
    if standing is Standing.OTHER_STORE:
        store = facts.record.store if facts.record else "?"
        return (
            f"it is managed by another state store ({store}, this one is {who.store}); "
            "share one store (HOMELAB_STATE_URL) or pass --take-over if that store is gone"
        )
    if standing is Standing.MARKED:
        return (
            f"it carries the tag {lab_tag(who.lab)} but no homelab record (tagged by "
            f"hand?); run `homelab adopt SPEC` to take it over, or rename it in the spec"
        )
    if standing is Standing.CLASH:
        return (
            "it has no homelab tag or record; run "
            "`homelab adopt SPEC` to take it over, or rename it in the spec"
        )
    if standing is Standing.TEMPLATE:
        return "it is a template"
    if standing is Standing.UNPROVEN:
        return "its config must be read to know whose it is"
    if standing is Standing.UNNAMED:
        return "it has no name yet (it is being created)"
    return f"it is not a VM of lab {who.lab}"


def carries_mark(lab: str, facts: Facts) -> bool:
    """Whether a VM carries this lab's tag or record (and no other lab's): the VMs status shows,
    up checks and a new store must not plan over. Proof of ownership is ``classify``'s."""
    if facts.template or other_lab_of(lab, facts) is not None:
        return False
    tagged = lab_tag(lab) in {tag.lower() for tag in facts.tags}
    return tagged or facts.record is not None


def tagged_for(lab: str, tags: Iterable[str]) -> bool:
    """Judging by tags alone (``/cluster/resources``): the lab's tag and no other lab's."""
    lowered = {tag.lower() for tag in tags}
    others = {tag for tag in lowered if tag.startswith(LAB_TAG_PREFIX)} - {lab_tag(lab)}
    return lab_tag(lab) in lowered and not others


def lab_vms(lab: str, vms: Iterable[ObservedVm]) -> list[ObservedVm]:
    """The named VMs carrying this lab's mark (see ``carries_mark``)."""
    return [vm for vm in vms if vm.name and carries_mark(lab, Facts.of(vm))]


def store_problem(lab: str, store_applied: bool, recorded: int) -> str | None:
    """A store that never applied this lab must not plan over the lab's existing VMs."""
    if store_applied or recorded == 0:
        return None
    return (
        f"this state store has never applied lab {lab}, but {recorded} VM(s) of the lab exist on "
        "Proxmox: planning with a new PKI would replace them all. Use the store that made them: "
        "share it through PostgreSQL (HOMELAB_STATE_URL=postgresql://...), or copy its "
        "`.homelab/` directory beside the spec, or, if it is lost, rebuild it from the running "
        "lab with `homelab state recover SPEC --replace` (this store holds a new PKI)"
    )
