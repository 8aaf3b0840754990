"""Helpers for the apply tests: a simulator, a connection to it, a lab in a temporary folder."""

from __future__ import annotations

import itertools
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from homelab.cli.main import main
from homelab.core.desired import SEED_DRIVE, desired_vms, is_seed_volume_of, managed_subset
from homelab.core.observed import volume_filename
from homelab.core.pve_reply import parse_config
from homelab.core.render.network import vm_mac
from homelab.engine.apply.runtime import Limits, Runtime
from homelab.engine.apply.vmids import VmidAllocator
from homelab.engine.clock import Clock
from homelab.engine.proxmox.access import provision_token
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import ConnectionSettings, parse_token
from homelab.engine.proxmox.privileges import TOKEN_ID, Grant
from homelab.simulated.access import least_privileged
from homelab.simulated.site import SimulatedSite
from homelab.verbs.connection import Connection, connect_to
from homelab.verbs.lab import LabContext, make_plan, prepare_lab
from homelab_sim.pve.faults import FaultProfile
from homelab_sim.pve.requestlog import LoggedRequest
from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.server import start_server
from homelab_sim.transport import SimTransport
from tests.support.paths import EXAMPLES

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


#: Every simulator made by new_sim during a test, and every request their schema validation
#: rejected (conftest fails the test if there is any).
SIMS: list[PveSimulator] = []
REJECTED: list[LoggedRequest] = []


def new_sim(
    nodes: tuple[str, ...] = ("pve",),
    faults: FaultProfile | None = None,
    scale: float = SCALE,
    pve_major: int = 8,
) -> PveSimulator:
    config = SimConfig(
        nodes=nodes,
        time_scale=scale,
        faults=faults,
        seed=1,
        on_rejection=REJECTED.append,
        pve_major=pve_major,
    )
    sim = PveSimulator(config)
    SIMS.append(sim)
    return sim


def faults(*rules: dict[str, Any], seed: int = 1) -> FaultProfile:
    return FaultProfile.model_validate({"seed": seed, "rules": list(rules)})


def settings_for(
    sim: PveSimulator, endpoint: str = "https://127.0.0.1:8006", fingerprint: str | None = None
) -> ConnectionSettings:
    """The simulator's root token: for setting a test up, never for the tool under test."""
    token_id, secret = parse_token(sim.token.reveal())
    return ConnectionSettings(
        endpoint=endpoint, token_id=token_id, token_secret=secret, fingerprint=fingerprint
    )


_TOKENS = itertools.count(1)

#: The simulated site's manifest cache (the apply tests never fetch a manifest).
MANIFESTS = Path(tempfile.gettempdir()) / "homelab-tests" / "manifests"


def inprocess(
    sim: PveSimulator, iso_storage: str = "local", *, backups: bool = False, pbs: bool = False
) -> Connection:
    """A connection to ``sim`` through the in-process SimTransport (no sockets), with a token
    holding exactly the documented grants (the site, standing for the network, uses root).
    Each connection has a token of its own, so making one never revokes another's."""
    clock, root, transport = (
        Clock.scaled(sim.clock.time_scale),
        settings_for(sim),
        SimTransport(sim),
    )
    tokenid = f"{TOKEN_ID.split('!')[0]}!inprocess{next(_TOKENS)}"
    with sim.faults_paused():  # set-up, not under test
        settings = least_privileged(
            root, iso_storage, transport=transport, tokenid=tokenid, backups=backups, pbs=pbs
        )
    site = SimulatedSite(root, MANIFESTS, clock, transport=transport)
    return connect_to(settings, site, clock, transport=transport)


def root_client(sim: PveSimulator) -> PveClient:
    """A client of ``sim`` with its root token, for a test's set-up (never for what is tested)."""
    return PveClient(settings_for(sim), transport=SimTransport(sim))


@contextmanager
def over_https(sim: PveSimulator) -> Iterator[Connection]:
    """A connection to ``sim`` served over HTTPS on loopback, fingerprint pinned, with a token
    holding exactly the documented grants."""
    server = start_server(sim)
    try:
        root = settings_for(sim, server.endpoint, server.fingerprint)
        with sim.faults_paused():  # set-up, not under test
            settings = least_privileged(root, "local")
        clock = Clock.scaled(sim.clock.time_scale)
        site = SimulatedSite(root, MANIFESTS, clock)
        conn = connect_to(settings, site, clock)
        try:
            yield conn
        finally:
            conn.client.close()
            site.close()
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

    def runtime(self, client: PveClient, clock: Clock) -> Runtime:
        """An apply runtime of this lab on ``client`` (VMIDs from 200, the fast limits)."""
        return Runtime(
            client=client,
            journal=self.ctx.store.intents(self.ctx.lab),
            lab=self.ctx.lab,
            iso_storage="local",
            seeds=self.ctx.artifacts.seeds,
            allocator=VmidAllocator(range(200, 300), taken=[]),
            limits=FAST,
            clock=clock,
        )


def yes(*_: object) -> bool:
    return True


# ---- what a converged lab looks like ----------------------------------------------------------


def guests(sim: PveSimulator) -> list[Any]:
    """The simulator's VMs that are not templates."""
    return [vm for vm in sim.state.vms.values() if not vm.is_template()]


def iso_volids(sim: PveSimulator) -> set[str]:
    return {v.volid for v in sim.state.volumes.values() if v.content == "iso"}


def assert_consistent(sim: PveSimulator, ctx: LabContext) -> None:
    """What holds after every run, even one a fault cut short: every guest is a spec VM with a
    VMID from the range, no VM twice unless the journal still records the extra one, and every
    ISO is a seed of a spec VM, the desired one or one the journal records."""
    journal = ctx.store.intents(ctx.lab).all()
    journaled = {entry.get("vmid") for entry in journal.values()}
    by_name: dict[str, list[int]] = {}
    for vm in guests(sim):
        name = str(vm.config.get("name"))
        assert name in ctx.spec.vms, f"VM {vm.vmid} {name!r} is not in the spec (orphan)"
        assert vm.vmid in ctx.spec.proxmox.vmids, f"VM {name} has VMID {vm.vmid}, out of range"
        by_name.setdefault(name, []).append(vm.vmid)
    for name, vmids in by_name.items():
        extra = [vmid for vmid in vmids if vmid not in journaled]
        assert len(extra) <= 1, f"VM {name} exists {len(vmids)} times: {vmids}; journal {journal}"
    wanted = {want.seed_volid for want in desired_vms(ctx.spec, ctx.seed_digests).values()}
    recorded = {entry.get("volid") for entry in journal.values()}
    for volid in iso_volids(sim):
        filename = volume_filename(volid)
        assert any(is_seed_volume_of(ctx.lab, vm, filename) for vm in ctx.spec.vms), volid
        assert volid in wanted or volid in recorded, f"seed ISO {volid} leaked (not journaled)"


def assert_configured_as_spec(sim: PveSimulator, ctx: LabContext, *, created: bool = True) -> None:
    """Every VM's config, read back, says what the spec says (the managed keys, the disk size,
    the seed in its drive and, for VMs homelab ``created``, the MAC its seed's network-config
    matches; an adopted VM keeps the MAC it had)."""
    wanted = desired_vms(ctx.spec, ctx.seed_digests, store=ctx.store.store_id)
    for vm in guests(sim):
        want = wanted[str(vm.config.get("name"))]
        config = parse_config({**vm.config, "digest": ""})
        assert (config.cores, config.sockets, config.memory_mib) == (
            want.cores,
            1,
            want.memory_mib,
        ), f"{want.name}: cores/sockets/memory {config}"
        mac = vm_mac(ctx.lab, want.name).upper() if created else None
        assert config.net0 is not None, f"{want.name}: no net0"
        assert mac in (None, config.net0.mac), f"{want.name}: {config.net0}"
        assert (config.net0.bridge, config.net0.tag) == (want.bridge, want.vlan), config.net0
        disk = config.boot_disk
        assert disk is not None and disk.size_gib == want.disk_gib, f"{want.name}: {disk}"
        assert config.cdrom(SEED_DRIVE) == want.seed_volid, config.cdroms
        assert managed_subset(config.tags) == want.tags, config.tags
        assert config.record == want.record, config.description
        assert (config.agent, config.onboot) == (want.agent, want.onboot)


def assert_converged(
    sim: PveSimulator,
    ctx: LabContext,
    conn: Connection,
    *,
    in_range: bool = True,
    created: bool = True,
) -> None:
    """One VM per spec VM (right name, tags, VMID in range), each configured as the spec says,
    only the desired seed ISOs, an empty journal, and a plan with nothing to do."""
    vms = guests(sim)
    names = sorted(str(vm.config.get("name")) for vm in vms)
    assert names == sorted(ctx.spec.vms), f"VMs on Proxmox: {names}"
    for vm in vms:
        assert f"lab-{ctx.lab}" in str(vm.config.get("tags", "")).split(";")
        assert vm.vmid in ctx.spec.proxmox.vmids or not in_range
        assert vm.status == "running"
    wanted = desired_vms(ctx.spec, ctx.seed_digests, store=ctx.store.store_id)
    assert iso_volids(sim) == {want.seed_volid for want in wanted.values()}
    assert ctx.store.intents(ctx.lab).all() == {}
    assert_configured_as_spec(sim, ctx, created=created)
    plan, _ = make_plan(conn, ctx)
    assert not plan.has_changes and not plan.errors, plan


SIM_TOKEN_ID = TOKEN_ID  # the documented least-privileged token (tests.apply.support)


@dataclass
class Cli:
    sim: PveSimulator
    spec: Path
    env: dict[str, str]
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *args: str, **env: str) -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "argv", ["homelab", *args])
        for key, value in {**self.env, **env}.items():
            self.monkeypatch.setenv(key, value)
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 1
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def assert_nothing_made(sim: PveSimulator) -> None:
    assert guests(sim) == []
    assert iso_volids(sim) == set()


@contextmanager
def served(sim: PveSimulator, granted: Iterable[Grant]) -> Iterator[dict[str, str]]:
    """``sim`` over HTTPS; the environment of a token holding exactly ``granted``."""
    server = start_server(sim)
    try:
        root = settings_for(sim, server.endpoint, server.fingerprint)
        with PveClient(root) as client:
            value = provision_token(client, TOKEN_ID, granted)
        yield {
            "PROXMOX_VE_ENDPOINT": server.endpoint,
            "PROXMOX_VE_API_TOKEN": value.reveal(),
            "PROXMOX_VE_FINGERPRINT": server.fingerprint,
        }
    finally:
        server.stop()
