"""End to end: the real proxmoxer client against `homelab sim serve` over pinned HTTPS."""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

from tests.sim.support import NETWORK_CONFIG, make_iso

PASSWORD = "sim-e2e-password"
SCALE = "200"  # a linked clone takes 15 ms, a boot to the agent 150 ms


class Server:
    def __init__(self, proc: subprocess.Popen[str], ready: dict[str, str], cafile: Path) -> None:
        self.proc = proc
        self.ready = ready
        self.cafile = cafile
        self.port = int(ready["endpoint"].rsplit(":", 1)[1])

    def token_client(self, token: str | None = None) -> ProxmoxAPI:
        user_token, secret = (token or self.ready["token"]).split("=", 1)
        user, name = user_token.split("!")
        return ProxmoxAPI(
            "127.0.0.1", port=self.port, user=user, token_name=name, token_value=secret,
            verify_ssl=str(self.cafile), timeout=10,
        )  # fmt: skip

    def ticket_client(self) -> ProxmoxAPI:
        return ProxmoxAPI(
            "127.0.0.1", port=self.port, user="root@pam", password=PASSWORD,
            verify_ssl=str(self.cafile), timeout=10,
        )  # fmt: skip

    def stop(self) -> int:
        """SIGTERM, then the exit code; ``self.rest`` is whatever came on stdout after the line."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(15)
        assert self.proc.stdout is not None
        self.rest = self.proc.stdout.read()
        self.proc.stdout.close()
        return code


def pinned_cafile(endpoint: str, fingerprint: str, directory: Path) -> Path:
    """Fetch the server's certificate, check it against the fingerprint, use it as CA file."""
    pem = ssl.get_server_certificate(("127.0.0.1", int(endpoint.rsplit(":", 1)[1])))
    der = ssl.PEM_cert_to_DER_cert(pem)
    assert ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()) == fingerprint
    path = directory / "pve-root-ca.pem"
    path.write_text(pem)
    return path


def start_server(directory: Path, *args: str) -> Server:
    env = {**os.environ, "HOMELAB_SIM_PASSWORD": PASSWORD}
    command = [sys.executable, "-m", "homelab", "sim", "serve", "--port", "0", *args]
    with (directory / "serve.stderr").open("a") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    ready_to_read = selector.select(timeout=30)
    selector.close()
    if not ready_to_read:
        proc.kill()
        pytest.fail("homelab sim serve did not become ready within 30 s")
    line = proc.stdout.readline()
    ready = json.loads(line)
    assert set(ready) == {"endpoint", "token", "fingerprint"}
    assert ready["endpoint"].startswith("https://127.0.0.1:")
    assert ready["token"].startswith("root@pam!sim=")
    return Server(proc, ready, pinned_cafile(ready["endpoint"], ready["fingerprint"], directory))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("sim"), "--time-scale", SCALE)
    yield srv
    assert srv.stop() == 0
    assert srv.rest == ""  # one JSON line on stdout, nothing else


def wait(prox: ProxmoxAPI, upid: str) -> dict[str, Any]:
    status: dict[str, Any] = Tasks.blocking_status(prox, upid, timeout=30, polling_interval=0.02)
    assert status is not None, f"task {upid} did not finish"
    return status


def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except ResourceException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def lifecycle(prox: ProxmoxAPI, newid: int, tmp_path: Path) -> None:
    assert [n["node"] for n in prox.nodes.get()] == ["pve"]
    assert int(prox.cluster.nextid.get()) >= 100
    node = prox.nodes("pve")
    assert (
        wait(prox, node.qemu(9000).clone.post(newid=newid, name=f"vm-{newid}"))["exitstatus"]
        == "OK"
    )
    config = node.qemu(newid).config.get()
    mac = config["net0"].split(",")[0].split("=")[1].lower()
    node.qemu(newid).config.put(memory="4096", digest=config["digest"])
    with pytest.raises(ResourceException) as stale:
        node.qemu(newid).config.put(cores=4, digest=config["digest"])
    assert stale.value.status_code == 500
    assert wait(prox, node.qemu(newid).resize.put(disk="scsi0", size="+10G"))["exitstatus"] == "OK"
    seed = tmp_path / f"seed-{newid}.iso"
    seed.write_bytes(make_iso("cidata", {
        # the stock cloud image has no guest agent: the seed installs it
        "user-data": "#cloud-config\npackages: [qemu-guest-agent]\n",
        "meta-data": f"instance-id: vm-{newid}\n",
        "network-config": NETWORK_CONFIG.replace("10.0.10.11", f"10.0.10.{newid % 200}") % mac,
    }))  # fmt: skip
    with seed.open("rb") as handle:
        assert (
            wait(prox, node.storage("local").upload.post(content="iso", filename=handle))[
                "exitstatus"
            ]
            == "OK"
        )
    node.qemu(newid).config.post(ide3=f"local:iso/{seed.name},media=cdrom")
    assert wait(prox, node.qemu(newid).status.start.post())["exitstatus"] == "OK"
    result = until(lambda: node.qemu(newid).agent("network-get-interfaces").get())["result"]
    addresses = [a["ip-address"] for i in result for a in i["ip-addresses"]]
    assert f"10.0.10.{newid % 200}" in addresses
    with pytest.raises(ResourceException) as running:
        node.qemu(newid).delete()
    assert running.value.content == f"VM {newid} is running - destroy failed"
    assert wait(prox, node.qemu(newid).status.stop.post())["exitstatus"] == "OK"
    assert wait(prox, node.qemu(newid).delete(purge=1))["exitstatus"] == "OK"
    assert newid not in [vm["vmid"] for vm in node.qemu.get()]


def test_lifecycle_with_token(server: Server, tmp_path: Path) -> None:
    lifecycle(server.token_client(), 120, tmp_path)


def test_lifecycle_with_ticket(server: Server, tmp_path: Path) -> None:
    lifecycle(server.ticket_client(), 121, tmp_path)


def test_error_cases(server: Server, tmp_path: Path) -> None:
    prox = server.token_client()
    node = prox.nodes("pve")
    bad = server.token_client("root@pam!sim=00000000-0000-0000-0000-000000000000")
    with pytest.raises(ResourceException) as unauthorised:
        bad.nodes.get()
    assert unauthorised.value.status_code == 401
    with pytest.raises(ResourceException) as unknown:
        node.qemu(9000).config.get(bogus=1)
    assert unknown.value.status_code == 400
    assert "bogus" in str(unknown.value.errors)
    snippet = tmp_path / "user-data.yaml"
    snippet.write_text("#cloud-config\n")
    with snippet.open("rb") as handle, pytest.raises(ResourceException) as refused:
        node.storage("local").upload.post(content="snippets", filename=handle)
    assert refused.value.status_code == 400
    assert "enumeration" in str(refused.value.errors)
    wait(prox, node.qemu(9000).clone.post(newid=130))
    with pytest.raises(ResourceException) as collision:
        node.qemu(9000).clone.post(newid=130)
    assert collision.value.content == "unable to create VM 130: config file already exists"
    # a big disk makes the first full clone of VM 130 last seconds: the second one contends
    wait(prox, node.qemu(130).resize.put(disk="scsi0", size="+150G"))
    first = node.qemu(130).clone.post(newid=131)
    with pytest.raises(ResourceException) as contention:
        node.qemu(130).clone.post(newid=132)
    assert contention.value.content == (
        "can't lock file '/var/lock/qemu-server/lock-130.conf' - got timeout"
    )
    wait(prox, first)


def test_state_persists_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = start_server(tmp_path, "--state", str(state), "--time-scale", SCALE)
    prox = first.token_client()
    wait(prox, prox.nodes("pve").qemu(9000).clone.post(newid=140, name="persistent"))
    token = first.ready["token"]
    assert first.stop() == 0
    second = start_server(tmp_path, "--state", str(state), "--time-scale", SCALE)
    try:
        assert second.ready["token"] == token
        assert second.token_client().nodes("pve").qemu(140).config.get()["name"] == "persistent"
    finally:
        assert second.stop() == 0
