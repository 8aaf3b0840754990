"""Every verb runs with a token holding exactly the documented grants, on PVE 8 and PVE 9, and
each privilege of the documented roles is needed: without it a verb fails with PVE's 403 text.

The tokens are made through the simulator's access API (``engine.proxmox.access``) with its
root token, which only sets things up; the work is done by the token under test (every task
the lab's verbs start carries its id).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from homelab.cli.main import main
from homelab.engine.clock import Clock
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.proxmox.access import provision_token
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import parse_token
from homelab.engine.proxmox.privileges import (
    LAB_ROLE,
    PVE_MAJORS,
    SEED_ROLE,
    TOKEN_ID,
    Grant,
    grants,
    role_privileges,
)
from homelab.errors import LabError
from homelab.simulated.access import SIM_PVE_ENV
from homelab.simulated.lab import sim_dir
from homelab.simulated.site import SimulatedSite
from homelab.verbs.connection import Connection, connect_to
from homelab.verbs.provision import apply_lab, destroy_lab
from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.transport import SimTransport
from tests.apply.support import (
    FAST,
    MANIFESTS,
    Lab,
    guests,
    inprocess,
    iso_volids,
    new_sim,
    served,
    settings_for,
    write_spec,
    yes,
)


@dataclass
class Cli:
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    env: dict[str, str]

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "argv", ["homelab", *args])
        for key, value in self.env.items():
            self.monkeypatch.setenv(key, value)
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err


def connection(sim: PveSimulator, granted: Iterable[Grant]) -> Connection:
    """An in-process connection whose token holds exactly ``granted``."""
    clock, root, transport = (
        Clock.scaled(sim.clock.time_scale),
        settings_for(sim),
        SimTransport(sim),
    )
    with PveClient(root, transport=transport) as client:
        value = provision_token(client, TOKEN_ID, granted)
    token_id, secret = parse_token(value.reveal())
    settings = replace(root, token_id=token_id, token_secret=secret)
    site = SimulatedSite(root, MANIFESTS, clock, transport=transport)
    return connect_to(settings, site, clock, transport=transport)


def task_users(sim: PveSimulator) -> set[str]:
    return {task.upid.split(":")[7] for task in sim.state.tasks}


@pytest.mark.parametrize("major", PVE_MAJORS)
def test_every_provisioning_verb_works_with_exactly_the_documented_grants(
    major: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = new_sim(pve_major=major)
    spec = str(write_spec(tmp_path, {"proxmox.token_id": TOKEN_ID}))
    monkeypatch.delenv("HOMELAB_STATE_URL", raising=False)
    with served(sim, grants(major, "local")) as env:
        cli = Cli(monkeypatch, capsys, env)
        code, out, err = cli("plan", spec, "--detailed-exitcode")
        assert code == 2, err
        code, out, err = cli("apply", spec, "--yes")
        assert code == 0, err
        assert len(guests(sim)) == 3 and len(iso_volids(sim)) == 3
        code, out, err = cli("status", spec, "--json", "--no-health")
        assert code == 0, err
        status = json.loads(out)
        assert status["errors"] == [] and "Permission" not in out
        assert sorted(row["vm"] for row in status["vms"]) == sorted(
            str(vm.config["name"]) for vm in guests(sim)
        )
        assert {row["state"] for row in status["vms"]} == {"running"}
        code, out, err = cli("plan", spec, "--detailed-exitcode")
        assert code == 0, err
        code, out, err = cli("destroy", spec, "--yes")
        assert code == 0, err
        assert guests(sim) == [] and iso_volids(sim) == set()  # the seed deletes went through
        # a VM made by hand (Terraform) with a spec name, adopted
        setup = inprocess(sim)
        setup.client.wait_task(
            setup.client.clone("pve", 9000, 150, name="k8s-worker-2", full=False)
        )
        setup.client.update_config("pve", 150, tags="terraform")
        code, out, err = cli("adopt", spec, "--yes")
        assert code == 0, err
        assert "Adopt complete: 1 adopted." in out
    assert TOKEN_ID in task_users(sim)
    assert "root@pam!sim" not in task_users(sim)


@pytest.mark.parametrize("major", PVE_MAJORS)
def test_up_on_the_simulator_runs_with_the_documented_token(
    major: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path)
    monkeypatch.delenv("HOMELAB_STATE_URL", raising=False)
    cli = Cli(monkeypatch, capsys, {SIM_PVE_ENV: str(major), "HOMELAB_SIM_TIME_SCALE": "400"})
    try:
        code, _, err = cli("up", str(spec), "--sim", "--yes")
        assert code == 0, err
        state = json.loads((sim_dir(spec, "home-lab") / "state.json").read_text())
        users = {task["upid"].split(":")[7] for task in state["tasks"]}
        assert users == {TOKEN_ID}
        assert state["pve_major"] == major
        saved = sim_dir(spec, "home-lab") / "tool-token"
        value = saved.read_text()
        assert value.startswith(f"{TOKEN_ID}=") and saved.stat().st_mode & 0o777 == 0o600
        code, _, err = cli("status", str(spec), "--sim")
        assert code == 0, err
        assert saved.read_text() == value  # still valid: reused, not revoked and re-made
        saved.write_text(f"{TOKEN_ID}=00000000-0000-0000-0000-000000000000")  # a stale one
        code, _, err = cli("destroy", str(spec), "--sim", "--yes")
        assert code == 0, err
        assert saved.read_text() not in {value, f"{TOKEN_ID}=00000000-0000-0000-0000-000000000000"}
    finally:  # `up --sim` leaves the simulated lab running in the background
        cli("sim", "stop", str(spec))


def _without(major: int, role: str, privilege: str) -> tuple[Grant, ...]:
    return tuple(
        replace(g, privileges=g.privileges - {privilege}) if g.role == role else g
        for g in grants(major, "local")
    )


def _lifecycle_errors(sim: PveSimulator, lab: Lab, granted: Iterable[Grant]) -> str:
    """Apply, then destroy, with a token holding ``granted``: every error text they met."""
    conn = connection(sim, granted)
    texts: list[str] = []
    try:
        outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
        texts += [o.error or "" for o in outcome.report.failed] if outcome.report else []
        texts += _guest_errors(conn)
        destroyed = destroy_lab(conn, lab.ctx, confirm=yes, limits=FAST)
        texts += [o.error or "" for o in destroyed.report.failed] if destroyed.report else []
        texts += destroyed.notes
    except LabError as exc:  # a verb that stops: its error text is what the test looks at
        texts.append(str(exc))
    finally:
        conn.client.close()
    return "\n".join(texts)


def _guest_errors(conn: Connection) -> list[str]:
    """A command in a guest through the agent (what `homelab guest exec` does)."""
    master = [vm for vm in conn.client.cluster_vms() if vm.name == "k8s-master-1"]
    if not master:
        return []
    try:
        GuestChannel(conn.client, conn.clock).run(master[0].node, master[0].vmid, ["true"])
    except LabError as exc:
        return [str(exc)]
    return []


ONE_STORAGE_ONLY = {(SEED_ROLE, "Datastore.AllocateSpace"), (SEED_ROLE, "Datastore.Audit")}
ROLE_PRIVILEGES = [
    (major, role, privilege)
    for major in PVE_MAJORS
    for role in (LAB_ROLE, SEED_ROLE)
    for privilege in sorted(role_privileges(major, role))
    # needed on the ISO storage only when it also holds the disks (the reference lab's does
    # not), as the lab role's grants on / do not reach below the seed role's path
    if (role, privilege) not in ONE_STORAGE_ONLY
    # the rolling Kubernetes upgrade's snapshots only (tests/day2/upgrade proves it is needed)
    and privilege != "VM.Snapshot"
]


# What a verb says when the privilege is missing, where it does not name it: the clone's check
# is PVE's ``or`` (VM.Allocate on the new VMID or on its pool), whose 403 names nothing; a token
# without VM.Audit sees no VM at all, so the plan finds no template (and names VM.Audit).
UNNAMED = {"VM.Allocate": "/clone: 403 Permission check failed\n"}
# Privileges whose absence PVE answers by hiding, not by a 403: /cluster/resources lists no VM
# without VM.Audit, no storage without Datastore.Audit, and a node without its stats without
# Sys.Audit (pve-manager Cluster.pm); a node's network lists no bridge without SDN.Use (or
# SDN.Audit) on it (Network.pm); the plan then names the privilege itself.
HIDING = {"VM.Audit", "Sys.Audit", "Datastore.Audit", "SDN.Use"}


@pytest.mark.parametrize(("major", "role", "privilege"), ROLE_PRIVILEGES)
def test_each_documented_privilege_is_needed(
    major: int, role: str, privilege: str, lab: Lab, tmp_path: Path
) -> None:
    """Without any one of them, apply or destroy of a lab (a VM with more cores than the
    template, so the CPU is configured) fails and says so."""
    lab.path = write_spec(tmp_path, {"vms.k8s-worker-2.cores": 4})
    lab.reload()
    sim = new_sim(pve_major=major)
    errors = _lifecycle_errors(sim, lab, _without(major, role, privilege)) + "\n"
    if privilege in UNNAMED:
        assert UNNAMED[privilege] in errors, errors
    else:
        assert privilege in errors, f"{privilege} is not needed: {errors!r}"
    assert "Permission check failed" in errors or privilege in HIDING, errors


def test_without_datastore_allocate_on_the_iso_storage_destroy_says_pves_403(lab: Lab) -> None:
    """The README's role before issue 9: seeds could be uploaded, never deleted."""
    sim = new_sim()
    errors = _lifecycle_errors(sim, lab, _without(8, SEED_ROLE, "Datastore.Allocate"))
    assert "403 Permission check failed (/storage/local, Datastore.Allocate)" in errors
    assert guests(sim) == [] and len(iso_volids(sim)) == 3  # the VMs went, the seeds stayed
