"""Running the built-in simulator in-process, for the verbs' ``--sim``.

``run_simulator(spec, spec_path)`` starts a simulator of the spec's Proxmox nodes, its state
under ``.homelab/<lab>/sim/`` so successive commands see the same simulated lab, serves it over
HTTPS on loopback and yields what a connection to it needs: the settings (its certificate's
fingerprint pinned, so the real TLS path is exercised; the token holds exactly the README's
grants, see ``simulated.access``), a clock following the simulator's
compressed virtual time (``HOMELAB_SIM_TIME_SCALE``, default 100) so timeouts keep their
meaning, and the SimulatedSite. At the end the site is closed, the server stopped and the
simulator closed (its Kubernetes APIs stopped, its state saved).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from homelab.core.spec.models import LabSpec
from homelab.engine.clock import Clock
from homelab.engine.proxmox.config import ConnectionSettings, parse_token
from homelab.engine.state import state_dir
from homelab.errors import SimulatorError
from homelab.simulated.access import least_privileged, sim_pve_major
from homelab.simulated.site import SimulatedSite
from homelab_sim.errors import SimError
from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.server import start_server

__all__ = ["SIM_SCALE_ENV", "SimulatedLab", "run_simulator", "sim_dir", "sim_time_scale"]

SIM_SCALE_ENV = "HOMELAB_SIM_TIME_SCALE"
DEFAULT_SIM_SCALE = 100.0


@dataclass(frozen=True)
class SimulatedLab:
    """How to talk to the running simulator."""

    settings: ConnectionSettings
    clock: Clock
    site: SimulatedSite


def sim_dir(spec_path: Path, lab: str) -> Path:
    """Where the simulated lab of ``lab`` keeps its state (and its manifest cache)."""
    return state_dir(spec_path) / lab / "sim"


def sim_time_scale() -> float:
    raw = os.environ.get(SIM_SCALE_ENV, "").strip()
    if not raw:
        return DEFAULT_SIM_SCALE
    try:
        scale = float(raw)
    except ValueError:
        scale = 0.0
    if scale <= 0:
        raise SimulatorError(f"{SIM_SCALE_ENV}={raw!r} is not a positive number")
    return scale


@contextlib.contextmanager
def run_simulator(spec: LabSpec, spec_path: Path) -> Iterator[SimulatedLab]:
    """The simulated lab of ``spec``, served on loopback until the block ends.

    The simulator's own errors (``SimError``) come out as the tool's ``SimulatorError``.
    """
    try:
        with _serve(spec, spec_path) as lab:
            yield lab
    except SimError as exc:
        raise SimulatorError(exc.message, hint=exc.hint) from exc


@contextlib.contextmanager
def _serve(spec: LabSpec, spec_path: Path) -> Iterator[SimulatedLab]:
    scale = sim_time_scale()
    folder = sim_dir(spec_path, spec.name)
    simulator = PveSimulator(
        SimConfig(
            nodes=tuple(spec.proxmox.nodes),
            time_scale=scale,
            state_dir=folder,
            pve_major=sim_pve_major(),
        )
    )
    try:
        server = start_server(simulator)
        try:
            token_id, secret = parse_token(server.token.reveal())
            root = ConnectionSettings(
                endpoint=server.endpoint,
                token_id=token_id,
                token_secret=secret,
                fingerprint=server.fingerprint,
            )
            # root only sets the tool's token up
            settings = least_privileged(root, spec.proxmox.iso_storage, saved=folder / "tool-token")
            clock = Clock.scaled(scale)
            # the site stands for the lab's network and guests, not for Proxmox: the simulator's
            # control API (/_sim/*) takes its own root token
            site = SimulatedSite(root, folder / "cache" / "manifests", clock)
            with contextlib.closing(site):
                yield SimulatedLab(settings, clock, site)
        finally:
            server.stop()
    finally:
        simulator.close()  # stops the simulated Kubernetes APIs, saves the simulator's state
