"""Helpers of the simulator's wire tests: a thin API client and seed ISO uploads."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pycdlib

from homelab_sim.clock import VirtualClock
from homelab_sim.guest.model import CidataGuest, GuestVm
from homelab_sim.guest.seed import SeedFiles
from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.pve.state import StorageDef
from homelab_sim.secret import Secret
from homelab_sim.transport import SimTransport

PASSWORD = "correct horse battery staple"


class Api:
    """A thin PVE API client over SimTransport (the test's view of the wire)."""

    def __init__(self, sim: PveSimulator, token: Secret | None = None) -> None:
        self.sim = sim
        headers = {"Authorization": f"PVEAPIToken={(token or sim.token).reveal()}"}
        self.http = httpx.Client(
            transport=SimTransport(sim),
            base_url="https://127.0.0.1:8006/api2/json",
            headers=headers,
        )

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, (response.status_code, response.reason_phrase)
        return response.json()["data"]

    def finish(self, upid: str, seconds: float = 3600.0) -> dict[str, Any]:
        """Advance the virtual clock until the task has ended; its status."""
        node = upid.split(":")[1]
        self.sim.advance(seconds)
        status: dict[str, Any] = self.ok("GET", f"/nodes/{node}/tasks/{upid}/status")
        assert status["status"] == "stopped"
        return status

    def log(self, upid: str) -> list[str]:
        node = upid.split(":")[1]
        return [line["t"] for line in self.ok("GET", f"/nodes/{node}/tasks/{upid}/log")]

    def clone(self, newid: int, source: int = 9000, **params: Any) -> str:
        upid: str = self.ok(
            "POST", f"/nodes/pve/qemu/{source}/clone", data={"newid": newid, **params}
        )
        return upid


NETWORK_CONFIG = """\
version: 2
ethernets:
  ens18:
    match: {macaddress: "%s"}
    set-name: ens18
    addresses: [10.0.10.11/24]
    routes: [{to: default, via: 10.0.10.1}]
"""


def make_iso(label: str, files: dict[str, str]) -> bytes:
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=label)
    for name, text in files.items():
        data = text.encode()
        short = name.upper().replace("-", "")[:8]
        iso.add_fp(
            io.BytesIO(data), len(data), f"/{short}.;1", joliet_path=f"/{name}", rr_name=name
        )
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def upload(api: Api, name: str, data: bytes, content: str = "iso", storage: str = "local") -> str:
    upid: str = api.ok(
        "POST",
        f"/nodes/pve/storage/{storage}/upload",
        data={"content": content},
        files={"filename": (name, data, "application/octet-stream")},
    )
    return upid


class StaticGuest(CidataGuest):
    """A custom guest model: agent up at once, a fixed address, boots recorded."""

    def __init__(self) -> None:
        super().__init__(boot_to_agent=0)
        self.booted: list[tuple[int, SeedFiles | None]] = []

    def on_boot(self, vm: GuestVm, seed: SeedFiles | None, clock: VirtualClock) -> None:
        super().on_boot(vm, seed, clock)
        self.booted.append((vm.vmid, seed))
        vm.guest["kubelet"] = "absent"

    def agent_interfaces(self, vm: GuestVm) -> list[dict[str, Any]]:
        return [{"name": "eth0", "hardware-address": "02:00:00:00:00:01", "ip-addresses": []}]


#: A shared Ceph RBD storage on every node (a template on it clones to any node).
CEPH = StorageDef(storage="ceph", type="rbd", content=["images"], total=1024**4, shared=True)
