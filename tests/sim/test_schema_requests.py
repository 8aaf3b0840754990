"""Realistic requests a provisioning client sends validate clean, in form and in JSON encoding."""

from __future__ import annotations

from typing import Any

import pytest

from homelab_sim.pve import schema

SSH_KEY = "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIHk2%2Bq0vQ%20homelab%40ci"
DIGEST = "3f2a0c4e5b6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"

REQUESTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("version", "GET", "/version", {}),
    ("cluster resources", "GET", "/cluster/resources", {"type": "vm"}),
    ("nextid", "GET", "/cluster/nextid", {}),
    ("nextid probe", "GET", "/cluster/nextid", {"vmid": "105"}),
    ("node status", "GET", "/nodes/pve/status", {}),
    ("vm list", "GET", "/nodes/pve/qemu", {"full": "1"}),
    (
        "linked clone",
        "POST",
        "/nodes/pve/qemu/9000/clone",
        {
            "newid": "101",
            "name": "k8s-master-1",
            "description": "homelab spec-digest: 3f2a0c4e",
            "pool": "homelab",
            "target": "pve",
        },
    ),
    (
        "full clone",
        "POST",
        "/nodes/pve/qemu/9000/clone",
        {"newid": "102", "name": "k8s-worker-2", "full": "1", "storage": "local-lvm"},
    ),
    ("full clone raw", "POST", "/nodes/pve/qemu/9000/clone", {"newid": "103", "format": "raw"}),
    (
        "create vm",
        "POST",
        "/nodes/pve/qemu",
        {
            "vmid": "9000",
            "name": "ubuntu-2404-cloudinit",
            "memory": "2048",
            "cores": "2",
            "sockets": "1",
            "cpu": "host",
            "ostype": "l26",
            "scsihw": "virtio-scsi-single",
            "scsi0": "local-lvm:0,import-from=local:import/noble-server-cloudimg-amd64.qcow2",
            "ide2": "local-lvm:cloudinit",
            "net0": "virtio,bridge=vmbr0",
            "serial0": "socket",
            "vga": "serial0",
            "agent": "enabled=1",
            "boot": "order=scsi0",
            "template": "1",
        },
    ),
    ("read config", "GET", "/nodes/pve/qemu/101/config", {}),
    ("read current config", "GET", "/nodes/pve/qemu/101/config", {"current": "1"}),
    (
        "config update async",
        "POST",
        "/nodes/pve/qemu/101/config",
        {
            "digest": DIGEST,
            "cores": "2",
            "memory": "4096",
            "net0": "virtio=BC:24:11:0A:14:0A,bridge=vmbr0,tag=20",
            "net1": "virtio,bridge=vmbr0,tag=10,firewall=1",
            "scsi0": "local-lvm:vm-101-disk-0,size=32G,discard=on,ssd=1,iothread=1",
            "ide2": "local:iso/seed-k8s-master-1.iso,media=cdrom",
            "ipconfig0": "ip=10.0.20.10/24,gw=10.0.20.1",
            "ipconfig1": "ip=10.0.10.10/24",
            "nameserver": "10.0.10.1 1.1.1.1",
            "searchdomain": "lab.local",
            "ciuser": "ubuntu",
            "sshkeys": SSH_KEY,
            "tags": "homelab;lab-home;role-control-plane",
            "description": "managed by homelab\nspec-digest: 3f2a0c4e",
            "agent": "1",
            "onboot": "1",
            "startup": "order=1,up=30",
            "delete": "ide0,unused0",
            "background_delay": "5",
        },
    ),
    (
        "config update sync",
        "PUT",
        "/nodes/pve/qemu/101/config",
        {"digest": DIGEST, "tags": "homelab", "revert": "net1", "skiplock": "0"},
    ),
    ("pending", "GET", "/nodes/pve/qemu/101/pending", {}),
    ("resize grow", "PUT", "/nodes/pve/qemu/101/resize", {"disk": "scsi0", "size": "+10G"}),
    ("resize absolute", "PUT", "/nodes/pve/qemu/101/resize", {"disk": "scsi0", "size": "42G"}),
    ("status", "GET", "/nodes/pve/qemu/101/status/current", {}),
    ("start", "POST", "/nodes/pve/qemu/101/status/start", {"timeout": "60"}),
    (
        "shutdown",
        "POST",
        "/nodes/pve/qemu/101/status/shutdown",
        {"timeout": "120", "forceStop": "1"},
    ),
    ("stop", "POST", "/nodes/pve/qemu/101/status/stop", {"timeout": "30"}),
    ("reboot", "POST", "/nodes/pve/qemu/101/status/reboot", {"timeout": "60"}),
    ("template", "POST", "/nodes/pve/qemu/9000/template", {"disk": "scsi0"}),
    ("agent ping", "POST", "/nodes/pve/qemu/101/agent/ping", {}),
    ("agent ifaces", "GET", "/nodes/pve/qemu/101/agent/network-get-interfaces", {}),
    ("agent osinfo", "GET", "/nodes/pve/qemu/101/agent/get-osinfo", {}),
    (
        "destroy",
        "DELETE",
        "/nodes/pve/qemu/101",
        {"purge": "1", "destroy-unreferenced-disks": "1"},
    ),
    ("storages", "GET", "/nodes/pve/storage", {"content": "images", "enabled": "1"}),
    ("storage status", "GET", "/nodes/pve/storage/local-lvm/status", {}),
    ("iso list", "GET", "/nodes/pve/storage/local/content", {"content": "iso"}),
    (
        "delete iso",
        "DELETE",
        "/nodes/pve/storage/local/content/local:iso/seed-k8s-master-1.iso",
        {},
    ),
    (
        "upload iso form fields",
        "POST",
        "/nodes/pve/storage/local/upload",
        {
            "content": "iso",
            "filename": "seed-k8s-master-1.iso",
            "checksum": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "checksum-algorithm": "sha256",
        },
    ),
    (
        "upload import image",
        "POST",
        "/nodes/pve/storage/local/upload",
        {"content": "import", "filename": "noble.qcow2", "tmpfilename": "/var/tmp/pveupload-1f"},
    ),
    ("tasks", "GET", "/nodes/pve/tasks", {"vmid": "101", "source": "all", "limit": "100"}),
    (
        "task status",
        "GET",
        "/nodes/pve/tasks/UPID:pve:0003A1F2:01B2C3D4:66A1B2C3:qmclone:9000:root@pam!ci:/status",
        {},
    ),
    (
        "task log",
        "GET",
        "/nodes/pve/tasks/UPID:pve:0003A1F2:01B2C3D4:66A1B2C3:qmclone:9000:root@pam!ci:/log",
        {"start": "0", "limit": "0"},
    ),
    (
        "vzdump",
        "POST",
        "/nodes/pve/vzdump",
        {
            "vmid": "101,102,103",
            "storage": "local",
            "mode": "snapshot",
            "compress": "zstd",
            "remove": "0",
            "notes-template": "{{guestname}} before upgrade",
            "mailnotification": "failure",
        },
    ),
    (
        "backup job create",
        "POST",
        "/cluster/backup",
        {
            "id": "homelab-nightly",
            "schedule": "*-*-* 02:30",
            "storage": "local",
            "vmid": "101,102,103",
            "mode": "snapshot",
            "compress": "zstd",
            "enabled": "1",
            "prune-backups": "keep-daily=7,keep-weekly=4,keep-monthly=3",
            "mailnotification": "failure",
            "mailto": "ops@example.com",
            "comment": "homelab: nightly guests",
            "notes-template": "{{guestname}}",
        },
    ),
    ("backup job list", "GET", "/cluster/backup", {}),
    ("backup job read", "GET", "/cluster/backup/homelab-nightly", {}),
    (
        "backup job update",
        "PUT",
        "/cluster/backup/homelab-nightly",
        {"schedule": "sun 03:00", "delete": "comment", "enabled": "0"},
    ),
    ("backup job delete", "DELETE", "/cluster/backup/homelab-nightly", {}),
    ("storage index", "GET", "/storage", {"type": "lvmthin"}),
    ("storage read", "GET", "/storage/local", {}),
    ("pools", "GET", "/pools", {}),
    ("pool create", "POST", "/pools", {"poolid": "homelab", "comment": "lab guests"}),
    ("ticket", "POST", "/access/ticket", {"username": "root@pam", "password": "hunter2"}),
    (
        "ticket realm",
        "POST",
        "/access/ticket",
        {"username": "root", "realm": "pam", "password": "x"},
    ),
    ("permissions", "GET", "/access/permissions", {"path": "/vms/101"}),
    ("permissions of token", "GET", "/access/permissions", {"userid": "root@pam!homelab"}),
    ("domains", "GET", "/access/domains", {}),
]


def _json_encoded(params: dict[str, Any]) -> dict[str, Any]:
    """What a JSON body carries: numbers for integer-looking strings."""
    return {key: int(value) if value.isdigit() else value for key, value in params.items()}


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [pytest.param(method, path, params, id=label) for label, method, path, params in REQUESTS],
)
def test_realistic_request_validates_clean(method: str, path: str, params: dict[str, Any]) -> None:
    found = schema.match(method, path)
    assert found is not None, f"{method} {path} is not served"
    endpoint, path_params = found
    for encoded in (params, _json_encoded(params)):
        coerced, errors = schema.validate(endpoint, {**path_params, **encoded})
        assert errors == {}
        assert set(coerced) == set(path_params) | set(params)
