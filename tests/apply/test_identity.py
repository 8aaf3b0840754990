"""apply's identity check (``steps.identity_problem``), one test per branch: before any step
touches a VMID, the VM there must be the expected one and one this lab (and store) may change."""

from __future__ import annotations

import pytest

from homelab.core.desired import DescriptionRecord, description_text
from homelab.core.ownership import Flags, Steward, Verb
from homelab.core.pve_reply import parse_config
from homelab.engine.apply.steps import VmRef, identity_problem

LAB = "home-lab"
REF = VmRef("k8s-worker-2", "pve", 201)
OURS = Steward(store="aaaa1111")
OUR_TAGS = "homelab;lab-home-lab;role-worker"


def record(lab: str = LAB, store: str = "aaaa1111") -> str:
    return description_text(
        DescriptionRecord(lab=lab, template="t", seed="s", digest="d", store=store)
    )


def problem(steward: Steward = OURS, verb: Verb = Verb.APPLY, **raw: str) -> str | None:
    config = {"name": "k8s-worker-2", "tags": OUR_TAGS, "description": record(), **raw}
    config = {key: value for key, value in config.items() if value != "-"}
    return identity_problem(
        LAB, REF, config, parse_config({**config, "digest": "x"}), steward, verb
    )


def test_the_lab_s_own_vm_passes() -> None:
    assert problem() is None
    assert problem(verb=Verb.DESTROY) is None


def test_a_template_is_refused() -> None:
    assert problem(template="1") == "is a template"


@pytest.mark.parametrize(("name", "shown"), [("k8s-worker-9", "k8s-worker-9"), ("-", "(no name)")])
def test_a_vm_with_another_name_is_refused(name: str, shown: str) -> None:
    assert problem(name=name) == f"is named {shown}"


def test_another_lab_s_vm_is_refused_by_its_tag_or_its_record() -> None:
    by_tag = problem(tags="homelab;lab-other;role-worker")
    assert by_tag is not None and by_tag.startswith("belongs to lab-other")
    by_record = problem(description=record(lab="other"))
    assert by_record is not None and by_record.startswith("belongs to lab-other")


def test_a_vm_with_no_mark_is_refused() -> None:
    found = problem(tags="terraform", description="-")
    assert found is not None and found.startswith("has no homelab tag or record")


def test_a_vm_tagged_by_hand_without_a_record_is_refused() -> None:
    found = problem(description="made by hand")
    assert found is not None and "carries the tag lab-home-lab but no homelab record" in found


def test_a_record_without_the_tag_passes_as_a_fresh_clone_has_one() -> None:
    assert problem(tags="-") is None


def test_another_store_s_vm_is_refused_unless_taken_over() -> None:
    theirs = record(store="bbbb2222")
    found = problem(description=theirs)
    assert found is not None and "managed by another state store (bbbb2222" in found
    taking = Steward(store="aaaa1111", flags=Flags(take_over=True))
    assert problem(taking, description=theirs) is None
    assert problem(description=record(store="")) is None  # a record older than store ids


def test_adopt_takes_what_apply_may_not() -> None:
    assert problem(verb=Verb.ADOPT, tags="terraform", description="-") is None
    assert problem(verb=Verb.ADOPT) is not None  # already the lab's: nothing to adopt
