"""The one ownership rule (``homelab.core.ownership``), as a table.

Every combination of tag (none, this lab's, another lab's, both), description record (config
not read, none, this lab's by this store, by a store without an id, by another store, another
lab's), name (a spec VM's, another, none yet), VMID (inside the lab's range or not) and template
flag gets the standing the table states; a second table states which verbs may change a VM of
each standing, with and without ``--take-over`` and ``--from-other-lab``.
"""

from __future__ import annotations

import itertools

import pytest

from homelab.core.desired import DescriptionRecord
from homelab.core.ownership import (
    Claimant,
    Facts,
    Flags,
    Standing,
    Verb,
    classify,
    may,
    store_problem,
    tagged_for,
    why_not,
)

LAB = "home-lab"
STORE = "aaaa1111"
WHO = Claimant(LAB, frozenset({"k8s-worker-2"}), range(200, 300), STORE)

TAGS: dict[str, tuple[str, ...]] = {
    "none": ("terraform",),
    "ours": ("homelab", "lab-home-lab", "role-worker"),
    "other": ("homelab", "lab-other", "role-worker"),
    "both": ("homelab", "lab-home-lab", "lab-other"),
}


def record(lab: str, store: str) -> DescriptionRecord:
    return DescriptionRecord(lab=lab, template="t", seed="s", digest="d", store=store)


#: record -> (record, record_known)
RECORDS: dict[str, tuple[DescriptionRecord | None, bool]] = {
    "unread": (None, False),
    "none": (None, True),
    "ours": (record(LAB, STORE), True),
    "legacy": (record(LAB, ""), True),
    "other-store": (record(LAB, "bbbb2222"), True),
    "other-lab": (record("other", STORE), True),
}

S = Standing
#: (tag, record) -> (standing under a spec VM's name, standing under another name)
TABLE: dict[tuple[str, str], tuple[Standing, Standing]] = {
    ("none", "unread"): (S.UNPROVEN, S.FOREIGN),
    ("none", "none"): (S.CLASH, S.FOREIGN),
    ("none", "ours"): (S.OURS, S.RETIRED),
    ("none", "legacy"): (S.OURS, S.RETIRED),
    ("none", "other-store"): (S.OTHER_STORE, S.OTHER_STORE),
    ("none", "other-lab"): (S.OTHER_LAB, S.OTHER_LAB),
    ("ours", "unread"): (S.UNPROVEN, S.UNPROVEN),
    ("ours", "none"): (S.MARKED, S.MARKED),
    ("ours", "ours"): (S.OURS, S.RETIRED),
    ("ours", "legacy"): (S.OURS, S.RETIRED),
    ("ours", "other-store"): (S.OTHER_STORE, S.OTHER_STORE),
    ("ours", "other-lab"): (S.OTHER_LAB, S.OTHER_LAB),
    **{("other", rec): (S.OTHER_LAB, S.OTHER_LAB) for rec in RECORDS},
    **{("both", rec): (S.OTHER_LAB, S.OTHER_LAB) for rec in RECORDS},
}

CASES = list(itertools.product(TAGS, RECORDS, ("spec", "other", "unnamed"), (250, 150), (0, 1)))


def test_the_table_covers_every_tag_and_record() -> None:
    assert set(TABLE) == set(itertools.product(TAGS, RECORDS))


@pytest.mark.parametrize(("tag", "rec", "name", "vmid", "template"), CASES)
def test_standing(tag: str, rec: str, name: str, vmid: int, template: int) -> None:
    names = {"spec": "k8s-worker-2", "other": "scratch", "unnamed": None}
    found, known = RECORDS[rec]
    facts = Facts(vmid, names[name], TAGS[tag], bool(template), found, known)
    if template:
        expected = S.TEMPLATE
    elif name == "unnamed":
        expected = S.UNNAMED if vmid in WHO.vmids else S.FOREIGN
    else:
        expected = TABLE[(tag, rec)][0 if name == "spec" else 1]
    assert classify(WHO, facts) is expected


A, D, P = Verb.APPLY, Verb.DESTROY, Verb.ADOPT
NONE, TAKE, STEAL = Flags(), Flags(take_over=True), Flags(from_other_lab=True)
#: (standing, in_spec, flags) -> the verbs that may change the VM
VERBS: dict[tuple[Standing, bool, Flags], set[Verb]] = {
    (S.OURS, True, NONE): {A, D},
    (S.RETIRED, False, NONE): {A, D},
    (S.UNPROVEN, True, NONE): set(),
    (S.UNPROVEN, False, NONE): set(),
    (S.MARKED, True, NONE): {P},
    (S.MARKED, False, NONE): set(),
    (S.CLASH, True, NONE): {P},
    (S.OTHER_STORE, True, NONE): set(),
    (S.OTHER_STORE, False, NONE): set(),
    (S.OTHER_STORE, True, TAKE): {A, D, P},
    (S.OTHER_STORE, False, TAKE): {A, D},
    (S.OTHER_LAB, True, NONE): set(),
    (S.OTHER_LAB, True, TAKE): set(),
    (S.OTHER_LAB, True, STEAL): {P},
    (S.OTHER_LAB, False, STEAL): set(),
    (S.UNNAMED, False, NONE): set(),
    (S.TEMPLATE, True, NONE): set(),
    (S.TEMPLATE, True, STEAL): set(),
    (S.FOREIGN, False, NONE): set(),
    (S.FOREIGN, False, STEAL): set(),
}


@pytest.mark.parametrize(("standing", "in_spec", "flags"), list(VERBS))
def test_which_verbs_may_touch_which_vm(standing: Standing, in_spec: bool, flags: Flags) -> None:
    allowed = {verb for verb in Verb if may(standing, verb, in_spec=in_spec, flags=flags)}
    assert allowed == VERBS[(standing, in_spec, flags)]


def test_every_standing_is_in_the_verb_table() -> None:
    assert {standing for standing, _, _ in VERBS} == set(Standing)


def test_the_hint_for_another_labs_vm_is_not_a_plain_adopt() -> None:
    facts = Facts(150, "k8s-worker-2", TAGS["other"], False, None, False)
    text = why_not(WHO, facts, classify(WHO, facts))
    assert "belongs to lab-other" in text
    assert "`homelab adopt SPEC`" not in text and "--from-other-lab" in text
    clash = Facts(150, "k8s-worker-2", TAGS["none"], False, None, True)
    assert "`homelab adopt SPEC`" in why_not(WHO, clash, classify(WHO, clash))


def test_tags_alone_as_up_reads_them() -> None:
    assert tagged_for(LAB, ("Lab-Home-Lab",))
    assert not tagged_for(LAB, TAGS["both"])
    assert not tagged_for(LAB, TAGS["none"])


def test_a_store_that_never_applied_the_lab_stops_only_when_the_lab_exists() -> None:
    assert store_problem(LAB, True, 3) is None
    assert store_problem(LAB, False, 0) is None
    text = store_problem(LAB, False, 3)
    assert text is not None and "3 VM(s)" in text
    for way in ("HOMELAB_STATE_URL", ".homelab/", "homelab state recover"):
        assert way in text
