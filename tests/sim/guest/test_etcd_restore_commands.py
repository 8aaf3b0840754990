"""The guest commands an etcd restore uses: ``mv`` and etcdutl's ``snapshot restore``, with the
refusals of coreutils and etcdutl (etcdutl/snapshot_command.go, snapshot/v3_snapshot.go,
ServerConfig.VerifyBootstrap)."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest

from homelab_sim.guest.crictl import ETCD_ID, MAGIC, WAL, Crictl
from homelab_sim.guest.files import FileCommands
from homelab_sim.guest.shell import BufferSink, Streams
from homelab_sim.guest.system import GuestSystem

SNAP = "/var/lib/etcd/homelab-restore.db"
GOOD = [
    "--data-dir",
    "/var/lib/etcd/restored",
    "--name",
    "cp1",
    "--initial-cluster",
    "cp1=https://10.0.0.1:2380",
    "--initial-advertise-peer-urls",
    "https://10.0.0.1:2380",
]


def _finish(gen: Generator[float, None, Any]) -> Any:
    try:
        while True:
            next(gen)
    except StopIteration as done:
        return done.value


class Watched(FileCommands):
    def __init__(self, system: GuestSystem) -> None:
        super().__init__(system)
        self.events: list[tuple[str, str]] = []

    def manifest_written(self, path: str) -> None:
        self.events.append(("written", path))

    def manifest_removed(self, path: str) -> None:
        self.events.append(("removed", path))


def _mv(files: Watched, *args: str) -> tuple[int, str]:
    out, err = BufferSink(), BufferSink()
    status = _finish(files.mv(list(args), Streams(out, err), b""))
    return int(status), err.value()


def test_mv_moves_files_and_directories_and_tells_the_kubelet() -> None:
    system = GuestSystem.stock()
    system.write("/etc/kubernetes/manifests/etcd.yaml", b"pod")
    system.write("/var/lib/etcd/member/snap/db", b"old")
    system.write("/var/lib/etcd/new/member/snap/db", b"new")
    system.mkdirs("/paused")
    files = Watched(system)

    assert _mv(files, "/etc/kubernetes/manifests/etcd.yaml", "/paused/") == (0, "")
    assert system.read("/paused/etcd.yaml") == b"pod"
    assert not system.exists("/etc/kubernetes/manifests/etcd.yaml")
    assert _mv(files, "/var/lib/etcd/member", "/var/lib/etcd/member.old") == (0, "")
    assert _mv(files, "/var/lib/etcd/new/member", "/var/lib/etcd/member") == (0, "")
    assert system.read("/var/lib/etcd/member/snap/db") == b"new"
    assert system.read("/var/lib/etcd/member.old/snap/db") == b"old"
    assert _mv(files, "/paused/etcd.yaml", "/etc/kubernetes/manifests/") == (0, "")
    assert files.events == [
        ("removed", "/etc/kubernetes/manifests/etcd.yaml"),
        ("written", "/etc/kubernetes/manifests/etcd.yaml"),
    ]

    assert _mv(files, "/nope", "/tmp/x") == (
        1,
        "mv: cannot stat '/nope': No such file or directory\n",
    )
    assert _mv(files, "/paused", "/var/lib/etcd/member.old", "/var/lib/etcd/member/snap/db")[1] == (
        "mv: target '/var/lib/etcd/member/snap/db' is not a directory\n"
    )
    # into an existing directory, as coreutils does; a non-empty namesake there is refused
    assert _mv(files, "/var/lib/etcd/member.old", "/var/lib/etcd/member") == (0, "")
    assert system.read("/var/lib/etcd/member/member.old/snap/db") == b"old"
    system.write("/x/member.old/f", b"f")
    assert _mv(files, "/x/member.old", "/var/lib/etcd/member")[1] == (
        "mv: cannot move '/x/member.old' to '/var/lib/etcd/member/member.old': "
        "Directory not empty\n"
    )
    assert system.read("/x/member.old/f") == b"f"


def _restore(system: GuestSystem, *args: str) -> tuple[int, str]:
    system.active.add("kubelet")
    crictl = Crictl(system, lambda: None)
    out, err = BufferSink(), BufferSink()
    argv = ["exec", ETCD_ID, "etcdutl", "snapshot", "restore", *args]
    status = _finish(crictl(argv, Streams(out, err), b""))
    return int(status), err.value()


@pytest.fixture
def node() -> GuestSystem:
    system = GuestSystem.stock()
    system.installed["cri-tools"] = "1.29.0"
    system.write("/etc/kubernetes/manifests/etcd.yaml", b"pod")
    system.write(SNAP, MAGIC + json.dumps({"revision": 7, "objects": []}).encode())
    return system


def test_a_restore_writes_the_data_directory_of_one_member(node: GuestSystem) -> None:
    status, _ = _restore(node, SNAP, *GOOD, "--bump-revision", "1000", "--mark-compacted")
    assert status == 0
    assert node.read("/var/lib/etcd/restored/member/snap/db") == node.read(SNAP)
    wal = json.loads(node.read(f"/var/lib/etcd/restored/{WAL}") or b"{}")
    assert (wal["name"], wal["peer"], wal["bump"]) == ("cp1", "https://10.0.0.1:2380", 1000)


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        ([SNAP, *GOOD, "--bump-revision", "5"], 128, "--mark-compacted required if"),
        ([SNAP, *GOOD, "--mark-compacted"], 128, "--mark-compacted required if"),
        ([*GOOD], 128, "snapshot restore requires exactly one argument"),
        ([SNAP, *GOOD[2:]], 1, 'required flag(s) "data-dir" not set'),
        (
            [SNAP, "--data-dir", "/var/lib/etcd/r", "--name", "cp1"],
            1,
            'couldn\'t find local name "cp1" in the initial cluster configuration',
        ),
        (
            [SNAP, *GOOD[:-1], "https://10.0.0.9:2380"],
            1,
            "--initial-cluster has cp1=https://10.0.0.1:2380 but missing from "
            "--initial-advertise-peer-urls=https://10.0.0.9:2380",
        ),
        (["/var/lib/etcd/none.db", *GOOD], 1, "open /var/lib/etcd/none.db: no such file"),
    ],
)
def test_etcdutls_refusals(node: GuestSystem, args: list[str], code: int, error: str) -> None:
    status, err = _restore(node, *args)
    assert status == code and err.startswith("Error: ") and error in err, err
    assert not node.exists("/var/lib/etcd/restored")


def test_a_data_directory_that_is_not_empty_is_refused(node: GuestSystem) -> None:
    node.write("/var/lib/etcd/restored/leftover", b"x")
    status, err = _restore(node, SNAP, *GOOD)
    assert status == 1
    assert err == 'Error: data-dir "/var/lib/etcd/restored" not empty or could not be read\n'
