"""VMIDs and tags against a datacenter with more than the lab in it: LXC containers hold VMIDs
the picker must skip, and tag rules (user-tag-access) that refuse the lab's tags are named."""

from __future__ import annotations

import pytest

from homelab.core.desired import managed_tags
from homelab.core.pve_reply import TagAccess, parse_cluster_resources, parse_tag_access
from homelab.core.tag_access import TAG_ACCESS_HINT, refused_tags, tag_access_problem
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import ConnectionSettings, parse_token
from homelab.engine.proxmox.errors import TagAccessDenied, classify_response
from homelab.verbs.provision import apply_lab
from homelab_sim.transport import SimTransport
from tests.apply.support import (
    FAST,
    Lab,
    assert_converged,
    guests,
    inprocess,
    new_sim,
    root_client,
    yes,
)

RESOURCES = [
    {"id": "qemu/9000", "type": "qemu", "vmid": 9000, "node": "pve", "template": 1},
    {"id": "lxc/200", "type": "lxc", "vmid": "200", "node": "pve", "name": "pihole"},
    {"id": "node/pve", "type": "node", "node": "pve"},
]


def test_guest_vmids_include_containers() -> None:
    assert parse_cluster_resources({"data": RESOURCES}).guest_vmids == frozenset({9000, 200})


def test_the_picker_skips_a_container_in_the_range(lab: Lab) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    root_client(sim).session.post("/_sim/lxc", vmid=200, node="pve", name="pihole")
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and outcome.report.ok, outcome.report
    assert 200 not in {vm.vmid for vm in guests(sim)}
    failed = [t.exitstatus for t in sim.state.tasks if t.type == "qmclone" and t.exitstatus != "OK"]
    assert failed == []  # no clone was sent to the container's VMID
    assert_converged(sim, lab.ctx, conn)


OPTIONS = {
    "user-tag-access": {"user-allow": "list", "user-allow-list": ["homelab"]},
    "registered-tags": ["role-worker"],
    "allowed-tags": ["homelab"],
}


def test_tag_access_is_parsed_from_cluster_options() -> None:
    access = parse_tag_access({"data": OPTIONS})
    assert access == TagAccess("list", ("homelab",), ("role-worker",), ("homelab",))
    assert parse_tag_access({"data": {"allowed-tags": []}}).user_allow == "free"
    raw = parse_tag_access({"user-tag-access": "user-allow=existing,user-allow-list=a;b"})
    assert (raw.user_allow, raw.allow_list) == ("existing", ("a", "b"))


def test_tag_access_problem_names_the_refused_tags() -> None:
    access = parse_tag_access(OPTIONS)
    tags = managed_tags("home-lab", "worker")
    assert refused_tags(access, tags, privileged=False) == ("lab-home-lab", "role-worker")
    problem = tag_access_problem(access, tags, privileged=False)
    assert problem is not None and "lab-home-lab, role-worker" in problem
    assert "registered tags (role-worker) need Sys.Modify on /" in problem
    assert tag_access_problem(access, tags, privileged=True) is None
    free = TagAccess(registered=())
    assert tag_access_problem(free, tags, privileged=False) is None
    only_list = TagAccess("list", allowed=("homelab",))
    text = tag_access_problem(only_list, ["homelab", "lab-x"], privileged=False)
    assert text is not None and text.endswith("user-tag-access is user-allow=list")


def test_a_refused_tag_write_is_tag_access_denied_with_a_way_out() -> None:
    text = "Permission check failed (/, Sys.Modify for modifying tag 'lab-x')"
    error = classify_response(403, text, {"message": text + "\n"})
    assert isinstance(error, TagAccessDenied) and error.hint == TAG_ACCESS_HINT


def test_the_client_meets_the_simulators_tag_rules() -> None:
    sim = new_sim()
    root = root_client(sim)
    root.wait_task(root.clone("pve", 9000, 201, name="w", full=False))
    root.session.put("/cluster/options", **{"user-tag-access": "user-allow=list"})
    privs = ["VM.Audit", "VM.Config.Options"]
    token_id, secret = parse_token(sim.add_token("lab@pve!t", {"/vms": privs}).reveal())
    settings = ConnectionSettings(
        endpoint="https://127.0.0.1:8006", token_id=token_id, token_secret=secret
    )
    with PveClient(settings, transport=SimTransport(sim)) as user:
        access = user.tag_access()
        assert access.user_allow == "free" and access.allowed == ()  # no Sys.Audit on /: defaults
        with pytest.raises(TagAccessDenied) as refused:
            user.update_config("pve", 201, tags="homelab")
    assert "Sys.Modify for modifying tag 'homelab'" in refused.value.message
    assert root.tag_access().user_allow == "list"
