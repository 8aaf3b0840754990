"""Opening the Proxmox connection a verb works on: the real API, or the built-in simulator.

``open_connection(spec, spec_path, sim=False)`` resolves the endpoint, token and TLS trust from
the spec and the environment. With ``sim=True`` it starts the simulator in-process, its state
under ``.homelab/<lab>/sim/`` so successive commands see the same simulated lab, serves it over
HTTPS on loopback and pins its certificate's fingerprint: the real TLS path is exercised. The
simulator runs on a compressed virtual clock (``HOMELAB_SIM_TIME_SCALE``, default 100), and the
connection's clock follows it so timeouts keep their meaning.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from homelab.core.spec.models import LabSpec
from homelab.engine.apply.runtime import Clock
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import ConnectionSettings, parse_token, resolve_settings
from homelab.engine.proxmox.retry import RetryPolicy
from homelab.engine.state import state_dir
from homelab.errors import SimulatorError
from homelab_sim.errors import SimError
from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.server import start_server

__all__ = ["SIM_SCALE_ENV", "Connection", "connect_to", "open_connection", "sim_dir"]

SIM_SCALE_ENV = "HOMELAB_SIM_TIME_SCALE"
DEFAULT_SIM_SCALE = 100.0


@dataclass
class Connection:
    """A client and the clock Proxmox's times are measured on; ``sim`` when simulated."""

    client: PveClient
    clock: Clock = field(default_factory=Clock)
    sim: PveSimulator | None = None


def sim_dir(spec_path: Path, lab: str) -> Path:
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


def connect_to(
    settings: ConnectionSettings,
    clock: Clock | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
    sim: PveSimulator | None = None,
) -> Connection:
    """A Connection on ``settings`` whose waits and retries run on ``clock``."""
    clock = clock or Clock()
    client = PveClient(
        settings,
        transport=transport,
        retry=RetryPolicy(sleep=clock.sleep),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    return Connection(client=client, clock=clock, sim=sim)


@contextlib.contextmanager
def open_connection(spec: LabSpec, spec_path: Path, *, sim: bool = False) -> Iterator[Connection]:
    """The connection for ``spec``; closed (and the simulator stopped) at the end."""
    if not sim:
        settings = resolve_settings(spec.proxmox, base_dir=spec_path.resolve().parent)
        with contextlib.closing(connect_to(settings).client) as client:
            yield Connection(client=client)
        return
    try:
        with _simulated(spec, spec_path) as connection:
            yield connection
    except SimError as exc:  # the simulator's own error, in the tool's error tree
        raise SimulatorError(exc.message, hint=exc.hint) from exc


@contextlib.contextmanager
def _simulated(spec: LabSpec, spec_path: Path) -> Iterator[Connection]:
    scale = sim_time_scale()
    simulator = PveSimulator(
        SimConfig(
            nodes=tuple(spec.proxmox.nodes),
            time_scale=scale,
            state_dir=sim_dir(spec_path, spec.name),
        )
    )
    server = start_server(simulator)
    try:
        token_id, secret = parse_token(server.token.reveal())
        settings = ConnectionSettings(
            endpoint=server.endpoint,
            token_id=token_id,
            token_secret=secret,
            fingerprint=server.fingerprint,
        )
        connection = connect_to(settings, Clock.scaled(scale), sim=simulator)
        with contextlib.closing(connection.client):
            yield connection
    finally:
        server.stop()
        simulator.close()  # stops the simulated Kubernetes APIs, saves the simulator's state
