"""The access API a user needs to set up a token, PVE's ACL resolution (propagation, privilege
separation, NoAccess, pools), PVE 8 and 9 privilege names, and the handler checks qemu-server
and pve-storage make beyond the schema, each with PVE's 403 text."""

from __future__ import annotations

from typing import Any

import pytest

from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.secret import Secret
from tests.sim.support import Api

PROVISIONER = "VM.Allocate,VM.Audit,VM.Clone,VM.Config.Options,VM.PowerMgmt,SDN.Use"


def new(major: int = 8) -> tuple[PveSimulator, Api]:
    sim = PveSimulator(SimConfig(time_scale=0, seed=7, pve_major=major))
    return sim, Api(sim)


def token(root: Api, userid: str, name: str, privsep: int = 1) -> Api:
    """A new token of ``userid`` (made if missing) through the API; a client using it."""
    if userid not in {u["userid"] for u in root.ok("GET", "/access/users")}:
        root.ok("POST", "/access/users", data={"userid": userid})
    made = root.ok("POST", f"/access/users/{userid}/token/{name}", data={"privsep": privsep})
    assert made["full-tokenid"] == f"{userid}!{name}" and made["info"]["privsep"] == privsep
    return Api(root.sim, Secret(f"{made['full-tokenid']}={made['value']}"))


def grant(root: Api, path: str, role: str, **who: Any) -> None:
    root.ok("PUT", "/access/acl", data={"path": path, "roles": role, **who})


def perms(client: Api, path: str) -> set[str]:
    return set(client.ok("GET", "/access/permissions", params={"path": path})[path])


def test_a_token_set_up_through_the_api_has_its_roles_intersected_with_its_users() -> None:
    _, root = new()
    root.ok("POST", "/access/roles", data={"roleid": "Provisioner", "privs": PROVISIONER})
    assert root.ok("GET", "/access/roles/Provisioner") == dict.fromkeys(PROVISIONER.split(","), 1)
    user = "homelab@pve"
    apply = token(root, user, "apply")
    grant(root, "/", "Provisioner", tokens=f"{user}!apply")
    assert perms(apply, "/vms/100") == set()  # the token's ACL alone: its user has nothing
    grant(root, "/", "PVEAuditor", users=user)
    assert perms(apply, "/vms/100") == {"VM.Audit"}  # the intersection
    grant(root, "/", "Provisioner", users=user)
    assert perms(apply, "/vms/100") == set(PROVISIONER.split(","))
    shared = token(root, user, "shared", privsep=0)  # no separation: the user's privileges
    assert "Sys.Audit" in perms(shared, "/") and "Sys.Audit" not in perms(apply, "/")
    # the secret is shown once; a deleted token no longer authenticates, its ACLs are gone
    assert "value" not in root.ok("GET", f"/access/users/{user}/token/apply")
    root.ok("DELETE", f"/access/users/{user}/token/apply")
    assert apply.call("GET", "/version").status_code == 401
    assert not [e for e in root.ok("GET", "/access/acl") if e["ugid"] == f"{user}!apply"]


def test_a_deeper_acl_replaces_what_the_root_propagates() -> None:
    _, root = new()
    user = "homelab@pve"
    client = token(root, user, "tok", privsep=0)
    grant(root, "/", "PVEVMAdmin", users=user)
    grant(root, "/storage/local", "PVEDatastoreUser", users=user)
    grant(root, "/vms/200", "PVEAuditor", users=user, propagate=0)
    assert perms(client, "/storage/local") == {"Datastore.AllocateSpace", "Datastore.Audit"}
    assert "VM.Allocate" not in perms(client, "/vms/200")  # replaced there...
    assert "VM.Allocate" in perms(client, "/vms/201")  # ...not beside it
    grant(root, "/vms/201", "NoAccess", users=user)
    assert perms(client, "/vms/201") == set()
    pool = root.ok
    pool("POST", "/pools", data={"poolid": "lab"})
    pool("PUT", "/pools/lab", data={"vms": "9000"})
    grant(root, "/pool/lab", "PVEAuditor", users=user)
    assert "VM.Audit" in perms(client, "/vms/9000")


def test_permissions_of_others_need_sys_audit_on_access() -> None:
    _, root = new()
    client = token(root, "ci@pve", "tok")
    denied = client.call("GET", "/access/permissions", params={"userid": "root@pam"})
    assert (denied.status_code, denied.reason_phrase) == (
        403,
        "Permission check failed (/access, Sys.Audit)",
    )
    own = client.ok("GET", "/access/permissions", params={"userid": "ci@pve!tok", "path": "/"})
    assert own == {"/": {}}


def test_acl_and_role_refusals_have_pves_texts() -> None:
    _, root = new()
    none = root.call("PUT", "/access/acl", data={"path": "/", "roles": "PVEAuditor"})
    assert none.status_code == 400
    assert none.json()["errors"] == dict.fromkeys(
        ("users", "groups", "tokens"), "either 'users', 'groups' or 'tokens' is required."
    )
    bad_path = root.call(
        "PUT", "/access/acl", data={"path": "/nowhere", "roles": "NoAccess", "users": "root@pam"}
    )
    assert bad_path.json()["errors"] == {"path": "invalid ACL path '/nowhere'"}
    role = root.call("PUT", "/access/acl", data={"path": "/", "roles": "Nope", "users": "root@pam"})
    assert (role.status_code, role.reason_phrase) == (
        500,
        "ACL update failed: role 'Nope' does not exist",
    )
    pve = root.call("POST", "/access/roles", data={"roleid": "PVEMine", "privs": "VM.Audit"})
    assert pve.json()["errors"] == {
        "roleid": "cannot use role ID starting with the (case-insensitive) 'PVE' namespace"
    }
    again = root.call("POST", "/access/roles", data={"roleid": "Administrator"})
    assert again.reason_phrase == "create role failed: role 'Administrator' already exists"
    root.ok("POST", "/access/users", data={"userid": "a@pve"})
    dup = root.call("POST", "/access/users/a@pve/token/tok")
    assert dup.status_code == 200
    dup = root.call("POST", "/access/users/a@pve/token/tok")
    assert dup.json()["errors"] == {"tokenid": "Token already exists."}


def test_without_permissions_modify_one_grants_only_what_one_holds() -> None:
    _, root = new()
    user = "admin@pve"
    client = token(root, user, "tok", privsep=0)
    grant(root, "/vms", "PVEVMAdmin", users=user)
    root.ok("POST", "/access/users", data={"userid": "other@pve"})
    ok = client.call(
        "PUT", "/access/acl", data={"path": "/vms/100", "roles": "PVEVMUser", "users": "other@pve"}
    )
    assert ok.status_code == 200
    more = client.call(
        "PUT", "/access/acl", data={"path": "/vms/100", "roles": "PVEAdmin", "users": "other@pve"}
    )
    assert more.json()["errors"] == {
        "role": "Cannot add role 'PVEAdmin' - requires 'Permissions.Modify' or superset of "
        "privileges."
    }
    elsewhere = client.call(
        "PUT", "/access/acl", data={"path": "/", "roles": "PVEVMUser", "users": "other@pve"}
    )
    assert elsewhere.reason_phrase == "Permission check failed (/, Permissions.Modify)"


@pytest.mark.parametrize(
    ("major", "refused", "release"),
    [(8, "VM.GuestAgent.Audit", "8.4"), (9, "VM.Monitor", "9.0")],
)
def test_each_version_has_its_own_privilege_names(major: int, refused: str, release: str) -> None:
    _, root = new(major)
    assert root.ok("GET", "/version")["release"] == release
    bad = root.call("POST", "/access/roles", data={"roleid": "R", "privs": f"VM.Audit,{refused}"})
    assert bad.json()["errors"] == {"privs": f"invalid privilege '{refused}'"}
    vm_admin = root.ok("GET", "/access/roles/PVEVMAdmin")
    assert ("VM.Monitor" in vm_admin) == (major == 8)
    assert ("VM.GuestAgent.Unrestricted" in vm_admin) == (major == 9)


@pytest.mark.parametrize(
    ("major", "needed", "text"),
    [
        (8, "VM.Monitor", "Permission check failed (/vms/101, VM.Monitor)"),
        (
            9,
            "VM.GuestAgent.Audit",
            "Permission check failed (/vms/101, VM.GuestAgent.Audit|VM.GuestAgent.Unrestricted)",
        ),
    ],
)
def test_guest_agent_calls_need_the_versions_privilege(major: int, needed: str, text: str) -> None:
    _, root = new(major)
    root.finish(root.clone(101))
    root.finish(root.ok("POST", "/nodes/pve/qemu/101/status/start"))
    client = token(root, "ci@pve", "tok", privsep=0)
    root.ok("POST", "/access/roles", data={"roleid": "Watch", "privs": "VM.Audit"})
    grant(root, "/", "Watch", users="ci@pve")
    denied = client.call("POST", "/nodes/pve/qemu/101/agent/ping")
    assert (denied.status_code, denied.reason_phrase) == (403, text)
    root.call("PUT", "/access/roles/Watch", data={"privs": needed, "append": 1})
    assert client.call("POST", "/nodes/pve/qemu/101/agent/ping").status_code != 403


def test_config_handler_checks_each_key_drive_bridge_and_volume() -> None:
    _, root = new()
    root.finish(root.clone(101))
    client = token(root, "ci@pve", "tok", privsep=0)
    root.ok("POST", "/access/roles", data={"roleid": "Cfg", "privs": "VM.Config.CDROM,VM.Audit"})
    grant(root, "/", "Cfg", users="ci@pve")

    def put(**data: Any) -> str:
        response = client.call("PUT", "/nodes/pve/qemu/101/config", data=data)
        return f"{response.status_code} {response.reason_phrase}"

    assert put(cores=4) == "403 Permission check failed (/vms/101, VM.Config.CPU)"
    assert put(args="-no-reboot") == "500 only root can set 'args' config"
    # the volume first (before anything changes), then the drive it replaces: the template's
    # ide2 is Proxmox's cloud-init drive, so replacing it needs Cloudinit as well as CDROM
    iso = "local:iso/seed.iso,media=cdrom"
    assert put(ide2=iso) == (
        "403 Permission check failed (/storage/local, Datastore.AllocateSpace|Datastore.Audit)"
    )
    root.ok("POST", "/access/roles", data={"roleid": "Read", "privs": "Datastore.Audit"})
    grant(root, "/storage/local", "Read", users="ci@pve")
    assert put(ide2=iso) == "403 Permission check failed (/vms/101, VM.Config.Cloudinit)"
    root.call("PUT", "/access/roles/Cfg", data={"privs": "VM.Config.Cloudinit", "append": 1})
    assert put(ide2=iso) == "500 volume 'local:iso/seed.iso' does not exist"
    root.call(
        "PUT",
        "/access/roles/Cfg",
        data={"privs": "VM.Config.Network,VM.Config.Options", "append": 1},
    )
    net = "virtio,bridge=vmbr0,tag=20"
    assert (
        put(net0=net) == "403 Permission check failed (/sdn/zones/localnetwork/vmbr0/20, SDN.Use)"
    )
    assert put(tags="x") == "200 OK"


def test_deleting_an_iso_needs_datastore_allocate_and_listing_needs_read_access() -> None:
    _, root = new()
    client = token(root, "ci@pve", "tok", privsep=0)
    root.ok("POST", "/access/roles", data={"roleid": "Up", "privs": "Datastore.AllocateTemplate"})
    grant(root, "/storage/local", "Up", users="ci@pve")
    files = {"filename": ("seed.iso", b"x" * 2048, "application/octet-stream")}
    upid = client.ok(
        "POST", "/nodes/pve/storage/local/upload", data={"content": "iso"}, files=files
    )
    root.finish(upid)
    listed = client.call("GET", "/nodes/pve/storage/local/content")
    assert listed.reason_phrase == (
        "Permission check failed (/storage/local, Datastore.Audit|Datastore.AllocateSpace)"
    )
    gone = client.call("DELETE", "/nodes/pve/storage/local/content/local:iso/seed.iso")
    assert (gone.status_code, gone.reason_phrase) == (
        403,
        "Permission check failed (/storage/local, Datastore.Allocate)",
    )
    root.call("PUT", "/access/roles/Up", data={"privs": "Datastore.Allocate", "append": 1})
    assert client.call("GET", "/nodes/pve/storage/local/content").status_code == 403
    assert (
        client.call("DELETE", "/nodes/pve/storage/local/content/local:iso/seed.iso").status_code
        == 200
    )
