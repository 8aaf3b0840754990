"""Opening the lab a verb works on: a Proxmox client, the clock, and the Site.

``open_connection(spec, spec_path, sim=False)`` resolves the endpoint, token and TLS trust from
the spec and the environment; the Site (``homelab.engine.site``) is the real one. With
``sim=True`` it runs the built-in simulator in-process (``homelab.simulated.lab``): the client
talks to it over HTTPS on loopback with its certificate pinned, the clock follows its virtual
time, and the Site is the simulated one. This function is the one place in the use cases that
picks between the two (an import-linter contract forbids ``homelab.verbs`` any other import of
the simulator or of ``homelab.simulated``); every other verb sees only the ``Connection``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from homelab.core.spec.models import LabSpec
from homelab.engine.clock import Clock
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import ConnectionSettings, resolve_settings
from homelab.engine.proxmox.retry import RetryPolicy
from homelab.engine.site import RealSite, Site
from homelab.engine.state import state_dir

__all__ = ["Connection", "connect_to", "manifest_cache", "open_connection"]


@dataclass
class Connection:
    """A Proxmox client, the Site of the lab it manages, and the clock both are timed on."""

    client: PveClient
    site: Site
    clock: Clock = field(default_factory=Clock)


def manifest_cache(spec_path: Path) -> Path:
    """Where a real lab's addon manifests are cached (by URL hash)."""
    return state_dir(spec_path) / "cache" / "manifests"


def connect_to(
    settings: ConnectionSettings,
    site: Site,
    clock: Clock | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
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
    return Connection(client=client, site=site, clock=clock)


@contextlib.contextmanager
def open_connection(spec: LabSpec, spec_path: Path, *, sim: bool = False) -> Iterator[Connection]:
    """The connection for ``spec``; closed (and the simulator stopped) at the end."""
    if not sim:
        settings = resolve_settings(spec.proxmox, base_dir=spec_path.resolve().parent)
        conn = connect_to(settings, RealSite(manifest_cache(spec_path)))
        with contextlib.closing(conn.client):
            yield conn
        return
    from homelab.simulated.lab import run_simulator  # loads the simulator only for --sim

    with run_simulator(spec, spec_path) as lab:
        conn = connect_to(lab.settings, lab.site, lab.clock)
        with contextlib.closing(conn.client):
            yield conn
