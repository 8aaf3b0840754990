"""Site: what differs between a real lab and a simulated one, seen from this machine.

The use cases (``homelab.verbs``) reach a lab through two things: a Proxmox client (VMs, power
state, the guest agent's ping: the same API on a real lab and on the simulator) and a ``Site``,
which answers the rest:

- ``reach(host, port)``: how this machine reaches a lab address such as ``10.0.20.10:6443``,
  the URL to connect to and the TLS server name to verify when it is not the URL's host;
  ``None`` while that address does not exist yet (a simulated control plane not started);
- ``manifest_source()``: where the addons' install manifests come from;
- ``guest_phases()``: what each guest reports of its bootstrap (cloud-init and kubeadm phases,
  last error), by VM name; only what can be asked, so possibly nothing.

``RealSite`` is a real lab: lab addresses are routed to directly, manifests come from the cache,
a mirror (``HOMELAB_ADDONS_MIRROR``) or upstream, and guests report nothing yet (the guest agent's
``exec`` needs rights an API token does not have). The simulated site lives in
``homelab.simulated``, the only code outside the simulator that knows its private API.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from homelab.engine.kube.manifests import ManifestSource

if TYPE_CHECKING:  # the diagnosis imports the Kubernetes client; a Site's user has it loaded
    from homelab.engine.kube.diagnose import GuestPhase

__all__ = ["Reach", "RealSite", "Site"]


@dataclass(frozen=True)
class Reach:
    """How this machine reaches one lab address."""

    url: str
    #: The name the server's certificate is checked against, when it is not the URL's host.
    server_name: str | None = None


class Site(Protocol):
    """What differs between a real lab and a simulated one (see the module's docstring)."""

    def reach(self, host: str, port: int) -> Reach | None: ...

    def manifest_source(self) -> ManifestSource: ...

    def guest_phases(self) -> dict[str, GuestPhase]: ...


@dataclass(frozen=True)
class RealSite:
    """A real lab: its addresses are routed to from this machine; manifests cached in
    ``manifest_cache``; guests report nothing yet."""

    manifest_cache: Path

    def reach(self, host: str, port: int) -> Reach:
        return Reach(f"https://{host}:{port}")

    def manifest_source(self) -> ManifestSource:
        return ManifestSource.from_env(self.manifest_cache)

    def guest_phases(self) -> dict[str, GuestPhase]:
        return {}
