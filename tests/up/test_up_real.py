"""`up` on the real-lab path: the RealSite, with Proxmox played by the simulator.

The lab's network is loopback (the control plane's address is 127.0.0.1, the only address a
test may connect to), so `up` reaches the API server the way it does on a real lab: straight at
``https://127.0.0.1:6443``, no server-name override. Nothing serves it, so the converge phase
must end with the real lab's diagnosis: what Proxmox says of the control plane's VM, no guest
phase (a real guest cannot be asked yet), and where to look.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from homelab.engine.site import RealSite
from homelab.simulated.lab import run_simulator
from homelab.verbs.connection import connect_to, manifest_cache
from homelab.verbs.lab import prepare_lab
from homelab.verbs.up import ClusterNotReady, up_lab
from tests.support.paths import EXAMPLES


def loopback_lab(folder: Path) -> Path:
    """The reference lab cut to its control plane, on a network that is loopback."""
    data = yaml.safe_load((EXAMPLES / "home-lab.yaml").read_text())
    data["networks"]["apps"] = {
        "vlan": 20,
        "cidr": "127.0.0.0/24",
        "gateway": "127.0.0.254",
        "bridge": "vmbr0",
    }
    data["kubernetes"]["load_balancer"] = {"addresses": "127.0.0.200-127.0.0.250"}
    data["vms"] = {"k8s-master-1": {**data["vms"]["k8s-master-1"], "ip": "127.0.0.1"}}
    path = folder / "loopback-lab.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_an_api_server_that_never_answers_names_the_vm_as_proxmox_reports_it(
    tmp_path: Path,
) -> None:
    spec = loopback_lab(tmp_path)
    ctx = prepare_lab(spec)
    steps: list[str] = []
    try:
        with run_simulator(ctx.spec, spec) as sim:
            conn = connect_to(sim.settings, RealSite(manifest_cache(spec)), sim.clock)
            with pytest.raises(ClusterNotReady) as caught:
                up_lab(conn, ctx, confirm=lambda _plan: True, timeout=300, on_step=steps.append)
            conn.client.close()
    finally:
        ctx.close()
    message = str(caught.value)
    assert re.match(r"the API server at 127\.0\.0\.1 was not ready after \d+ s; last: ", message)
    assert message.endswith(
        "; node k8s-master-1 (127.0.0.1) did not join the cluster (VM running, guest agent "
        "answers); look at /var/log/cloud-init-output.log on it (ssh ubuntu@127.0.0.1)"
    )
    assert "last phase" not in message  # a real guest's phases cannot be asked yet
    assert steps == ["waiting for the API server at https://127.0.0.1:6443"]
    server = yaml.safe_load((tmp_path / ".homelab" / "home-lab" / "admin.conf").read_text())
    assert server["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority-data": server["clusters"][0]["cluster"][
            "certificate-authority-data"
        ],
    }
