"""Storage and guests: uploads (multipart, snippet refusal), content, cidata seed + agent."""

from __future__ import annotations

import hashlib

from homelab_sim.pve.simulator import PveSimulator
from tests.sim.support import NETWORK_CONFIG, Api, make_iso, upload


def test_storage_listing(api: Api) -> None:
    stores = {s["storage"]: s for s in api.ok("GET", "/nodes/pve/storage")}
    assert stores["local"]["type"] == "dir" and "snippets" in stores["local"]["content"]
    assert stores["local-lvm"]["content"] == "images"
    assert stores["local-lvm"]["shared"] == 0 and stores["local-lvm"]["active"] == 1
    only_images = api.ok("GET", "/nodes/pve/storage", params={"content": "images"})
    assert [s["storage"] for s in only_images] == ["local-lvm"]
    status = api.ok("GET", "/nodes/pve/storage/local-lvm/status")
    assert status["used"] > 3 * 1024**3 and status["avail"] == status["total"] - status["used"]
    assert {s["storage"] for s in api.ok("GET", "/storage")} == {"local", "local-lvm"}


def test_upload_iso_then_delete(api: Api) -> None:
    data = make_iso("DATA", {"readme": "hello"})
    upid = upload(api, "tools.iso", data)
    assert upid.split(":")[5:7] == ["imgcopy", ""]
    assert not api.ok("GET", "/nodes/pve/storage/local/content", params={"content": "iso"})
    assert api.finish(upid)["exitstatus"] == "OK"
    isos = api.ok("GET", "/nodes/pve/storage/local/content", params={"content": "iso"})
    assert [(v["volid"], v["size"]) for v in isos] == [("local:iso/tools.iso", len(data))]
    delete = api.ok("DELETE", "/nodes/pve/storage/local/content/local:iso/tools.iso")
    assert api.finish(delete)["exitstatus"] == "OK"
    assert not api.ok("GET", "/nodes/pve/storage/local/content", params={"content": "iso"})
    gone = api.call("DELETE", "/nodes/pve/storage/local/content/local:iso/tools.iso")
    assert gone.reason_phrase == "volume 'local:iso/tools.iso' does not exist"


def test_upload_refusals(api: Api) -> None:
    snippet = api.call(
        "POST",
        "/nodes/pve/storage/local/upload",
        data={"content": "snippets"},
        files={"filename": ("user.yaml", b"#cloud-config\n", "text/plain")},
    )
    assert snippet.status_code == 400
    assert snippet.json()["errors"] == {
        "content": "value 'snippets' does not have a value in the enumeration 'iso, vztmpl, import'"
    }
    extension = api.call(
        "POST",
        "/nodes/pve/storage/local/upload",
        data={"content": "iso"},
        files={"filename": ("seed.txt", b"x", "text/plain")},
    )
    assert extension.json()["errors"] == {"filename": "wrong file extension"}
    lvm = api.call(
        "POST",
        "/nodes/pve/storage/local-lvm/upload",
        data={"content": "iso"},
        files={"filename": ("a.iso", b"x", "application/octet-stream")},
    )
    assert lvm.reason_phrase == "can't upload to storage type 'lvmthin'"
    form = api.call(
        "POST", "/nodes/pve/storage/local/upload", data={"content": "iso", "filename": "a.iso"}
    )
    assert (form.status_code, form.reason_phrase) == (
        500,
        "upload 'Content-Type 'application/x-www-form-urlencoded' not implemented",
    )


def test_checksum_mismatch_fails_the_task(api: Api) -> None:
    upid: str = api.ok(
        "POST",
        "/nodes/pve/storage/local/upload",
        data={"content": "iso", "checksum-algorithm": "sha256", "checksum": "0" * 64},
        files={"filename": ("a.iso", b"abc", "application/octet-stream")},
    )
    assert api.finish(upid)["exitstatus"].startswith("checksum mismatch")


def test_cidata_seed_drives_the_guest_agent(api: Api, sim: PveSimulator) -> None:
    api.finish(api.clone(101, name="k8s-master-1"))
    mac = api.ok("GET", "/nodes/pve/qemu/101/config")["net0"].split(",")[0].split("=")[1]
    seed = make_iso(
        "cidata",
        {
            # the stock cloud image has no guest agent: the seed installs it
            "user-data": "#cloud-config\nhostname: k8s-master-1\npackages: [qemu-guest-agent]\n",
            "meta-data": "instance-id: k8s-master-1\n",
            "network-config": NETWORK_CONFIG % mac.lower(),
        },
    )
    api.finish(upload(api, "seed-101.iso", seed))
    api.ok("PUT", "/nodes/pve/qemu/101/config", data={"ide3": "local:iso/seed-101.iso,media=cdrom"})
    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/start"), seconds=5)
    early = api.call("GET", "/nodes/pve/qemu/101/agent/network-get-interfaces")
    assert (early.status_code, early.reason_phrase) == (500, "QEMU guest agent is not running")
    sim.advance(30)
    assert api.ok("POST", "/nodes/pve/qemu/101/agent/ping") == {"result": {}}
    result = api.ok("GET", "/nodes/pve/qemu/101/agent/network-get-interfaces")["result"]
    by_name = {iface["name"]: iface for iface in result}
    assert by_name["lo"]["ip-addresses"][0]["ip-address"] == "127.0.0.1"
    assert by_name["ens18"]["hardware-address"] == mac.lower()
    assert by_name["ens18"]["ip-addresses"] == [
        {"ip-address": "10.0.10.11", "ip-address-type": "ipv4", "prefix": 24}
    ]
    vm = sim.state.vms[101]
    assert vm.seed is not None and "hostname: k8s-master-1" in vm.seed.user_data
    osinfo = api.ok("GET", "/nodes/pve/qemu/101/agent/get-osinfo")["result"]
    assert osinfo["version-id"] == "24.04"


def test_agent_disabled_or_absent(api: Api, sim: PveSimulator) -> None:
    api.finish(api.clone(101))
    api.ok("PUT", "/nodes/pve/qemu/101/config", data={"agent": "0"})
    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/start"))
    off = api.call("POST", "/nodes/pve/qemu/101/agent/ping")
    assert off.reason_phrase == "QEMU guest agent is not running"
    api.ok("PUT", "/nodes/pve/qemu/101/config", data={"delete": "agent"})
    absent = api.call("POST", "/nodes/pve/qemu/101/agent/ping")
    assert absent.reason_phrase == "No QEMU guest agent configured"


def test_ipconfig_addresses_without_seed(api: Api, sim: PveSimulator) -> None:
    api.finish(api.clone(101))
    api.ok("PUT", "/nodes/pve/qemu/101/config", data={"ipconfig0": "ip=10.0.20.5/24,gw=10.0.20.1"})
    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/start"))
    sim.advance(60)
    # PVE's own seed installs nothing, and the stock cloud image has no guest agent: no answer.
    refused = api.call("GET", "/nodes/pve/qemu/101/agent/network-get-interfaces")
    assert (refused.status_code, refused.reason_phrase) == (500, "QEMU guest agent is not running")
    # The address the guest took is the one of PVE's cloud-init drive.
    ifaces = sim.guest.agent_interfaces(sim.state.vms[101])
    assert ifaces[1]["ip-addresses"][0]["ip-address"] == "10.0.20.5"


def test_cicustom_snippets_must_exist_at_start(api: Api) -> None:
    api.finish(api.clone(101))
    api.ok("PUT", "/nodes/pve/qemu/101/config", data={"cicustom": "user=local:snippets/user.yaml"})
    start = api.ok("POST", "/nodes/pve/qemu/101/status/start")
    assert api.finish(start)["exitstatus"] == "volume 'local:snippets/user.yaml' does not exist"


def test_checksum_fields_are_read_in_pve_order_only(api: Api) -> None:
    """pve-http-server reads content, checksum-algorithm, checksum, then the file: the checksum
    is verified in the task; fields in another order are lost or refused, never half-read."""
    data = b"seed bytes"
    good = hashlib.sha256(data).hexdigest()
    upid: str = api.ok(
        "POST",
        "/nodes/pve/storage/local/upload",
        data={"content": "iso", "checksum-algorithm": "sha256", "checksum": good.upper()},
        files={"filename": ("a.iso", data, "application/octet-stream")},
    )
    assert api.finish(upid)["exitstatus"] == "OK"
    assert "calculating checksum...OK, checksum verified" in api.log(upid)
    swapped = api.call(
        "POST",
        "/nodes/pve/storage/local/upload",
        data={"content": "iso", "checksum": good, "checksum-algorithm": "sha256"},
        files={"filename": ("b.iso", data, "application/octet-stream")},
    )
    assert (swapped.status_code, swapped.reason_phrase, swapped.content) == (
        400,
        "Bad Request",
        b"",
    )
    after_file = api.call(
        "POST",
        "/nodes/pve/storage/local/upload",
        data={"content": "iso"},
        files={
            "filename": ("c.iso", data, "application/octet-stream"),
            "checksum": (None, good, None),
        },
    )
    assert after_file.status_code == 200  # PVE takes the later part as file data
    isos = api.ok("GET", "/nodes/pve/storage/local/content", params={"content": "iso"})
    assert "local:iso/b.iso" not in {v["volid"] for v in isos}


def test_checksum_mismatch_has_pves_text(api: Api) -> None:
    upid: str = api.ok(
        "POST",
        "/nodes/pve/storage/local/upload",
        data={"content": "iso", "checksum-algorithm": "sha256", "checksum": "AB" * 32},
        files={"filename": ("a.iso", b"abc", "application/octet-stream")},
    )
    got = hashlib.sha256(b"abc").hexdigest()
    assert (
        api.finish(upid)["exitstatus"] == f"checksum mismatch: got '{got}' != expect '{'AB' * 32}'"
    )
    assert not api.ok("GET", "/nodes/pve/storage/local/content", params={"content": "iso"})
