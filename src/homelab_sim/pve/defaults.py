"""The cluster a fresh simulator starts with (unless ``--state`` holds one).

Each node gets ``local`` (dir: iso, vztmpl, backup, snippets) and ``local-lvm``
(lvmthin: images), and a template ``ubuntu-2404-cloudinit`` with the guest agent
enabled and a 3.5 GiB disk on its local-lvm: VMID 9000 on the first node, 9001 on the second...
(local storage cannot be cloned across nodes, so people keep one template per node).
"""

from __future__ import annotations

import uuid

from homelab_sim.pve.state import ClusterState, Node, StorageDef, Vm, Volume, volume_key

TEMPLATE_NAME = "ubuntu-2404-cloudinit"
TEMPLATE_VMID = 9000
TEMPLATE_DISK = 3584 * 1024**2  # 3.5 GiB
GIB = 1024**3


def default_state(
    nodes: list[str], now: float, macs: list[str], storages: list[StorageDef] | None = None
) -> ClusterState:
    """A fresh cluster at virtual time ``now``; ``macs`` gives one MAC per node's template;
    ``storages`` are added to storage.cfg (shared or node-local as their ``shared`` says)."""
    state = ClusterState(
        nodes=[
            Node(node=name, nodeid=i + 1, ip=f"192.0.2.{10 + i}", boot_time=now - 86400)
            for i, name in enumerate(nodes)
        ],
        storages=[
            StorageDef(
                storage="local",
                type="dir",
                path="/var/lib/vz",
                total=100 * GIB,
                content=["iso", "vztmpl", "backup", "snippets"],
            ),
            StorageDef(storage="local-lvm", type="lvmthin", total=400 * GIB, content=["images"]),
            *(storages or []),
        ],
        virtual_now=now,
    )
    for index, name in enumerate(nodes):
        _seed_template(state, name, TEMPLATE_VMID + index, macs[index], now)
    return state


def _seed_template(state: ClusterState, node: str, vmid: int, mac: str, now: float) -> None:
    lvm = state.storage("local-lvm")
    assert lvm is not None
    disk = f"local-lvm:base-{vmid}-disk-0"
    cloudinit = f"local-lvm:vm-{vmid}-cloudinit"
    for volid, size in ((disk, TEMPLATE_DISK), (cloudinit, 4 * 1024**2)):
        state.volumes[volume_key(node, lvm, volid)] = Volume(
            volid=volid,
            storage="local-lvm",
            node=node,
            content="images",
            size=size,
            vmid=vmid,
            ctime=int(now) - 86400,
        )
    config: dict[str, str | int] = {
        "agent": "1",
        "boot": "order=scsi0",
        "cores": 2,
        "cpu": "x86-64-v2-AES",
        "description": "Ubuntu 24.04 LTS cloud image (noble), cloud-init ready",
        "ide2": f"{cloudinit},media=cdrom",
        "memory": "2048",
        "meta": f"creation-qemu=8.1.5,ctime={int(now) - 86400}",
        "name": TEMPLATE_NAME,
        "net0": f"virtio={mac},bridge=vmbr0",
        "ostype": "l26",
        "scsi0": f"{disk},discard=on,size=3584M",
        "scsihw": "virtio-scsi-single",
        "serial0": "socket",
        "smbios1": f"uuid={uuid.uuid4()}",
        "sockets": 1,
        "template": 1,
        "vga": "serial0",
        "vmgenid": str(uuid.uuid4()),
    }
    state.vms[vmid] = Vm(
        vmid=vmid,
        node=node,
        config=config,
        created_at=now - 86400,
        status_since=now - 86400,
        prev_status="stopped",
    )
