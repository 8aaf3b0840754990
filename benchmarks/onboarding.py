"""The measures of the onboarding issue, on the simulator, printed as figures:

1. ``init --from-proxmox`` on a cluster with foreign guests (VMs made by hand and by another
   lab, a container): the spec validates, the VMID range it chose overlaps no guest, and its
   plan is exactly the lab's creates, with no error;
2. ``import terraform`` of each provider's example state (tests/onboarding/terraform/), on a
   simulator seeded with those VMs as the provider makes them: VMs imported, then ``adopt`` and
   ``plan``: the changes and errors left (a no-op is 0 and 0).

    .venv/bin/python benchmarks/onboarding.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.apply.support import inprocess, new_sim, root_client, yes  # noqa: E402
from tests.onboarding.test_import_terraform_sim import STATES, seed_from_state  # noqa: E402
from tests.onboarding.test_init_from_proxmox import KEY, _foreign, _reader  # noqa: E402

from homelab.core.plan.actions import AdoptVm, CreateVm  # noqa: E402
from homelab.verbs.import_terraform import import_terraform, read_state_text  # noqa: E402
from homelab.verbs.init import write_from_proxmox  # noqa: E402
from homelab.verbs.lab import make_plan, prepare_lab  # noqa: E402
from homelab.verbs.provision import adopt_lab  # noqa: E402


def init_from_proxmox(folder: Path) -> None:
    sim = new_sim()
    _foreign(sim)
    taken = sorted({*sim.state.vms, *sim.state.containers})
    key = folder / "id.pub"
    key.write_text(KEY + "\n")
    out = folder / "init.yaml"
    with _reader(sim) as client:
        starter = write_from_proxmox(client, out, name="my-lab", ssh_key=key)
    first, last = (int(part) for part in starter.vmid_range.split("-"))
    overlap = [vmid for vmid in taken if first <= vmid <= last]
    ctx = prepare_lab(out)  # validates
    try:
        plan, _ = make_plan(inprocess(sim), ctx)
    finally:
        ctx.close()
    creates = sum(isinstance(action, CreateVm) for action in plan.actions)
    print(
        f"init --from-proxmox: guests {taken}; vmid_range {starter.vmid_range}, overlapping "
        f"{len(overlap)}; plan: {creates} creates of {len(ctx.spec.vms)} spec VMs, "
        f"{len(plan.actions) - creates} other actions, {len(plan.errors)} errors; "
        f"adoptable offered: {len(starter.adoptable)}"
    )
    sim.close()


def import_terraform_state(folder: Path, name: str) -> None:
    sim = new_sim()
    seeded = seed_from_state(root_client(sim), json.loads((STATES / name).read_text()))
    spec = folder / f"{name}.yaml"
    outcome = import_terraform(read_state_text(STATES / name), name, spec, name="tf-lab")
    ctx = prepare_lab(spec)
    try:
        conn = inprocess(sim)
        adopted = adopt_lab(conn, ctx, confirm=yes)
        plan, _ = make_plan(conn, ctx)
    finally:
        ctx.close()
    adopts = sum(isinstance(action, AdoptVm) for action in adopted.plan.actions)
    print(
        f"import terraform {name}: {len(seeded)} VMs in the state, "
        f"{len(outcome.result.imported)} imported, {adopts} adopted; plan after adopt: "
        f"{len(plan.changes)} changes, {len(plan.errors)} errors"
    )
    sim.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        init_from_proxmox(folder)
        for state in sorted(STATES.glob("*.tfstate")):
            import_terraform_state(folder, state.name)


if __name__ == "__main__":
    main()
