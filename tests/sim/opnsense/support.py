"""Helpers for the OPNsense simulator's tests: the lab's interfaces and an httpx client."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from homelab_sim.opnsense import Interface, OpnsenseSimulator, OpnsenseTransport

LAB_INTERFACES = (
    Interface("wan", "vtnet0", "192.0.2.2/24", "WAN"),
    Interface("lan", "vtnet1", "10.0.10.1/24", "LAN"),
    Interface("opt1", "vlan01", "10.0.20.1/24", "APPS"),
)

Factory = Callable[..., tuple[OpnsenseSimulator, httpx.Client]]


def client_for(sim: OpnsenseSimulator, **headers: str) -> httpx.Client:
    return httpx.Client(
        transport=OpnsenseTransport(sim),
        base_url="https://10.0.10.1",
        headers=headers or sim.auth_header(),
    )
