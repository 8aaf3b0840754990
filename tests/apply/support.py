"""Helpers for the apply tests: a simulator, a connection to it, a lab in a temporary folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from homelab.engine.apply.runtime import Clock, Limits
from homelab.engine.proxmox.config import ConnectionSettings, parse_token
from homelab.sim.pve.faults import FaultProfile
from homelab.sim.pve.simulator import PveSimulator, SimConfig
from homelab.sim.server import start_server
from homelab.sim.transport import SimTransport
from homelab.verbs.connection import Connection, connect_to
from homelab.verbs.lab import LabContext, prepare_lab
from tests.conftest import EXAMPLES

SCALE = 400.0
FAST = Limits(per_node=4, agent_timeout=120.0)


def write_spec(folder: Path, changes: dict[str, Any] | None = None, name: str = "home-lab") -> Path:
    """The reference lab (examples/home-lab.yaml) with ``changes`` merged in, under ``folder``."""
    data = yaml.safe_load((EXAMPLES / "home-lab.yaml").read_text())
    for key, value in (changes or {}).items():
        _merge(data, key.split("."), value)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _merge(data: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        data = data.setdefault(key, {})
    if value is None:
        data.pop(keys[-1], None)
    else:
        data[keys[-1]] = value


def new_sim(nodes: tuple[str, ...] = ("pve",), faults: FaultProfile | None = None, **kw: Any) -> PveSimulator:
    return PveSimulator(SimConfig(nodes=nodes, time_scale=SCALE, faults=faults, seed=1, **kw))


def settings_for(sim: PveSimulator, endpoint: str = "https://127.0.0.1:8006", fingerprint: str | None = None) -> ConnectionSettings:
    token_id, secret = parse_token(sim.token.reveal())
    return ConnectionSettings(endpoint=endpoint, token_id=token_id, token_secret=secret, fingerprint=fingerprint)


def inprocess(sim: PveSimulator) -> Connection:
    """A connection to ``sim`` through the in-process SimTransport (no sockets)."""
    return connect_to(settings_for(sim), Clock.scaled(SCALE), transport=SimTransport(sim), sim=sim)


@contextmanager
def over_https(sim: PveSimulator) -> Iterator[Connection]:
    """A connection to ``sim`` served over HTTPS on loopback, fingerprint pinned."""
    server = start_server(sim)
    try:
        conn = connect_to(settings_for(sim, server.endpoint, server.fingerprint), Clock.scaled(SCALE), sim=sim)
        try:
            yield conn
        finally:
            conn.client.close()
    finally:
        server.stop()


@dataclass
class Lab:
    path: Path
    ctx: LabContext

    def reload(self) -> LabContext:
        self.ctx.close()
        self.ctx = prepare_lab(self.path)
        return self.ctx


def yes(*_: object) -> bool:
    return True
