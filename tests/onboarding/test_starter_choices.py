"""The choices of ``core.onboarding.from_proxmox`` on clusters made by hand: several nodes, a
node-local or a shared template, storages by content type, crowded networks."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface

import pytest
import yaml

from homelab.core.observed import Disk, NetDevice, NodeCapacity, ObservedVm, StorageSpace, VmConfig
from homelab.core.onboarding.from_proxmox import Inventory, VmFacts, starter_spec
from homelab.core.pve_inventory import Bridge
from homelab.core.spec.validate import validate_text
from homelab.core.storage_facts import StorageFacts

GIB = 1024**3
K8S = "kubernetes:\n  version: 1.29.15\n  load_balancer: {addresses: 10.0.20.200-10.0.20.250}\n"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICR1Kjxkp8TY39QQ8rPrvZta2Cl81ledsQySZv20Y4+h a@b"


def _template(
    vmid: int, node: str, storage: str, name: str = "noble", agent: bool = True
) -> VmFacts:
    config = VmConfig(
        name=name,
        cores=2,
        sockets=1,
        memory_mib=2048,
        net0=NetDevice(model="virtio", mac=None, bridge="vmbr0", tag=None, firewall=False),
        boot_disk=Disk(key="scsi0", volid=f"{storage}:base-{vmid}-disk-0", size_gib=4),
        cdroms=(),
        agent=agent,
        description=None,
        record=None,
        tags=(),
        onboot=False,
        digest="d",
        template=True,
    )
    vm = ObservedVm(
        vmid=vmid,
        name=name,
        node=node,
        status="stopped",
        template=True,
        lock=None,
        tags=(),
        maxmem_mib=2048,
        cores=2,
        disk_gib=4,
        config=config,
    )
    return VmFacts(vm, has_cloudinit=True)


def _inventory(*guests: VmFacts, shared: bool = False, bridges: bool = True) -> Inventory:
    storages = {
        "local": StorageFacts("local", frozenset({"iso", "backup"})),
        "local-lvm": StorageFacts("local-lvm", frozenset({"images"})),
        "big-lvm": StorageFacts("big-lvm", frozenset({"images"})),
        "ceph": StorageFacts("ceph", frozenset({"images"}), shared=True),
    }
    space = {
        "local": StorageSpace(100 * GIB),
        "local-lvm": StorageSpace(400 * GIB),
        "big-lvm": StorageSpace(900 * GIB),
    }
    if shared:
        space["ceph"] = StorageSpace(2000 * GIB, shared=True)
    nodes = ("pve1", "pve2", "pve3")
    vmbr0 = Bridge(
        name="vmbr0",
        vlan_aware=False,
        ports=("eno1",),
        address=IPv4Interface("10.0.10.2/24"),
        gateway=IPv4Address("10.0.10.1"),
        mtu=1500,
        active=True,
    )
    return Inventory(
        endpoint="https://10.0.10.2:8006",
        version="8.4.1",
        capacities={n: NodeCapacity(n, 16, 64 * GIB, space) for n in nodes},
        storages=storages,
        bridges={n: (vmbr0,) if bridges else () for n in nodes},
        guests=guests,
        guest_vmids=frozenset(g.vm.vmid for g in guests),
    )


def _spec(text: str) -> dict[str, object]:
    parsed = validate_text(text, "lab.yaml")
    assert parsed.spec is not None and not parsed.errors, parsed.errors
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def test_a_node_local_template_keeps_the_lab_on_its_nodes() -> None:
    inventory = _inventory(
        _template(9000, "pve1", "local-lvm"), _template(9001, "pve2", "local-lvm")
    )
    starter = starter_spec(inventory, name="lab", token_id="a@pve!b", ssh_key=KEY, kubernetes=K8S)
    assert starter.nodes == ("pve1", "pve2")
    assert starter.storage == "local-lvm"  # the template's own, not the bigger big-lvm
    assert any("copy the template to pve3" in note for note in starter.notes)
    data = _spec(starter.text)
    vms = data["vms"]
    assert isinstance(vms, dict)
    assert [vm["node"] for vm in vms.values()] == ["pve1", "pve2", "pve1"]  # spread
    assert [vm["ip"] for vm in vms.values()] == ["10.0.10.10", "10.0.10.21", "10.0.10.22"]
    assert "vmbr0 is VLAN aware" not in starter.text  # it is not


def test_a_template_on_shared_storage_serves_every_node() -> None:
    starter = starter_spec(
        _inventory(_template(9000, "pve1", "ceph"), shared=True),
        name="lab",
        token_id="a@pve!b",
        ssh_key=KEY,
        kubernetes=K8S,
    )
    assert starter.nodes == ("pve1", "pve2", "pve3") and starter.storage == "ceph"


def test_the_best_template_has_the_agent_then_the_most_copies() -> None:
    starter = starter_spec(
        _inventory(
            _template(8000, "pve1", "local-lvm", name="old", agent=False),
            _template(8001, "pve2", "local-lvm", name="old", agent=False),
            _template(8002, "pve3", "local-lvm", name="old", agent=False),
            _template(9000, "pve1", "local-lvm", name="noble"),
            _template(9001, "pve2", "local-lvm", name="noble"),
            _template(9100, "pve3", "local-lvm", name="jammy"),
        ),
        name="lab",
        token_id="a@pve!b",
        ssh_key=KEY,
        kubernetes=K8S,
    )
    assert starter.template == "noble" and starter.nodes == ("pve1", "pve2")
    assert "other templates: jammy, old" in starter.notes


def test_without_an_images_storage_or_a_bridge_it_says_what_to_set() -> None:
    inventory = _inventory(_template(9000, "pve1", "local-lvm"), bridges=False)
    bare = Inventory(
        **{
            **inventory.__dict__,
            "storages": {"local": StorageFacts("local", frozenset({"backup"}))},
        }
    )
    starter = starter_spec(bare, name="lab", token_id="a@pve!b", ssh_key=KEY, kubernetes=K8S)
    assert (starter.storage, starter.iso_storage) == ("local-lvm", "local")
    joined = " | ".join(starter.notes)
    assert "no storage with content 'images'" in joined
    assert "no storage with content 'iso'" in joined
    assert "no bridge with an address" in joined
    _spec(starter.text)  # still a spec that validates, with the example network


def test_no_online_node_is_an_error() -> None:
    empty = Inventory("https://x:8006", "8.4.1", {}, {}, {}, (), frozenset())
    with pytest.raises(ValueError, match="no online node"):
        starter_spec(empty, name="lab", token_id="a@pve!b", ssh_key=KEY, kubernetes=K8S)


def test_bridges_are_read_from_either_address_form_and_bad_ones_refused() -> None:
    from homelab.core.pve_inventory import parse_bridges
    from homelab.core.pve_reply import MalformedReply

    listed = [
        {"iface": "eno1", "type": "eth"},
        {"iface": "vmbr1", "type": "bridge", "address": "10.9.0.1", "netmask": "24", "mtu": "9000"},
        {
            "iface": "vmbr0",
            "type": "bridge",
            "cidr": "10.0.10.2/24",
            "gateway": "10.0.10.1",
            "bridge_ports": "eno1 eno2",
            "bridge_vlan_aware": 1,
            "bridge_vids": "2-4094",
            "active": 1,
            "comments": " uplink ",
        },
    ]
    vmbr0, vmbr1 = parse_bridges(listed)
    assert (vmbr0.name, vmbr0.ports, vmbr0.vlan_aware, vmbr0.vids) == (
        "vmbr0",
        ("eno1", "eno2"),
        True,
        "2-4094",
    )
    assert str(vmbr0.address) == "10.0.10.2/24" and str(vmbr0.gateway) == "10.0.10.1"
    assert vmbr0.mtu == 1500 and vmbr0.active and vmbr0.comments == "uplink"
    assert str(vmbr1.address) == "10.9.0.1/24" and vmbr1.gateway is None
    assert (vmbr1.mtu, vmbr1.active, vmbr1.ports) == (9000, False, ())
    for bad, says in (
        ({"cidr": "10.0.10.300/24"}, "with address"),
        ({"gateway": "gw"}, "gateway"),
        ({"mtu": "big"}, "with MTU"),
        ({"iface": ""}, "without 'iface'"),
    ):
        entry = {"iface": "vmbr0", "type": "bridge", **bad}
        with pytest.raises(MalformedReply, match=says):
            parse_bridges([entry])
