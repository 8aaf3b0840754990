"""The guest channel over the wire against the simulator: commands run in the guest's model,
files read and written, the agent's refusals, and a token without the agent privilege."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab.core.secret import Secret
from homelab.engine.guest.channel import GuestChannel, GuestTimeout
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.errors import PermissionDenied, RefusedError
from homelab.engine.proxmox.session import PveSession
from homelab.simulated.site import SimulatedSite
from homelab.verbs.lab import prepare_lab
from homelab.verbs.secrets import cluster_secrets
from tests.up.simlab import Upped, copy_example, upped


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upped]:
    spec = copy_example("home-lab.yaml", tmp_path_factory.mktemp("guest"))
    with upped(spec) as running:
        yield running


def vmid(lab: Upped, name: str) -> int:
    (vm,) = [v for v in lab.conn.client.cluster_vms() if v.name == name]
    return vm.vmid


def test_a_command_runs_in_the_guest_and_reports_its_output_and_exit(lab: Upped) -> None:
    channel = GuestChannel(lab.conn.client, lab.conn.clock)
    master = vmid(lab, "k8s-master-1")
    done = channel.run("pve", master, ["sh", "-c", "echo hello; echo oops >&2; exit 3"])
    assert (done.exitcode, done.stdout, done.stderr) == (3, "hello\n", "oops\n")
    assert not done.ok
    hostname = channel.run("pve", master, ["cat", "/etc/hostname"])
    assert hostname.ok and hostname.stdout.strip() == "k8s-master-1"
    missing = channel.run("pve", master, ["no-such-program"])
    assert missing.exitcode == 127 and "not found" in missing.stderr


def test_files_are_read_and_written_through_the_agent(lab: Upped) -> None:
    channel = GuestChannel(lab.conn.client, lab.conn.clock)
    worker = vmid(lab, "k8s-worker-2")
    conf = channel.read_file("pve", worker, "/etc/homelab/kubeadm.yaml")  # the seed wrote it
    assert b"kind: JoinConfiguration" in conf and b"apiServerEndpoint: 10.0.20.10:6443" in conf
    channel.write_file("pve", worker, "/tmp/homelab-note", b"\x00binary\xff and text\n")
    assert channel.read_file("pve", worker, "/tmp/homelab-note") == b"\x00binary\xff and text\n"
    with pytest.raises(RefusedError, match="No such file or directory"):
        channel.read_file("pve", worker, "/no/such/file")


def test_a_long_command_is_polled_and_a_timeout_is_a_clear_error(lab: Upped) -> None:
    channel = GuestChannel(lab.conn.client, lab.conn.clock)
    worker = vmid(lab, "k8s-worker-3")
    slow = channel.run("pve", worker, ["sleep", "30"], timeout=300)
    assert slow.ok and slow.seconds >= 30  # virtual seconds: it ran, then exited
    with pytest.raises(GuestTimeout, match="still runs after 5 s"):
        channel.run("pve", worker, ["sleep", "60"], timeout=5)


def test_a_token_without_the_agent_privilege_is_refused_then_a_stopped_vm(lab: Upped) -> None:
    site = lab.conn.site
    assert isinstance(site, SimulatedSite)
    master = vmid(lab, "k8s-master-1")
    root = PveSession(site.settings)  # the simulator's root token sets the scene up
    try:
        root.post("/access/roles", roleid="NoAgent", privs="VM.Audit")
        answer = root.post("/access/users/homelab@pve/token/noagent", privsep=1)
        acl = {"path": "/", "roles": "NoAgent", "tokens": "homelab@pve!noagent"}
        root.request("PUT", "/access/acl", acl)
    finally:
        root.close()
    settings = dataclasses.replace(
        lab.conn.client.settings,
        token_id="homelab@pve!noagent",
        token_secret=Secret(str(answer["value"])),
    )
    with PveClient(settings) as weak:
        channel = GuestChannel(weak, lab.conn.clock)
        with pytest.raises(PermissionDenied, match=r"VM\.Monitor"):
            channel.run("pve", master, ["true"], timeout=5)
        with pytest.raises(PermissionDenied, match=r"VM\.Monitor"):
            channel.read_file("pve", master, "/etc/hostname")
    channel = GuestChannel(lab.conn.client, lab.conn.clock)
    worker = vmid(lab, "k8s-worker-3")
    lab.conn.client.wait_task(lab.conn.client.stop("pve", worker))
    with pytest.raises(RefusedError, match=f"VM {worker} is not running"):
        channel.run("pve", worker, ["true"], timeout=5)


def test_the_guest_commands_against_the_background_simulated_lab(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)

    def homelab(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "homelab", *args], capture_output=True, text=True, timeout=300
        )

    try:
        assert homelab("up", str(spec), "--sim", "--yes", "--quiet").returncode == 0
        done = homelab(
            "guest",
            "exec",
            str(spec),
            "k8s-worker-2",
            "--sim",
            "--",
            "sh",
            "-c",
            "cat /etc/hostname; exit 4",
        )
        assert done.returncode == 4 and done.stdout == "k8s-worker-2\n", done.stderr
        doc = json.loads(
            homelab(
                "guest", "exec", str(spec), "k8s-worker-2", "--sim", "--json", "--", "echo", "hi"
            ).stdout
        )
        assert doc == {"exitcode": 0, "stdout": "hi\n", "stderr": "", "truncated": False}
        cat = homelab("guest", "cat", str(spec), "k8s-master-1", "/etc/hostname", "--sim")
        assert cat.returncode == 0 and cat.stdout == "k8s-master-1\n"
        wrong = homelab("guest", "cat", str(spec), "k8s-worker-9", "/etc/hostname", "--sim")
        assert wrong.returncode == 1 and "has no VM 'k8s-worker-9'" in wrong.stderr
        assert "Traceback" not in wrong.stderr
        # what ran is kept in the lab's history, secrets masked: the lab's own token by value,
        # one it cannot know by its shape
        ctx = prepare_lab(spec)
        try:
            token = cluster_secrets(ctx.store, ctx.lab).bootstrap_token().reveal()
        finally:
            ctx.close()
        shaped = "abcdef.0123456789abcdef"
        said = homelab(
            "guest", "exec", str(spec), "k8s-worker-2", "--sim", "--", "echo", token, shaped
        )
        assert said.returncode == 0 and said.stdout == f"{token} {shaped}\n"
        logged = homelab("guest", "log", str(spec), "k8s-worker-2", "--json")
        assert logged.returncode == 0, logged.stderr
        records = json.loads(logged.stdout)
        assert [r["argv"] for r in records] == [
            ["sh", "-c", "cat /etc/hostname; exit 4"],
            ["echo", "hi"],
            ["echo", "***", "***"],
        ]
        assert [r["exitcode"] for r in records] == [4, 0, 0]
        assert records[0]["stdout"] == "k8s-worker-2\n" and records[0]["vm"] == "k8s-worker-2"
        assert records[2]["stdout"] == "*** ***\n"
        assert token not in logged.stdout and token.split(".")[1] not in logged.stdout
        text = homelab("guest", "log", str(spec), "--last", "2")
        assert text.returncode == 0 and "echo *** ***  [exit 0" in text.stdout, text.stdout
        assert "k8s-master-1" not in text.stdout and len(text.stdout.splitlines()) == 2
        three = homelab("guest", "log", str(spec), "k8s-worker-2", "--last", "3").stdout
        assert "sh -c 'cat /etc/hostname; exit 4'  [exit 4, " in three.splitlines()[0], three
        none = homelab("guest", "log", str(spec), "k8s-worker-3")
        assert none.stdout == "No guest commands recorded for k8s-worker-3.\n", none.stdout
    finally:
        homelab("sim", "stop", str(spec))
