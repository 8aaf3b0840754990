"""Which cidata seed the simulated guest reads when it sees two, the way cloud-init's NoCloud
picks (``DataSourceNoCloud._get_devices``: device names sorted in reverse, first valid wins)."""

from __future__ import annotations

import hashlib

import pytest

from homelab.engine.seediso import build_seed_iso
from homelab_sim.guest.seed import SeedDevice, SeedFiles, cdrom_device_names, nocloud_pick
from homelab_sim.pve.cloudinit_drive import pve_cloudinit_seed
from homelab_sim.pve.simulator import PveSimulator, SimConfig
from tests.sim.support import Api, StaticGuest, upload

OURS = b"#cloud-config\nhostname: ours\n"


def files(name: str) -> SeedFiles:
    return SeedFiles(user_data=f"#cloud-config\nhostname: {name}\n", meta_data="instance-id: x\n")


def test_cdroms_are_numbered_in_probe_order() -> None:
    names = cdrom_device_names(["scsi1", "ide2", "sata0", "ide0"])
    assert names == {
        "ide0": "/dev/sr0",
        "ide2": "/dev/sr1",
        "sata0": "/dev/sr2",
        "scsi1": "/dev/sr3",
    }


def test_the_last_device_name_that_is_a_valid_seed_wins() -> None:
    sr0, sr1 = (
        SeedDevice("ide2", "/dev/sr0", files("a")),
        SeedDevice("scsi1", "/dev/sr1", files("b")),
    )
    assert nocloud_pick([sr0, sr1]) == sr1
    broken = SeedDevice("scsi1", "/dev/sr1", None, error="a cidata ISO needs both files")
    assert nocloud_pick([sr0, broken]) == sr0
    not_cidata = SeedDevice("scsi1", "/dev/sr1", None)
    assert nocloud_pick([sr0, not_cidata]) == sr0
    assert nocloud_pick([not_cidata]) is None


def boot_with_template_drive_on(key: str | None) -> SeedFiles | None:
    """Boot a clone of a template whose cloud-init drive is on ``key`` (None: none at all),
    with homelab's cidata ISO in ide2, as the tool configures it; the seed the guest read."""
    guest = StaticGuest()
    sim = PveSimulator(SimConfig(time_scale=0), guest=guest)
    api = Api(sim)
    template = sim.state.vms[9000].config
    drive = template.pop("ide2")
    if key is not None:
        template[key] = drive
    api.finish(
        upload(api, "ours.iso", build_seed_iso(OURS, b"instance-id: ours\n", b"version: 2\n"))
    )
    api.finish(api.clone(101, name="k8s-worker-1", full=1))
    api.ok("POST", "/nodes/pve/qemu/101/config", data={"ide2": "local:iso/ours.iso,media=cdrom"})
    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/start"))
    ((vmid, seed),) = guest.booted
    assert vmid == 101
    return seed


def test_without_a_second_cidata_drive_the_guest_reads_ours() -> None:
    seed = boot_with_template_drive_on(None)
    assert seed is not None and seed.user_data == OURS.decode()


def test_a_template_cloudinit_drive_on_scsi1_wins_over_our_seed() -> None:
    """What happens when the tool does nothing about such a template: Proxmox's seed is read."""
    seed = boot_with_template_drive_on("scsi1")
    assert seed is not None
    assert seed.user_data.startswith("#cloud-config\nhostname: k8s-worker-1\nmanage_etc_hosts")
    assert seed.user_data != OURS.decode()


@pytest.mark.parametrize("key", ["ide0"])
def test_a_drive_probed_before_ide2_loses(key: str) -> None:
    seed = boot_with_template_drive_on(key)
    assert seed is not None and seed.user_data == OURS.decode()


def test_pve_generates_its_nocloud_seed_from_the_config() -> None:
    """qemu-server Cloudinit.pm: user-data from name/ciuser/sshkeys, network-config from
    ipconfigN, instance-id the SHA-1 of both."""
    config = {
        "name": "web.example.org",
        "ciuser": "admin",
        "sshkeys": "ssh-ed25519%20AAAA%20me",
        "net0": "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0",
        "ipconfig0": "ip=10.0.20.5/24,gw=10.0.20.1",
        "ciupgrade": 0,
    }
    seed = pve_cloudinit_seed(config, 101)
    assert seed.user_data == (
        "#cloud-config\nhostname: web\nmanage_etc_hosts: true\nfqdn: web.example.org\n"
        "user: admin\nssh_authorized_keys:\n  - ssh-ed25519 AAAA me\nchpasswd:\n"
        "  expire: False\nusers:\n  - default\n"
    )
    assert seed.network_config == (
        "version: 1\nconfig:\n    - type: physical\n      name: eth0\n"
        "      mac_address: 'bc:24:11:aa:bb:cc'\n      subnets:\n        - type: static\n"
        "          address: '10.0.20.5'\n          netmask: '255.255.255.0'\n"
        "          gateway: '10.0.20.1'\n"
    )
    digest = hashlib.sha1((seed.user_data + seed.network_config).encode()).hexdigest()
    assert seed.meta_data == f"instance-id: {digest}\n"
