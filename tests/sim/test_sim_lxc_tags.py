"""LXC guests take VMIDs too, and datacenter.cfg's user-tag-access / registered-tags decide
which tags a user without Sys.Modify on / may write (pve-guest-common's assert_tag_permissions)."""

from __future__ import annotations

from homelab_sim.pve.simulator import PveSimulator
from tests.sim.support import Api

VM_PRIVS = ["VM.Audit", "VM.Config.Options", "VM.Allocate", "VM.Clone", "VM.Config.Disk"]


def test_a_container_shows_in_resources_and_holds_its_vmid(api: Api) -> None:
    api.ok("POST", "/_sim/lxc", data={"vmid": "150", "node": "pve", "name": "pihole"})
    guests = api.ok("GET", "/cluster/resources", params={"type": "vm"})
    ct = next(g for g in guests if g["vmid"] == 150)
    assert (ct["type"], ct["id"], ct["name"], ct["node"]) == ("lxc", "lxc/150", "pihole", "pve")
    assert api.ok("GET", "/cluster/nextid", params={"vmid": "151"}) == "151"
    taken = api.call("GET", "/cluster/nextid", params={"vmid": "150"})
    assert taken.status_code == 400
    create = api.call("POST", "/nodes/pve/qemu", data={"vmid": "150", "name": "x"})
    assert create.reason_phrase == "unable to create VM 150 - CT 150 already exists on node 'pve'"
    clone = api.ok("POST", "/nodes/pve/qemu/9000/clone", data={"newid": "150", "name": "y"})
    assert api.finish(clone)["exitstatus"].endswith("150.conf' failed: File exists")
    again = api.call("POST", "/_sim/lxc", data={"vmid": "150", "node": "pve"})
    assert again.status_code == 400


def _restricted(api: Api, sim: PveSimulator) -> Api:
    api.finish(api.clone(101, name="web"))
    token = sim.add_token("lab@pve!t", {"/vms": VM_PRIVS, "/": ["Sys.Audit"]})
    return Api(sim, token)


def test_user_tag_access_list_refuses_unlisted_tags(api: Api, sim: PveSimulator) -> None:
    user = _restricted(api, sim)
    assert user.ok("PUT", "/nodes/pve/qemu/101/config", data={"tags": "anything"}) is None  # free
    api.ok(
        "PUT",
        "/cluster/options",
        data={"user-tag-access": "user-allow=list,user-allow-list=ok1;ok2"},
    )
    options = user.ok("GET", "/cluster/options")
    assert options["user-tag-access"] == {"user-allow": "list", "user-allow-list": ["ok1", "ok2"]}
    assert options["allowed-tags"] == ["ok1", "ok2"]
    refused = user.call("PUT", "/nodes/pve/qemu/101/config", data={"tags": "anything;lab-x"})
    assert (refused.status_code, refused.reason_phrase) == (
        403,
        "Permission check failed (/, Sys.Modify for modifying tag 'lab-x')",
    )
    assert sim.state.vms[101].config["tags"] == "anything"
    # removing an existing unlisted tag is a change of that tag too
    assert user.call("PUT", "/nodes/pve/qemu/101/config", data={"tags": "ok1"}).status_code == 403
    assert user.ok("PUT", "/nodes/pve/qemu/101/config", data={"tags": "anything;ok1"}) is None
    # root (Sys.Modify on /) is never restricted
    assert api.ok("PUT", "/nodes/pve/qemu/101/config", data={"tags": "lab-x"}) is None


def test_registered_tags_need_sys_modify_and_none_allows_nothing(
    api: Api, sim: PveSimulator
) -> None:
    user = _restricted(api, sim)
    api.ok("PUT", "/cluster/options", data={"registered-tags": "homelab"})
    refused = user.call("PUT", "/nodes/pve/qemu/101/config", data={"tags": "homelab"})
    assert refused.status_code == 403
    assert user.ok("PUT", "/nodes/pve/qemu/101/config", data={"tags": "mine"}) is None
    api.ok("PUT", "/cluster/options", data={"user-tag-access": "user-allow=none"})
    assert user.call("PUT", "/nodes/pve/qemu/101/config", data={"tags": "x"}).status_code == 403
    denied = user.call("PUT", "/cluster/options", data={"registered-tags": "y"})
    assert denied.status_code == 403
    api.ok("PUT", "/cluster/options", data={"delete": "user-tag-access,registered-tags"})
    assert user.ok("PUT", "/nodes/pve/qemu/101/config", data={"tags": "homelab"}) is None
