"""Parameter validation against the schema table: PVE::JSONSchema's checks and exact messages."""

from __future__ import annotations

from typing import Any

import pytest

from homelab_sim.pve import schema

UNKNOWN = "property is not defined in schema and the schema does not allow additional properties"
MISSING = "property is missing and it is not optional"
VMID = "invalid format - value does not look like a valid VM ID\n"

CONFIG = "/nodes/pve/qemu/100/config"
CLONE = "/nodes/pve/qemu/9000/clone"
UPLOAD = "/nodes/pve/storage/local/upload"


def check(method: str, path: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    found = schema.match(method, path)
    assert found is not None, f"{method} {path} is not served"
    endpoint, path_params = found
    return schema.validate(endpoint, {**path_params, **params})


def errors_of(method: str, path: str, params: dict[str, Any]) -> dict[str, str]:
    return check(method, path, params)[1]


# (method, path, params, expected errors) - messages exactly as PVE words them.
CASES: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
    # required and unknown properties
    ("POST", CLONE, {}, {"newid": MISSING}),
    ("POST", CLONE, {"newid": "101", "bogus": "1"}, {"bogus": UNKNOWN}),
    ("POST", CLONE, {"newid": "101", "bogus": None}, {"bogus": UNKNOWN}),
    ("POST", CLONE, {"newid": None}, {"newid": MISSING}),
    # types
    (
        "GET",
        "/cluster/nextid",
        {"vmid": "abc"},
        {"vmid": "type check ('integer') failed - got 'abc'"},
    ),
    (
        "GET",
        "/cluster/nextid",
        {"vmid": "1.5"},
        {"vmid": "type check ('integer') failed - got '1.5'"},
    ),
    (
        "GET",
        "/cluster/nextid",
        {"vmid": True},
        {"vmid": "type check ('integer') failed - got JSON::PP::Boolean"},
    ),
    (
        "DELETE",
        "/nodes/pve/qemu/100",
        {"purge": "true"},
        {"purge": "type check ('boolean') failed - got 'true'"},
    ),
    (
        "DELETE",
        "/nodes/pve/qemu/100",
        {"purge": "yes"},
        {"purge": "type check ('boolean') failed - got 'yes'"},
    ),
    (
        "DELETE",
        "/nodes/pve/qemu/100",
        {"purge": "2"},
        {"purge": "type check ('boolean') failed - got '2'"},
    ),
    ("POST", CONFIG, {"cpulimit": "abc"}, {"cpulimit": "type check ('number') failed - got 'abc'"}),
    (
        "POST",
        CLONE,
        {"newid": "101", "name": ["a", "b"]},
        {"name": "type check ('string') failed - got ARRAY"},
    ),
    (
        "POST",
        CLONE,
        {"newid": "101", "name": {"a": 1}},
        {"name": "type check ('string') failed - got HASH"},
    ),
    (
        "POST",
        CLONE,
        {"newid": "101", "description": True},
        {"description": "type check ('string') failed - got JSON::PP::Boolean"},
    ),
    # formats run before ranges
    ("GET", "/cluster/nextid", {"vmid": "99"}, {"vmid": VMID}),
    ("GET", "/cluster/nextid", {"vmid": "0100"}, {"vmid": VMID}),
    ("GET", "/cluster/nextid", {"vmid": "1000000000"}, {"vmid": VMID}),
    ("POST", CLONE, {"newid": "99"}, {"newid": VMID}),
    (
        "GET",
        "/nodes/bad_node/status",
        {},
        {"node": "invalid format - value does not look like a valid node name\n"},
    ),
    (
        "POST",
        CLONE,
        {"newid": "101", "name": "bad_name"},
        {"name": "invalid format - value does not look like a valid DNS name\n"},
    ),
    (
        "POST",
        CLONE,
        {"newid": "101", "storage": "1local"},
        {"storage": "invalid format - storage ID '1local' contains illegal characters\n"},
    ),
    (
        "POST",
        CLONE,
        {"newid": "101", "pool": "bad pool"},
        {"pool": "invalid format - pool name 'bad pool' contains invalid characters\n"},
    ),
    (
        "POST",
        CLONE,
        {"newid": "101", "snapname": "1snap"},
        {"snapname": "invalid format - invalid configuration ID '1snap'\n"},
    ),
    (
        "POST",
        CONFIG,
        {"sshkeys": "ssh-ed25519 AAAA"},
        {"sshkeys": "invalid format - invalid urlencoded string: ssh-ed25519 AAAA\n"},
    ),
    (
        "POST",
        CONFIG,
        {"startup": "order=x"},
        {"startup": "invalid format - unable to parse startup options\n"},
    ),
    (
        "POST",
        CONFIG,
        {"startup": "0"},
        {"startup": "invalid format - unable to parse startup options\n"},
    ),
    (
        "POST",
        CONFIG,
        {"hotplug": "network,nic"},
        {"hotplug": "invalid format - invalid hotplug feature 'nic'\n"},
    ),
    (
        "POST",
        CONFIG,
        {"bootdisk": "scsi31"},
        {"bootdisk": "invalid format - invalid boot disk 'scsi31'\n"},
    ),
    (
        "POST",
        CONFIG,
        {"hookscript": "hook.pl"},
        {"hookscript": "invalid format - unable to parse volume ID 'hook.pl'\n"},
    ),
    (
        "GET",
        "/nodes/pve/storage/local/content",
        {"content": "movies"},
        {"content": "invalid format - invalid content type 'movies'\n"},
    ),
    (
        "POST",
        "/pools",
        {"poolid": "lab/x y"},
        {"poolid": "invalid format - pool name 'lab/x y' contains invalid characters\n"},
    ),
    # list formats: split on , ; and whitespace, every element checked
    (
        "POST",
        CONFIG,
        {"tags": "homelab;role!"},
        {"tags": "invalid format - invalid characters in tag\n"},
    ),
    (
        "POST",
        CONFIG,
        {"delete": "net1,bad key!"},
        {"delete": "invalid format - invalid configuration ID 'key!'\n"},
    ),
    ("POST", "/nodes/pve/vzdump", {"vmid": "101 99"}, {"vmid": VMID}),
    (
        "POST",
        "/nodes/pve/vzdump",
        {"mailto": "ops@example.com root bad!"},
        {
            "mailto": (
                "invalid format - value does not look like a valid email address or user name\n"
            )
        },
    ),
    (
        "POST",
        "/cluster/backup",
        {"dow": "mon,funday", "starttime": "02:00"},
        {"dow": "invalid format - invalid day 'funday'\n"},
    ),
    (
        "GET",
        "/nodes/pve/tasks",
        {"statusfilter": "ok,bad"},
        {"statusfilter": "invalid format - invalid status 'bad'\n"},
    ),
    # ranges, lengths, patterns, enums
    ("GET", "/nodes/pve/tasks", {"limit": "-1"}, {"limit": "value must have a minimum value of 0"}),
    (
        "DELETE",
        "/nodes/pve/storage/local/content/local:iso/a.iso",
        {"delay": "31"},
        {"delay": "value must have a maximum value of 30"},
    ),
    ("POST", CONFIG, {"cpulimit": "200"}, {"cpulimit": "value must have a maximum value of 128"}),
    ("POST", CONFIG, {"cores": "0"}, {"cores": "value must have a minimum value of 1"}),
    (
        "PUT",
        "/nodes/pve/qemu/100/resize",
        {"disk": "scsi0", "size": "ten"},
        {"size": "value does not match the regex pattern"},
    ),
    (
        "PUT",
        "/nodes/pve/qemu/100/resize",
        {"disk": "scsi0", "size": "-1G"},
        {"size": "value does not match the regex pattern"},
    ),
    (
        "PUT",
        "/nodes/pve/qemu/100/resize",
        {"disk": "net0", "size": "1G"},
        {
            "disk": (
                "value 'net0' does not have a value in the enumeration 'ide0, ide1, ide2, ide3, "
                "scsi0, scsi1, scsi2, scsi3, scsi4, scsi5, scsi6, scsi7, scsi8, scsi9, scsi10, "
                "scsi11, scsi12, scsi13, scsi14, scsi15, scsi16, scsi17, scsi18, scsi19, scsi20, "
                "scsi21, scsi22, scsi23, scsi24, scsi25, scsi26, scsi27, scsi28, scsi29, scsi30, "
                "virtio0, virtio1, virtio2, virtio3, virtio4, virtio5, virtio6, virtio7, "
                "virtio8, virtio9, virtio10, virtio11, virtio12, virtio13, virtio14, virtio15, "
                "sata0, sata1, sata2, sata3, sata4, sata5, efidisk0, tpmstate0'"
            )
        },
    ),
    (
        "PUT",
        "/nodes/pve/qemu/100/resize",
        {"disk": "scsi0", "size": "1G", "digest": "a" * 41},
        {"digest": "value may only be 40 characters long"},
    ),
    (
        "POST",
        UPLOAD,
        {"content": "snippets", "filename": "user.yaml"},
        {
            "content": (
                "value 'snippets' does not have a value in the enumeration 'iso, vztmpl, import'"
            )
        },
    ),
    (
        "POST",
        UPLOAD,
        {"content": "iso", "filename": "x" * 256},
        {"filename": "value may only be 255 characters long"},
    ),
    (
        "GET",
        "/cluster/resources",
        {"type": "qemu"},
        {"type": "value 'qemu' does not have a value in the enumeration 'vm, storage, node, sdn'"},
    ),
    (
        "GET",
        "/access/permissions",
        {"userid": "root"},
        {"userid": "value does not match the regex pattern"},
    ),
    # requires
    (
        "POST",
        UPLOAD,
        {"content": "iso", "filename": "a.iso", "checksum": "ab"},
        {"checksum-algorithm": "missing property - 'checksum' requires this property"},
    ),
    (
        "POST",
        "/cluster/backup",
        {"dow": "mon"},
        {"starttime": "missing property - 'dow' requires this property"},
    ),
    # indexed options
    ("POST", CONFIG, {"net32": "virtio,bridge=vmbr0"}, {"net32": UNKNOWN}),
    ("POST", CONFIG, {"net01": "virtio,bridge=vmbr0"}, {"net01": UNKNOWN}),
    ("POST", CONFIG, {"scsi31": "local-lvm:1"}, {"scsi31": UNKNOWN}),
    ("POST", CONFIG, {"ide4": "none"}, {"ide4": UNKNOWN}),
    ("POST", CONFIG, {"netx": "virtio"}, {"netx": UNKNOWN}),
]


@pytest.mark.parametrize(("method", "path", "params", "expected"), CASES)
def test_bad_parameters_get_pve_messages(
    method: str, path: str, params: dict[str, Any], expected: dict[str, str]
) -> None:
    assert errors_of(method, path, params) == expected


def _fmt_error(param: str, *lines: str) -> dict[str, str]:
    body = "".join(f"{line}\n" for line in lines)
    return {param: f"invalid format - format error\n{body}"}


PROPERTY_STRING_CASES: list[tuple[str, str, dict[str, str]]] = [
    (
        "ipconfig0",
        "gw=10.0.20.1",
        _fmt_error(
            "ipconfig0", "ipconfig0.ip: missing property - 'ipconfig0.gw' requires this property"
        ),
    ),
    (
        "ipconfig0",
        "ip=10.0.20.10/24,gw6=fd00::1",
        _fmt_error(
            "ipconfig0", "ipconfig0.ip6: missing property - 'ipconfig0.gw6' requires this property"
        ),
    ),
    (
        "net0",
        "virtio,bridge=vmbr0,tag=5000",
        _fmt_error("net0", "net0.tag: value must have a maximum value of 4094"),
    ),
    (
        "net0",
        "virtio,bridge=vmbr0,tag=x",
        _fmt_error("net0", "net0.tag: type check ('integer') failed - got 'x'"),
    ),
    (
        "net0",
        "bridge=vmbr0",
        _fmt_error("net0", "net0.model: property is missing and it is not optional"),
    ),
    (
        "net0",
        "virtio,firewall=maybe",
        _fmt_error("net0", "net0.firewall: type check ('boolean') failed - got 'maybe'"),
    ),
    (
        "net0",
        "rtl9000,bridge=vmbr0",
        _fmt_error(
            "net0",
            (
                "net0.model: value 'rtl9000' does not have a value in the enumeration 'e1000, "
                "e1000-82540em, e1000-82544gc, e1000-82545em, e1000e, i82551, i82557b, i82559er, "
                "ne2k_isa, ne2k_pci, pcnet, rtl8139, virtio, vmxnet3'"
            ),
        ),
    ),
    (
        "net0",
        "virtio=01:24:11:00:00:01",
        _fmt_error(
            "net0",
            "net0.macaddr: invalid format - value does not look like a valid unicast MAC address\n",
        ),
    ),
    (
        "net0",
        "virtio,bridge=vmbr0,trunks=10-x",
        _fmt_error("net0", "net0.trunks: value does not match the regex pattern"),
    ),
    (
        "net0",
        "virtio,bridge=vmbr 0",
        _fmt_error("net0", "net0.bridge: invalid format - invalid bridge ID 'vmbr 0'\n"),
    ),
    (
        "net0",
        "virtio,foo=1",
        {"net0": "invalid format - invalid key in comma-separated list property: foo\n"},
    ),
    (
        "net0",
        "virtio,e1000",
        {"net0": "invalid format - duplicate key in comma-separated list property: model\n"},
    ),
    (
        "net0",
        "virtio,bridge=vmbr0,bridge=vmbr1",
        {"net0": "invalid format - duplicate key in comma-separated list property: bridge\n"},
    ),
    (
        "net0",
        "virtio=BC:24:11:00:00:01,model=e1000",
        {"net0": "invalid format - duplicate key in comma-separated list property: model\n"},
    ),
    (
        "net0",
        "virtio,=vmbr0",
        {"net0": "invalid format - missing key in comma-separated list property\n"},
    ),
    (
        "ipconfig0",
        "ip=10.0.20.10/33",
        _fmt_error(
            "ipconfig0",
            (
                "ipconfig0.ip: invalid format - value does not look like a valid ipv4 network "
                "configuration\n"
            ),
        ),
    ),
    (
        "ipconfig0",
        "ip=10.0.20.10",
        _fmt_error(
            "ipconfig0",
            (
                "ipconfig0.ip: invalid format - value does not look like a valid ipv4 network "
                "configuration\n"
            ),
        ),
    ),
    (
        "ipconfig0",
        "ip=10.0.20.10/24,gw=10.0.20.256",
        _fmt_error(
            "ipconfig0",
            "ipconfig0.gw: invalid format - value does not look like a valid IPv4 address\n",
        ),
    ),
    (
        "ipconfig0",
        "ip6=fd00::10/200",
        _fmt_error(
            "ipconfig0",
            (
                "ipconfig0.ip6: invalid format - value does not look like a valid ipv6 network "
                "configuration\n"
            ),
        ),
    ),
    (
        "ipconfig0",
        "10.0.20.10/24",
        {
            "ipconfig0": (
                "invalid format - value without key, but schema does not define a default key\n"
            )
        },
    ),
    (
        "scsi0",
        "local-lvm",
        _fmt_error("scsi0", "scsi0.file: invalid format - unable to parse volume ID 'local-lvm'\n"),
    ),
    (
        "scsi0",
        "local-lvm:32,size=32X",
        _fmt_error(
            "scsi0",
            "scsi0.size: invalid format - value does not look like a valid disk size: 32X\n",
        ),
    ),
    (
        "scsi0",
        "local-lvm:32,cache=fast",
        _fmt_error(
            "scsi0",
            (
                "scsi0.cache: value 'fast' does not have a value in the enumeration 'none, "
                "writethrough, writeback, unsafe, directsync'"
            ),
        ),
    ),
    (
        "scsi0",
        "local-lvm:32,iothread=2",
        _fmt_error("scsi0", "scsi0.iothread: type check ('boolean') failed - got '2'"),
    ),
    (
        "ide2",
        "local:iso/seed.iso,media=floppy",
        _fmt_error(
            "ide2",
            "ide2.media: value 'floppy' does not have a value in the enumeration 'cdrom, disk'",
        ),
    ),
    (
        "agent",
        "true",
        _fmt_error("agent", "agent.enabled: type check ('boolean') failed - got 'true'"),
    ),
    (
        "agent",
        "1,type=pci",
        _fmt_error(
            "agent",
            "agent.type: value 'pci' does not have a value in the enumeration 'virtio, isa'",
        ),
    ),
    (
        "boot",
        "order=scsi0;eth0",
        _fmt_error("boot", "boot.order: invalid format - invalid boot device 'eth0'\n"),
    ),
    ("boot", "cdnx", _fmt_error("boot", "boot.legacy: value does not match the regex pattern")),
    (
        "watchdog",
        "i6300esb,action=explode",
        _fmt_error(
            "watchdog",
            (
                "watchdog.action: value 'explode' does not have a value in the enumeration "
                "'reset, shutdown, poweroff, pause, debug, none'"
            ),
        ),
    ),
    (
        "cicustom",
        "user=user.yaml",
        _fmt_error(
            "cicustom", "cicustom.user: invalid format - unable to parse volume ID 'user.yaml'\n"
        ),
    ),
    (
        "rng0",
        "source=/dev/zero",
        _fmt_error(
            "rng0",
            (
                "rng0.source: value '/dev/zero' does not have a value in the enumeration "
                "'/dev/urandom, /dev/random, /dev/hwrng'"
            ),
        ),
    ),
    (
        "cdrom",
        "media=cdrom",
        _fmt_error("cdrom", "cdrom.file: property is missing and it is not optional"),
    ),
    (
        "memory",
        "current=abc",
        _fmt_error("memory", "memory.current: type check ('integer') failed - got 'abc'"),
    ),
]


@pytest.mark.parametrize(("param", "value", "expected"), PROPERTY_STRING_CASES)
def test_property_strings_get_pve_messages(
    param: str, value: str, expected: dict[str, str]
) -> None:
    assert errors_of("PUT", CONFIG, {param: value}) == expected


def test_several_sub_key_errors_are_listed_in_one_message() -> None:
    errors = errors_of("PUT", CONFIG, {"net0": "virtio,tag=0,mtu=70000"})
    assert errors == _fmt_error(
        "net0",
        "net0.mtu: value must have a maximum value of 65520",
        "net0.tag: value must have a minimum value of 1",
    )


VALID_PROPERTY_STRINGS: list[tuple[str, str]] = [
    ("net0", "virtio,bridge=vmbr0,tag=20"),
    ("net0", "virtio=BC:24:11:12:34:56,bridge=vmbr0,firewall=1"),
    ("net0", "model=virtio,bridge=vmbr0,firewall=yes,link_down=off,mtu=1,queues=4,rate=12.5"),
    ("net0", "e1000,bridge=vmbr0,trunks=10;20-30"),
    ("net31", "virtio,bridge=vmbr1"),
    ("scsi0", "local-lvm:32"),
    ("scsi0", "local-lvm:0.5,discard=on,ssd=1,iothread=1"),
    ("scsi0", "local-lvm:vm-100-disk-0,size=32G"),
    ("scsi0", "local-lvm:0,import-from=local:import/noble.qcow2"),
    ("scsi30", "file=local-lvm:vm-100-disk-1,cache=none,backup=0"),
    ("virtio0", "local-lvm:10"),
    ("ide2", "local:iso/seed.iso,media=cdrom"),
    ("ide2", "none,media=cdrom"),
    ("ide2", "local-lvm:cloudinit"),
    ("ide0", "/dev/sdb"),
    ("cdrom", "local:iso/ubuntu.iso"),
    ("ipconfig0", "ip=10.0.20.10/24,gw=10.0.20.1"),
    ("ipconfig0", "ip=dhcp"),
    ("ipconfig1", "ip=dhcp,ip6=auto"),
    ("ipconfig0", "ip6=fd00::10/64,gw6=fd00::1"),
    ("agent", "1"),
    ("agent", "enabled=1,fstrim_cloned_disks=1,type=virtio"),
    ("boot", "order=scsi0;ide2;net0"),
    ("boot", "cdn"),
    ("memory", "4096"),
    ("cpu", "host"),
    ("cpu", "x86-64-v2-AES,flags=+aes;-pcid"),
    ("watchdog", "model=i6300esb,action=reset"),
    ("cicustom", "user=local:snippets/user.yaml,network=local:snippets/net.yaml"),
    ("smbios1", "uuid=6c6f9e5c-2d4e-4a7f-9a63-3e4c1b0c7d21"),
    ("vga", "serial0"),
    ("serial0", "socket"),
    ("unused0", "local-lvm:vm-100-disk-2"),
    ("startup", "order=1,up=30,down=60"),
    ("hotplug", "network,disk,usb"),
    ("hotplug", "0"),
]


@pytest.mark.parametrize(("param", "value"), VALID_PROPERTY_STRINGS)
def test_valid_property_strings_pass(param: str, value: str) -> None:
    coerced, errors = check("PUT", CONFIG, {param: value})
    assert errors == {}
    assert coerced[param] == value


def test_legacy_normalisation_joins_repeated_list_keys() -> None:
    coerced, errors = check("PUT", CONFIG, {"delete": ["net1", "unused0"]})
    assert errors == {}
    assert coerced["delete"] == "net1,unused0"


def test_legacy_normalisation_wraps_a_scalar_for_an_array() -> None:
    coerced, errors = check("POST", "/nodes/pve/vzdump", {"vmid": "101", "exclude-path": "/tmp"})
    assert errors == {}
    assert coerced["exclude-path"] == ["/tmp"]


def test_repeated_key_for_a_scalar_is_a_type_error() -> None:
    assert errors_of("PUT", CONFIG, {"name": ["a", "b"]}) == {
        "name": "type check ('string') failed - got ARRAY"
    }


def test_coercion_of_form_values() -> None:
    coerced, errors = check(
        "POST", CLONE, {"newid": "101", "full": "1", "name": "k8s-master-1", "bwlimit": "0"}
    )
    assert errors == {}
    assert coerced == {
        "node": "pve",
        "vmid": 9000,
        "newid": 101,
        "full": 1,
        "name": "k8s-master-1",
        "bwlimit": 0,
    }


def test_coercion_of_json_values() -> None:
    coerced, errors = check(
        "PUT", CONFIG, {"cores": 2, "onboot": True, "cpulimit": 1.5, "balloon": 2.0}
    )
    assert errors == {}
    assert coerced["cores"] == 2 and isinstance(coerced["cores"], int)
    assert coerced["onboot"] == 1 and isinstance(coerced["onboot"], int)
    assert coerced["cpulimit"] == 1.5 and isinstance(coerced["cpulimit"], float)
    assert coerced["balloon"] == 2


def test_json_false_is_a_valid_boolean() -> None:
    coerced, errors = check("POST", CLONE, {"newid": 101, "full": False})
    assert errors == {}
    assert coerced["full"] == 0


def test_invalid_params_are_left_out_of_the_coerced_values() -> None:
    coerced, errors = check("POST", CLONE, {"newid": "x", "name": "ok-name"})
    assert set(errors) == {"newid"}
    assert "newid" not in coerced
    assert coerced["name"] == "ok-name"


def test_empty_list_formats_are_allowed() -> None:
    assert errors_of("PUT", CONFIG, {"tags": "", "delete": ""}) == {}


def test_token_secrets_are_not_echoed_for_strings_without_format() -> None:
    errors = errors_of(
        "POST", "/access/ticket", {"username": "root@pam", "password": ["s3cr3t", "x"]}
    )
    assert errors == {"password": "type check ('string') failed - got ARRAY"}
    assert "s3cr3t" not in "".join(errors.values())
