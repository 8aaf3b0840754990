"""Several nodes: per-node storages and templates, node-addressed VMs, cross-node refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from homelab_sim.pve.simulator import PveSimulator, SimConfig
from tests.sim.support import CEPH, Api


def test_each_node_has_its_storages_and_template() -> None:
    api = Api(PveSimulator(SimConfig(nodes=("pve", "pve2", "pve3"), time_scale=0)))
    assert [n["node"] for n in api.ok("GET", "/nodes")] == ["pve", "pve2", "pve3"]
    status = api.ok("GET", "/cluster/status")
    assert status[0] == {
        "type": "cluster", "id": "cluster", "name": "homelab-sim", "nodes": 3, "quorate": 1,
        "version": 4,
    }  # fmt: skip
    templates = {
        vm["vmid"]: vm["node"] for vm in api.ok("GET", "/cluster/resources", params={"type": "vm"})
    }
    assert templates == {9000: "pve", 9001: "pve2", 9002: "pve3"}
    names = {
        api.ok("GET", f"/nodes/{node}/qemu/{vmid}/config")["name"]
        for vmid, node in templates.items()
    }
    assert names == {"ubuntu-2404-cloudinit"}
    storages = [r["id"] for r in api.ok("GET", "/cluster/resources", params={"type": "storage"})]
    assert "storage/pve2/local-lvm" in storages and len(storages) == 6
    wrong_node = api.call("GET", "/nodes/pve/qemu/9001/config")
    assert (
        wrong_node.reason_phrase
        == "Configuration file 'nodes/pve/qemu-server/9001.conf' does not exist"
    )


def test_cross_node_clones() -> None:
    sim = PveSimulator(SimConfig(nodes=("pve", "pve2"), time_scale=0))
    api = Api(sim)
    local = api.call("POST", "/nodes/pve/qemu/9000/clone", data={"newid": 101, "target": "pve2"})
    assert local.reason_phrase == "can't clone VM to node 'pve2' (VM uses local storage)"
    unknown = api.call("POST", "/nodes/pve/qemu/9000/clone", data={"newid": 101, "target": "pve9"})
    assert unknown.reason_phrase == "no such cluster node 'pve9'"
    api.finish(api.ok("POST", "/nodes/pve2/qemu/9001/clone", data={"newid": 101}))
    elsewhere = api.clone(101)  # VMID 101 lives on pve2: the worker's rename fails
    assert api.finish(elsewhere)["exitstatus"] == (
        "clone failed: close (rename) atomic file '/etc/pve/nodes/pve/qemu-server/101.conf' "
        "failed: File exists"
    )
    assert api.ok("GET", "/nodes/pve2/qemu/101/config")["name"].startswith("Copy-of-VM-")
    snapshot = api.call("POST", "/nodes/pve/qemu/9000/clone", data={"newid": 102, "snapname": "s1"})
    assert snapshot.reason_phrase == "snapshot 's1' does not exist"


def test_serve_reports_bad_input_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "faults.yaml"
    bad.write_text("rules:\n  - path: /x\n    fault: explode\n    count: 1\n")
    for args in (
        ["--faults", str(bad)],
        ["--nodes", "pve,bad_name"],
        ["--faults", str(tmp_path / "no.yaml")],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "homelab", "sim", "serve", *args],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert done.stdout == ""
        assert "error:" in done.stderr and "Traceback" not in done.stderr


def test_faults_command_prints_a_valid_example() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "homelab", "sim", "faults"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "rules:" in done.stdout


#: A Ceph RBD storage for VM images, shared by every node (storage.cfg ``shared``).
def test_cross_node_clone_refusals_are_qemu_servers() -> None:
    """qemu-server ``clone_vm``: with ``storage``, the storage must be shared; and every volume
    of the source (disk, cloud-init drive) must be on shared storage, whatever ``storage``."""
    sim = PveSimulator(SimConfig(nodes=("pve", "pve2"), time_scale=0, storages=[CEPH]))
    api = Api(sim)

    def clone(**params: object) -> httpx.Response:
        data = {"newid": 101, "target": "pve2", "full": 1, **params}
        return api.call("POST", "/nodes/pve/qemu/9000/clone", data=data)

    local = clone(storage="local-lvm")
    assert (local.status_code, local.reason_phrase) == (
        500,
        "can't clone to non-shared storage 'local-lvm'",
    )
    onto_shared = clone(storage="ceph")
    assert onto_shared.reason_phrase == "can't clone VM to node 'pve2' (VM uses local storage)"
    no_images = clone(storage="local")
    assert no_images.status_code == 400
    assert no_images.json()["errors"] == {"storage": "storage 'local' does not support vm images"}
    assert 101 not in sim.state.vms


def test_a_template_wholly_on_shared_storage_clones_to_any_node() -> None:
    sim = PveSimulator(SimConfig(nodes=("pve", "pve2"), time_scale=0, storages=[CEPH]))
    api = Api(sim)
    api.finish(api.clone(150, name="on-ceph", full=1, storage="ceph"))
    config = api.ok("GET", "/nodes/pve/qemu/150/config")
    assert config["scsi0"].startswith("ceph:") and config["ide2"].startswith(
        "ceph:vm-150-cloudinit"
    )
    api.finish(api.ok("POST", "/nodes/pve/qemu/150/template"))
    api.finish(api.clone(151, source=150, name="moved", target="pve2"))
    assert api.ok("GET", "/nodes/pve2/qemu/151/config")["name"] == "moved"


def test_cluster_resources_list_nodes_and_storages_as_pve_does() -> None:
    """The entries the planner reads capacity and the ``shared`` flag from (apidoc.json)."""
    api = Api(PveSimulator(SimConfig(nodes=("pve", "pve2"), time_scale=0, storages=[CEPH])))
    entries = api.ok("GET", "/cluster/resources")
    node = next(e for e in entries if e["id"] == "node/pve2")
    assert {"maxcpu", "maxmem", "mem", "cpu", "status"} <= set(node)
    assert node["maxcpu"] == 16 and node["maxmem"] == 64 * 1024**3
    shared = {e["id"]: e["shared"] for e in entries if e["type"] == "storage"}
    assert shared == {
        f"storage/{n}/{s}": int(s == "ceph")
        for n in ("pve", "pve2")
        for s in ("local", "local-lvm", "ceph")
    }
    ceph = next(e for e in entries if e["id"] == "storage/pve/ceph")
    assert ceph["maxdisk"] == 1024**4 and ceph["disk"] == 0 and ceph["plugintype"] == "rbd"
