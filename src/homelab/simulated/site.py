"""SimulatedSite: the engine's ``Site`` for a lab that lives in the built-in simulator.

Lab addresses such as ``10.0.20.10:6443`` exist only inside the simulator: each simulated
cluster's API server listens on a loopback port, listed at ``GET /_sim/kube``
(``{"10.0.20.10:6443": "https://127.0.0.1:41234"}``), and is reached there with the TLS server
name of the lab address (its certificate is the lab's). Addon manifests come from the
simulator's mirror ``/_sim/manifests`` (same pinned TLS and token as the Proxmox API) and are
cached apart from a real lab's; guests report their bootstrap at ``GET /_sim/guests``.

The ``/_sim/*`` requests go through a session of their own on the connection's settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from homelab.engine.clock import Clock
from homelab.engine.kube.manifests import ManifestSource
from homelab.engine.proxmox.config import ConnectionSettings
from homelab.engine.proxmox.errors import ProxmoxError
from homelab.engine.proxmox.retry import RetryPolicy
from homelab.engine.proxmox.session import PveSession
from homelab.engine.proxmox.wire import build_http_client
from homelab.engine.site import Reach

if TYPE_CHECKING:  # the Kubernetes client loads when guests are read (up), not for plan
    from homelab.engine.kube.diagnose import GuestPhase

__all__ = ["SimulatedSite"]


class SimulatedSite:
    """The simulator behind ``settings`` (over ``transport`` if given); close() when done."""

    def __init__(
        self,
        settings: ConnectionSettings,
        manifest_cache: Path,
        clock: Clock | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        clock = clock or Clock()
        self.settings = settings
        self.manifest_cache = manifest_cache
        self._transport = transport
        self._session = PveSession(
            settings,
            transport=transport,
            retry=RetryPolicy(sleep=clock.sleep),
        )

    def close(self) -> None:
        self._session.close()

    def reach(self, host: str, port: int) -> Reach | None:
        mapped = self._session.get("/_sim/kube")
        url = mapped.get(f"{host}:{port}") if isinstance(mapped, dict) else None
        return Reach(url, server_name=host) if isinstance(url, str) else None

    def add_pbs_server(self, fields: dict[str, str]) -> None:
        """Put a Proxmox Backup Server into the simulated world (``PUT /_sim/pbs``)."""
        self._session.request("PUT", "/_sim/pbs", fields)

    def advance_clock(self, seconds: float) -> float:
        """Move the simulator's virtual clock ``seconds`` forward (a day later, in a test)."""
        answer = self._session.post("/_sim/clock", advance=seconds)
        return float(answer["now"]) if isinstance(answer, dict) and "now" in answer else 0.0

    def manifest_source(self) -> ManifestSource:
        settings, transport = self.settings, self._transport
        return ManifestSource(
            cache_dir=self.manifest_cache,
            mirror=f"{settings.base_url}/_sim/manifests",
            mirror_client=lambda: build_http_client(settings, transport),
        )

    def guest_phases(self) -> dict[str, GuestPhase]:
        from homelab.simulated.guests import guest_phases

        try:
            return guest_phases(self._session.get("/_sim/guests"))
        except ProxmoxError:
            return {}
