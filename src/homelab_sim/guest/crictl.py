"""``crictl`` on a kubeadm node, as far as etcd snapshots need it.

- ``crictl ps [--name NAME] [--state running] [-q]``: the node's running containers, of which
  the simulator knows one kind: etcd, on a control plane whose kubelet runs the
  ``/etc/kubernetes/manifests/etcd.yaml`` static pod (none in the first seconds after a boot,
  before the kubelet has started it);
- ``crictl exec [-i] ID etcdctl ... snapshot save PATH``: etcdctl inside the etcd container.
  It needs ``--endpoints`` on 127.0.0.1:2379 and the client certificate files kubeadm writes
  (``--cacert``, ``--cert``, ``--key`` under /etc/kubernetes/pki/etcd); the container sees the
  host's ``/var/lib/etcd`` and ``/etc/kubernetes/pki/etcd`` only, so PATH must be under
  ``/var/lib/etcd``. The snapshot is the cluster's store at that moment (a simulated format:
  ``SIMETCD1`` and JSON), with etcdctl's "Snapshot saved at PATH";
- ``crictl exec ID etcdutl snapshot status PATH -w json``: ``{"hash", "revision", "totalKey",
  "totalSize", "version"}`` of a snapshot file; a damaged one is etcdutl's "invalid database".
- ``crictl exec ID etcdctl ... member list -w json``: ``{"members": [{"ID", "name",
  "peerURLs", "clientURLs"}]}``, the members of the etcd cluster this node is in.
- ``crictl exec ID etcdutl snapshot restore PATH --data-dir DIR [--name N] [--initial-cluster
  N=URL,...] [--initial-advertise-peer-urls URL] [--bump-revision R --mark-compacted]``:
  etcdutl's restore (etcdutl/snapshot_command.go, snapshot/v3_snapshot.go and etcd's
  ServerConfig.VerifyBootstrap) into a new data directory: ``--data-dir`` is required and
  must not exist non-empty; ``--initial-cluster`` (default ``default=http://localhost:2380``,
  whatever ``--name`` says) must name ``--name`` with exactly the advertised peer URL;
  ``--bump-revision`` and ``--mark-compacted`` go together (exit 128 otherwise, with etcd's
  own "--revision-bump" wording). The simulated snapshot format carries no SHA-256 trailer,
  so ``--skip-hash-check`` is not modelled, and a damaged file is refused with a simulated
  text.
  It writes ``DIR/member/snap/db`` (the snapshot) and ``DIR/member/wal/`` (the new member:
  name, peer URL, bump), which etcd reads when its static pod starts on that directory.
- ``crictl exec ID etcdctl ... endpoint health [--cluster]``: etcdctl's health check
  (ctlv3 ep_command.go): a linearizable ``Get("health")`` per endpoint (this node's, or every
  member's client URL with ``--cluster``); ``URL is healthy: successfully committed proposal:
  took = ...`` on stdout, ``URL is unhealthy: failed to commit proposal: context deadline
  exceeded`` on stderr after the 5 s command timeout for a member that is down, behind the
  leader, or without a quorum; then ``Error: unhealthy cluster`` and exit 1.
- ``crictl ps --name kube-apiserver``: the API server's container, like etcd's.

A running member's own ``/var/lib/etcd/member/snap/db`` holds ``LIVE_DB`` (the simulator keeps
the cluster's objects in its kube model, not in the guest's files).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable

from homelab_sim.guest.shell import Gen, Streams
from homelab_sim.guest.system import GuestSystem

ETCD_ID = "5a3e9c0d1b7f"
APISERVER_ID = "8c41b2e07d95"
MAGIC = b"SIMETCD1\n"
LIVE_DB = b"SIMETCD-LIVE\n"
ETCD_DB = "/var/lib/etcd/member/snap/db"
WAL = "member/wal/0000000000000000-0000000000000000.wal"
APISERVER_MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
ETCD_VERSION = "3.5.12"
BAD_ARGS = 128  # cobrautl.ExitBadArgs
CONTAINER_PATHS = ("/var/lib/etcd/", "/etc/kubernetes/pki/etcd/")
ETCD_MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"


NO_ETCD = "Error: context deadline exceeded\n"


def _member_remove(ids: list[str], io: Streams, remove: Callable[[int], tuple[int, str]]) -> int:
    """etcdctl's ``member remove ID`` (ctlv3 member.go): one hex ID, then the server's word."""
    if len(ids) != 1:
        io.err.write("Error: member ID is not provided\n")
        return 1
    try:
        member = int(ids[0], 16)
    except ValueError:
        io.err.write(
            f'Error: bad member ID arg (strconv.ParseUint: parsing "{ids[0]}": invalid '
            "syntax), expecting ID in Hex\n"
        )
        return 1
    status, text = remove(member)
    (io.out if status == 0 else io.err).write(text)
    return status


def _option(args: list[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name and index + 1 < len(args):
            return args[index + 1]
    return None


def status_of(data: bytes) -> dict[str, object] | None:
    """etcdutl's status of a snapshot's bytes, or None when it is not a database."""
    if not data.startswith(MAGIC):
        return None
    try:
        body = json.loads(data[len(MAGIC) :])
    except ValueError:
        return None
    return {
        "hash": zlib.crc32(data),
        "revision": int(body.get("revision", 0)),
        "totalKey": len(body.get("objects", [])),
        "totalSize": len(data),
        "version": ETCD_VERSION,
    }


class Crictl:
    """The command; ``snapshot`` gives the etcd store's bytes when this node serves etcd."""

    def __init__(
        self,
        system: GuestSystem,
        snapshot: Callable[[], bytes | None],
        members: Callable[[], list[dict[str, object]] | None] = lambda: None,
        pods_up: Callable[[], bool] = lambda: True,
        remove: Callable[[int], tuple[int, str]] = lambda _id: (
            1,
            "Error: context deadline exceeded\n",
        ),
        health: Callable[[], list[tuple[str, bool, bool]] | None] = lambda: None,
    ) -> None:
        self.system = system
        self.snapshot = snapshot
        self.members = members
        self.pods_up = pods_up
        self.remove = remove
        self.health = health

    def _running(self) -> dict[str, str]:
        """name -> container id of the control-plane containers the kubelet runs."""
        if "kubelet" not in self.system.active or not self.pods_up():
            return {}
        out = {}
        if self.system.exists(ETCD_MANIFEST):
            out["etcd"] = ETCD_ID
        if self.system.exists(APISERVER_MANIFEST):
            out["kube-apiserver"] = APISERVER_ID
        return out

    def __call__(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.3
        if "cri-tools" not in self.system.installed:
            io.err.write("sh: 1: crictl: not found\n")
            return 127
        words = [a for a in args if not a.startswith("--runtime-endpoint")]
        if words[:1] == ["ps"]:
            name = _option(words, "--name")
            shown = {n: i for n, i in self._running().items() if name is None or name in n}
            if "-q" in words or "--quiet" in words:
                io.out.write("".join(f"{i}\n" for i in shown.values()))
            else:
                io.out.write("CONTAINER       IMAGE   CREATED   STATE     NAME   POD\n")
                for n, i in shown.items():
                    io.out.write(f"{i}    {n}    1h ago    Running   {n}   {n}\n")
            return 0
        if words[:1] == ["exec"]:
            rest = [w for w in words[1:] if w not in ("-i", "-t", "-it")]
            if not rest or rest[0] != ETCD_ID or "etcd" not in self._running():
                target = rest[0] if rest else ""
                io.err.write(f'execing command in container: container "{target}" not found\n')
                return 1
            program = rest[1:2]
            if program == ["etcdctl"]:
                return (yield from self._etcdctl(rest[2:], io))
            if program == ["etcdutl"]:
                return (yield from self._etcdutl(rest[2:], io))
            io.err.write(f'exec: "{program[0] if program else ""}": executable file not found\n')
            return 126
        io.err.write(f"crictl: unknown command {words[:1]}\n")
        return 1

    def _etcdctl(self, args: list[str], io: Streams) -> Gen:
        yield 0.5
        positional = [a for a in args if not a.startswith("-")]
        flags_with_values = {"--endpoints", "--cacert", "--cert", "--key"}
        values = {args[i + 1] for i, a in enumerate(args[:-1]) if a in flags_with_values}
        positional = [a for a in positional if a not in values]
        known = (["snapshot", "save"], ["member", "list"], ["member", "remove"])
        if positional[:2] not in (*known, ["endpoint", "health"]):
            io.err.write(
                "Error: unknown command; the simulator runs 'snapshot save PATH', "
                "'member list -w json', 'member remove ID' and 'endpoint health [--cluster]'\n"
            )
            return 1
        endpoint = _option(args, "--endpoints") or "127.0.0.1:2379"
        if "127.0.0.1:2379" not in endpoint:
            io.err.write(f"Error: context deadline exceeded ({endpoint})\n")
            return 1
        for flag in ("--cacert", "--cert", "--key"):
            path = _option(args, flag)
            if path is None:
                io.err.write(
                    "Error: rpc error: code = Unavailable desc = connection closed before "
                    "server preface received\n"
                )
                return 1
            if not path.startswith(CONTAINER_PATHS[1]) or not self.system.exists(path):
                io.err.write(f"Error: open {path}: no such file or directory\n")
                return 1
        if positional[:2] == ["member", "remove"]:
            return _member_remove(positional[2:], io, self.remove)
        if positional[:2] == ["endpoint", "health"]:
            return (yield from self._endpoint_health("--cluster" in args, io))
        if positional[:2] == ["member", "list"]:
            members = self.members()
            if members is None:
                io.err.write("Error: context deadline exceeded\n")
                return 1
            io.out.write(json.dumps({"members": members}) + "\n")
            return 0
        if len(positional) != 3:
            io.err.write("Error: snapshot save expects one argument\n")
            return 1
        target = positional[2]
        if not target.startswith(CONTAINER_PATHS[0]):
            io.err.write(
                f"Error: could not open {target}.part "
                f"(open {target}.part: no such file or directory)\n"
            )
            return 1
        data = self.snapshot()
        if data is None:
            io.err.write("Error: context deadline exceeded\n")
            return 1
        yield 1.0 + len(data) / 50e6
        self.system.write(target, data, mode=0o600)
        io.out.write(f"Snapshot saved at {target}\n")
        return 0

    def _endpoint_health(self, cluster: bool, io: Streams) -> Gen:
        members = self.health()
        if members is None:
            io.err.write("Error: context deadline exceeded\n")
            return 1
        if not cluster:  # --endpoints: this node's own member
            members = [("https://127.0.0.1:2379", ok, True) for _, ok, own in members if own]
        sick = [url for url, healthy, _ in members if not healthy]
        yield 5.0 if sick else 0.05  # --command-timeout: 5 s
        for url, healthy, _ in members:
            if healthy:
                io.out.write(f"{url} is healthy: successfully committed proposal: took = 9.8ms\n")
            else:
                io.err.write(
                    f"{url} is unhealthy: failed to commit proposal: context deadline exceeded\n"
                )
        if sick:
            io.err.write("Error: unhealthy cluster\n")
            return 1
        return 0

    def _etcdutl(self, args: list[str], io: Streams) -> Gen:
        yield 0.2
        if [a for a in args if not a.startswith("-")][:2] == ["snapshot", "restore"]:
            return (yield from self._restore(args, io))
        positional = [a for a in args if not a.startswith("-") and a not in ("json", "table")]
        if positional[:2] != ["snapshot", "status"] or len(positional) != 3:
            io.err.write("Error: the simulator runs 'snapshot status PATH -w json'\n")
            return 1
        path = positional[2]
        data = self.system.read(path) if path.startswith(CONTAINER_PATHS[0]) else None
        if data is None:
            io.err.write(f"Error: stat {path}: no such file or directory\n")
            return 1
        status = status_of(data)
        if status is None:
            io.err.write("Error: invalid database\n")
            return 1
        io.out.write(json.dumps(status) + "\n")
        return 0

    def _restore(self, args: list[str], io: Streams) -> Gen:
        with_value = {
            "--data-dir",
            "--wal-dir",
            "--name",
            "--initial-cluster",
            "--initial-cluster-token",
            "--initial-advertise-peer-urls",
            "--bump-revision",
        }
        values = {args[i + 1] for i, a in enumerate(args[:-1]) if a in with_value}
        positional = [a for a in args if not a.startswith("-") and a not in values]
        if len(positional) != 3:
            io.err.write("Error: snapshot restore requires exactly one argument\n")
            return BAD_ARGS
        path = positional[2]
        # etcdutl's flag defaults: the initial cluster does not follow --name
        name = _option(args, "--name") or "default"
        peer = _option(args, "--initial-advertise-peer-urls") or "http://localhost:2380"
        initial = _option(args, "--initial-cluster") or "default=http://localhost:2380"
        data_dir = _option(args, "--data-dir")
        bump = int(_option(args, "--bump-revision") or 0)
        if bool(bump) != ("--mark-compacted" in args):
            io.err.write("Error: --mark-compacted required if --revision-bump > 0\n")
            return BAD_ARGS
        if data_dir is None:
            io.err.write('Error: required flag(s) "data-dir" not set\n')
            return 1
        members = dict(m.split("=", 1) for m in initial.split(",") if "=" in m)
        if name not in members:
            io.err.write(
                f'Error: couldn\'t find local name "{name}" in the initial cluster configuration\n'
            )
            return 1
        if members[name] != peer:
            io.err.write(
                f"Error: --initial-cluster has {name}={members[name]} but missing from "
                f'--initial-advertise-peer-urls={peer} ("{peer}"(resolved from "{peer}") != '
                f'"{members[name]}"(resolved from "{members[name]}"))\n'
            )
            return 1
        data = self.system.read(path) if path.startswith(CONTAINER_PATHS[0]) else None
        if data is None:
            io.err.write(f"Error: open {path}: no such file or directory\n")
            return 1
        if status_of(data) is None:
            io.err.write("Error: snapshot file integrity check failed\n")
            return 1
        if not data_dir.startswith(CONTAINER_PATHS[0]):
            io.err.write(f"Error: mkdir {data_dir}: read-only file system\n")
            return 1
        if self.system.exists(data_dir) and self.system.listdir(data_dir):
            io.err.write(f'Error: data-dir "{data_dir}" not empty or could not be read\n')
            return 1
        yield 1.0 + len(data) / 50e6
        self.system.write(f"{data_dir.rstrip('/')}/member/snap/db", data, mode=0o600)
        wal = {"name": name, "peer": peer, "members": members, "bump": bump}
        self.system.write(f"{data_dir.rstrip('/')}/{WAL}", json.dumps(wal).encode(), mode=0o600)
        io.err.write(
            f'{{"level":"info","msg":"restored snapshot","path":"{path}",'
            f'"wal-dir":"{data_dir}/member/wal","data-dir":"{data_dir}"}}\n'
        )
        return 0
