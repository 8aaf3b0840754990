"""Named PVE formats: accepted values, and the exact messages for rejected ones."""

from __future__ import annotations

import pytest

from homelab_sim.pve import schema_formats

# (format, value) pairs PVE accepts.
GOOD: list[tuple[str, str]] = [
    ("pve-vmid", "100"),
    ("pve-vmid", "999999999"),
    ("pve-node", "pve"),
    ("pve-node", "pve-2"),
    ("pve-storage-id", "local-lvm"),
    ("pve-storage-id", "nfs.backup_1"),
    ("pve-bridge-id", "vmbr0"),
    ("pve-configid", "net0"),
    ("pve-configid", "backup-homelab"),
    ("urlencoded", "ssh-ed25519%20AAAAC3Nz%2B%2F%3D%20me%40host"),
    ("mac-prefix", "BC:24:11"),
    ("mac-addr", "BC:24:11:12:34:56"),
    ("ipv4", "10.0.20.10"),
    ("ipv6", "fd00::1"),
    ("ip", "10.0.10.1"),
    ("ip", "::1"),
    ("CIDR", "10.0.20.0/24"),
    ("CIDR", "fd00::/64"),
    ("CIDRv4", "192.168.0.0/16"),
    ("CIDRv6", "fd00:10::/48"),
    ("pve-ipv4-config", "dhcp"),
    ("pve-ipv4-config", "manual"),
    ("pve-ipv4-config", "10.0.20.10/24"),
    ("pve-ipv6-config", "auto"),
    ("pve-ipv6-config", "fd00::10/64"),
    ("email", "ops@example.com"),
    ("email-or-username", "root"),
    ("dns-name", "k8s-master-1"),
    ("dns-name", "k8s-master-1.lab.local"),
    ("address", "pve.lab.local"),
    ("address", "10.0.10.2"),
    ("disk-size", "32G"),
    ("disk-size", "3.5G"),
    ("disk-size", "1024"),
    ("pve-startup-order", "order=1,up=30"),
    ("pve-startup-order", "2"),
    ("pve-tag", "role-control-plane"),
    ("pve-tag", "lab_home+v1.2"),
    ("pve-task-status-type", "OK"),
    ("pve-poolid", "homelab"),
    ("pve-userid", "homelab@pve"),
    ("pve-tokenid", "homelab@pve!apply"),
    ("pve-roleid", "HomelabProvisioner"),
    ("pve-groupid", "admins"),
    ("pve-realm", "pam"),
    ("pve-priv", "VM.Allocate"),
    ("pve-day-of-week", "sun"),
    ("pve-calendar-event", "sun 02:00"),
    ("pve-calendar-event", "*-*-* 02:30"),
    ("pve-calendar-event", "mon..fri 22:00"),
    ("pve-storage-path", "/mnt/backups"),
    ("pve-storage-server", "pbs.home.arpa"),
    ("pve-storage-server", "10.0.10.5"),
    ("pve-replication-job-id", "101-0"),
    ("pve-storage-vgname", "pve"),
    ("pve-storage-portal-dns", "[fd00::1]:3260"),
    ("pve-storage-portal-dns", "san.home.arpa"),
    ("pve-storage-options", "vers=4.2"),
    ("pve-dir-override", "backup=dumps/lab"),
    ("pve-cpuset", "0-3,8"),
    ("pve-hotplug-features", "network,disk,usb"),
    ("pve-hotplug-features", "1"),
    ("pve-qm-bootdisk", "scsi0"),
    ("pve-qm-bootdisk", "efidisk0"),
    ("pve-qm-bootdev", "net31"),
    ("pve-qm-bootdev", "virtio15"),
    ("pve-storage-content", "iso"),
    ("pve-storage-content", "import"),
    ("pve-volume-id", "local:iso/seed.iso"),
    ("pve-volume-id-or-qm-path", "none"),
    ("pve-volume-id-or-qm-path", "cdrom"),
    ("pve-volume-id-or-qm-path", "/dev/sdb"),
    ("pve-volume-id-or-absolute-path", "/var/lib/vz/images/x.qcow2"),
    ("storage-pair", "local-lvm:ceph"),
    ("storage-pair", "1"),
    ("pve-vmid-list", "100,101;102 103"),
    ("pve-vmid-list", ""),
    ("pve-tag-list", "homelab;lab-home,role-worker"),
    ("pve-configid-list", "net1 unused0"),
    ("string", "anything at all"),
    ("regex", "(unchecked"),
]

# (format, value, message PVE dies with)
BAD: list[tuple[str, str, str]] = [
    ("pve-vmid", "99", "value does not look like a valid VM ID\n"),
    ("pve-vmid", "1000000000", "value does not look like a valid VM ID\n"),
    ("pve-node", "-pve", "value does not look like a valid node name\n"),
    ("pve-node", "pve.lab", "value does not look like a valid node name\n"),
    ("pve-storage-id", "local-", "storage ID 'local-' contains illegal characters\n"),
    ("pve-bridge-id", "vmbr 0", "invalid bridge ID 'vmbr 0'\n"),
    ("pve-configid", "n", "invalid configuration ID 'n'\n"),
    ("urlencoded", "a b", "invalid urlencoded string: a b\n"),
    ("mac-prefix", "BD:24", "value does not look like a valid mac address prefix\n"),
    ("mac-addr", "BD:24:11:12:34:56", "value does not look like a valid unicast MAC address\n"),
    ("mac-addr", "BC:24:11:12:34", "value does not look like a valid unicast MAC address\n"),
    ("ipv4", "10.0.20.256", "value does not look like a valid IPv4 address\n"),
    ("ipv4", "10.0.20", "value does not look like a valid IPv4 address\n"),
    ("ipv6", "fd00::g", "value does not look like a valid IPv6 address\n"),
    ("ip", "pve", "value does not look like a valid IP address\n"),
    ("CIDR", "10.0.0.0/7", "value does not look like a valid CIDR network\n"),
    ("CIDRv4", "10.0.0.0/33", "value does not look like a valid IPv4 CIDR network\n"),
    ("CIDRv6", "fd00::/129", "value does not look like a valid IPv6 CIDR network\n"),
    ("pve-ipv4-config", "auto", "value does not look like a valid ipv4 network configuration\n"),
    ("pve-ipv6-config", "fd00::1", "value does not look like a valid ipv6 network configuration\n"),
    ("email", "ops", "value does not look like a valid email address\n"),
    ("email-or-username", "a b", "value does not look like a valid email address or user name\n"),
    ("dns-name", "k8s_master", "value does not look like a valid DNS name\n"),
    ("dns-name", "k8s-.lab", "value does not look like a valid DNS name\n"),
    ("address", "bad_host", "value does not look like a valid address: bad_host\n"),
    ("disk-size", "+10G", "value does not look like a valid disk size: +10G\n"),
    ("disk-size", "10GB", "value does not look like a valid disk size: 10GB\n"),
    ("pve-startup-order", "up=x", "unable to parse startup options\n"),
    ("pve-tag", "-x", "invalid characters in tag\n"),
    ("pve-tag", "a b", "invalid characters in tag\n"),
    ("pve-task-status-type", "fine", "invalid status 'fine'\n"),
    ("pve-poolid", "a b", "pool name 'a b' contains invalid characters\n"),
    ("pve-userid", "ab", "user name 'ab' is too short\n"),
    ("pve-userid", "homelab", "value 'homelab' does not look like a valid user name\n"),
    ("pve-tokenid", "homelab@pve", "value 'homelab@pve' does not look like a valid token ID\n"),
    ("pve-roleid", "a b", "role name 'a b' contains invalid characters\n"),
    ("pve-groupid", "a/b", "group name 'a/b' contains invalid characters\n"),
    ("pve-realm", "p", "value does not look like a valid realm\n"),
    ("pve-priv", "VM.Everything", "invalid privilege 'VM.Everything'\n"),
    ("pve-day-of-week", "Mon", "invalid day 'Mon'\n"),
    (
        "pve-calendar-event",
        "every day!",
        "invalid calendar event 'every day!' - unable to parse calendar event at 'every' - "
        "weekday\n",
    ),
    (
        "pve-calendar-event",
        "61",
        "invalid calendar event '61' - unable to parse calendar event at '61' - "
        "date or time specification\n",
    ),
    ("pve-cpuset", "0-", "unable to parse cpuset option\n"),
    ("pve-storage-path", "relative/path", "value does not look like a valid absolute path\n"),
    (
        "pve-storage-server",
        "pbs server",
        "value does not look like a valid server name or IP address\n",
    ),
    ("pve-storage-vgname", "-pve", "lvm name '-pve' contains illegal characters\n"),
    ("pve-replication-job-id", "101", "invalid replication job id '101'\n"),
    (
        "pve-replication-job-id",
        "99-0",
        "invalid replication job id '99-0' (guest id too small)\n",
    ),
    ("pve-storage-portal-dns", "a b:1", "value does not look like a valid portal address\n"),
    ("pve-storage-options", "a b", "invalid options 'a b'\n"),
    ("pve-dir-override", "backup", "invalid override 'backup'\n"),
    ("pve-hotplug-features", "network,nic", "invalid hotplug feature 'nic'\n"),
    ("pve-qm-bootdisk", "net0", "invalid boot disk 'net0'\n"),
    ("pve-qm-bootdisk", "ide4", "invalid boot disk 'ide4'\n"),
    ("pve-qm-bootdev", "efidisk0", "invalid boot device 'efidisk0'\n"),
    ("pve-storage-content", "snippet", "invalid content type 'snippet'\n"),
    ("pve-volume-id", "seed.iso", "unable to parse volume ID 'seed.iso'\n"),
    ("pve-volume-id", "1local:iso/x.iso", "unable to parse volume ID '1local:iso/x.iso'\n"),
    ("pve-volume-id-or-qm-path", "local-lvm", "unable to parse volume ID 'local-lvm'\n"),
    ("pve-volume-id-or-absolute-path", "none", "unable to parse volume ID 'none'\n"),
    (
        "storage-pair",
        "local:bad!",
        "entry 'local:bad!' contains invalid ID - "
        "storage ID 'bad!' contains illegal characters\n\n\n",
    ),
    ("pve-vmid-list", "100,abc", "value does not look like a valid VM ID\n"),
    ("pve-tag-list", "ok;no!", "invalid characters in tag\n"),
    ("pve-no-such-format", "x", "undefined format 'pve-no-such-format'\n"),
]


@pytest.mark.parametrize(("name", "value"), GOOD)
def test_format_accepts(name: str, value: str) -> None:
    schema_formats.check(name, value)


@pytest.mark.parametrize(("name", "value", "message"), BAD)
def test_format_rejects_with_pve_message(name: str, value: str, message: str) -> None:
    with pytest.raises(schema_formats.FormatError) as caught:
        schema_formats.check(name, value)
    assert str(caught.value) == message


def test_opt_formats_skip_empty_values() -> None:
    schema_formats.check("pve-vmid-opt", "")
    with pytest.raises(schema_formats.FormatError):
        schema_formats.check("pve-vmid-opt", "5")


def test_split_list_follows_pve_tools() -> None:
    assert schema_formats.split_list(" a,b;c  d ") == ["a", "b", "c", "d"]
    assert schema_formats.split_list("a b\0c") == ["a b", "c"]
    assert schema_formats.split_list("") == []


def test_unknown_format_names_are_not_known() -> None:
    assert schema_formats.known("pve-vmid-list")
    assert schema_formats.known("regex")
    assert not schema_formats.known("pve-qm-net")
    assert not schema_formats.known("pve-no-such-format-list")


def test_every_implemented_format_has_good_and_bad_cases() -> None:
    implemented = set(schema_formats.names()) - {"string"}
    assert implemented <= {name for name, _ in GOOD}
    assert implemented <= {name for name, _, _ in BAD}
