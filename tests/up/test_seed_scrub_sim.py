"""Secrets at rest: once the nodes joined, `up` replaces every seed ISO by its secret-free twin.

Over the tool's real code paths on the simulator: after `up` no ISO on the ISO storage holds a
key or the bootstrap token (each ISO opened with pycdlib), every VM's CD-ROM holds its twin, the
next plan is a no-op, a rebooted node does not run cloud-init again and is Ready again, a second
`up` says "already" and writes nothing, a run cut short between the swap's steps is finished
by the next one, a worker added later is seeded, joins and is scrubbed, destroy removes the
twins, and a VM restored from a backup made before the swap starts with the twin.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pycdlib
import pytest

from homelab.core.cluster import ClusterSecrets
from homelab.core.desired import DesiredVm, desired_vms, is_seed_volume_of
from homelab.engine.apply import seeds
from homelab.engine.apply.progress import Silent
from homelab.engine.apply.runtime import Limits, Runtime
from homelab.engine.apply.steps import VmRef
from homelab.engine.apply.vmconfig import seed_drive_value
from homelab.engine.proxmox.session import PveSession
from homelab.simulated.lab import sim_dir
from homelab.simulated.site import SimulatedSite
from homelab.verbs.backup import backup_now
from homelab.verbs.lab import make_plan, prepare_lab
from homelab.verbs.provision import apply_lab, destroy_lab, new_runtime
from homelab.verbs.restore import restore_vm
from homelab.verbs.scrub import scrub_seeds
from homelab.verbs.secrets import cluster_secrets
from homelab.verbs.up import up_lab
from tests.up.simlab import Upped, copy_example, destroy_everything, ready_nodes, upped

WRITES = {"POST", "PUT", "DELETE"}
BACKUP = """
backup:
  storage: {existing: local}
  jobs:
    nightly: {schedule: "02:30", retention: {keep_last: 3}}
"""


@pytest.fixture(scope="module")
def home_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upped]:
    spec = copy_example("home-lab.yaml", tmp_path_factory.mktemp("scrub"))
    with upped(spec) as lab:
        yield lab


# ---- helpers -----------------------------------------------------------------------------------


def control(lab: Upped, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
    """The simulator's control API (/_sim/*), with the site's root token."""
    site = lab.conn.site
    assert isinstance(site, SimulatedSite)
    session = PveSession(site.settings)
    try:
        return session.request(method, path, params)["data"]
    finally:
        session.close()


def iso_volumes(lab: Upped) -> dict[str, dict[str, Any]]:
    """Every ISO volume on the simulated Proxmox, by volid."""
    state = control(lab, "GET", "/_sim/state")
    return {v["volid"]: v for v in state["volumes"].values() if v["content"] == "iso"}


def iso_files(lab: Upped, volume: dict[str, Any]) -> dict[str, bytes]:
    """The files of an ISO volume, read with pycdlib from the simulator's copy of its bytes."""
    data = (sim_dir(lab.ctx.spec_path, lab.ctx.lab) / "blobs" / volume["blob"]).read_bytes()
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        files = {}
        for name in ("user-data", "meta-data", "network-config"):
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, joliet_path=f"/{name}")
            files[name] = out.getvalue()
    finally:
        iso.close()
    files["(raw image)"] = data
    return files


def secret_values(secrets: ClusterSecrets) -> dict[str, str]:
    """A piece of each secret that any copy of it holds, however it was laid out: a PEM key's
    first line of base64 (YAML indents a block scalar, so the whole PEM is never a substring),
    the token's secret."""

    def body(pem: str) -> str:
        return pem.strip().splitlines()[1].strip()

    return {
        "cluster CA key": body(secrets.ca_key.reveal()),
        "etcd CA key": body(secrets.etcd_ca_key.reveal()),
        "front-proxy CA key": body(secrets.front_proxy_ca_key.reveal()),
        "service-account key": body(secrets.sa_key.reveal()),
        "bootstrap token secret": secrets.bootstrap_token_secret.reveal(),
    }


def secrets_in(lab: Upped) -> list[str]:
    """(ISO, file, secret) for every secret found in any ISO on the simulated Proxmox."""
    values = secret_values(cluster_secrets(lab.ctx.store, lab.ctx.lab))
    found = []
    for volid, volume in iso_volumes(lab).items():
        for name, content in iso_files(lab, volume).items():
            found += [
                f"{volid} {name}: {what}" for what, v in values.items() if v.encode() in content
            ]
    return found


def wanted(lab: Upped) -> dict[str, DesiredVm]:
    return desired_vms(lab.ctx.spec, lab.ctx.seed_digests)


def cdroms(lab: Upped) -> dict[str, str]:
    """Each spec VM's ide2 volume, as Proxmox has it."""
    client = lab.conn.client
    out = {}
    for vm in client.cluster_vms():
        if vm.name in lab.ctx.spec.vms:
            raw, _ = client.vm_config(vm.node, vm.vmid)
            out[vm.name] = raw.get("ide2", "").split(",", 1)[0]
    return out


def lab_isos(lab: Upped) -> set[str]:
    return {
        volid
        for volid in iso_volumes(lab)
        if any(
            is_seed_volume_of(lab.ctx.lab, vm, volid.rpartition("/")[2]) for vm in lab.ctx.spec.vms
        )
    }


def runtime(lab: Upped) -> Runtime:
    return new_runtime(lab.conn, lab.ctx, Silent(), Limits())


def ref_of(lab: Upped, name: str) -> VmRef:
    vm = next(v for v in lab.conn.client.cluster_vms() if v.name == name)
    return VmRef(name, vm.node, vm.vmid)


def put_secret_seed_back(lab: Upped, name: str) -> None:
    """The VM as it was before the swap: its secret seed uploaded and attached, no twin."""
    rt = runtime(lab)
    ref = ref_of(lab, name)
    seeds.upload_seed(rt, ref, wanted(lab)[name])
    seeds.attach_seed(rt, ref, wanted(lab)[name])


def requests_during(lab: Upped, work: Any) -> list[str]:
    """The requests made to Proxmox while ``work`` runs, as ``METHOD path``."""
    control(lab, "DELETE", "/_sim/requests")
    work()
    log = control(lab, "GET", "/_sim/requests")
    return [f"{e['method']} {e['path']}" for e in log if "/_sim/" not in e["path"]]


def writes_during(lab: Upped, work: Any) -> list[str]:
    """The requests that change Proxmox (its guest agent's calls are the guests' business:
    ``up`` reads the etcd timer's files through ``agent/exec``) while ``work`` runs."""
    return [
        request
        for request in requests_during(lab, work)
        if request.split(" ", 1)[0] in WRITES and "/agent/" not in request
    ]


def wait_ready(lab: Upped, names: set[str]) -> None:
    site = lab.conn.site
    assert isinstance(site, SimulatedSite)
    for _ in range(240):
        if names <= ready_nodes(lab):
            return
        site.advance_clock(5)
    assert names <= ready_nodes(lab)


# ---- after up ----------------------------------------------------------------------------------


def test_the_secret_seed_held_the_keys_and_the_token(home_lab: Upped) -> None:
    """The search below finds what it looks for: the rendered secret seeds hold them."""
    values = secret_values(cluster_secrets(home_lab.ctx.store, home_lab.ctx.lab))
    master = home_lab.ctx.artifacts.seeds["k8s-master-1"].user_data
    worker = home_lab.ctx.artifacts.seeds["k8s-worker-2"].user_data
    assert all(v.encode() in master for v in values.values())
    assert values["bootstrap token secret"].encode() in worker


def test_after_up_no_iso_holds_a_secret_and_every_vm_holds_its_twin(home_lab: Upped) -> None:
    assert home_lab.outcome.seeds_scrubbed.vms == dict.fromkeys(home_lab.ctx.spec.vms, "scrubbed")
    assert secrets_in(home_lab) == []
    want = wanted(home_lab)
    assert cdroms(home_lab) == {name: d.clean_volid for name, d in want.items()}
    assert lab_isos(home_lab) == {d.clean_volid for d in want.values()}
    for d in want.values():  # the twin: same meta-data (instance-id) and network-config
        files = iso_files(home_lab, iso_volumes(home_lab)[d.clean_volid])
        seed = home_lab.ctx.artifacts.seeds[d.name]
        assert files["meta-data"] == seed.meta_data
        assert files["network-config"] == seed.network_config
        assert files["user-data"].startswith(b"#cloud-config\n")
    as_json = home_lab.outcome.to_dict()["seeds_scrubbed"]
    assert as_json == dict.fromkeys(home_lab.ctx.spec.vms, "scrubbed")


def test_the_next_plan_is_a_noop(home_lab: Upped) -> None:
    plan, _ = make_plan(home_lab.conn, home_lab.ctx)
    assert plan.is_applicable and not plan.has_changes, plan.actions


def test_a_rebooted_node_does_not_run_cloud_init_again_and_is_ready(home_lab: Upped) -> None:
    client = home_lab.conn.client
    ref = ref_of(home_lab, "k8s-worker-3")
    client.wait_task(client.shutdown(ref.node, ref.vmid, timeout=60, force_stop=True))
    assert client.vm_status(ref.node, ref.vmid).status == "stopped"
    client.wait_task(client.start(ref.node, ref.vmid))
    wait_ready(home_lab, set(home_lab.ctx.spec.vms))
    control(home_lab, "POST", "/_sim/clock", {"advance": 900})
    guest = control(home_lab, "GET", "/_sim/guests", {"lines": 400})["k8s-worker-3"]
    assert guest["cloud_init"]["status"] == "done"
    finished = [line for line in guest["log"] if "Cloud-init v." in line and "finished" in line]
    assert len(finished) == 1, guest["log"][-20:]
    assert guest["kubeadm"]["phase"] is not None


def test_a_second_up_says_already_and_writes_nothing_to_proxmox(home_lab: Upped) -> None:
    outcomes = []

    def again() -> None:
        outcomes.append(up_lab(home_lab.conn, home_lab.ctx, confirm=lambda _p: True))

    writes = writes_during(home_lab, again)
    assert outcomes[0].seeds_scrubbed.vms == dict.fromkeys(home_lab.ctx.spec.vms, "already")
    assert outcomes[0].noop
    assert writes == []


def test_a_no_op_scrub_lists_each_iso_storage_once_however_many_vms(home_lab: Upped) -> None:
    outcomes = []

    def again() -> None:
        outcomes.append(scrub_seeds(home_lab.conn, home_lab.ctx, lambda _m: None))

    requests = requests_during(home_lab, again)
    assert outcomes[0].vms == dict.fromkeys(home_lab.ctx.spec.vms, "already")
    listings = [r for r in requests if r.startswith("GET ") and r.endswith("/content")]
    assert listings == ["GET /api2/json/nodes/pve/storage/local/content"], requests


def test_a_swap_cut_short_after_the_upload_is_finished_by_the_next_run(home_lab: Upped) -> None:
    put_secret_seed_back(home_lab, "k8s-worker-2")
    want = wanted(home_lab)["k8s-worker-2"]
    assert secrets_in(home_lab)  # the secret seed is back
    seeds.upload_seed(runtime(home_lab), ref_of(home_lab, "k8s-worker-2"), want, clean=True)
    assert {want.seed_volid, want.clean_volid} <= lab_isos(home_lab)  # killed here
    plan, _ = make_plan(home_lab.conn, home_lab.ctx)
    assert not plan.has_changes, plan.actions
    done = scrub_seeds(home_lab.conn, home_lab.ctx, lambda _s: None)
    assert done.vms["k8s-worker-2"] == "scrubbed"
    assert cdroms(home_lab)["k8s-worker-2"] == want.clean_volid
    assert secrets_in(home_lab) == []


def test_a_swap_cut_short_after_the_drive_change_is_finished_by_the_next_run(
    home_lab: Upped,
) -> None:
    put_secret_seed_back(home_lab, "k8s-worker-2")
    want = wanted(home_lab)["k8s-worker-2"]
    ref = ref_of(home_lab, "k8s-worker-2")
    seeds.upload_seed(runtime(home_lab), ref, want, clean=True)
    home_lab.conn.client.update_config(ref.node, ref.vmid, ide2=seed_drive_value(want.clean_volid))
    assert want.seed_volid in lab_isos(home_lab)  # killed before the delete
    plan, _ = make_plan(home_lab.conn, home_lab.ctx)
    assert not plan.has_changes, plan.actions
    done = scrub_seeds(home_lab.conn, home_lab.ctx, lambda _s: None)
    assert done.vms["k8s-worker-2"] == "scrubbed"
    assert secrets_in(home_lab) == []
    again = scrub_seeds(home_lab.conn, home_lab.ctx, lambda _s: None)
    assert again.vms == dict.fromkeys(home_lab.ctx.spec.vms, "already")


def test_a_settings_change_after_the_swap_reseeds_with_a_twin(home_lab: Upped) -> None:
    """A reseed (the ISO name follows the settings) of a scrubbed VM puts no secret back."""
    spec = home_lab.ctx.spec_path
    original = spec.read_text()
    spec.write_text(original.replace("ip: 10.0.20.22}", "ip: 10.0.20.22, onboot: false}", 1))
    ctx = prepare_lab(spec)
    try:
        applied = apply_lab(home_lab.conn, ctx, confirm=lambda _p: True)
        assert applied.report is not None
        assert [(o.vm, o.kind, o.ok) for o in applied.report.outcomes] == [
            ("k8s-worker-3", "update", True)
        ]
        changed = Upped(ctx, home_lab.conn, home_lab.outcome)
        assert secrets_in(changed) == []
        want = desired_vms(ctx.spec, ctx.seed_digests)
        assert cdroms(home_lab) == {name: d.clean_volid for name, d in want.items()}
        assert lab_isos(changed) == {d.clean_volid for d in want.values()}
        plan, _ = make_plan(home_lab.conn, ctx)
        assert not plan.has_changes, plan.actions
    finally:
        spec.write_text(original)
        ctx.close()
    apply_lab(home_lab.conn, home_lab.ctx, confirm=lambda _p: True)  # back as it was
    assert secrets_in(home_lab) == []
    assert cdroms(home_lab) == {name: d.clean_volid for name, d in wanted(home_lab).items()}


# ---- a worker added later, destroy -------------------------------------------------------------


WORKER_4 = (
    "  k8s-worker-4: {role: worker, cores: 2, memory: 4GiB, disk: 32GiB, network: apps, "
    "ip: 10.0.20.23}\n"
)


def test_a_worker_added_later_is_seeded_joins_then_is_scrubbed_and_destroy_takes_all(
    tmp_path: Path,
) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab:
        text = spec.read_text()
        anchor = "\naccess:"
        assert anchor in text
        spec.write_text(text.replace(anchor, "\n" + WORKER_4.rstrip("\n") + anchor, 1))
        ctx = prepare_lab(spec)
        try:
            grown = Upped(ctx, lab.conn, lab.outcome)
            applied = apply_lab(lab.conn, ctx, confirm=lambda _p: True)
            assert [o.vm for o in applied.report.outcomes] == ["k8s-worker-4"]  # type: ignore[union-attr]
            new = desired_vms(ctx.spec, ctx.seed_digests)["k8s-worker-4"]
            assert cdroms(grown)["k8s-worker-4"] == new.seed_volid  # its secret seed, to join
            outcome = up_lab(lab.conn, ctx, confirm=lambda _p: True)
            assert outcome.health.ok
            assert outcome.seeds_scrubbed.vms["k8s-worker-4"] == "scrubbed"
            assert {v for k, v in outcome.seeds_scrubbed.vms.items() if k != "k8s-worker-4"} == {
                "already"
            }
            assert "k8s-worker-4" in ready_nodes(grown)
            assert cdroms(grown)["k8s-worker-4"] == new.clean_volid
            assert secrets_in(grown) == []

            twins = {d.clean_volid for d in desired_vms(ctx.spec, ctx.seed_digests).values()}
            assert lab_isos(grown) == twins
            destroyed = destroy_lab(lab.conn, ctx, confirm=lambda _p: True)
            assert destroyed.report is not None and all(o.ok for o in destroyed.report.outcomes)
            assert lab_isos(grown) == set()
        finally:
            ctx.close()


# ---- restore from a backup made before the swap ------------------------------------------------


def test_vms_restored_from_backups_made_before_the_swap_start_with_their_twins(
    tmp_path: Path,
) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    spec.write_text(spec.read_text() + BACKUP)
    with upped(spec) as lab:
        for name in lab.ctx.spec.vms:
            put_secret_seed_back(lab, name)
        run = backup_now(lab.conn, lab.ctx)  # the archives name the secret ISOs
        assert run.ok
        scrub_seeds(lab.conn, lab.ctx, lambda _s: None)
        assert secrets_in(lab) == []

        destroy_everything(lab)
        for name in lab.ctx.spec.vms:  # brought back into their VMIDs, the control plane first
            result = restore_vm(lab.conn, lab.ctx, name)
            assert result.in_place, result
            assert any("secret-free" in w for w in result.warnings), result.warnings
        want = wanted(lab)
        assert cdroms(lab) == {name: d.clean_volid for name, d in want.items()}
        wait_ready(lab, set(lab.ctx.spec.vms))
        assert secrets_in(lab) == []
        plan, _ = make_plan(lab.conn, lab.ctx)
        assert plan.changes == (), plan.actions  # (the backup job's VMID list is set again)

        copy = restore_vm(lab.conn, lab.ctx, "k8s-worker-2", force=False)  # a copy to look at
        raw, _ = lab.conn.client.vm_config(ref_of(lab, "k8s-worker-2").node, copy.vmid)
        assert raw["ide2"].split(",", 1)[0] == "none"
