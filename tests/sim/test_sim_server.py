"""The in-process HTTPS server (`start_server`, used by `--sim`) and the guest extension point."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys

import httpx
import pytest

from homelab_sim.errors import SimError
from homelab_sim.pve.faults import FaultProfile, FaultRule
from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.server import start_server
from homelab_sim.tls import fingerprint_of
from tests.sim.support import Api, StaticGuest


def test_start_server_speaks_pinned_https_with_pve_reasons() -> None:
    sim = PveSimulator(SimConfig(time_scale=0))  # default 401 delay over HTTPS: 0.1 s
    server = start_server(sim)
    try:
        assert server.endpoint.startswith("https://127.0.0.1:")
        der = ssl.PEM_cert_to_DER_cert(server.cert_pem.decode())
        assert fingerprint_of(der) == server.fingerprint
        context = ssl.create_default_context(cadata=server.cert_pem.decode())
        headers = {"Authorization": f"PVEAPIToken={server.token.reveal()}"}
        with httpx.Client(
            base_url=server.endpoint + "/api2/json", verify=context, headers=headers
        ) as client:
            missing = client.get("/nodes/pve/qemu/777/config")
            assert missing.status_code == 500
            assert (
                missing.reason_phrase
                == "Configuration file 'nodes/pve/qemu-server/777.conf' does not exist"
            )
            assert "x-homelab-reason" not in missing.headers
            nodes = client.get("/nodes").json()["data"]
            assert nodes[0]["ssl_fingerprint"] == server.fingerprint
            sim.set_faults(FaultProfile(rules=[FaultRule(path="/version", fault="reset", count=1)]))
            with pytest.raises(httpx.RemoteProtocolError):
                client.get("/version")
            assert client.get("/version").status_code == 200
            bad = client.get("/version", headers={"Authorization": "PVEAPIToken=root@pam!sim=x"})
            assert (bad.status_code, bad.content) == (401, b"")
            assert bad.elapsed.total_seconds() >= 0.1
    finally:
        server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.endpoint + "/api2/json/version", verify=context, timeout=2)


def test_guest_model_is_pluggable() -> None:
    guest = StaticGuest()
    api = Api(PveSimulator(SimConfig(time_scale=0), guest=guest))
    api.finish(api.clone(101))
    api.ok("POST", "/nodes/pve/qemu/101/config", data={"delete": "ide2"})  # no PVE seed
    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/start"))
    assert guest.booted == [(101, None)]
    result = api.ok("GET", "/nodes/pve/qemu/101/agent/network-get-interfaces")["result"]
    assert result[0]["name"] == "eth0"
    assert api.sim.state.vms[101].guest == {"kubelet": "absent"}


def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SimError, match=f"cannot listen on 127.0.0.1:{port}"):
            start_server(PveSimulator(SimConfig(time_scale=0)), port=port)
        done = subprocess.run(
            [sys.executable, "-m", "homelab", "sim", "serve", "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert "cannot listen on" in done.stderr and "Traceback" not in done.stderr


def test_listening_socket_disables_nagle() -> None:
    """Responses are written as headers + body; with Nagle each keep-alive request waited ~40 ms."""
    import socket

    from homelab_sim.server import _bind

    sock = _bind(0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()
