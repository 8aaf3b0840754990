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
import hashlib
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from homelab.core.spec.backup import PbsStorage
from homelab.core.spec.models import LabSpec
from homelab.engine.clock import Clock
from homelab.engine.proxmox.config import ConnectionSettings, parse_token
from homelab.engine.state import state_dir
from homelab.engine.state.backends import process_identity
from homelab.errors import SimulatorError
from homelab.simulated import background
from homelab.simulated.access import least_privileged, sim_pve_major
from homelab.simulated.site import SimulatedSite
from homelab_sim.errors import SimError

if TYPE_CHECKING:  # the simulator itself loads only when this process serves the lab
    from homelab_sim.pve.simulator import PveSimulator
    from homelab_sim.server import RunningServer

__all__ = ["SIM_SCALE_ENV", "SimulatedLab", "run_simulator", "sim_dir", "sim_time_scale"]

SIM_SCALE_ENV = "HOMELAB_SIM_TIME_SCALE"
LOCK_WAIT = 120.0  # seconds a command waits for another one using the simulated lab
PORT_FILE = "port"  # the background simulator's last PVE port, taken again when free
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
    """The simulated lab of ``spec``: the background simulator when one serves the lab
    (``homelab sim start``), else one served in this process until the block ends.

    The simulator's own errors (``SimError``) come out as the tool's ``SimulatorError``.
    """
    folder = sim_dir(spec_path, spec.name)
    try:
        running = background.read_running(folder)
        if running is not None:
            root = _root_settings(running.endpoint, background.read_token(folder), running)
            with _connected(spec, folder, root, running.scale) as lab:
                yield lab
            return
        with (
            background.held_lock(folder, wait=LOCK_WAIT),
            _serve(spec, folder) as (root, scale),
            _connected(spec, folder, root, scale) as lab,
        ):
            yield lab
    except SimError as exc:
        raise SimulatorError(exc.message, hint=exc.hint) from exc


def _root_settings(endpoint: str, token: str, running: background.Background) -> ConnectionSettings:
    token_id, secret = parse_token(token)
    return ConnectionSettings(
        endpoint=endpoint, token_id=token_id, token_secret=secret, fingerprint=running.fingerprint
    )


@contextlib.contextmanager
def _connected(
    spec: LabSpec, folder: Path, root: ConnectionSettings, scale: float
) -> Iterator[SimulatedLab]:
    # root only sets the tool's token up
    settings = least_privileged(
        root,
        spec.proxmox.iso_storage,
        saved=folder / "tool-token",
        backups=spec.backup is not None,
        pbs=spec.backup is not None and spec.backup.storage.pbs is not None,
        hotplug=any(vm.hotplug for vm in spec.vms.values()),
    )
    clock = Clock.scaled(scale)
    # the site stands for the lab's network and guests, not for Proxmox: the simulator's
    # control API (/_sim/*) takes its own root token
    site = SimulatedSite(root, folder / "cache" / "manifests", clock)
    with contextlib.closing(site):
        if spec.backup is not None and spec.backup.storage.pbs is not None:
            _simulated_pbs(site, spec.backup.storage.pbs, folder)
        yield SimulatedLab(settings, clock, site)


def _simulated_pbs(site: SimulatedSite, pbs: PbsStorage, folder: Path) -> None:
    """The simulated world holds the spec's PBS: its address, datastore and token. The token's
    secret is the one in ``pbs.token_env`` if set, else one made for the simulated lab (kept in
    ``sim/pbs-token``, 0600) and put into this process's environment for the tool to find.
    Its certificate has the spec's fingerprint; without one in the spec, PVE refuses the PBS's
    self-signed certificate, as it would."""
    secret = os.environ.get(pbs.token_env, "").strip()
    if not secret:
        path = folder / "pbs-token"
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            secret = secrets.token_urlsafe(24)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(secret + "\n")
        os.environ[pbs.token_env] = secret
    unpinned = hashlib.sha256(pbs.server.encode()).hexdigest().upper()
    site.add_pbs_server(
        {
            "server": pbs.server,
            "port": str(pbs.port),
            "fingerprint": pbs.fingerprint
            or ":".join(unpinned[i : i + 2] for i in range(0, 64, 2)),
            "datastore": pbs.datastore,
            "token_id": pbs.token_id,
            "token_secret": secret,
        }
    )


@contextlib.contextmanager
def _serve(
    spec: LabSpec, folder: Path, *, port: int = 0
) -> Iterator[tuple[ConnectionSettings, float]]:
    """Serve the simulated lab in this process for the block: (root settings, time scale)."""
    from homelab_sim.pve.simulator import PveSimulator, SimConfig

    scale = sim_time_scale()
    simulator = PveSimulator(
        SimConfig(
            nodes=tuple(spec.proxmox.nodes),
            time_scale=scale,
            state_dir=folder,
            pve_major=sim_pve_major(),
        )
    )
    try:
        server = _start(simulator, port)
        try:
            token_id, secret = parse_token(server.token.reveal())
            root = ConnectionSettings(
                endpoint=server.endpoint,
                token_id=token_id,
                token_secret=secret,
                fingerprint=server.fingerprint,
            )
            yield root, scale
        finally:
            server.stop()
    finally:
        simulator.close()  # stops the simulated Kubernetes APIs, saves the simulator's state


def _start(simulator: PveSimulator, port: int) -> RunningServer:
    """The server on ``port`` (the background simulator's previous one), else on a free one."""
    from homelab_sim.server import start_server

    if port:
        with contextlib.suppress(SimError):
            return start_server(simulator, port=port)
    return start_server(simulator)


def serve_in_background(spec: LabSpec, spec_path: Path) -> None:
    """The body of ``homelab sim _serve``: serve the lab until SIGTERM or SIGINT, announcing
    it in ``server.json`` (see ``homelab.simulated.background``)."""
    folder = sim_dir(spec_path, spec.name)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    previous = _previous_port(folder)
    try:
        with (
            background.held_lock(folder, wait=LOCK_WAIT),
            _serve(spec, folder, port=previous) as (
                root,
                scale,
            ),
        ):
            _serve_kube(root)  # before server.json: `sim start` returns when the lab answers
            pid = os.getpid()
            info = background.Background(
                pid=pid,
                process=process_identity(pid),
                endpoint=root.endpoint,
                fingerprint=root.fingerprint or "",
                scale=scale,
                started=time.time(),
            )
            background.write_info(folder, info, f"{root.token_id}={root.token_secret.reveal()}")
            (folder / PORT_FILE).write_text(f"{info.port}\n", encoding="ascii")
            try:
                stop.wait()
            finally:
                with contextlib.suppress(FileNotFoundError):
                    (folder / background.INFO_FILE).unlink()
    except SimError as exc:
        raise SimulatorError(exc.message, hint=exc.hint) from exc


def _serve_kube(root: ConnectionSettings) -> None:
    """Start the lab's Kubernetes API servers now (not on the first look through the site)."""
    site = SimulatedSite(root, Path(os.devnull))
    with contextlib.closing(site):
        site.reach("0.0.0.0", 0)  # noqa: S104 - asks the simulator for its map; no socket


def _previous_port(folder: Path) -> int:
    try:
        return int((folder / PORT_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return 0
